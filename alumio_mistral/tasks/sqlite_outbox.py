"""The outbox in SQLite: messages written with a task's outcome, delivered by a later loop.

Claims are one ``UPDATE ... RETURNING`` inside ``BEGIN IMMEDIATE``, so two processes never
lease the same message; a lease that lapses (its deliverer died) makes the message due again.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Callable, Iterable

from alumio_mistral.fastjson import dumps, loads
from alumio_mistral.tasks.store import (
    DEFAULT_LEASE_SECONDS,
    OUTBOX_COUNTS_SQL,
    OUTBOX_STATE_SQL,
    OUTBOX_STATES,
    OutboxEntry,
    OutboxMessage,
    check_statuses,
    tally_outbox,
)

_OUTBOX_COLUMNS = (
    "id, topic, payload, created_at, attempts, next_attempt_at, delivered_at, last_error, gave_up,"
    " claimed_by, lease_until"
)
_INSERT = "INSERT INTO outbox (topic, payload, created_at, next_attempt_at) VALUES (?, ?, ?, ?)"


def _message(row: sqlite3.Row) -> OutboxMessage:
    return OutboxMessage(
        id=row["id"], topic=row["topic"], payload=loads(row["payload"]), created_at=row["created_at"],
        attempts=row["attempts"], next_attempt_at=row["next_attempt_at"], delivered_at=row["delivered_at"],
        last_error=row["last_error"], gave_up=bool(row["gave_up"]), claimed_by=row["claimed_by"],
        lease_until=row["lease_until"],
    )


class SqliteOutbox:
    """Mixed into the SQLite store, whose transactions and clock it uses."""

    if TYPE_CHECKING:  # provided by the store this is mixed into
        _clock: Callable[[], float]

        def _db(self) -> sqlite3.Connection: ...

        def _write(self) -> AbstractContextManager[sqlite3.Connection]: ...

    def _queue_outbox(self, db: sqlite3.Connection, entries: Iterable[OutboxEntry]) -> list[int]:
        """Insert messages inside the caller's transaction (the one finishing their task)."""
        now = self._clock()
        return [int(db.execute(_INSERT, (topic, dumps(payload), now, now)).lastrowid or 0)
                for topic, payload in entries]

    def outbox_claim(
        self,
        topics: Iterable[str] | None,
        limit: int,
        worker: str,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        early: bool = False,
    ) -> list[OutboxMessage]:
        now = self._clock()
        only, args = "", [worker, now + lease_seconds, float("inf") if early else now, now]
        if topics is not None:
            only = " AND topic IN (SELECT value FROM json_each(?))"
            args.append(dumps(list(topics)))
        with self._write() as db:
            rows = db.execute(
                "UPDATE outbox SET attempts = attempts + 1, claimed_by = ?, lease_until = ? WHERE id IN"
                f" (SELECT id FROM outbox WHERE {OUTBOX_STATE_SQL['pending']} AND next_attempt_at <= ?"
                f" AND (lease_until IS NULL OR lease_until <= ?){only} ORDER BY id LIMIT ?)"
                f" RETURNING {_OUTBOX_COLUMNS}",
                [*args, int(limit)],
            ).fetchall()
        return sorted((_message(row) for row in rows), key=lambda message: message.id)

    def outbox_delivered(self, ids: Iterable[int], worker: str) -> int:
        chosen = [int(i) for i in ids]
        if not chosen:
            return 0
        with self._write() as db:
            return db.execute(
                "UPDATE outbox SET delivered_at = ?, claimed_by = NULL, lease_until = NULL, last_error = NULL"
                " WHERE id IN (SELECT value FROM json_each(?)) AND claimed_by = ? AND delivered_at IS NULL",
                (self._clock(), dumps(chosen), worker),
            ).rowcount

    def outbox_retry(self, message_id: int, worker: str, error: str, delay_seconds: float) -> bool:
        with self._write() as db:
            return bool(db.execute(
                "UPDATE outbox SET next_attempt_at = ?, last_error = ?, claimed_by = NULL, lease_until = NULL"
                " WHERE id = ? AND claimed_by = ? AND delivered_at IS NULL",
                (self._clock() + max(0.0, delay_seconds), error, message_id, worker),
            ).rowcount)

    def outbox_give_up(self, message_id: int, worker: str, error: str) -> bool:
        with self._write() as db:
            return bool(db.execute(
                "UPDATE outbox SET gave_up = 1, last_error = ?, claimed_by = NULL, lease_until = NULL"
                " WHERE id = ? AND claimed_by = ? AND delivered_at IS NULL",
                (error, message_id, worker),
            ).rowcount)

    def outbox_counts(self) -> dict[str, dict[str, int]]:
        return tally_outbox(self._db().execute(OUTBOX_COUNTS_SQL))

    def outbox_list(
        self, topic: str | None = None, state: str | None = None, limit: int | None = None
    ) -> list[OutboxMessage]:
        where, args = [], []
        if topic is not None:
            where.append("topic = ?")
            args.append(topic)
        if state is not None:
            where.append(OUTBOX_STATE_SQL[check_statuses([state], OUTBOX_STATES)[0]])
        sql = f"SELECT {_OUTBOX_COLUMNS} FROM outbox" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY id" + (f" LIMIT {int(limit)}" if limit is not None else "")
        return [_message(row) for row in self._db().execute(sql, args)]


