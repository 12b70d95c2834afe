"""Local sources: JSON, JSONL and CSV files, and standard input.

JSONL and CSV are read line by line (memory stays flat for any file size). A row that cannot
be read becomes a :class:`Record` with an error naming file and line, so the other rows still
become tasks: a line that is not JSON or nests too deeply to parse, a CSV row with the wrong
field count or a quote that is never closed, and a row holding bytes the file's ``encoding``
cannot decode. Such bytes are never replaced silently (no mojibake reaches a task): each one
is decoded as a marker, an unpaired surrogate no valid text contains, and the row that holds
one is reported.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator, TextIO

from alumio_mistral.subscribers.base import MAX_DEPTH, Record
from alumio_mistral.subscribers.items import compile_items
from alumio_mistral.subscribers.mistral import SubscriberError
from alumio_mistral.transformers.errors import StepFailure

DEFAULT_ENCODING = "utf-8"
#: the codec error handler that marks undecodable bytes (see :func:`_mark_undecodable`)
MARK_UNDECODABLE = "alumio-mark-undecodable"
_MARKS = re.compile("[\udc00-\udcff]+")
_UTF16_BOMS = ("0xff 0xfe", "0xfe 0xff")


def _mark_undecodable(error: UnicodeError) -> tuple[str, int]:
    """Each byte a codec cannot decode becomes U+DC00 + byte, like Python's ``surrogateescape``,
    which refuses bytes below 128 (a broken UTF-16 file has those)."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return "".join(chr(0xDC00 + byte) for byte in error.object[error.start : error.end]), error.end


codecs.register_error(MARK_UNDECODABLE, _mark_undecodable)


def _bad_bytes(text: str, encoding: str) -> tuple[int, str] | None:
    """Where ``text`` holds the first undecodable bytes, and a message showing them."""
    found = _MARKS.search(text)
    if found is None:
        return None
    shown = " ".join(f"0x{ord(mark) - 0xDC00:02x}" for mark in found.group()[:8])
    hint = " (a UTF-16 byte order mark: set `encoding: utf-16`)" if found.start() == 0 and shown.startswith(_UTF16_BOMS) else ""
    return found.start(), f"bytes that are not valid {encoding}: {shown}{hint}"


def _decoder(encoding: str) -> str:
    """The codec to read with: a UTF-8 file may start with a byte order mark (spreadsheet
    exports do), which is never data."""
    try:
        codec = codecs.lookup(encoding).name
        b"\n".decode(encoding, "ignore")  # LookupError: not a text codec (base64, rot13...)
    except (LookupError, ValueError) as error:  # ValueError: a NUL in the name
        raise SubscriberError(f"unknown text encoding {encoding!r}: {error}") from None
    return "utf-8-sig" if codec == "utf-8" else encoding


def open_text(path: Path, encoding: str = DEFAULT_ENCODING) -> TextIO:
    """``path`` opened as every file source reads it: a UTF-8 byte order mark skipped, and
    undecodable bytes marked for the row holding them to report (see :func:`_bad_bytes`)."""
    decoder = _decoder(encoding)
    try:
        return path.open("r", encoding=decoder, errors=MARK_UNDECODABLE, newline="")
    except OSError as error:
        raise SubscriberError(f"{path}: cannot open: {error.strerror or error}") from error


def _parse(text: str) -> Any:
    """One JSON value; ValueError for invalid JSON, and for nesting too deep to parse (which
    would otherwise surface as Python's RecursionError)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError(f"nested far deeper than {MAX_DEPTH} levels") from None


def jsonl_records(lines: Iterable[str], name: str, encoding: str = DEFAULT_ENCODING) -> Iterator[Record]:
    """One entity per non-blank line; a line that is not JSON, or not valid ``encoding``, is an
    error record."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        origin = f"{name}:{number}"
        bad = _bad_bytes(line, encoding)
        if bad is not None:
            yield Record(None, origin, f"{bad[1]} (column {bad[0] + 1})")
            continue
        try:
            yield Record(_parse(line), origin)
        except ValueError as error:
            yield Record(None, origin, f"invalid JSON: {error}")


def _line_and_column(text: str, offset: int) -> tuple[int, int]:
    return text.count("\n", 0, offset) + 1, offset - text.rfind("\n", 0, offset)


def json_records(text: str, name: str, pattern: str | None, encoding: str = DEFAULT_ENCODING) -> Iterator[Record]:
    """The entities of one JSON document: its items at ``pattern``, the array itself, or
    the document as a single entity. Undecodable bytes inside a text value fail only the
    item holding them (see :func:`~alumio_mistral.subscribers.base.entity_problem`)."""
    try:
        document = _parse(text)
    except ValueError as error:
        bad = _bad_bytes(text, encoding)
        if bad is not None:  # what broke the document, most likely
            line, column = _line_and_column(text, bad[0])
            yield Record(None, f"{name}:{line}", f"{bad[1]} (column {column})")
        elif isinstance(error, json.JSONDecodeError):
            yield Record(None, f"{name}:{error.lineno}", f"invalid JSON: {error.msg} (column {error.colno})")
        else:
            yield Record(None, name, f"invalid JSON: {error}")
        return
    try:
        if pattern:
            items = compile_items(pattern)(document)
        else:
            items = document if isinstance(document, list) else [document]
    except (StepFailure, RecursionError) as error:
        yield Record(None, name, f"cannot find the entities at {pattern!r}: {error}")
        return
    for index, item in enumerate(items):
        yield Record(item, f"{name}[{index}]")


