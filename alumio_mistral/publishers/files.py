"""Publish to local files: JSON Lines and CSV appended, a JSON array rewritten.

JSONL and CSV records are appended to a file held open for appending, each write under a lock
(a thread lock for our workers, ``flock`` for other processes), so two runs appending at once
never mix their lines, and a record a killed writer left unfinished is cut off before the next
write. What ``fsync`` adds to a write is surviving the machine itself going down, and it is
the slow part (milliseconds), so ``durability`` chooses when it runs:

* ``batch`` (the default): every ``batch_size`` records, at every :meth:`flush` and at
  :meth:`close`. The publish loop has such a target keep its records in memory and write
  each batch in one ``write`` at :meth:`flush`; it records the tasks of a batch only after
  that, and notes where the batch goes before writing it (:class:`PendingWrite`), so after a
  crash it can tell a batch that reached the file (its tasks are then finished, not written
  again) from one that did not (written again): nothing is lost, nothing whole repeated.
* ``task``: each record synced at once (one fsync per task).

A JSON array cannot be appended to, so it is re-read and written whole to a temporary file
that replaces the old one (keeping its permissions), under a lock file beside it, the file and
the swap fsynced every time. NaN and
Infinity are refused: no output holds JSON a reader would reject.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
import os
import stat
import threading
import uuid
import weakref
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import orjson

from alumio_mistral.publishers.request import PlannedCall, PublishError, RenderedRequest

try:
    import fcntl
except ImportError:  # Windows: no flock; the thread lock still covers one process
    fcntl = None  # type: ignore[assignment]

_registry_lock = threading.Lock()
_path_locks: dict[Path, threading.Lock] = {}


def _path_lock(path: Path) -> threading.Lock:
    """The lock of one writer per file within this process (``flock`` covers other processes)."""
    with _registry_lock:
        return _path_locks.setdefault(path, threading.Lock())


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
#: the most a ``batch`` target keeps in memory before it writes, whether flushed or not
MAX_BUFFERED_BYTES = 8 * 1024 * 1024

log = logging.getLogger("alumio_mistral.publishers.files")


class _Pending:
    """The records a ``batch`` target has not written yet (shared with its finalizer), back to
    back in one buffer: a list of small ``bytes`` kept alive cost a memory allocation each that
    took longer than encoding the record."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.count = 0
        #: what goes before the first of them when the file is empty
        self.header = b""

    def add(self, record: bytes) -> None:
        self.buffer += record
        self.count += 1

    def data(self, with_header: bool) -> bytes:
        return (self.header if with_header else b"") + self.buffer

    def clear(self) -> None:
        self.buffer.clear()
        self.count = 0
        self.header = b""


@dataclass(frozen=True)
class PendingWrite:
    """A batch about to be appended: where it starts and what it holds. The publish loop stores
    it before the write, so that after a crash it can tell whether the batch reached the file
    (:func:`landed`) and need not be written again."""

    path: str
    offset: int
    length: int
    sha256: str


#: where the whole records of a file end, read from ``start`` (where one begins) to ``size``
RecordsEnd = Callable[[int, int, int], int]


