"""The SQLite task store: one file, WAL mode, a connection per thread.

WAL lets the CLI read while a run writes; ``busy_timeout`` makes concurrent writers wait
instead of failing; every write runs in one transaction (``BEGIN IMMEDIATE``, or a single
statement) so that a crash (even SIGKILL) leaves each task either fully written or absent. The outgoing engine claims and finishes
tasks from worker threads, and a sqlite3 connection must stay in its thread, hence one per
thread.

A batch of new tasks that de-dup does not decide (``add_many`` without marks, not written
ahead, of objects and lists) arrives as one row of ``arrivals``: its identities and entities
as one JSON text, and its outgoings. Storing that costs a fraction of a row and two index
entries per task, so an incoming run stores a page while the next one is read. The first
read or write that chooses tasks (a claim, a list, a count, another add) cuts every waiting
arrival into task rows, oldest first, in one transaction with its deletion; the methods that
only touch tasks by the ids a claim returned (finish, release, renew), or only tasks being
processed or finished, need not.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import contextmanager
from itertools import compress, repeat
from operator import add, attrgetter, lshift, or_, sub
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, NamedTuple, Sequence

import orjson

from alumio_mistral.fastjson import dumps as _dump
from alumio_mistral.fastjson import dumps_joined, loads
from alumio_mistral.tasks.migrations import migrate
from alumio_mistral.tasks.sqlite_checkpoints import Checkpointer
from alumio_mistral.tasks.sqlite_outbox import SqliteOutbox
from alumio_mistral.tasks.sqlite_schedules import SqliteScheduleLog
from alumio_mistral.tasks.store import (
    StoreShortcuts,
    DEFAULT_LEASE_SECONDS,
    FINAL_STATUSES,
    PAGE_SIZE,
    RESOLVABLE_STATUSES,
    STATUSES,
    Dedup,
    LeaseHeldError,
    NewEntity,
    Settled,
    Task,
    TaskOutcome,
    TaskStoreError,
    check_statuses,
    like_pattern,
    new_targets,
    settled,
)

#: the page size of a new database file
PAGE_BYTES = 16384

_COLUMNS = (
    "id, incoming, outgoing, entity, identity, status, attempts, created_at, updated_at, "
    "last_error, result, claimed_by, lease_until, resolution"
)

#: a ``processing`` row whose lease has lapsed (a missing lease counts as lapsed)
_LAPSED = "status = 'processing' AND (lease_until IS NULL OR lease_until <= ?)"

#: "id is one of a JSON list": one bound value however many ids (no SQL variable limit)
_ID_AMONG = "id IN (SELECT value FROM json_each(?))"

_INSERT_TASK = (
    "INSERT INTO tasks (incoming, outgoing, entity, identity, status, attempts, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, 'new', 0, ?, ?)"
)
#: the oldest SQLite the store's statements run on (``UPDATE ... RETURNING`` came in 3.35)
MIN_SQLITE = (3, 35, 0)
#: an entity's place in the blob of a batch as one integer: its offset shifted left by this many
#: bits, plus its length; SQLite binds nothing longer than 10**9 bytes, so both fit and the
#: places of a batch are unique (offsets grow) and in order
_PLACE_BITS = 30
#: a batch of tasks in one statement, so SQLite inserts it in one step with the GIL released and
#: no Python call per row: ?2 is the batch's entity texts back to back (a blob, cut by byte
#: offsets, which text would count in characters from the start), ?3 a JSON object with a member
#: per entity, its key the entity's place in ?2 (see :data:`_PLACE_BITS`) and its value the
#: identity, so that ``json_each`` hands both over as columns with no parsing per row (a
#: ``json_extract`` of an [offset, length, identity] array per row cost a fifth of the insert);
#: ?4 is the JSON array of outgoings, read once into a table (a json_each in the join would
#: parse it again for every entity); CROSS JOIN keeps the entities the outer loop, so ids
#: follow the batch's order, entity by entity; ?6 and ?7 are the status and attempts (``new``
#: and 0, or a written-ahead task's end)
_INSERT_TASKS = (
    "WITH target (value) AS MATERIALIZED (SELECT value FROM json_each(?4))"
    " INSERT INTO tasks (incoming, outgoing, entity, identity, status, attempts, created_at, updated_at)"
    f" SELECT ?1, target.value, CAST(substr(?2, slice.key >> {_PLACE_BITS}, slice.key & {(1 << _PLACE_BITS) - 1})"
    " AS TEXT), slice.value, ?6, ?7, ?5, ?5"
    " FROM json_each(?3) AS slice CROSS JOIN target"
)
#: a batch of new tasks as one row: its ``[identity, entity]`` pairs as one JSON array (one
#: encoder call for the batch), kept until the batch is cut into task rows (see :data:`_UNPACK`)
_INSERT_ARRIVAL = "INSERT INTO arrivals (incoming, pairs, outgoings, created_at) VALUES (?, ?, ?, ?)"
_OLDEST_ARRIVAL = "SELECT id, incoming, pairs, outgoings, created_at FROM arrivals ORDER BY id LIMIT 1"
#: the task rows of an arrival (its columns after the id as ?1-?4), entity by entity, each in
#: the order of the outgoings: SQLite hands an object or a list back as the very text it was
#: given, so an arrival holds only batches of objects and lists (a text or a number would come
#: back as an SQL value)
_UNPACK = (
    "WITH target (value) AS MATERIALIZED (SELECT value FROM json_each(?3))"
    " INSERT INTO tasks (incoming, outgoing, entity, identity, status, attempts, created_at, updated_at)"
    " SELECT ?1, target.value, json_extract(pair.value, '$[1]'), json_extract(pair.value, '$[0]'), 'new', 0, ?4, ?4"
    " FROM json_each(?2) AS pair CROSS JOIN target"
)
#: the kinds of entity an arrival holds
_ARRIVING = {dict, list}
#: one written-ahead task that ended with a result or an error (see :meth:`SqliteTaskStore.add_many`)
_INSERT_WRITTEN_AHEAD = (
    "INSERT INTO tasks (incoming, outgoing, entity, identity, status, attempts, created_at, updated_at, result,"
    " last_error) VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?)"
)
_SET_VALUE = (
    "INSERT INTO storage (namespace, key, value, updated_at) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
)
_FINISH = (
    "UPDATE tasks SET status = ?, result = ?, last_error = ?, claimed_by = NULL, lease_until = NULL,"
    " updated_at = ? WHERE id = ?"
)
#: the tasks of a JSON list of ids, just claimed, as one JSON array of the fields the claim did not
#: set (those it set are known exactly, not as JSON's rounded numbers)
_CLAIMED = (
    "SELECT json_group_array(json_array(id, incoming, outgoing, json(entity), identity, attempts, created_at,"
    f" json(last_error), json(result), json(resolution))) FROM tasks WHERE {_ID_AMONG}"
)
#: :data:`_FINISH` of many tasks ending alike, with no result and no error
_FINISH_BARE = (
    "UPDATE tasks SET status = ?, result = NULL, last_error = NULL, claimed_by = NULL, lease_until = NULL,"
    f" updated_at = ? WHERE {_ID_AMONG}"
)


_ENTITY = attrgetter("entity")
_IDENTITY = attrgetter("identity")
_DEDUP = attrgetter("dedup")


class _Texts(NamedTuple):
    """A batch's entities as JSON, back to back in one blob, and where each one ends in it."""

    blob: bytearray
    ends: list[int]

    @classmethod
    def of(cls, entities: Sequence[NewEntity]) -> _Texts:
        return cls(*dumps_joined(map(_ENTITY, entities)))

    def text(self, index: int) -> str:
        return self._encoded(index).decode()

    def only(self, chosen: Iterable[int]) -> _Texts:
        """The texts of the ``chosen`` entities alone, in that order."""
        blob, ends = bytearray(), []
        for index in chosen:
            blob += self._encoded(index)
            ends.append(len(blob))
        return _Texts(blob, ends)

    def _encoded(self, index: int) -> bytearray:
        return self.blob[self.ends[index - 1] if index else 0:self.ends[index]]


