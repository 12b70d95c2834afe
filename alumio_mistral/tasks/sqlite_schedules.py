"""The schedule log in SQLite: which process runs each tick of each scheduled job.

A run is one row keyed by (job, tick), so a tick is claimed once across every ``serve``
process sharing the store: the insert decides, inside a write transaction that also checks
no earlier run of the job still holds a live lease. Ticks are stored as UTC ISO text of one
fixed shape, so they sort as text.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable

from alumio_mistral.scheduler import JobRun


def tick_text(tick: datetime) -> str:
    return tick.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def _moment(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


class SqliteScheduleLog:
    """Mixed into the SQLite store, whose connection, write transaction and clock it uses."""

    if TYPE_CHECKING:  # provided by the store this is mixed into
        _clock: Callable[[], float]

        def _db(self) -> sqlite3.Connection: ...

        def _write(self) -> AbstractContextManager[sqlite3.Connection]: ...

    def last_tick(self, job: str) -> datetime | None:
        row = self._db().execute("SELECT MAX(tick) FROM schedule_runs WHERE job = ?", (job,)).fetchone()
        return _moment(row[0])

    def claim_tick(self, job: str, tick: datetime, holder: str, lease_seconds: float) -> bool:
        now = self._clock()
        with self._write() as db:
            busy = db.execute(
                "SELECT 1 FROM schedule_runs WHERE job = ? AND ended_at IS NULL AND lease_until > ? LIMIT 1",
                (job, now),
            ).fetchone()
            if busy:
                return False
            return bool(db.execute(
                "INSERT OR IGNORE INTO schedule_runs (job, tick, holder, started_at, lease_until)"
                " VALUES (?, ?, ?, ?, ?)",
                (job, tick_text(tick), holder, datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                 now + lease_seconds),
            ).rowcount)

    def renew_tick(self, job: str, tick: datetime, holder: str, lease_seconds: float) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE schedule_runs SET lease_until = ? WHERE job = ? AND tick = ? AND holder = ? AND ended_at IS NULL",
                (self._clock() + lease_seconds, job, tick_text(tick), holder),
            )

    def finish_tick(self, job: str, tick: datetime, holder: str, ok: bool, summary: Any, error: str | None) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE schedule_runs SET ended_at = ?, ok = ?, summary = ?, error = ?"
                " WHERE job = ? AND tick = ? AND holder = ?",
                (datetime.now(timezone.utc).isoformat(timespec="milliseconds"), int(ok),
                 json.dumps(summary, default=str), error, job, tick_text(tick), holder),
            )

    def schedule_runs(self, job: str | None = None, limit: int = 100) -> list[JobRun]:
        """The newest runs first (of one job, or of all)."""
        sql = "SELECT job, tick, started_at, ended_at, ok, summary, error FROM schedule_runs"
        args: list[Any] = []
        if job is not None:
            sql += " WHERE job = ?"
            args.append(job)
        rows = self._db().execute(sql + " ORDER BY tick DESC, job LIMIT ?", [*args, int(limit)]).fetchall()
        return [
            JobRun(job=row[0], tick=datetime.fromisoformat(row[1]), started=datetime.fromisoformat(row[2]),
                   ended=_moment(row[3]), ok=None if row[4] is None else bool(row[4]),
                   summary=None if row[5] is None else json.loads(row[5]), error=row[6])
            for row in rows
        ]
