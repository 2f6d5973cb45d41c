"""Case-insensitive "contains" search with LIKE, matching the user's own % and _ literally."""

LIKE_ESCAPE = "\\"


def contains_pattern(text: str) -> str:
    """'%text%' for `column.ilike(pattern, escape=LIKE_ESCAPE)`."""
    escaped = text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%").replace("_", LIKE_ESCAPE + "_")
    return f"%{escaped}%"