def _inserted(texts: _Texts, identities: Iterable[str | None], incoming: str,
              targets: list[str | None], now: str, status: str = "new", attempts: int = 0) -> tuple[Any, ...]:
    """The parameters of :data:`_INSERT_TASKS` for entities serialised as ``texts`` (in C loops)."""
    starts = [0, *texts.ends[:-1]]
    offsets = map(add, starts, repeat(1))  # substr counts from 1
    places = map(or_, map(lshift, offsets, repeat(_PLACE_BITS)), map(sub, texts.ends, starts))
    # text, not bytes: SQLite 3.45 and later read a blob given to json_each as its binary JSON
    slices = orjson.dumps(dict(zip(places, identities)), option=orjson.OPT_NON_STR_KEYS).decode()
    return incoming, texts.blob, slices, _dump(targets), now, status, attempts


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _load(text: str | None) -> Any:
    return None if text is None else loads(text)


def _json_or_null(value: Any) -> str | None:
    return None if value is None else _dump(value)


def _hours(since: datetime, until: datetime | None) -> Iterator[tuple[str, str, str | None]]:
    """The UTC hours from ``since`` to ``until`` (``None``: open-ended) as (``YYYY-MM-DDTHH``,
    start, end) in the stored text form; the first starts at ``since``, the last ends at ``until``."""
    start = since.astimezone(timezone.utc)
    last = (until or datetime.now(timezone.utc)).astimezone(timezone.utc)
    while until is None or start < last:
        following = start.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        open_ended = until is None and following > last
        end = None if open_ended else min(following, last)
        yield (start.strftime("%Y-%m-%dT%H"), start.isoformat(timespec="milliseconds"),
               None if end is None else end.isoformat(timespec="milliseconds"))
        if end is None:
            return
        start = end