class _Appender:
    """One file held open for appending, ``fsync`` every ``sync_every`` records and when asked to.

    Each record is written at once, unless ``hold`` is set (by the publish loop, for a ``batch``
    target): then records are kept in memory until :meth:`flush` (or ``2 * sync_every``
    records, or :data:`MAX_BUFFERED_BYTES`) and written in one ``write``. A writer killed in the
    middle of a write leaves an unfinished last record; the next write cuts it off first (with
    a warning), so the file never holds half a record. ``records_end`` finds where the whole
    records end: after the last line break for JSON Lines, after the last one outside quotes
    for CSV (a quoted cell may hold line breaks).
    """

    def __init__(self, path: Path, durability: str, batch_size: int, records_end: RecordsEnd) -> None:
        if durability not in DURABILITIES:
            raise PublishError(f"{path}: unknown durability {durability!r} (one of: {', '.join(DURABILITIES)})")
        self.path = path
        self._records_end = records_end
        #: the file's size after this appender's last write or check: the end of a whole record,
        #: so a file still that size needs no look, and a longer one is read from there on
        self._whole_until: int | None = None
        self._lock = _path_lock(path)
        self.sync_every = 1 if durability == "task" else max(1, batch_size)
        self._fd: int | None = None
        #: writes, syncs and closes the file when the publisher is dropped (or the process exits) unclosed
        self._release: weakref.finalize | None = None
        #: keep records back until :meth:`flush` (the publish loop's batches) or write each at once
        self.hold = False
        #: records not written yet
        self._pending = _Pending()
        #: records written since the last fsync
        self._unsynced = 0
        #: what a file that already has records must start with (CSV's header), checked once
        #: under the lock before this appender first writes to it; raises PublishError if not
        self.check_start: Callable[[int], None] | None = None
        self._start_checked = False

    def append(self, record: bytes, header: Callable[[], bytes] | None = None) -> None:
        """Append ``record``, after ``header()`` when the file is empty (CSV's column names)."""
        with self._lock:
            pending = self._pending
            if not pending.count and header is not None:
                pending.header = header()
            pending.add(record)
            if not self.hold:
                try:
                    self._write()
                except BaseException:
                    pending.clear()  # its task fails, and is written again on retry: not kept back
                    raise
                if self._unsynced >= self.sync_every:
                    self._sync()
            elif pending.count >= 2 * self.sync_every or len(pending.buffer) >= MAX_BUFFERED_BYTES:
                self._write()  # nobody flushed: keep memory bounded

    def flush(self, before_write: Callable[[PendingWrite], None] | None = None) -> None:
        """Write what is kept back and make every record written so far survive a crash of the
        machine; ``before_write`` learns where the batch goes just before it is written."""
        with self._lock:
            self._write(before_write)
            self._sync()

    def discard(self) -> None:
        """Forget the records kept back (a batch that could not be written goes another way)."""
        with self._lock:
            self._pending.clear()

    def close(self) -> None:
        with self._lock:
            if self._fd is None and not self._pending.count:
                return
            try:
                self._write()
                self._sync()
            finally:
                if self._fd is not None:  # None: the file could not even be opened (a folder in the way)
                    assert self._release is not None
                    self._release.detach()  # written and synced here, with errors said: just close
                    os.close(self._fd)
                    self._fd = self._release = None

    def _open(self) -> int:
        """The file's descriptor, opened afresh when the path no longer names the file held
        (moved away or deleted, as log rotation does): records go where the configuration says,
        not into a file renamed or one nobody can open any more."""
        if self._fd is not None and not self._still_at_path(self._fd):
            self._let_go()
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            self._release = weakref.finalize(self, _write_sync_and_close, self._fd, self._pending)
        return self._fd

    def _still_at_path(self, fd: int) -> bool:
        try:
            there = os.stat(self.path)
        except FileNotFoundError:
            return False
        held = os.fstat(fd)
        return (there.st_dev, there.st_ino) == (held.st_dev, held.st_ino)

    def _let_go(self) -> None:
        """Sync what was written to the file held (where it was moved, it stays) and close it;
        nothing is known of the next file yet."""
        assert self._fd is not None and self._release is not None
        self._sync()
        self._release.detach()
        os.close(self._fd)
        self._fd = self._release = None
        self._whole_until, self._start_checked = None, False

    def _write(self, before_write: Callable[[PendingWrite], None] | None = None) -> None:
        """Append the kept records in one ``write`` under ``flock`` (the caller holds the thread lock)."""
        pending = self._pending
        if not pending.count:
            return
        fd = self._open()
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            size = self._cut_unfinished_record(fd)
            if size and self.check_start is not None and not self._start_checked:
                self.check_start(fd)  # raises before anything is written, as a failed write does
            data = pending.data(with_header=size == 0)
            if before_write is not None:
                before_write(PendingWrite(str(self.path), size, len(data), hashlib.sha256(data).hexdigest()))
            written = os.write(fd, data)
        finally:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
        if written != len(data):  # a full disk: say so rather than leave a torn record
            raise PublishError(f"{self.path}: wrote {written} of {len(data)} bytes")
        self._whole_until = size + written
        self._start_checked = True
        self._unsynced += pending.count
        pending.clear()

    def _sync(self) -> None:
        if self._fd is None or not self._unsynced:
            return
        try:
            os.fsync(self._fd)
        except OSError as error:
            raise PublishError(f"{self.path}: records were written but could not be synced: {error}") from error
        self._unsynced = 0

    def _cut_unfinished_record(self, fd: int) -> int:
        """Cut off an unfinished last record (a writer killed mid-write left it); returns the
        file's size after. Every record we append is whole, and writes hold ``flock``, so such
        a tail is never a live writer's."""
        size = os.fstat(fd).st_size
        if size == self._whole_until:
            return size
        start = self._whole_until if self._whole_until is not None and self._whole_until < size else 0
        keep = self._records_end(fd, start, size)
        if keep < size:
            os.ftruncate(fd, keep)
            log.warning("%s: cut off an unfinished last record of %d bytes (a writer stopped mid-write)",
                        self.path, size - keep)
        self._whole_until = keep
        return keep


