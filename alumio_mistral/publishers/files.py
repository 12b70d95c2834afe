"""Publish to local files: JSON Lines and CSV appended, a JSON array rewritten.

Each task's output is atomic: a JSONL or CSV record is one ``write`` on a file held open for
appending, under a lock (a thread lock for our workers, ``flock`` for other processes), so a
crash never leaves half a line and two runs appending at once never mix their lines. Once
``write`` returns the record is in the operating system's hands: a killed process loses
nothing it wrote. What ``fsync`` adds is surviving the machine itself going down, and it is
the slow part (milliseconds), so ``durability`` chooses when it runs:

* ``batch`` (the default): every ``batch_size`` records, at every :meth:`flush` and at
  :meth:`close`. The publish loop finishes the tasks of a batch only after flushing it, so a
  crash repeats at most the records of one batch, never loses one.
* ``task``: after every record, as a file target did before batches (one fsync per task).

A JSON array cannot be appended to, so it is re-read and written whole to a temporary file
that replaces the old one, under a lock file beside it, and fsynced every time. NaN and
Infinity are refused: no output holds JSON a reader would reject.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import threading
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

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


#: how a file target makes its records last (see the module docstring)
DURABILITIES = ("batch", "task")
#: records between two fsyncs of a ``batch`` target
DEFAULT_BATCH_SIZE = 1000


class _Appender:
    """One file held open for appending: one ``write`` per record, ``fsync`` when asked to."""

    def __init__(self, path: Path, durability: str, batch_size: int) -> None:
        if durability not in DURABILITIES:
            raise PublishError(f"{path}: unknown durability {durability!r} (one of: {', '.join(DURABILITIES)})")
        self.path = path
        self.sync_every = 1 if durability == "task" else max(1, batch_size)
        self._fd: int | None = None
        #: syncs and closes the file when the publisher is dropped (or the process exits) unclosed
        self._release: weakref.finalize | None = None
        #: records written since the last fsync
        self._unsynced = 0

    def append(self, render: Callable[[bool], bytes]) -> None:
        """Append ``render(is_empty)`` bytes in one write; ``is_empty`` lets CSV add its header."""
        with _locked(self.path):
            fd = self._open()
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                data = render(os.fstat(fd).st_size == 0)
                written = os.write(fd, data)
            finally:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            if written != len(data):  # a full disk: say so rather than leave a torn record
                raise PublishError(f"{self.path}: wrote {written} of {len(data)} bytes")
            self._unsynced += 1
            if self._unsynced >= self.sync_every:
                self._sync(fd)

    def flush(self) -> None:
        """Make every record written so far survive a crash of the machine."""
        with _locked(self.path):
            if self._fd is not None and self._unsynced:
                self._sync(self._fd)

    def close(self) -> None:
        with _locked(self.path):
            if self._fd is not None:
                try:
                    if self._unsynced:
                        self._sync(self._fd)
                finally:
                    assert self._release is not None
                    self._release.detach()  # synced here, with errors said: just close
                    os.close(self._fd)
                    self._fd = self._release = None

    def _open(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self._release = weakref.finalize(self, _sync_and_close, self._fd)
        return self._fd

    def _sync(self, fd: int) -> None:
        try:
            os.fsync(fd)
        except OSError as error:
            raise PublishError(f"{self.path}: records were written but could not be synced: {error}") from error
        self._unsynced = 0


def _sync_and_close(fd: int) -> None:
    """The last word on a file nobody closed: sync what is written (best effort), then close."""
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def to_json(record: Any, where: str = "output", indent: int | None = None) -> str:
    """The JSON text of ``record``. NaN and Infinity have no JSON form: writing them would make
    a file no JSON reader accepts, so they fail the task instead (naming ``where``)."""
    try:
        return json.dumps(record, ensure_ascii=False, default=str, allow_nan=False, indent=indent)
    except ValueError:
        raise PublishError(f"{where}: a number is NaN or Infinity, which JSON cannot represent") from None


class _FilePublisher:
    """Common ground of the file targets: a path under the project and a dry-run plan."""

    kind = "file"
    #: writing a record again after a crash is harmless (at worst a duplicate line)
    safe_to_repeat = True

    def __init__(self, path: Path) -> None:
        self.path = path

    def plan(self, record: Any) -> PlannedCall:
        return PlannedCall(f"WRITE {self.kind}", str(self.path), RenderedRequest(json=record))

    def flush(self) -> None:
        """Make what was published so far last (see ``durability``); nothing to do here."""

    def close(self) -> None:
        """Flush, and let go of the file."""


class _AppendingPublisher(_FilePublisher):
    """A file target that appends one line per record, synced as ``durability`` says."""

    def __init__(self, path: Path, durability: str = "batch", batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        super().__init__(path)
        self._file = _Appender(path, durability, batch_size)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class JsonlPublisher(_AppendingPublisher):
    kind = "jsonl"

    def publish(self, record: Any) -> None:
        line = (to_json(record, str(self.path)) + "\n").encode("utf-8")
        self._file.append(lambda _empty: line)


class CsvPublisher(_AppendingPublisher):
    """One row per record; ``fields`` fixes the columns (default: the first record's keys)."""

    kind = "csv"

    def __init__(self, path: Path, fields: list[str] | None = None, delimiter: str = ",",
                 durability: str = "batch", batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        super().__init__(path, durability, batch_size)
        self._fields = fields
        self._delimiter = delimiter

    def publish(self, record: Any) -> None:
        if not isinstance(record, dict):
            raise PublishError(f"{self.path}: a CSV row needs an object, got {type(record).__name__}")
        fields = self._fields or list(record)
        cells = [_cell(record.get(name), f"{self.path}: column {name!r}") for name in fields]

        def render(empty: bool) -> bytes:
            buffer = io.StringIO()
            writer = csv.writer(buffer, delimiter=self._delimiter, lineterminator="\n")
            if empty:
                writer.writerow(fields)
            writer.writerow(cells)
            return buffer.getvalue().encode("utf-8")

        self._file.append(render)


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

    def publish(self, record: Any) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(self.path), _file_lock(self.lock_path):
            data = to_json([*self._load(), record], str(self.path), indent=2).encode("utf-8")
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
