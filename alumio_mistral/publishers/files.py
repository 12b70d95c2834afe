"""Publish to local files: JSON Lines and CSV appended, a JSON array rewritten.

Each task's output is atomic: a JSONL or CSV record is one ``write`` on a file opened for
appending, flushed and fsynced under a lock (a thread lock for our workers, ``flock`` for
other processes), so a crash never leaves half a line. A JSON array cannot be appended to, so
it is re-read and written whole to a temporary file that replaces the old one, under a lock
file beside it. NaN and Infinity are refused: no output holds JSON a reader would reject.
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


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (created when missing) for the block: other processes wait."""
    if fcntl is None:
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


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


def to_json(entity: Any, where: str = "output", indent: int | None = None) -> str:
    """The JSON text of ``entity``. NaN and Infinity have no JSON form: writing them would make
    a file no JSON reader accepts, so they fail the task instead (naming ``where``)."""
    try:
        return json.dumps(entity, ensure_ascii=False, default=str, allow_nan=False, indent=indent)
    except ValueError:
        raise PublishError(f"{where}: a number is NaN or Infinity, which JSON cannot represent") from None


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
        line = (to_json(entity, str(self.path)) + "\n").encode("utf-8")
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
        cells = [_cell(entity.get(name), f"{self.path}: column {name!r}") for name in fields]

        def render(empty: bool) -> bytes:
            buffer = io.StringIO()
            writer = csv.writer(buffer, delimiter=self._delimiter, lineterminator="\n")
            if empty:
                writer.writerow(fields)
            writer.writerow(cells)
            return buffer.getvalue().encode("utf-8")

        _append(self.path, render)


def _cell(value: Any, where: str) -> str:
    """Scalars as text; floats and nested values as JSON text (NaN refused, as in JSON); missing as empty."""
    if value is None:
        return ""
    if isinstance(value, (dict, list, float)):
        return to_json(value, where)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class JsonArrayPublisher(_FilePublisher):
    """Entities appended to a JSON array that is replaced atomically after every task.

    Each write re-reads the array under an exclusive lock on ``NAME.lock`` beside it, so two
    runs (or two processes) sharing the target never write over each other's records. The
    target itself cannot carry the lock: every write replaces it with a new file. Each write
    costs a read and a write of the whole array: use JSONL for large outputs.
    """

    kind = "json"

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

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
        with _locked(self.path), _file_lock(self.lock_path):
            data = to_json([*self._load(), entity], str(self.path), indent=2).encode("utf-8")
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