#: how much of a file is read at a time when looking for where its whole records end
_CHUNK = 1 << 20


def lines_end(fd: int, start: int, size: int) -> int:
    """Where the whole lines of a file end: just after its last line break (``start`` when
    there is none after it). Only the tail is read."""
    if size == start or os.pread(fd, 1, size - 1) == b"\n":
        return size
    end = size
    while end > start:
        begin = max(start, end - _CHUNK)
        newline = os.pread(fd, end - begin, begin).rfind(b"\n")
        if newline >= 0:
            return begin + newline + 1
        end = begin
    return start


def csv_records_end(fd: int, start: int, size: int) -> int:
    """Where the whole CSV records of a file end: just after its last line break outside
    quotes (``start`` when there is none after it). A line break inside quotes belongs to a
    cell, so every byte from ``start`` is read, counting quotes (a doubled quote inside a cell
    counts twice and leaves it quoted), at the speed of ``bytes.count``."""
    end, quoted, position = start, False, start
    while position < size:
        chunk = os.pread(fd, min(_CHUNK, size - position), position)
        if not chunk:
            break
        quoted_after = quoted ^ (chunk.count(b'"') % 2 == 1)
        newline = len(chunk)
        while (newline := chunk.rfind(b"\n", 0, newline)) >= 0:
            # quoted just after this line break: the state at the chunk's end, undone by the quotes after it
            if not quoted_after ^ (chunk.count(b'"', newline) % 2 == 1):
                end = position + newline + 1
                break
        quoted, position = quoted_after, position + len(chunk)
    return end


def landed(write: PendingWrite) -> bool:
    """Whether the batch of ``write`` is whole in its file (written before a crash)."""
    try:
        with open(write.path, "rb") as handle:
            handle.seek(write.offset)
            data = handle.read(write.length)
    except OSError:
        return False
    return len(data) == write.length and hashlib.sha256(data).hexdigest() == write.sha256


def _write_sync_and_close(fd: int, pending: _Pending) -> None:
    """The last word on a file nobody closed: write what is kept back, sync (best effort), close."""
    try:
        if pending.count:
            os.write(fd, pending.data(with_header=os.fstat(fd).st_size == 0))
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
        raise _not_a_number(where) from None


