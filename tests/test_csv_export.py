"""CSV files open safely in a spreadsheet: UTF-8 with a BOM, one line per row, no formulas."""

import csv
import io

import pytest

from mecc_volunteer.csv_export import safe_cell, write_csv


def read(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "Excel needs the UTF-8 byte-order mark"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_a_csv_has_a_byte_order_mark_headers_and_crlf_line_ends():
    data = write_csv(["Name", "Organisation"], [["Priya Patel", "Restore"], ["Sam Okafor", "Carers Oxfordshire"]])
    assert data.startswith("\ufeffName,Organisation\r\n".encode())
    assert read(data) == [["Name", "Organisation"], ["Priya Patel", "Restore"], ["Sam Okafor", "Carers Oxfordshire"]]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("https://evil.example","Click")', '\'=HYPERLINK("https://evil.example","Click")'),
        ("+44 7700 900982", "'+44 7700 900982"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("-2+3", "'-2+3"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "' =1+1"),
        ("  =1+1", "'  =1+1"),
        ("\uff1d1+1", "'\uff1d1+1"),  # FULLWIDTH EQUALS SIGN: spreadsheets read it as =
        ("|calc!A1", "'|calc!A1"),
        ("%0A=1+1", "'%0A=1+1"),
        (" \uff5ccmd", "' \uff5ccmd"),  # FULLWIDTH VERTICAL LINE
        ("\uff05x", "'\uff05x"),  # FULLWIDTH PERCENT SIGN
        ("50%", "50%"),
        ("a|b", "a|b"),
        ("Priya Patel", "Priya Patel"),
        ("O'Brien-Smith", "O'Brien-Smith"),
        ("a = b", "a = b"),
    ],
)
def test_cells_a_spreadsheet_could_run_are_prefixed_with_a_quote(value, expected):
    assert safe_cell(value) == expected
    assert read(write_csv(["Name"], [[value]]))[1] == [expected]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("first\nsecond", "first second"), ("first\r\nsecond", "first second"), ("a\u2028b", "a b"), ("a\rb", "a b")],
)
def test_newlines_inside_a_cell_become_spaces(value, expected):
    data = write_csv(["Note"], [[value]])
    assert read(data)[1] == [expected]
    assert data.count(b"\r\n") == 2


def test_numbers_dates_and_empty_cells_are_written_plainly():
    from datetime import date

    rows = read(write_csv(["n", "x", "when", "none", "flag"], [[-5, 2.5, date(2026, 9, 22), None, True]]))
    assert rows[1] == ["-5", "2.5", "2026-09-22", "", "Yes"]


def test_names_in_any_script_survive_the_round_trip():
    names = ["Zoë Ó'Brien", "محمد علي", "Nguyễn Thị Thu", "李华"]
    assert [row[0] for row in read(write_csv(["Name"], [[n] for n in names]))[1:]] == names


def test_a_long_file_guards_every_cell_as_a_single_cell_is_guarded(monkeypatch):
    """stream_csv remembers each text's cell (a large export repeats the same few): however often a value comes,
    and after the memory is dropped, its cell is safe_cell's, and 1, 1.0 and True (equal as dict keys) stay apart."""
    import random
    from datetime import date

    from mecc_volunteer import csv_export

    monkeypatch.setattr(csv_export._SafeCells, "LIMIT", 100)
    rng = random.Random(12)  # noqa: S311 - a fixed seed, so a failure can be run again
    alphabet = " =+-@|%\t\r\n\v\f\x85\u2028\uff1d\uff0d\uff5c\uff05ab1,\"'"
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 5))) for _ in range(2000)]
    rows = [[text, 1, True, 1.0, 0, False, 0.0, None, -5, date(2026, 9, 22)] for text in texts + texts[::-1]]

    expected = [[str(safe_cell(cell)) for cell in row] for row in rows]
    assert read(write_csv([f"c{i}" for i in range(10)], rows))[1:] == expected
    assert expected[0][1:] == ["1", "Yes", "1.0", "0", "No", "0.0", "", "-5", "2026-09-22"]
