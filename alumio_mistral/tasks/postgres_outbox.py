"""The outbox in PostgreSQL: messages written with a task's outcome, delivered by a later loop.

Deliverers on many machines claim with ``FOR UPDATE SKIP LOCKED``: disjoint batches, no
waiting; leases run on the server's clock (or the injected one), like the tasks' leases.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from psycopg.types.json import Jsonb

from alumio_mistral.tasks.postgres_schedules import NOW_SQL
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

if TYPE_CHECKING:
    import psycopg

_OUTBOX_COLUMNS = (
    "id, topic, payload, created_at, attempts, next_attempt_at, delivered_at, last_error, gave_up,"
    " claimed_by, lease_until"
)


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _message(row: Sequence[Any]) -> OutboxMessage:
    (message_id, topic, payload, created_at, attempts, next_attempt_at, delivered_at, last_error, gave_up,
     claimed_by, lease_until) = row
    return OutboxMessage(id=message_id, topic=topic, payload=payload, created_at=created_at, attempts=attempts,
                         next_attempt_at=next_attempt_at, delivered_at=delivered_at, last_error=last_error,
                         gave_up=gave_up, claimed_by=claimed_by, lease_until=lease_until)


class PostgresOutbox:
    """Mixed into the PostgreSQL store, whose transactions and clock it uses."""

    if TYPE_CHECKING:  # provided by the store this is mixed into
        def _now(self) -> float | None: ...

        def _write(self) -> AbstractContextManager[psycopg.Cursor[Any]]: ...

        def _read(self, query: str, params: Any = None) -> list[tuple[Any, ...]]: ...

    def _queue_outbox(self, cursor: psycopg.Cursor[Any], entries: Iterable[OutboxEntry]) -> list[int]:
        """Insert messages inside the caller's transaction (the one finishing their task)."""
        chosen = list(entries)
        if not chosen:
            return []
        rows = cursor.execute(
            f"INSERT INTO outbox (topic, payload, created_at, next_attempt_at) SELECT v.topic, v.payload,"
            f" {NOW_SQL}, {NOW_SQL} FROM unnest(%(topics)s::text[], %(payloads)s::jsonb[])"
            " WITH ORDINALITY AS v(topic, payload, n) ORDER BY v.n RETURNING id",
            {"now": self._now(), "topics": [topic for topic, _ in chosen],
             "payloads": [Jsonb(payload, dumps=_dump) for _, payload in chosen]},
        ).fetchall()
        return sorted(row[0] for row in rows)

    def outbox_claim(
        self,
        topics: Iterable[str] | None,
        limit: int,
        worker: str,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        early: bool = False,
    ) -> list[OutboxMessage]:
        params: dict[str, Any] = {"now": self._now(), "worker": worker, "lease": float(lease_seconds),
                                  "limit": int(limit), "early": early}
        only = ""
        if topics is not None:
            params["topics"] = list(topics)
            only = " AND topic = ANY(%(topics)s)"
        rows = self._read(
            f"WITH picked AS (SELECT id FROM outbox WHERE {OUTBOX_STATE_SQL['pending']} AND (%(early)s OR next_attempt_at <= {NOW_SQL})"
            f" AND (lease_until IS NULL OR lease_until <= {NOW_SQL}){only} ORDER BY id LIMIT %(limit)s"
            " FOR UPDATE SKIP LOCKED)"
            f" UPDATE outbox SET attempts = outbox.attempts + 1, claimed_by = %(worker)s,"
            f" lease_until = {NOW_SQL} + %(lease)s FROM picked WHERE outbox.id = picked.id"
            f" RETURNING {', '.join('outbox.' + name.strip() for name in _OUTBOX_COLUMNS.split(','))}",
            params,
        )
        return sorted((_message(row) for row in rows), key=lambda message: message.id)

    def outbox_delivered(self, ids: Iterable[int], worker: str) -> int:
        chosen = [int(i) for i in ids]
        if not chosen:
            return 0
        with self._write() as cursor:
            return cursor.execute(
                f"UPDATE outbox SET delivered_at = {NOW_SQL}, claimed_by = NULL, lease_until = NULL,"
                " last_error = NULL WHERE id = ANY(%(ids)s) AND claimed_by = %(worker)s AND delivered_at IS NULL",
                {"now": self._now(), "ids": chosen, "worker": worker},
            ).rowcount

    def outbox_retry(self, message_id: int, worker: str, error: str, delay_seconds: float) -> bool:
        with self._write() as cursor:
            return bool(cursor.execute(
                f"UPDATE outbox SET next_attempt_at = {NOW_SQL} + %(delay)s, last_error = %(error)s,"
                " claimed_by = NULL, lease_until = NULL"
                " WHERE id = %(id)s AND claimed_by = %(worker)s AND delivered_at IS NULL",
                {"now": self._now(), "delay": max(0.0, float(delay_seconds)), "error": error,
                 "id": message_id, "worker": worker},
            ).rowcount)

    def outbox_give_up(self, message_id: int, worker: str, error: str) -> bool:
        with self._write() as cursor:
            return bool(cursor.execute(
                "UPDATE outbox SET gave_up = TRUE, last_error = %s, claimed_by = NULL, lease_until = NULL"
                " WHERE id = %s AND claimed_by = %s AND delivered_at IS NULL",
                (error, message_id, worker),
            ).rowcount)

    def outbox_counts(self) -> dict[str, dict[str, int]]:
        return tally_outbox(self._read(OUTBOX_COUNTS_SQL))

    def outbox_list(
        self, topic: str | None = None, state: str | None = None, limit: int | None = None
    ) -> list[OutboxMessage]:
        where, params = [], []
        if topic is not None:
            where.append("topic = %s")
            params.append(topic)
        if state is not None:
            where.append(OUTBOX_STATE_SQL[check_statuses([state], OUTBOX_STATES)[0]])
        query = f"SELECT {_OUTBOX_COLUMNS} FROM outbox" + (" WHERE " + " AND ".join(where) if where else "")
        query += " ORDER BY id" + (f" LIMIT {int(limit)}" if limit is not None else "")
        return [_message(row) for row in self._read(query, params)]
