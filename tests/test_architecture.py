"""The house's layers, checked from the source, bottom up:
- base: models, extensions, mail, audit, tokens, the instrument, config... imports nothing above it;
- bookings: a booking's life and its emails, on the base;
- the areas (auth, volunteers, sessions, evaluation, exports), on both; an area may use another, one way only;
- app: the factory and the entry points (create_app, cli, jobs, demo), which wire everything and which nothing imports.
No import cycle crosses two parts."""

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "mecc_volunteer"
AREAS = {"admin", "auth", "volunteers", "sessions", "evaluation", "exports"}
BELOW_AREAS = {"bookings"}
APP = {"mecc_volunteer", "mecc_volunteer.cli", "mecc_volunteer.jobs", "mecc_volunteer.demo"}


def part_of(module: str) -> str:
    """mecc_volunteer.sessions.roster -> sessions; mecc_volunteer.mail -> base; mecc_volunteer.cli -> app."""
    if module in APP or any(module.startswith(top + ".") for top in APP - {"mecc_volunteer"}):
        return "app"
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in AREAS | BELOW_AREAS:
        return parts[1]
    return "base"


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> list[tuple[str, int]]:
    """Every mecc_volunteer module this file imports, at any depth (inside functions too), with the line."""
    found = []
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).strip(".")
            if base != "mecc_volunteer":  # `from mecc_volunteer import audit` is an import of .audit only
                found.append((base, node.lineno))
            # `from mecc_volunteer import audit` imports the module mecc_volunteer.audit.
            found += [(f"{base}.{alias.name}", node.lineno) for alias in node.names]
    return [(name, line) for name, line in found if name.startswith("mecc_volunteer")]


def part_imports() -> dict[tuple[str, str], list[str]]:
    """(from part, to part) -> where, for every import between two different parts (one line per statement)."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(PACKAGE.rglob("*.py")):
        source = part_of(module_name(path))
        for name, line in imported_modules(path):
            target = part_of(name)
            where = f"{path.relative_to(PACKAGE.parent)}:{line}"
            if target != source and not any(seen.startswith(where + " ") for seen in edges[(source, target)]):
                edges[(source, target)].append(f"{where} imports {name}")
    return edges


def test_each_part_imports_only_the_parts_below_it():
    allowed = {"base": {"base"}, "bookings": {"base"}, "app": {"base", "bookings", "app", *AREAS}}
    allowed |= {area: {"base", "bookings", *AREAS} for area in AREAS}
    wrong = {edge: where for edge, where in part_imports().items() if edge[1] not in allowed[edge[0]]}
    assert not wrong, "imports against the layers:\n" + "\n".join(
        f"{a} -> {b}:\n  " + "\n  ".join(where) for (a, b), where in sorted(wrong.items())
    )


def test_no_import_cycle_crosses_two_parts():
    edges = part_imports()
    graph = defaultdict(set)
    for source, target in edges:
        graph[source].add(target)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})) for nxt in graph[start])

    def report(a: str, b: str) -> str:
        # The direction with fewer imports first: it is most likely the one to remove.
        directions = sorted(((a, b), (b, a)), key=lambda edge: len(edges.get(edge, [])) or 10**6)
        found = [f"  {x} -> {y}:\n    " + "\n    ".join(edges[(x, y)]) for x, y in directions if edges.get((x, y))]
        if len(found) < 2:
            found.append("  and back through other parts (see their pairs)")
        return f"{a} <-> {b}:\n" + "\n".join(found)

    cycles = sorted({tuple(sorted((a, b))) for (a, b) in edges if reaches(b, a, {b})})
    assert not cycles, "import cycles across parts:\n" + "\n".join(report(a, b) for a, b in cycles)


def test_the_checks_see_imports_inside_functions_and_relative_ones(tmp_path):
    # The checks above must not pass by reading nothing: a late import inside a function is found.
    path = PACKAGE / "mail.py"
    names = [name for name, _ in imported_modules(path)]
    assert "mecc_volunteer.models" in names
    sample = PACKAGE / "extensions.py"
    assert any(name.startswith("mecc_volunteer.models") for name, _ in imported_modules(sample))
    assert part_of("mecc_volunteer.sessions.roster") == "sessions"
    assert part_of("mecc_volunteer.audit") == "base"
    assert part_of("mecc_volunteer.jobs") == "app"
    assert part_of("mecc_volunteer.bookings.lifecycle") == "bookings"
