"""Publish to local files: JSON Lines and CSV appended, a JSON array rewritten.

Each task's output is atomic: a JSONL or CSV record is one ``write`` on a file opened for
appending, flushed and fsynced under a lock (a thread lock for our workers, ``flock`` for
other processes), so a crash never leaves half a line. A JSON array cannot be appended to, so
it is written whole to a temporary file that replaces the old one.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from alumio_mistral.publishers.request import PlannedCall, PublishError, RenderedRequest

try:
    import fcntl
except ImportError:  # Windows: no flock; the thread lock still covers one process
    fcntl = None  # type: ignore[assignment]

_registry_lock = threading.Lock()
_path_locks: dict[Path, threading.Lock] = {}


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One writer per file within this process (``flock`` covers other processes)."""
    with _registry_lock:
        lock = _path_locks.setdefault(path, threading.Lock())
    with lock:
        yield


def _append(path: Path, render: Any) -> None:
    """Append ``render(is_empty)`` bytes in one write; ``is_empty`` lets CSV add its header."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            data: bytes = render(os.fstat(fd).st_size == 0)
            written = os.write(fd, data)
            if written != len(data):  # a full disk: say so rather than leave a torn record
                raise PublishError(f"{path}: wrote {written} of {len(data)} bytes")
            os.fsync(fd)
        finally:
            os.close(fd)


def to_json(entity: Any) -> str:
    return json.dumps(entity, ensure_ascii=False, default=str)


class _FilePublisher:
    """Common ground of the file targets: a path under the project and a dry-run plan."""

    kind = "file"
    #: writing a record again after a crash is harmless (at worst a duplicate line)
    safe_to_repeat = True

    def __init__(self, path: Path) -> None:
        self.path = path

    def plan(self, entity: Any) -> PlannedCall:
        return PlannedCall(f"WRITE {self.kind}", str(self.path), RenderedRequest(json=entity))


class JsonlPublisher(_FilePublisher):
    kind = "jsonl"

    def publish(self, entity: Any) -> None:
        line = (to_json(entity) + "\n").encode("utf-8")
        _append(self.path, lambda _empty: line)


class CsvPublisher(_FilePublisher):
    """One row per entity; ``fields`` fixes the columns (default: the first entity's keys)."""

    kind = "csv"

    def __init__(self, path: Path, fields: list[str] | None = None, delimiter: str = ",") -> None:
        super().__init__(path)
        self._fields = fields
        self._delimiter = delimiter

    def publish(self, entity: Any) -> None:
        if not isinstance(entity, dict):
            raise PublishError(f"{self.path}: a CSV row needs an object, got {type(entity).__name__}")
        fields = self._fields or list(entity)

        def render(empty: bool) -> bytes:
            buffer = io.StringIO()
            writer = csv.writer(buffer, delimiter=self._delimiter, lineterminator="\n")
            if empty:
                writer.writerow(fields)
            writer.writerow([_cell(entity.get(name)) for name in fields])
            return buffer.getvalue().encode("utf-8")

        _append(self.path, render)


def _cell(value: Any) -> str:
    """Scalars as text, nested values as JSON text, missing as empty."""
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return to_json(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class JsonArrayPublisher(_FilePublisher):
    """Entities appended to a JSON array that is replaced atomically after every task."""

    kind = "json"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._items: list[Any] | None = None

    def _load(self) -> list[Any]:
        if not self.path.exists():
            return []
        try:
            items = json.loads(self.path.read_text(encoding="utf-8") or "[]")
        except ValueError as error:
            raise PublishError(f"{self.path}: not a JSON array ({error})") from error
        if not isinstance(items, list):
            raise PublishError(f"{self.path}: holds a {type(items).__name__}, not a JSON array")
        return items

    def publish(self, entity: Any) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(self.path):
            if self._items is None:
                self._items = self._load()
            items = [*self._items, entity]
            data = json.dumps(items, ensure_ascii=False, default=str, indent=2).encode("utf-8")
            fd, temp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temp, self.path)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
            self._items = items
