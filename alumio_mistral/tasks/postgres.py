"""The PostgreSQL task store: many workers on many machines sharing one database.

Same interface and meaning as the SQLite store, with the database server deciding what a
file lock decides there:
- a claim picks rows with ``SELECT ... FOR UPDATE SKIP LOCKED``: workers claiming at once take
  disjoint batches and never wait on each other;
- leases are measured by the server's clock (``clock_timestamp()``), so machines whose clocks
  disagree still agree on when a lease lapses (tests inject a clock instead);
- de-dup is decided inside the insert (``INSERT ... ON CONFLICT`` on the mark): two machines
  reading the same entity at once make one task for it;
- a task's JSON (entity, result, error, resolution) is stored as ``json``, the text it was given
  (``jsonb`` would reorder keys and turn ``1e300`` into an integer); storage values, compared
  by de-dup, as ``jsonb``; timestamps as ``timestamptz``.
Each method runs in one transaction on a connection of a ``psycopg_pool`` pool shared by the
threads of the process. The schema is made by :mod:`~alumio_mistral.tasks.migrations` at open,
under an advisory lock.
"""

from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence
from urllib.parse import urlsplit

import psycopg
from psycopg import sql
from psycopg.types.json import Json, Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from alumio_mistral.secrets import register_secret
from alumio_mistral.tasks.migrations import migrate
from alumio_mistral.tasks.postgres_outbox import PostgresOutbox
from alumio_mistral.tasks.postgres_schedules import NOW_SQL, PostgresScheduleLog
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
    TaskStore,
    TaskStoreError,
    check_statuses,
    like_pattern,
    new_targets,
    settled,
)
from alumio_mistral.tasks.urls import redact_url

_COLUMNS = (
    "id, incoming, outgoing, entity, identity, status, attempts, created_at, updated_at,"
    " last_error, result, claimed_by, lease_until, resolution"
)
_TASK_COLUMNS = ", ".join(f"tasks.{name.strip()}" for name in _COLUMNS.split(","))

#: a ``processing`` row whose lease has lapsed (a missing lease counts as lapsed)
_LAPSED = f"status = 'processing' AND (lease_until IS NULL OR lease_until <= {NOW_SQL})"

_SET_VALUE = (
    "INSERT INTO storage (namespace, key, value, updated_at) VALUES (%s, %s, %s, now())"
    " ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
)
#: write a de-dup mark unless the stored one says "seen" (see :meth:`Dedup.seen`: a JSON null
#: counts as no mark); a row comes back only when the entity is admitted
_ADMIT = {
    "new": _SET_VALUE + " WHERE storage.value = 'null'::jsonb RETURNING 1",
    "changed": _SET_VALUE + " WHERE storage.value = 'null'::jsonb OR storage.value <> excluded.value RETURNING 1",
}
_INSERT_TASKS = (
    "INSERT INTO tasks (incoming, outgoing, entity, identity, status, attempts, created_at, updated_at)"
    " SELECT %(incoming)s, v.outgoing, v.entity, v.identity, 'new', 0, now(), now()"
    " FROM unnest(%(outgoings)s::text[], %(entities)s::json[], %(identities)s::text[])"
    " WITH ORDINALITY AS v(outgoing, entity, identity, n) ORDER BY v.n RETURNING id"
)

#: the finished tasks of one outgoing whose file target wrote a batch ahead (see ``add_many``)
_INSERT_WRITTEN_AHEAD = (
    "INSERT INTO tasks (incoming, outgoing, entity, identity, status, attempts, created_at, updated_at, result,"
    " last_error) SELECT %(incoming)s, %(outgoing)s, v.entity, v.identity, v.status, 1, now(), now(), v.result,"
    " v.last_error FROM unnest(%(entities)s::json[], %(identities)s::text[], %(statuses)s::text[],"
    " %(results)s::json[], %(errors)s::json[]) WITH ORDINALITY AS v(entity, identity, status, result, last_error, n)"
    " ORDER BY v.n"
)

_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _json(value: Any) -> Json | None:
    """A task's JSON column value (``json``: kept as this text)."""
    return None if value is None else Json(value, dumps=_dump)


