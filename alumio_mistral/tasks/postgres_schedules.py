"""The schedule log in PostgreSQL: which process, on whichever machine, runs each tick of a job.

A run is one row keyed by (job, tick). Claiming takes a transaction-scoped advisory lock on
the job first, so the check "no earlier run still holds a live lease" and the insert are not
interleaved with another machine's claim of the next tick; the primary key settles two claims
of the same tick.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from psycopg.types.json import Jsonb

from alumio_mistral.scheduler import JobRun

if TYPE_CHECKING:
    import psycopg

#: "now" in epoch seconds for leases: the injected clock's reading, or the server's own
NOW_SQL = "COALESCE(%(now)s::float8, extract(epoch FROM clock_timestamp()))"


def _summary_json(value: Any) -> str:
    """Summaries may hold dates and other values without a JSON form: they are kept as text."""
    return json.dumps(value, default=str)


class PostgresScheduleLog:
    """Mixed into the PostgreSQL store, whose transactions and clock it uses."""

    if TYPE_CHECKING:  # provided by the store this is mixed into
        def _now(self) -> float | None: ...

        def _write(self) -> AbstractContextManager[psycopg.Cursor[Any]]: ...

        def _read(self, query: str, params: Any = None) -> list[tuple[Any, ...]]: ...

    def last_tick(self, job: str) -> datetime | None:
        return self._read("SELECT MAX(tick) FROM schedule_runs WHERE job = %s", (job,))[0][0]

    def claim_tick(self, job: str, tick: datetime, holder: str, lease_seconds: float) -> bool:
        params = {"job": job, "tick": tick, "holder": holder, "lease": float(lease_seconds), "now": self._now()}
        with self._write() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended('alumio-mistral schedule '"
                " || current_schema() || ' ' || %(job)s, 0))", params,
            )
            busy = cursor.execute(
                f"SELECT 1 FROM schedule_runs WHERE job = %(job)s AND ended_at IS NULL AND lease_until > {NOW_SQL}"
                " LIMIT 1", params,
            ).fetchone()
            if busy:
                return False
            return cursor.execute(
                "INSERT INTO schedule_runs (job, tick, holder, started_at, lease_until)"
                f" VALUES (%(job)s, %(tick)s, %(holder)s, clock_timestamp(), {NOW_SQL} + %(lease)s)"
                " ON CONFLICT DO NOTHING RETURNING 1", params,
            ).fetchone() is not None

    def renew_tick(self, job: str, tick: datetime, holder: str, lease_seconds: float) -> None:
        with self._write() as cursor:
            cursor.execute(
                f"UPDATE schedule_runs SET lease_until = {NOW_SQL} + %(lease)s WHERE job = %(job)s"
                " AND tick = %(tick)s AND holder = %(holder)s AND ended_at IS NULL",
                {"job": job, "tick": tick, "holder": holder, "lease": float(lease_seconds), "now": self._now()},
            )

    def finish_tick(self, job: str, tick: datetime, holder: str, ok: bool, summary: Any, error: str | None) -> None:
        with self._write() as cursor:
            cursor.execute(
                "UPDATE schedule_runs SET ended_at = clock_timestamp(), ok = %s, summary = %s, error = %s"
                " WHERE job = %s AND tick = %s AND holder = %s",
                (ok, Jsonb(summary, dumps=_summary_json), error, job, tick, holder),
            )

    def schedule_runs(self, job: str | None = None, limit: int = 100) -> list[JobRun]:
        """The newest runs first (of one job, or of all)."""
        query = "SELECT job, tick, started_at, ended_at, ok, summary, error FROM schedule_runs"
        params: list[Any] = []
        if job is not None:
            query += " WHERE job = %s"
            params.append(job)
        rows = self._read(query + " ORDER BY tick DESC, job LIMIT %s", [*params, int(limit)])
        return [
            JobRun(job=name, tick=tick.astimezone(timezone.utc), started=started.astimezone(timezone.utc),
                   ended=None if ended is None else ended.astimezone(timezone.utc), ok=ok, summary=summary,
                   error=error)
            for name, tick, started, ended, ok, summary, error in rows
        ]
