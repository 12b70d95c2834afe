"""Local sources: JSON, JSONL and CSV files, and standard input.

JSONL and CSV are read line by line (memory stays flat for any file size). A row that cannot
be read becomes a :class:`Record` with an error naming file and line, so the other rows still
become tasks.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Iterable, Iterator, TextIO

from alumio_mistral.subscribers.base import Record
from alumio_mistral.subscribers.mistral import SubscriberError
from alumio_mistral.subscribers.items import compile_items


def _open(path: Path) -> TextIO:
    try:
        # utf-8-sig: spreadsheet exports often start with a byte order mark
        return path.open("r", encoding="utf-8-sig", newline="")
    except OSError as error:
        raise SubscriberError(f"{path}: cannot open: {error.strerror or error}") from error


def jsonl_records(lines: Iterable[str], name: str) -> Iterator[Record]:
    """One entity per non-blank line; a line that is not JSON is an error record."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        origin = f"{name}:{number}"
        try:
            yield Record(json.loads(line), origin)
        except ValueError as error:
            yield Record(None, origin, f"invalid JSON: {error}")


def json_records(text: str, name: str, pattern: str | None) -> Iterator[Record]:
    """The entities of one JSON document: its items at ``pattern``, the array itself, or
    the document as a single entity."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        yield Record(None, f"{name}:{error.lineno}", f"invalid JSON: {error.msg} (column {error.colno})")
        return
    if pattern:
        items = compile_items(pattern)(document)
    else:
        items = document if isinstance(document, list) else [document]
    for index, item in enumerate(items):
        yield Record(item, f"{name}[{index}]")


class JsonlFile:
    """A JSON Lines file, streamed."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def records(self) -> Iterator[Record]:
        with _open(self.path) as handle:
            yield from jsonl_records(handle, str(self.path))


class JsonFile:
    """A JSON document (an array, or a document with a ``pattern`` to its entities).

    The whole file is parsed at once (a JSON document has no line boundaries to stream on);
    use JSONL for sources larger than memory.
    """

    def __init__(self, path: Path, pattern: str | None = None) -> None:
        self.path = path
        self.pattern = pattern

    def records(self) -> Iterator[Record]:
        with _open(self.path) as handle:
            text = handle.read()
        yield from json_records(text, str(self.path), self.pattern)


class CsvFile:
    """A CSV file with a header row: each row becomes a dict of strings (cast them with a
    transformer); a row whose field count differs from the header's is an error record."""

    def __init__(self, path: Path, delimiter: str = ",") -> None:
        self.path = path
        self.delimiter = delimiter

    def records(self) -> Iterator[Record]:
        with _open(self.path) as handle:
            reader = csv.reader(handle, delimiter=self.delimiter)
            try:
                header = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                yield Record(None, f"{self.path}:1", f"unreadable header: {error}")
                return
            line = reader.line_num
            while True:
                start = line + 1  # a quoted field may span lines: report where the row starts
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except csv.Error as error:
                    line = reader.line_num
                    yield Record(None, f"{self.path}:{start}", f"malformed CSV: {error}")
                    continue
                line = reader.line_num
                if not row:
                    continue
                origin = f"{self.path}:{start}"
                if len(row) != len(header):
                    yield Record(
                        None, origin, f"expected {len(header)} fields (the header's), got {len(row)}"
                    )
                    continue
                yield Record(dict(zip(header, row)), origin)


class Stdin:
    """Standard input, as JSONL (streamed) or one JSON document."""

    def __init__(self, format: str = "jsonl", stream: TextIO | None = None) -> None:
        if format not in ("jsonl", "json"):
            raise SubscriberError(f"stdin: unknown format {format!r} (jsonl or json)")
        self.format = format
        self.stream = stream

    def records(self) -> Iterator[Record]:
        stream = self.stream or sys.stdin
        if self.format == "jsonl":
            yield from jsonl_records(stream, "<stdin>")
        else:
            yield from json_records(stream.read(), "<stdin>", None)