def json_line(record: Any, where: str) -> bytes:
    """``record`` as one JSON Lines record: compact UTF-8 JSON and a newline.

    Written by ``orjson`` (a tenth of the time of ``json.dumps``, and every record of a JSONL
    target passes here), which would write NaN and Infinity as ``null``: they are looked for
    first and fail the task, as in :func:`to_json`. What ``orjson`` refuses (keys that are not
    text, integers beyond 64 bits) the standard library writes.
    """
    if not _finite(record):
        raise _not_a_number(where)
    try:
        return orjson.dumps(record, default=str, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:
        text = json.dumps(record, ensure_ascii=False, default=str, allow_nan=False, separators=(",", ":"))
        return (text + "\n").encode("utf-8")


def _not_a_number(where: str) -> PublishError:
    return PublishError(f"{where}: a number is NaN or Infinity, which JSON cannot represent")


#: the types whose values :func:`_finite` must look into
_NOT_PLAIN = frozenset((float, dict, list, tuple))


def _finite(value: Any) -> bool:
    """No NaN or infinity anywhere in ``value`` (floats are rare in records: a record of text,
    integers and nulls is told by the set of its values' types, made in C)."""
    kind = type(value)
    if kind is dict:
        items: Iterable[Any] = value.values()
    elif kind is list or kind is tuple:
        items = value
    else:
        return kind is not float or math.isfinite(value)
    if _NOT_PLAIN.isdisjoint(map(type, items)):
        return True
    for item in items:
        kind = type(item)
        if kind is float:
            if not math.isfinite(item):
                return False
        elif (kind is dict or kind is list or kind is tuple) and not _finite(item):
            return False
    return True


class _FilePublisher:
    """Common ground of the file targets: a path under the project and a dry-run plan."""

    kind = "file"
    #: writing a record again after a crash is harmless (at worst a duplicate line)
    safe_to_repeat = True

    def __init__(self, path: Path) -> None:
        self.path = path

    def plan(self, record: Any) -> PlannedCall:
        return PlannedCall(f"WRITE {self.kind}", str(self.path), RenderedRequest(json=record))

    def flush(self, before_write: Callable[[PendingWrite], None] | None = None) -> None:
        """Make what was published so far last (see ``durability``); nothing to do here.

        ``before_write`` is told where a batch kept back goes just before it is written."""

    def close(self) -> None:
        """Flush, and let go of the file."""


class _AppendingPublisher(_FilePublisher):
    """A file target that appends one line per record, synced as ``durability`` says."""

    #: where the whole records of such a file end (see :class:`_Appender`)
    records_end = staticmethod(lines_end)

    def __init__(self, path: Path, durability: str = "batch", batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        super().__init__(path)
        self._file = _Appender(path, durability, batch_size, self.records_end)

    @property
    def batch_size(self) -> int:
        """Records written between two syncs: the publish loop records their tasks together."""
        return self._file.sync_every

    def hold_until_flushed(self) -> None:
        """Keep records in memory and write each batch in one ``write`` at :meth:`flush` (the
        publish loop flushes every batch, noting where it goes, before recording its tasks)."""
        self._file.hold = True

    def flush(self, before_write: Callable[[PendingWrite], None] | None = None) -> None:
        self._file.flush(before_write)

    def discard(self) -> None:
        self._file.discard()

    def close(self) -> None:
        self._file.close()


class JsonlPublisher(_AppendingPublisher):
    kind = "jsonl"

    def __init__(self, path: Path, durability: str = "batch", batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        super().__init__(path, durability, batch_size)
        self._where = str(path)

    def publish(self, record: Any) -> None:
        self._file.append(json_line(record, self._where))


class CsvPublisher(_AppendingPublisher):
    """One row per record, every row under the same columns: ``fields``, else the header of the
    file when it has one, else the first record's keys. Without ``fields``, a record holding a
    key that is not a column fails (its value would have no place); a missing one is an empty
    cell. A file whose header is not these columns (another writer made it meanwhile) is not
    written to."""

    kind = "csv"
    records_end = staticmethod(csv_records_end)

    def __init__(self, path: Path, fields: list[str] | None = None, delimiter: str = ",",
                 durability: str = "batch", batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        super().__init__(path, durability, batch_size)
        self._fields = fields
        self._delimiter = delimiter
        #: the columns of every row, chosen at the first record unless ``fields`` gives them
        self._columns: list[str] | None = list(fields) if fields else None
        self._known = frozenset(self._columns or ())
        self._choosing = threading.Lock()  # workers publish at once: one of them chooses
        self._file.check_start = self._check_header

    def publish(self, record: Any) -> None:
        if not isinstance(record, dict):
            raise PublishError(f"{self.path}: a CSV row needs an object, got {type(record).__name__}")
        columns = self._columns or self._choose_columns(record)
        if not self._fields and not self._known.issuperset(record):
            extra = ", ".join(repr(name) for name in record if name not in self._known)
            raise PublishError(f"{self.path}: no column for the record's {extra} (the file's columns:"
                               f" {', '.join(columns)}); set `fields` to choose the columns and leave the rest out")
        cells = [_cell(record.get(name), f"{self.path}: column {name!r}") for name in columns]

        self._file.append(self._row(cells), header=lambda: self._row(columns))

    def _choose_columns(self, record: dict[str, Any]) -> list[str]:
        with self._choosing:
            if self._columns is None:
                columns = self._header_in_file() or list(record)
                self._known = frozenset(columns)
                self._columns = columns
            return self._columns

    def _header_in_file(self) -> list[str] | None:
        """The column names of the file's first row, when the file has one whole."""
        try:
            with self.path.open("rb") as handle:
                return _first_row(handle.read(_CHUNK), self._delimiter)
        except OSError:  # no file yet; one that cannot be read says so when it is written
            return None

    def _check_header(self, fd: int) -> None:
        found = _first_row(os.pread(fd, _CHUNK, 0), self._delimiter)
        if found != self._columns:
            raise PublishError(f"{self.path}: the file's columns are {', '.join(found or ['(none)'])}, not"
                               f" {', '.join(self._columns or [])} (another writer made the file meanwhile?);"
                               " nothing was written")

    def _row(self, cells: list[str]) -> bytes:
        r"""One row ending in ``\n``. The writer ends it in ``\r\n``, which the last two characters
        are: it quotes a cell by the characters of its line terminator, and with ``\n`` alone it
        left a cell holding a carriage return unquoted, which a CSV reader takes for a row's end."""
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=self._delimiter, lineterminator="\r\n").writerow(cells)
        return (buffer.getvalue()[:-2] + "\n").encode("utf-8")


def _first_row(data: bytes, delimiter: str) -> list[str] | None:
    """The cells of the first CSV row of ``data`` (a byte order mark skipped), or ``None`` when
    ``data`` holds no whole row: one ends at a line break outside quotes."""
    end = data.find(b"\n")
    while end >= 0 and data.count(b'"', 0, end) % 2:
        end = data.find(b"\n", end + 1)
    if end < 0:
        return None
    try:
        text = data[:end + 1].decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    return next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), None)


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
        """Write the array with ``record`` to a new file, synced, and put it in the old one's
        place, with the old one's permissions (the first file gets what the appending targets'
        get: a private temporary file had made it unreadable to others); then the folder is
        synced, so that the swap itself survives the machine going down."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _path_lock(self.path), _file_lock(self.lock_path):
            data = to_json([*self._load(), record], str(self.path), indent=2).encode("utf-8")
            temp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}")
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)  # the umask applies
            try:
                with os.fdopen(fd, "wb") as handle:
                    mode = self._mode()
                    if mode is not None:
                        os.chmod(temp, mode)
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temp, self.path)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
            _sync_folder(self.path.parent)

    def _mode(self) -> int | None:
        """The permissions of the array's file, ``None`` before there is one."""
        try:
            return stat.S_IMODE(os.stat(self.path).st_mode)
        except FileNotFoundError:
            return None


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` last (POSIX: the folder's own entry list is synced)."""
    if not hasattr(os, "O_DIRECTORY"):  # Windows: a rename is durable once it returns
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