def _moment(value: datetime) -> str:
    """The text form the SQLite store keeps, so that both stores show tasks alike."""
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def _timestamp(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise TaskStoreError(f"{text!r} is not an ISO date and time (a task's created_at or updated_at)") from None


def _task(row: Sequence[Any]) -> Task:
    (task_id, incoming, outgoing, entity, identity, status, attempts, created_at, updated_at,
     last_error, result, claimed_by, lease_until, resolution) = row
    return Task(id=task_id, incoming=incoming, outgoing=outgoing, entity=entity, identity=identity,
                status=status, attempts=attempts, created_at=_moment(created_at),
                updated_at=_moment(updated_at), last_error=last_error, result=result,
                claimed_by=claimed_by, lease_until=lease_until, resolution=resolution)


def _queue(outgoing: str | None) -> str:
    """The rows of one outgoing's queue (``None``: the tasks of no outgoing), index-friendly."""
    return "outgoing IS NULL" if outgoing is None else "outgoing = %(outgoing)s"


class PostgresTaskStore(StoreShortcuts, PostgresScheduleLog, PostgresOutbox):
    """Tasks, storages, the outbox and the schedule log in one PostgreSQL database (or one schema of it)."""

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        clock: Callable[[], float] | None = None,
        max_connections: int = 16,
        connect_timeout: float = 10.0,
    ) -> None:
        """``url``: a ``postgresql://`` URL (a password missing from it comes from ``PGPASSWORD``
        or ``.pgpass``, as libpq does); ``schema``: a schema of its own (made when missing)
        instead of the user's default; ``clock``: epoch seconds for leases (tests), else the
        server's time."""
        if schema is not None and not _SCHEMA_NAME.fullmatch(schema):
            raise TaskStoreError(f"{schema!r}: a store schema is lower-case letters, digits and _")
        register_secret(urlsplit(url).password)
        register_secret(os.environ.get("PGPASSWORD"))
        self.url = url
        self.schema = schema
        self._where = redact_url(url) + (f" (schema {schema})" if schema else "")
        self._clock = clock
        options = {"options": f"-c search_path={schema}"} if schema else {}
        self._connect_args = {"connect_timeout": max(1, round(connect_timeout)), **options}
        self._migrate()
        self._pool = ConnectionPool(url, min_size=1, max_size=max_connections, kwargs=self._connect_args,
                                    open=False, name="alumio-tasks", timeout=max(connect_timeout, 30.0))
        try:
            self._pool.open(wait=True, timeout=connect_timeout)
        except PoolTimeout as error:
            raise TaskStoreError(f"{self._where}: cannot open connections to the task database") from error

    def __repr__(self) -> str:
        return f"PostgresTaskStore({self._where!r})"

    def __enter__(self) -> PostgresTaskStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._pool.close()

    # -- connections -------------------------------------------------------------------

    def _now(self) -> float | None:
        return None if self._clock is None else self._clock()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """psycopg's errors as the store's, naming the database (never its password)."""
        try:
            yield
        except psycopg.errors.UntranslatableCharacter as error:
            raise TaskStoreError(f"{self._where}: PostgreSQL cannot store the character U+0000"
                                 f" in JSON text: {error.diag.message_primary}") from error
        except (psycopg.Error, PoolTimeout) as error:
            raise TaskStoreError(f"{self._where}: {str(error).strip()}") from error
        except UnicodeError as error:  # a lone surrogate: no UTF-8 form
            raise TaskStoreError(f"{self._where}: PostgreSQL cannot store this text: {error}") from error

    @contextmanager
    def _write(self) -> Iterator[psycopg.Cursor[Any]]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        with self._errors(), self._pool.connection() as connection, connection.transaction():
            with connection.cursor() as cursor:
                yield cursor

    def _read(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        with self._write() as cursor:
            return cursor.execute(query, params).fetchall()

    def _migrate(self) -> None:
        """Create or upgrade the schema, one process at a time (an advisory lock per schema)."""
        with self._errors(), psycopg.connect(self.url, **self._connect_args) as connection:
            with connection.transaction():
                connection.execute(  # taken before the schema is made: CREATE SCHEMA races too
                    "SELECT pg_advisory_xact_lock(hashtextextended('alumio-mistral schema '"
                    " || COALESCE(%s, current_schema()), 0))", (self.schema,),
                )
                if self.schema:
                    connection.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
                #: the schema version the database had when opened (0: new), for ``store migrate``
                self.migrated_from = migrate("postgres", self._where, connection.execute)

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
        with self._write() as cursor:
            if not self._admit(cursor, [dedup])[0]:
                return []
            return self._insert(cursor, incoming, [(_dump(entity), identity)], targets)

    def add_many(
        self, incoming: str, entities: Sequence[NewEntity], outgoings: Iterable[str | None],
        written_ahead: Mapping[str, Sequence[Settled]] | None = None,
    ) -> list[int]:
        targets = new_targets(outgoings, written_ahead, entities)
        with self._write() as cursor:
            admitted = self._admit(cursor, [new.dedup for new in entities])
            taken = [new for new, take in zip(entities, admitted) if take]
            texts = [_dump(new.entity) for new in taken]  # each entity serialised once
            self._insert(cursor, incoming, [(text, new.identity) for new, text in zip(taken, texts)], targets)
            # written ahead: no de-dup mark (new_targets checked), so every entity was taken
            for outgoing, outcomes in (written_ahead or {}).items():
                cursor.execute(_INSERT_WRITTEN_AHEAD, {
                    "incoming": incoming, "outgoing": outgoing,
                    "entities": texts,
                    "identities": [new.identity for new in entities],
                    "statuses": [outcome.status for outcome in outcomes],
                    "results": [_json(outcome.result) for outcome in outcomes],
                    "errors": [_json(outcome.error) for outcome in outcomes],
                })
        count = len(targets) + len(written_ahead or {})
        return [count if take else 0 for take in admitted]

    @staticmethod
    def _admit(cursor: psycopg.Cursor[Any], marks: Sequence[Dedup | None]) -> list[bool]:
        """Which entities de-dup lets in, in order, writing the mark of each one admitted.

        One conditional upsert per mark, in order and in the caller's transaction: the row lock
        it takes makes a concurrent writer of the same key wait for this transaction and then
        see its mark, and a later entity of the batch sees the mark of an earlier one.
        """
        admitted = [True] * len(marks)
        asked = [(n, dedup) for n, dedup in enumerate(marks) if dedup is not None]
        for n, dedup in asked:
            row = cursor.execute(_ADMIT[dedup.policy],
                                 (dedup.namespace, dedup.key, Jsonb(dedup.value, dumps=_dump))).fetchone()
            admitted[n] = row is not None
        return admitted

    @staticmethod
    def _insert(cursor: psycopg.Cursor[Any], incoming: str, entities: list[tuple[str, str | None]],
                targets: list[str | None]) -> list[int]:
        """One statement for every (entity, outgoing) pair, each entity given as its JSON text;
        ids in that order."""
        if not entities:
            return []
        rows = [(outgoing, text, identity) for text, identity in entities for outgoing in targets]
        inserted = cursor.execute(_INSERT_TASKS, {
            "incoming": incoming,
            "outgoings": [outgoing for outgoing, _, _ in rows],
            "entities": [text for _, text, _ in rows],
            "identities": [identity for _, _, identity in rows],
        }).fetchall()
        return sorted(row[0] for row in inserted)

    def claim(
        self,
        outgoing: str | None,
        limit: int,
        worker: str,
        ids: Iterable[int] | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> list[Task]:
        params: dict[str, Any] = {"outgoing": outgoing, "limit": int(limit), "worker": worker,
                                  "lease": float(lease_seconds), "now": self._now()}
        only = ""
        if ids is not None:
            params["ids"] = [int(i) for i in ids]
            if not params["ids"]:
                return []
            only = " AND id = ANY(%(ids)s)"
        rows = self._read(
            f"WITH picked AS (SELECT id FROM tasks WHERE {_queue(outgoing)} AND status = 'new'{only}"
            " ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
            " UPDATE tasks SET status = 'processing', attempts = tasks.attempts + 1, claimed_by = %(worker)s,"
            f" lease_until = {NOW_SQL} + %(lease)s, updated_at = now() FROM picked WHERE tasks.id = picked.id"
            f" RETURNING {_TASK_COLUMNS}",
            params,
        )
        return sorted((_task(row) for row in rows), key=lambda task: task.id)

    def finish_many(self, outcomes: Sequence[TaskOutcome]) -> None:
        if not outcomes:
            return
        check_statuses({outcome.status for outcome in outcomes}, FINAL_STATUSES)
        with self._write() as cursor:
            done = {row[0] for row in cursor.execute(
                "UPDATE tasks SET status = v.status, result = v.result, last_error = v.last_error,"
                " claimed_by = NULL, lease_until = NULL, updated_at = now()"
                " FROM unnest(%s::bigint[], %s::text[], %s::json[], %s::json[]) AS v(id, status, result, last_error)"
                " WHERE tasks.id = v.id RETURNING tasks.id",
                ([o.task_id for o in outcomes], [o.status for o in outcomes],
                 [_json(o.result) for o in outcomes], [_json(o.error) for o in outcomes]),
            )}
            unknown = [o.task_id for o in outcomes if o.task_id not in done]
            if unknown:
                raise TaskStoreError(f"{self._where}: no task with id {unknown[0]}")  # rolls the batch back
            self._queue_outbox(cursor, (entry for outcome in outcomes for entry in outcome.outbox))

    def release(self, ids: Iterable[int], worker: str) -> int:
        chosen = [int(i) for i in ids]
        if not chosen:
            return 0
        with self._write() as cursor:
            return cursor.execute(
                "UPDATE tasks SET status = 'new', attempts = GREATEST(attempts - 1, 0), claimed_by = NULL,"
                " lease_until = NULL, updated_at = now() WHERE id = ANY(%s) AND status = 'processing'"
                " AND claimed_by = %s",
                (chosen, worker),
            ).rowcount

    def renew(self, ids: Iterable[int], worker: str, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> list[int]:
        chosen = [int(i) for i in ids]
        if not chosen:
            return []
        rows = self._read(
            f"UPDATE tasks SET lease_until = {NOW_SQL} + %(lease)s WHERE id = ANY(%(ids)s)"
            " AND status = 'processing' AND claimed_by = %(worker)s RETURNING id",
            {"now": self._now(), "lease": float(lease_seconds), "ids": chosen, "worker": worker},
        )
        return sorted(row[0] for row in rows)

    def stale(self, outgoing: str | None) -> list[Task]:
        rows = self._read(f"SELECT {_COLUMNS} FROM tasks WHERE {_queue(outgoing)} AND {_LAPSED} ORDER BY id",
                          {"outgoing": outgoing, "now": self._now()})
        return [_task(row) for row in rows]

    def leased(self, outgoing: str | None) -> list[Task]:
        rows = self._read(
            f"SELECT {_COLUMNS} FROM tasks WHERE {_queue(outgoing)} AND status = 'processing'"
            f" AND lease_until > {NOW_SQL} ORDER BY id",
            {"outgoing": outgoing, "now": self._now()},
        )
        return [_task(row) for row in rows]

    def requeue(self, ids: Iterable[int] | None, statuses: Iterable[str] | None = None) -> int:
        where, params = [], {"now": self._now()}
        if ids is not None:
            params["ids"] = [int(i) for i in ids]
            if not params["ids"]:
                return 0
            where.append("id = ANY(%(ids)s)")
        if statuses is not None:
            params["statuses"] = check_statuses(statuses)
            where.append("status = ANY(%(statuses)s)")
        if not where:
            raise TaskStoreError("requeue needs task ids or statuses (refusing to requeue everything)")
        chosen_rows = " AND ".join(where)
        with self._write() as cursor:  # the rows locked, then the lease check and the move
            rows = cursor.execute(
                f"SELECT id, status = 'processing' AND lease_until > {NOW_SQL} FROM tasks WHERE {chosen_rows}"
                " ORDER BY id FOR UPDATE", params,
            ).fetchall()
            held = [task_id for task_id, live in rows if live]
            if held:
                raise LeaseHeldError(
                    f"{self._where}: task {', '.join(map(str, held))} is being worked on (processing under"
                    " a live lease); it is left alone until the lease lapses"
                )
            return cursor.execute(
                "UPDATE tasks SET status = 'new', claimed_by = NULL, lease_until = NULL, updated_at = now()"
                " WHERE id = ANY(%s)", ([task_id for task_id, _ in rows],),
            ).rowcount

    def resolve(self, task_id: int, status: str, resolution: dict[str, Any], result: Any = None) -> Task:
        check_statuses([status], ("processed", "failed", "review"))
        with self._write() as cursor:
            row = cursor.execute("SELECT status, last_error FROM tasks WHERE id = %s FOR UPDATE",
                                 (task_id,)).fetchone()
            if row is None:
                raise TaskStoreError(f"{self._where}: no task with id {task_id}")
            if row[0] not in (RESOLVABLE_STATUSES if status != "review" else ("review",)):
                raise TaskStoreError(
                    f"{self._where}: task {task_id} is {row[0]}; only {' or '.join(RESOLVABLE_STATUSES)}"
                    " tasks are resolved by hand"
                )
            record, error = settled(status, resolution, row[0], row[1])
            updated = cursor.execute(
                "UPDATE tasks SET status = %s, result = COALESCE(%s::json, result), last_error = %s, resolution = %s,"
                f" updated_at = now() WHERE id = %s RETURNING {_COLUMNS}",
                (status, _json(result), _json(error), _json(record), task_id),
            ).fetchone()
        return _task(updated)

    def get(self, task_or_namespace: int | str, key: str | None = None) -> Any:
        if key is not None:
            rows = self._read("SELECT value FROM storage WHERE namespace = %s AND key = %s",
                              (str(task_or_namespace), key))
            return rows[0][0] if rows else None
        rows = self._read(f"SELECT {_COLUMNS} FROM tasks WHERE id = %s", (int(task_or_namespace),))
        return _task(rows[0]) if rows else None

    def list(
        self,
        status: str | None = None,
        incoming: str | None = None,
        outgoing: str | None = None,
        limit: int | None = None,
        after: int | None = None,
    ) -> list[Task]:
        where, params = [], []
        for condition, value in (("status = %s", status), ("incoming = %s", incoming),
                                 ("outgoing = %s", outgoing), ("id > %s", after)):
            if value is not None:
                where.append(condition)
                params.append(value)
        if status is not None:
            check_statuses([status])
        query = f"SELECT {_COLUMNS} FROM tasks" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
        if limit is not None:
            query += " LIMIT %s"
            params.append(int(limit))
        return [_task(row) for row in self._read(query, params)]

    def import_tasks(self, tasks: Sequence[Task]) -> None:
        if not tasks:
            return
        with self._write() as cursor:
            cursor.executemany(
                f"INSERT INTO tasks ({_COLUMNS}) VALUES ({', '.join(['%s'] * 14)})",
                [(t.id, t.incoming, t.outgoing, Json(t.entity, dumps=_dump), t.identity, t.status, t.attempts,
                  _timestamp(t.created_at), _timestamp(t.updated_at), _json(t.last_error), _json(t.result),
                  t.claimed_by, t.lease_until, _json(t.resolution)) for t in tasks],
            )
            # the next task made here must not reuse an imported id
            cursor.execute("SELECT setval(pg_get_serial_sequence('tasks', 'id'), (SELECT MAX(id) FROM tasks))")

    def counts(self) -> dict[str, int]:
        found = dict(self._read("SELECT status, COUNT(*) FROM tasks GROUP BY status"))
        return {status: int(found.get(status, 0)) for status in STATUSES}

    def counts_by_outgoing(self) -> dict[tuple[str | None, str], int]:
        rows = self._read("SELECT outgoing, status, COUNT(*) FROM tasks GROUP BY outgoing, status")
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
        where, params = [], []
        for condition, value in (("status = %s", status), ("incoming = %s", incoming),
                                 ("outgoing = %s", outgoing), ("id < %s", before),
                                 ("id > %s", after)):
            if value is not None:
                where.append(condition)
                params.append(value)
        if status is not None:
            check_statuses([status])
        if text:
            where.append("(entity::text ILIKE %s OR identity ILIKE %s OR last_error::text ILIKE %s)")
            params.extend([like_pattern(text)] * 3)
        query = f"SELECT {_COLUMNS} FROM tasks" + (" WHERE " + " AND ".join(where) if where else "")
        return [_task(row) for row in self._read(query + " ORDER BY id DESC LIMIT %s", [*params, int(limit)])]

    def finished_per_hour(self, since: datetime, until: datetime | None = None) -> dict[tuple[str, str], int]:
        rows = self._read(
            "SELECT to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24'), status, COUNT(*) FROM tasks"
            " WHERE updated_at >= %s AND (%s::timestamptz IS NULL OR updated_at < %s)"
            " AND status IN ('processed', 'failed') GROUP BY 1, 2",
            (since, until, until),
        )
        return {(hour, status): int(count) for hour, status, count in rows}

    # -- storages ----------------------------------------------------------------------

    def set(self, namespace: str, key: str, value: Any) -> None:
        with self._write() as cursor:
            cursor.execute(_SET_VALUE, (namespace, key, Jsonb(value, dumps=_dump)))

    def delete(self, namespace: str, key: str) -> bool:
        with self._write() as cursor:
            return bool(cursor.execute("DELETE FROM storage WHERE namespace = %s AND key = %s",
                                       (namespace, key)).rowcount)

    def items(self, namespace: str) -> Iterator[tuple[str, Any]]:
        rows = self._read("SELECT key, value FROM storage WHERE namespace = %s ORDER BY key", (namespace,))
        yield from ((key, value) for key, value in rows)

    def namespaces(self) -> dict[str, int]:
        rows = self._read("SELECT namespace, COUNT(*) FROM storage GROUP BY namespace ORDER BY namespace")
        return {name: int(count) for name, count in rows}

    def clear(self, namespace: str) -> int:
        with self._write() as cursor:
            return cursor.execute("DELETE FROM storage WHERE namespace = %s", (namespace,)).rowcount

    def snapshot(self, folder: Path) -> TaskStore:
        """A private SQLite copy in ``folder``, for a dry run that must change nothing here."""
        from alumio_mistral.tasks.copy import copy_store
        from alumio_mistral.tasks.sqlite import SqliteTaskStore

        copy = SqliteTaskStore(Path(folder) / "tasks.db")
        copy_store(self, copy)
        return copy