def _task(row: sqlite3.Row) -> Task:
    """The task of a row of :data:`_COLUMNS`, read by position (a look-up by column name costs
    more than the rest of the row)."""
    (task_id, incoming, outgoing, entity, identity, status, attempts, created_at, updated_at,
     last_error, result, claimed_by, lease_until, resolution) = row
    return Task(task_id, incoming, outgoing, loads(entity), identity, status, attempts, created_at, updated_at,
                _load(last_error), _load(result), claimed_by, lease_until, _load(resolution))


class SqliteTaskStore(StoreShortcuts, SqliteScheduleLog, SqliteOutbox):
    """Tasks, storages, the outbox and the schedule log in one SQLite file (see the module docstring for why so)."""

    def __init__(
        self, path: str | Path, busy_timeout_ms: int = 30_000, clock: Callable[[], float] = time.time
    ) -> None:
        self.path = Path(path)
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise TaskStoreError(
                f"{self.path}: the task store needs SQLite {'.'.join(map(str, MIN_SQLITE))} or newer, and this"
                f" Python's sqlite3 module has {sqlite3.sqlite_version} (a newer Python, or store: {{url:"
                " postgresql://...}, runs it)"
            )
        self._busy_timeout_ms = busy_timeout_ms
        #: the time leases are measured against (tests inject their own)
        self._clock = clock
        self._local = threading.local()
        #: each thread's connection, with the thread (see :meth:`_db`)
        self._connections: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._lock = threading.Lock()
        #: checkpoints for the connections that store arrivals (see its module)
        self._checkpointer = Checkpointer(self._db, PAGE_BYTES, str(self.path))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise TaskStoreError(
                f"{self.path}: cannot create the task store's folder {self.path.parent}: "
                f"{error.strerror or error}"
            ) from error
        if self.path.is_dir():
            raise TaskStoreError(f"{self.path}: is a folder; the task store needs a file path")
        self._create_schema()

    def __repr__(self) -> str:
        return f"SqliteTaskStore({str(self.path)!r})"

    def __enter__(self) -> SqliteTaskStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- connections -------------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            try:
                # check_same_thread off only so that a connection can be closed once its thread
                # has ended (see close()); each connection is used by its own thread alone
                db = sqlite3.connect(
                    self.path,
                    isolation_level=None,
                    timeout=self._busy_timeout_ms / 1000,
                    check_same_thread=False,
                )
                db.row_factory = sqlite3.Row
                db.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
                # a new file only (the size of an existing one stays): a task is a few hundred
                # bytes, and 16 KiB pages store a batch of them for a sixth less than 4 KiB ones
                db.execute(f"PRAGMA page_size = {PAGE_BYTES}")
                self._enter_wal(db)
                db.execute("PRAGMA synchronous = NORMAL")
                db.execute("PRAGMA foreign_keys = ON")
            except sqlite3.DatabaseError as error:
                raise TaskStoreError(f"{self.path}: cannot open the task database: {error}") from error
            self._local.db = db
            with self._lock:
                self._close_orphans()
                self._connections.append((threading.current_thread(), db))
        return db

    def _enter_wal(self, db: sqlite3.Connection) -> None:
        """Switch a fresh file to WAL (a lasting property of the file).

        Two processes opening a new database at once race for the exclusive lock this needs,
        and SQLite answers "locked" at once instead of waiting, so wait here up to the busy timeout.
        """
        deadline = time.monotonic() + self._busy_timeout_ms / 1000
        while True:
            try:
                db.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.005)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken up front so that two writers queue instead of deadlock."""
        db = self._db()
        with self._errors():
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                if db.in_transaction:  # SQLite may have rolled back already (disk full)
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """SQLite's refusals (locked past busy_timeout, disk full, read-only) as the store's, naming the file."""
        try:
            yield
        except sqlite3.OperationalError as error:
            raise TaskStoreError(f"{self.path}: {error}") from error

    @contextmanager
    def _write_tasks(self) -> Iterator[sqlite3.Connection]:
        """A write transaction on tasks that chooses or numbers them: the batches waiting as
        arrivals become task rows first, so ids keep the order tasks were added in."""
        with self._write() as db:
            self._unpack(db)
            yield db

    def _tasks(self) -> sqlite3.Connection:
        """This thread's connection, for a read that must see every task: a batch still waiting
        as an arrival is cut into task rows first (a short write, only when one waits)."""
        db = self._db()
        with self._errors():
            waiting = db.execute("SELECT 1 FROM arrivals LIMIT 1").fetchone() is not None
        if waiting:
            with self._write() as db:
                self._unpack(db)
        return db

    @staticmethod
    def _unpack(db: sqlite3.Connection) -> None:
        """Cut each arrival, oldest first, into the task rows of its batch, inside the caller's
        write transaction: a crash leaves an arrival whole or wholly made tasks. One at a time,
        so memory holds one batch however many wait."""
        while (arrival := db.execute(_OLDEST_ARRIVAL).fetchone()) is not None:
            arrival_id, *batch = arrival
            db.execute(_UNPACK, batch)
            db.execute("DELETE FROM arrivals WHERE id = ?", (arrival_id,))

    def _create_schema(self) -> None:
        """Bring the database to the current schema (see :mod:`~alumio_mistral.tasks.migrations`);
        ``BEGIN IMMEDIATE`` keeps two processes opening a new file from both running the steps."""
        with self._write() as db:
            #: the schema version the file had when opened (0: new), for ``store migrate``
            self.migrated_from = migrate("sqlite", str(self.path), db.execute)

    def _close_orphans(self, also: threading.Thread | None = None) -> None:
        """Close the connections of threads that have ended (a run's writer, a publisher's
        workers), and those of ``also``; the caller holds ``self._lock``. A process that serves
        for days starts threads without end, and each would otherwise keep its file handle and
        page cache until the store closes."""
        closing = [db for thread, db in self._connections if thread is also or not thread.is_alive()]
        self._connections = [(thread, db) for thread, db in self._connections
                             if thread is not also and thread.is_alive()]
        for db in closing:
            db.close()

    def close(self) -> None:
        """Close this thread's connection and those of ended threads; every thread opens a new
        one on its next use.

        Another live thread may be in the middle of a statement on its own connection (a
        delivery thread still waiting on an endpoint when a run ends): closing that connection
        under it crashes the process, so it is left to be closed once that thread has ended.
        """
        self._checkpointer.close()
        with self._lock:
            self._close_orphans(also=threading.current_thread())
            self._local = threading.local()

    def snapshot(self, folder: Path) -> SqliteTaskStore:
        """A private, writable copy in ``folder``, for a dry run that must change nothing here."""
        return snapshot(self.path, folder)

    # -- tasks -------------------------------------------------------------------------

    def add_tasks(
        self,
        incoming: str,
        entity: Any,
        outgoings: Iterable[str | None],
        identity: str | None,
        dedup: Dedup | None = None,
    ) -> list[int]:
        targets = list(outgoings) or [None]
        entity_json = _dump(entity)
        now = _now()
        with self._write_tasks() as db:  # BEGIN IMMEDIATE: no other writer between check and insert
            if not self._admit(db, [NewEntity(entity, identity, dedup)], now)[0]:
                return []
            ids = [db.execute(_INSERT_TASK, (incoming, outgoing, entity_json, identity, now, now)).lastrowid
                   for outgoing in targets]
        return [int(i) for i in ids if i is not None]

    def add_many(
        self, incoming: str, entities: Sequence[NewEntity], outgoings: Iterable[str | None],
        written_ahead: Mapping[str, Sequence[Settled]] | None = None,
    ) -> list[int]:
        targets = new_targets(outgoings, written_ahead, entities)
        now = _now()
        if not written_ahead and not any(map(_DEDUP, entities)) and set(map(type, map(_ENTITY, entities))) <= _ARRIVING:
            # nothing to decide (dedup always): the batch arrives as one row, in one statement
            # (a transaction of its own), and becomes task rows when tasks are next read or chosen
            pairs = _dump(list(zip(map(_IDENTITY, entities), map(_ENTITY, entities))))
            with self._errors():
                db = self._db()
                self._checkpointer.hand_over(db)
                db.execute(_INSERT_ARRIVAL, (incoming, pairs, _dump(targets), now))
            self._checkpointer.wrote(len(pairs))
            return [len(targets)] * len(entities)
        texts = _Texts.of(entities)  # before the transaction: it holds the write lock
        if written_ahead:
            with self._write_tasks() as db:
                if targets:
                    db.execute(_INSERT_TASKS, _inserted(texts, map(_IDENTITY, entities), incoming, targets, now))
                for outgoing, outcomes in written_ahead.items():
                    self._insert_written_ahead(db, incoming, outgoing, entities, texts, outcomes, now)
            return [len(targets) + len(written_ahead)] * len(entities)
        with self._write_tasks() as db:  # BEGIN IMMEDIATE: the de-dup reads and the inserts see no other writer
            admitted = self._admit(db, entities, now)
            everyone = admitted.count(True) == len(admitted)
            db.execute(_INSERT_TASKS, _inserted(
                texts if everyone else texts.only(compress(range(len(admitted)), admitted)),
                map(_IDENTITY, entities if everyone else compress(entities, admitted)),
                incoming, targets, now))
        return [len(targets)] * len(admitted) if everyone else [len(targets) if take else 0 for take in admitted]

    @staticmethod
    def _insert_written_ahead(db: sqlite3.Connection, incoming: str, outgoing: str, entities: Sequence[NewEntity],
                              texts: _Texts, outcomes: Sequence[Settled], now: str) -> None:
        """The finished tasks of one outgoing for a batch: those ending alike with neither result
        nor error (a file target's whole batch, usually) in one statement per status, the rest a row each."""
        plain: dict[str, list[int]] = {}
        rows = []
        for index, outcome in enumerate(outcomes):
            if outcome.result is None and outcome.error is None:
                plain.setdefault(outcome.status, []).append(index)
            else:
                rows.append((incoming, outgoing, texts.text(index), entities[index].identity, outcome.status,
                             now, now, _json_or_null(outcome.result), _json_or_null(outcome.error)))
        for status, chosen in plain.items():
            db.execute(_INSERT_TASKS, _inserted(texts.only(chosen), (entities[i].identity for i in chosen),
                                                incoming, [outgoing], now, status, 1))
        db.executemany(_INSERT_WRITTEN_AHEAD, rows)

    def _admit(self, db: sqlite3.Connection, entities: Sequence[NewEntity], now: str) -> list[bool]:
        """Which entities of a batch de-dup lets in, in order, marking each one admitted.

        Inside the caller's write transaction: the marks are read and written with no other
        writer in between. An entity is judged against the stored mark, or against the mark an
        earlier entity of the same batch just set, as if each had been added on its own.
        """
        dedups = list(map(_DEDUP, entities))
        marks = self._marks(db, [dedup for dedup in dedups if dedup is not None])
        admitted, written = [], {}
        for dedup in dedups:
            if dedup is None:
                admitted.append(True)
                continue
            slot = (dedup.namespace, dedup.key)
            if dedup.seen(marks.get(slot)):
                admitted.append(False)
                continue
            marks[slot] = written[slot] = dedup.value
            admitted.append(True)
        db.executemany(_SET_VALUE, ((namespace, key, _dump(value), now)
                                    for (namespace, key), value in written.items()))
        return admitted

    @staticmethod
    def _marks(db: sqlite3.Connection, wanted: list[Dedup]) -> dict[tuple[str, str], Any]:
        """The stored de-dup marks of ``wanted``, one query per namespace."""
        keys: dict[str, list[str]] = {}
        for dedup in wanted:
            keys.setdefault(dedup.namespace, []).append(dedup.key)
        return {
            (namespace, key): loads(value)
            for namespace, chosen in keys.items()
            for key, value in db.execute(
                "SELECT key, value FROM storage WHERE namespace = ? AND key IN (SELECT value FROM json_each(?))",
                (namespace, _dump(chosen)),
            )
        }

    def claim(
        self,
        outgoing: str | None,
        limit: int,
        worker: str,
        ids: Iterable[int] | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> list[Task]:
        only, args = "", [outgoing]
        if ids is not None:
            chosen = [int(i) for i in ids]
            if not chosen:
                return []
            only = f" AND {_ID_AMONG}"
            args.append(_dump(chosen))
        with self._write_tasks() as db:
            # three statements rather than UPDATE ... RETURNING: the claimed tasks come back as
            # one JSON text read in one parse, not a row object each (which cost as much as the UPDATE)
            (claimed_ids,) = db.execute(
                "SELECT json_group_array(id) FROM (SELECT id FROM tasks WHERE outgoing IS ? AND"
                f" status = 'new'{only} ORDER BY id LIMIT ?)", [*args, limit],
            ).fetchone()
            if claimed_ids == "[]":
                return []
            lease, now = self._clock() + lease_seconds, _now()
            db.execute(
                "UPDATE tasks SET status = 'processing', attempts = attempts + 1, claimed_by = ?, lease_until = ?,"
                f" updated_at = ? WHERE {_ID_AMONG}", (worker, lease, now, claimed_ids),
            )
            (claimed,) = db.execute(_CLAIMED, (claimed_ids,)).fetchone()
        tasks = [Task(task_id, incoming, outgoing, entity, identity, "processing", attempts, created_at, now, last_error,
                      result, worker, lease, resolution)
                 for task_id, incoming, outgoing, entity, identity, attempts, created_at, last_error, result, resolution
                 in loads(claimed)]
        return sorted(tasks, key=attrgetter("id"))

    def finish_many(self, outcomes: Sequence[TaskOutcome]) -> None:
        if not outcomes:
            return
        check_statuses({outcome.status for outcome in outcomes}, FINAL_STATUSES)
        now = _now()
        bare: dict[str, list[int]] = {}  # status -> ids of tasks ending with no result and no error
        rows = []
        for outcome in outcomes:
            if outcome.result is None and outcome.error is None:
                bare.setdefault(outcome.status, []).append(outcome.task_id)
            else:
                rows.append((outcome.status, _json_or_null(outcome.result), _json_or_null(outcome.error), now,
                             outcome.task_id))
        with self._write() as db:
            # one statement per status for the bare ones (a file target's whole batch): SQLite
            # walks the id list itself, with no Python call per task
            changed = sum(db.execute(_FINISH_BARE, (status, now, _dump(ids))).rowcount for status, ids in bare.items())
            if rows:
                changed += db.executemany(_FINISH, rows).rowcount
            if changed != len(outcomes):
                wanted = [outcome.task_id for outcome in outcomes]
                known = {row[0] for row in db.execute(f"SELECT id FROM tasks WHERE {_ID_AMONG}", (_dump(wanted),))}
                unknown = next((task_id for task_id in wanted if task_id not in known), None)
                if unknown is not None:  # else an id came twice, and its row changed once
                    raise TaskStoreError(f"{self.path}: no task with id {unknown}")  # rolls the batch back
            self._queue_outbox(db, (entry for outcome in outcomes for entry in outcome.outbox))

    def release(self, ids: Iterable[int], worker: str) -> int:
        chosen = [int(i) for i in ids]
        if not chosen:
            return 0
        with self._write() as db:
            return db.execute(
                "UPDATE tasks SET status = 'new', attempts = MAX(attempts - 1, 0), claimed_by = NULL,"
                f" lease_until = NULL, updated_at = ? WHERE {_ID_AMONG} AND status = 'processing'"
                " AND claimed_by = ?",
                (_now(), _dump(chosen), worker),
            ).rowcount

    def renew(self, ids: Iterable[int], worker: str, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> list[int]:
        chosen = [int(i) for i in ids]
        if not chosen:
            return []
        with self._write() as db:
            rows = db.execute(
                f"UPDATE tasks SET lease_until = ? WHERE {_ID_AMONG} AND status = 'processing'"
                " AND claimed_by = ? RETURNING id",
                (self._clock() + lease_seconds, _dump(chosen), worker),
            ).fetchall()
        return sorted(row[0] for row in rows)

    def stale(self, outgoing: str | None) -> list[Task]:
        rows = self._db().execute(
            f"SELECT {_COLUMNS} FROM tasks WHERE outgoing IS ? AND {_LAPSED} ORDER BY id",
            (outgoing, self._clock()),
        )
        return [_task(row) for row in rows]

    def leased(self, outgoing: str | None) -> list[Task]:
        rows = self._db().execute(
            f"SELECT {_COLUMNS} FROM tasks WHERE outgoing IS ? AND status = 'processing'"
            " AND lease_until > ? ORDER BY id",
            (outgoing, self._clock()),
        )
        return [_task(row) for row in rows]

    def requeue(self, ids: Iterable[int] | None, statuses: Iterable[str] | None = None) -> int:
        where, args = [], []
        if ids is not None:
            chosen = [int(i) for i in ids]
            if not chosen:
                return 0
            where.append(_ID_AMONG)
            args.append(_dump(chosen))
        if statuses is not None:
            chosen_statuses = check_statuses(statuses)
            where.append(f"status IN ({', '.join('?' * len(chosen_statuses))})")
            args.extend(chosen_statuses)
        if not where:
            raise TaskStoreError("requeue needs task ids or statuses (refusing to requeue everything)")
        chosen_rows = " AND ".join(where)
        with self._write_tasks() as db:  # the lease check and the move in one transaction
            held = [row[0] for row in db.execute(
                f"SELECT id FROM tasks WHERE {chosen_rows} AND status = 'processing' AND lease_until > ?"
                " ORDER BY id", [*args, self._clock()],
            )]
            if held:
                raise LeaseHeldError(
                    f"{self.path}: task {', '.join(map(str, held))} is being worked on (processing under"
                    " a live lease); it is left alone until the lease lapses"
                )
            return db.execute(
                "UPDATE tasks SET status = 'new', claimed_by = NULL, lease_until = NULL, updated_at = ?"
                f" WHERE {chosen_rows}",
                [_now(), *args],
            ).rowcount

    def resolve(self, task_id: int, status: str, resolution: dict[str, Any], result: Any = None) -> Task:
        check_statuses([status], ("processed", "failed", "review"))
        with self._write() as db:
            row = db.execute("SELECT status, result, last_error FROM tasks WHERE id = ?", (task_id,)).fetchone()
            if row is None:
                raise TaskStoreError(f"{self.path}: no task with id {task_id}")
            if row["status"] not in (RESOLVABLE_STATUSES if status != "review" else ("review",)):
                raise TaskStoreError(
                    f"{self.path}: task {task_id} is {row['status']}; only {' or '.join(RESOLVABLE_STATUSES)}"
                    " tasks are resolved by hand"
                )
            record, error = settled(status, resolution, row["status"], _load(row["last_error"]))
            db.execute(
                "UPDATE tasks SET status = ?, result = ?, last_error = ?, resolution = ?, updated_at = ? WHERE id = ?",
                (status, row["result"] if result is None else _dump(result), _json_or_null(error),
                 _dump(record), _now(), task_id),
            )
        task = self.get(task_id)
        assert task is not None
        return task

    def get(self, task_or_namespace: int | str, key: str | None = None) -> Any:
        if key is not None:
            return self._get(self._db(), str(task_or_namespace), key)
        row = self._tasks().execute(
            f"SELECT {_COLUMNS} FROM tasks WHERE id = ?", (task_or_namespace,)
        ).fetchone()
        return None if row is None else _task(row)

    def list(
        self,
        status: str | None = None,
        incoming: str | None = None,
        outgoing: str | None = None,
        limit: int | None = None,
        after: int | None = None,
    ) -> list[Task]:
        where, args = [], []
        if after is not None:
            where.append("id > ?")
            args.append(int(after))
        if status is not None:
            check_statuses([status])
            where.append("status = ?")
            args.append(status)
        if incoming is not None:
            where.append("incoming = ?")
            args.append(incoming)
        if outgoing is not None:
            where.append("outgoing = ?")
            args.append(outgoing)
        sql = f"SELECT {_COLUMNS} FROM tasks"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        return [_task(row) for row in self._tasks().execute(sql, args)]

    def import_tasks(self, tasks: Sequence[Task]) -> None:
        with self._write_tasks() as db:
            db.executemany(
                f"INSERT INTO tasks ({_COLUMNS}) VALUES ({', '.join('?' * 14)})",
                [(t.id, t.incoming, t.outgoing, _dump(t.entity), t.identity, t.status, t.attempts, t.created_at,
                  t.updated_at, _json_or_null(t.last_error), _json_or_null(t.result), t.claimed_by, t.lease_until,
                  _json_or_null(t.resolution)) for t in tasks],
            )

    def counts(self) -> dict[str, int]:
        found = dict(self._tasks().execute("SELECT status, COUNT(*) FROM tasks GROUP BY status").fetchall())
        return {status: int(found.get(status, 0)) for status in STATUSES}

    def counts_by_outgoing(self) -> dict[tuple[str | None, str], int]:
        rows = self._tasks().execute("SELECT outgoing, status, COUNT(*) FROM tasks GROUP BY outgoing, status").fetchall()
        return {(outgoing, status): int(count) for outgoing, status, count in rows}

    def page(
        self,
        status: str | None = None,
        incoming: str | None = None,
        outgoing: str | None = None,
        text: str | None = None,
        before: int | None = None,
        limit: int = PAGE_SIZE,
        after: int | None = None,
    ) -> list[Task]:
        if outgoing is not None and status is None:
            # the (outgoing, status, id) index holds ids in order within one status: read each
            # status's newest and merge, rather than sort every task of the outgoing
            found = [task for each in STATUSES for task in self.page(
                each, incoming, outgoing, text, before, limit, after)]
            return sorted(found, key=lambda task: task.id, reverse=True)[:limit]
        where, args = [], []
        for condition, value in (("status = ?", status), ("incoming = ?", incoming),
                                 ("outgoing = ?", outgoing), ("id < ?", before),
                                 ("id > ?", after)):
            if value is not None:
                where.append(condition)
                args.append(value)
        if status is not None:
            check_statuses([status])
        if text:
            where.append("(entity LIKE ? ESCAPE '\\' OR identity LIKE ? ESCAPE '\\'"
                         " OR last_error LIKE ? ESCAPE '\\')")
            args.extend([like_pattern(text)] * 3)
        sql = f"SELECT {_COLUMNS} FROM tasks" + (" WHERE " + " AND ".join(where) if where else "")
        return [_task(row) for row in self._tasks().execute(sql + " ORDER BY id DESC LIMIT ?", [*args, int(limit)])]

    def finished_per_hour(self, since: datetime, until: datetime | None = None) -> dict[tuple[str, str], int]:
        # one range count per hour and status: each reads a slice of the (updated_at, status)
        # index and nothing else, where a GROUP BY on the hour would compute it for every row;
        # named, as without ANALYZE statistics SQLite would pick (status, id) and read every
        # processed task there is; the status written out, as the index holds processed and
        # failed tasks only and SQLite must see that the query asks for no other
        found = {}
        for hour, start, end in _hours(since, until):
            bounds, args = "updated_at >= ?", [start]
            if end is not None:
                bounds, args = bounds + " AND updated_at < ?", [start, end]
            for status in ("processed", "failed"):
                count = self._db().execute(f"SELECT COUNT(*) FROM tasks INDEXED BY tasks_by_update WHERE {bounds}"
                                           f" AND status = '{status}'", args).fetchone()[0]
                if count:
                    found[(hour, status)] = count
        return found

    # -- storages ----------------------------------------------------------------------

    @staticmethod
    def _get(db: sqlite3.Connection, namespace: str, key: str) -> Any:
        row = db.execute(
            "SELECT value FROM storage WHERE namespace = ? AND key = ?", (namespace, key)
        ).fetchone()
        return None if row is None else loads(row[0])

    def set(self, namespace: str, key: str, value: Any) -> None:
        with self._write() as db:
            db.execute(_SET_VALUE, (namespace, key, _dump(value), _now()))

    def delete(self, namespace: str, key: str) -> bool:
        with self._write() as db:
            return bool(
                db.execute("DELETE FROM storage WHERE namespace = ? AND key = ?", (namespace, key)).rowcount
            )

    def items(self, namespace: str) -> Iterator[tuple[str, Any]]:
        rows = self._db().execute(
            "SELECT key, value FROM storage WHERE namespace = ? ORDER BY key", (namespace,)
        )
        for key, value in rows:
            yield key, loads(value)

    def namespaces(self) -> dict[str, int]:
        rows = self._db().execute(
            "SELECT namespace, COUNT(*) FROM storage GROUP BY namespace ORDER BY namespace"
        )
        return {name: int(count) for name, count in rows}

    def clear(self, namespace: str) -> int:
        with self._write() as db:
            return db.execute("DELETE FROM storage WHERE namespace = ?", (namespace,)).rowcount


def snapshot(path: Path, folder: Path) -> SqliteTaskStore:
    """A writable copy of the database at ``path`` in ``folder`` (an empty store when there is
    none yet), read through a read-only connection with SQLite's online backup: consistent while
    others write, and the original is neither created nor migrated."""
    copy_path = Path(folder) / "tasks.db"
    if Path(path).exists():
        source = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
        copy = sqlite3.connect(copy_path)
        try:
            source.backup(copy)
        except sqlite3.DatabaseError as error:
            raise TaskStoreError(f"{path}: cannot copy the task database: {error}") from error
        finally:
            source.close()
            copy.close()
    return SqliteTaskStore(copy_path)
