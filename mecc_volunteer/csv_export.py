"""CSV files that open safely in Excel and LibreOffice (STYLE 1.8).

UTF-8 with a byte-order mark (so Excel reads accents and non-Latin names correctly), one line per row
(newlines inside a cell become spaces), and the formula-injection guard: a text cell that a spreadsheet
could take for a formula is prefixed with a single quote, so nothing is lost and nothing runs.

The guard is for CSV only: a spreadsheet parses every CSV cell as if typed in. An XLSX text cell is never
parsed, so the XLSX writer (exports/services.py) uses plain_cell and writes the text as it is.
"""

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from itertools import islice

# Characters that make a spreadsheet treat a cell as a formula or a command (OWASP "CSV injection", with
# `|` and `%`, which some spreadsheets read as the start of a DDE command or a reference), plus their
# full-width forms, which some spreadsheet versions read the same way: FULLWIDTH EQUALS SIGN, PLUS SIGN,
# HYPHEN-MINUS, COMMERCIAL AT, VERTICAL LINE and PERCENT SIGN (U+FF1D, FF0B, FF0D, FF20, FF5C, FF05).
FORMULA_STARTS = ("=", "+", "-", "@", "|", "%", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20", "\uff5c", "\uff05")
_NEWLINES = re.compile(r"\r\n|[\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
# Any newline character, to find text with a newline: a character class is searched about twice as fast as
# _NEWLINES (or one pattern that also finds a formula start), which also has to try "\r\n" everywhere.
_HAS_NEWLINE = re.compile(r"[\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


def plain_cell(value) -> str | int | float:
    """One cell as a value: numbers stay numbers; dates in ISO form; text made single-line, and no more."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, int | float):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    return _NEWLINES.sub(" ", str(value))


def safe_cell(value) -> str | int | float:
    """One CSV cell, ready for the writer: plain_cell, and text a spreadsheet could run gets a quote first."""
    cell = plain_cell(value)
    if isinstance(cell, str) and _looks_like_a_formula(value if isinstance(value, str) else cell):
        return "'" + cell
    return cell


def _looks_like_a_formula(text: str) -> bool:
    # Judge the text as typed and as a spreadsheet would see it after leading spaces.
    return text.startswith(FORMULA_STARTS) or text.lstrip(" ").startswith(FORMULA_STARTS)


def write_csv(headers: Sequence[str], rows: Iterable[Sequence]) -> bytes:
    """The whole file as bytes: utf-8-sig, CRLF line ends (RFC 4180), every cell through safe_cell."""
    return b"".join(stream_csv(headers, rows))


class _SafeCells(dict):
    """safe_cell, remembered: `cells[value]` is safe_cell(value), looked up in C for a value seen before. A large
    export repeats the same few names, answers and empty cells on every row, so most cells cost one dict lookup.

    Only text and None are kept: 1, 1.0 and True are equal dict keys but different cells ("1", "1.0", "Yes").
    The memory stays bounded, however much free text passes: the whole memory is dropped when it grows too large."""

    LIMIT = 10_000

    def __missing__(self, value):
        if type(value) is int:  # as safe_cell does, sooner: the numbers of a large export
            return value
        if type(value) is str:
            # Most text has no newline and no formula start and is its own cell, found without safe_cell.
            plain = not value.lstrip(" ").startswith(FORMULA_STARTS) and _HAS_NEWLINE.search(value) is None
            cell = value if plain else safe_cell(value)
        elif value is None:
            cell = ""
        else:
            return safe_cell(value)
        if len(self) >= self.LIMIT:
            self.clear()
        self[value] = cell
        return cell


def stream_csv(
    headers: Sequence[str], rows: Iterable[Sequence], chunk_size: int = 64 * 1024, batch: int = 100
) -> Iterator[bytes]:
    """The same file as write_csv, yielded in chunks of about `chunk_size` bytes (the first starts with the
    byte-order mark), so a large export streams with flat memory. Rows are written `batch` at a time: one call
    into the C writer for many rows, with each cell converted by a C-level lookup (_SafeCells)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([safe_cell(header) for header in headers])
    cell = _SafeCells().__getitem__
    prefix = "\ufeff"
    rows = iter(rows)
    while some := [map(cell, row) for row in islice(rows, batch)]:
        writer.writerows(some)
        if buffer.tell() >= chunk_size:
            yield (prefix + buffer.getvalue()).encode("utf-8")
            prefix = ""
            buffer.seek(0)
            buffer.truncate()
    yield (prefix + buffer.getvalue()).encode("utf-8")