class _FileSource:
    """A file under the project, read with its ``encoding`` (default UTF-8)."""

    def __init__(self, path: Path, encoding: str = DEFAULT_ENCODING) -> None:
        self.path = path
        self.encoding = encoding

    def _open(self) -> TextIO:
        return open_text(self.path, self.encoding)


class JsonlFile(_FileSource):
    """A JSON Lines file, streamed."""

    def records(self) -> Iterator[Record]:
        with self._open() as handle:
            yield from jsonl_records(handle, str(self.path), self.encoding)


class JsonFile(_FileSource):
    """A JSON document (an array, or a document with a ``pattern`` to its entities).

    The whole file is parsed at once (a JSON document has no line boundaries to stream on);
    use JSONL for sources larger than memory.
    """

    def __init__(self, path: Path, pattern: str | None = None, encoding: str = DEFAULT_ENCODING) -> None:
        super().__init__(path, encoding)
        self.pattern = pattern

    def records(self) -> Iterator[Record]:
        with self._open() as handle:
            text = handle.read()
        yield from json_records(text, str(self.path), self.pattern, self.encoding)


def _csv_problem(error: csv.Error) -> str:
    reason = str(error)
    if reason == "unexpected end of data":
        return "a quote opened in this row is never closed: it runs to the end of the file"
    if reason.startswith("field larger than field limit"):
        return f"malformed CSV: {reason} (a quote that is never closed?)"
    return f"malformed CSV: {reason}"


class CsvFile(_FileSource):
    """A CSV file with a header row: each row becomes a dict of strings (cast them with a
    transformer). A row whose field count differs from the header's, whose quotes do not
    close, or which holds undecodable bytes is an error record naming the line it starts on."""

    def __init__(self, path: Path, delimiter: str = ",", encoding: str = DEFAULT_ENCODING) -> None:
        super().__init__(path, encoding)
        self.delimiter = delimiter

    def _bad_cell(self, header: list[str], row: list[str]) -> str | None:
        for column, cell in zip(header, row):
            bad = _bad_bytes(cell, self.encoding)
            if bad is not None:
                return f"column {column!r}: {bad[1]}"  # repr writes each marker as \udcff
        return None

    def records(self) -> Iterator[Record]:
        with self._open() as handle:
            # strict: a quote left open at the end of the file is an error, not one huge last field
            reader = csv.reader(handle, delimiter=self.delimiter, strict=True)
            try:
                header = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                yield Record(None, f"{self.path}:1", f"unreadable header: {_csv_problem(error)}")
                return
            bad = self._bad_cell(header, header) or _repeated_column(header)
            if bad is not None:
                yield Record(None, f"{self.path}:1", f"unreadable header: {bad}")
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
                    yield Record(None, f"{self.path}:{start}", _csv_problem(error))
                    continue
                line = reader.line_num
                if not row:
                    continue
                origin = f"{self.path}:{start}"
                if len(row) != len(header):
                    yield Record(None, origin, f"expected {len(header)} fields (the header's), got {len(row)}")
                    continue
                bad = self._bad_cell(header, row)
                if bad is not None:
                    yield Record(None, origin, bad)
                    continue
                yield Record(dict(zip(header, row)), origin)


def _repeated_column(header: list[str]) -> str | None:
    """A column name the header holds twice: each row's later cell would silently replace the
    earlier one in its record, losing it."""
    seen: dict[str, int] = {}
    for number, name in enumerate(header, start=1):
        if name in seen:
            return f"column {name!r} is both column {seen[name]} and column {number} (rename one)"
        seen[name] = number
    return None


class Stdin:
    """Standard input (UTF-8), as JSONL (streamed) or one JSON document."""

    def __init__(self, format: str = "jsonl", stream: TextIO | None = None) -> None:
        if format not in ("jsonl", "json"):
            raise SubscriberError(f"stdin: unknown format {format!r} (jsonl or json)")
        self.format = format
        self.stream = stream

    def records(self) -> Iterator[Record]:
        given = self.stream or sys.stdin
        if not hasattr(given, "buffer"):  # already text (a test's StringIO)
            yield from self._records(given)
            return
        # decoded here rather than by sys.stdin, so an undecodable byte fails its line only
        stream = io.TextIOWrapper(given.buffer, _decoder(DEFAULT_ENCODING), MARK_UNDECODABLE, newline="")
        try:
            yield from self._records(stream)
        finally:
            stream.detach()  # closing the wrapper would close the process's stdin

    def _records(self, stream: TextIO) -> Iterator[Record]:
        if self.format == "jsonl":
            yield from jsonl_records(stream, "<stdin>")
        else:
            yield from json_records(stream.read(), "<stdin>", None)
