"""Rows of labeled data files: CSV, TSV and JSON Lines, each row with its line number.

Formats, chosen by the file's suffix (or `file_format`):
- `.csv`: comma-separated, RFC 4180 quoting (`"a, b"`, `""` for a quote inside quotes), a
  malformed quote is an error.
- `.tsv`: tab-separated without quoting, as GLUE's files are written (a `"` is an ordinary
  character, so GLUE's TSVs read as they are).
- `.jsonl` / `.json`: one JSON object per line.

CSV and TSV files have a header row naming the columns, unless `header=False`: then the
columns are named by position, "0", "1", ... (CoLA's `train.tsv` has no header: its sentence
is column "3", its label column "1"). Blank lines are skipped in every format; a row with
another number of fields than the header is an error. Errors name the file and the line
(`path:line: what is wrong`).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl"}


@dataclass(frozen=True)
class Row:
    """One row of a data file: its 1-based line number and its values by column name.

    CSV and TSV values are strings; JSON Lines values are whatever JSON holds.
    """

    line: int
    values: dict


def file_format(path: str | Path, file_format: str | None = None) -> str:
    """The format of a data file: `file_format` if given, else from the suffix ("csv", "tsv" or "jsonl").

    Raises:
        ValueError: an unknown suffix or format name.
    """
    if file_format is not None:
        if file_format not in set(FORMATS.values()):
            raise ValueError(f"file_format={file_format!r} is not one of 'csv', 'tsv', 'jsonl'")
        return file_format
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{path}: cannot tell the format from the suffix {suffix!r}; expected one of {', '.join(FORMATS)}")
    return FORMATS[suffix]


def read_rows(path: str | Path, *, header: bool = True, fmt: str | None = None) -> tuple[list[str] | None, list[Row]]:
    """Read every row of a CSV, TSV or JSON Lines file.

    Args:
        path: the file.
        header: CSV/TSV only: the first row names the columns (else they are "0", "1", ...).
        fmt: "csv", "tsv" or "jsonl"; None to choose by suffix.
    Returns:
        (columns, rows): the column names of a CSV/TSV file (None for JSON Lines, whose rows
        each have their own keys) and the rows.
    Raises:
        ValueError: a missing or empty file, a malformed row or line, a header repeating a
            name, a row whose field count differs from the header's, no data rows.
    """
    path = Path(path)
    fmt = file_format(path, fmt)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    text = path.read_text(encoding="utf-8-sig")
    if not text.strip():
        raise ValueError(f"{path}: the file is empty")
    columns, rows = (None, _json_lines(path, text)) if fmt == "jsonl" else _delimited(path, text, fmt, header)
    if not rows:
        raise ValueError(f"{path}: the file has a header row but no data rows")
    return columns, rows


def text_lines(text: str) -> list[str]:
    """The lines of a text split at "\n" (and "\r\n") only: `str.splitlines` also splits at U+2028, U+0085
    and other separators, which occur inside real texts (Rotten Tomatoes reviews) and JSON strings."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def _json_lines(path: Path, text: str) -> list[Row]:
    rows = []
    for number, line in enumerate(text_lines(text), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{number}: not valid JSON ({error.msg} at column {error.colno}); "
                             "expected one JSON object per line") from None
        if not isinstance(value, dict):
            raise ValueError(f"{path}:{number}: expected a JSON object per line, got {type(value).__name__}")
        rows.append(Row(number, value))
    return rows


def _delimited(path: Path, text: str, fmt: str, header: bool) -> tuple[list[str], list[Row]]:
    options = dict(delimiter=",", strict=True) if fmt == "csv" else dict(delimiter="\t", quoting=csv.QUOTE_NONE)
    reader = csv.reader(io.StringIO(text, newline=""), **options)
    columns, rows, line = None, [], 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            raise ValueError(f"{path}:{line}: malformed {fmt.upper()} row ({error})") from None
        start, line = line, reader.line_num + 1
        if not fields:
            continue
        if columns is None:
            columns = fields if header else [str(index) for index in range(len(fields))]
            repeated = sorted({name for name in columns if columns.count(name) > 1})
            if repeated:
                raise ValueError(f"{path}:{start}: the header names column(s) {', '.join(map(repr, repeated))} more than once")
            if header:
                continue
        if len(fields) != len(columns):
            raise ValueError(f"{path}:{start}: the row has {len(fields)} fields, the header has {len(columns)} "
                             f"({', '.join(columns)})")
        rows.append(Row(start, dict(zip(columns, fields))))
    return columns, rows


def column(path: str | Path, row: Row, name: str, columns: list[str] | None) -> object:
    """The value of column `name` in `row`.

    Raises:
        ValueError: no such column; the message lists the columns found.
    """
    if name in row.values:
        return row.values[name]
    if columns is not None:
        positional = columns == [str(index) for index in range(len(columns))]
        hint = "" if positional else "; a file without a header row needs header=False and columns named by position (0, 1, ...)"
        raise ValueError(f"{path}: no column {name!r}; the columns are {', '.join(map(repr, columns))}{hint}")
    raise ValueError(f"{path}:{row.line}: no key {name!r}; this line has {', '.join(map(repr, row.values)) or 'no keys'}")
