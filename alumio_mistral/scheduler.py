"""Run jobs on their schedules: no overlap, missed ticks coalesced, one runner per tick.

A :class:`Job` is a name, a :class:`~alumio_mistral.schedule.Schedule` and an action (poll an
incoming, drain an outgoing). The :class:`Scheduler` asks a :class:`ScheduleLog` (the task
store, shared by every ``serve`` process of a project) to *claim* each due tick before
running it: the claim succeeds in one process only, and fails while the job's previous run
still holds a live lease anywhere, so a slow run is never started twice. While a job runs,
its lease is renewed; a process that dies loses the lease when it expires and another
process takes the next tick.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Protocol

from alumio_mistral.schedule import Schedule

log = logging.getLogger("alumio_mistral.scheduler")

UTC = timezone.utc
#: how long a claimed run holds its job before another process may consider it dead
DEFAULT_LEASE = 60.0
#: the longest the loop sleeps, so a changed clock or a missed wake-up costs at most this
MAX_NAP = 5.0


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Job:
    """Something to run on a schedule; ``action`` returns a JSON-safe summary of the run."""

    name: str
    schedule: Schedule
    action: Callable[[], Any]


@dataclass
class JobRun:
    """One run of one job, as recorded in the schedule log."""

    job: str
    tick: datetime
    started: datetime
    ended: datetime | None = None
    ok: bool | None = None
    summary: Any = None
    error: str | None = None

    @property
    def duration(self) -> float | None:
        return None if self.ended is None else (self.ended - self.started).total_seconds()


class ScheduleLog(Protocol):
    """Where scheduled runs are claimed and recorded (the task store implements it)."""

    def last_tick(self, job: str) -> datetime | None:
        """The newest tick of ``job`` that some process claimed."""

    def claim_tick(self, job: str, tick: datetime, holder: str, lease_seconds: float) -> bool:
        """Claim ``tick`` of ``job`` for ``holder``: False when another process has it, or when
        an earlier run of the job still holds a live lease."""

    def renew_tick(self, job: str, tick: datetime, holder: str, lease_seconds: float) -> None:
        """Extend the lease of a running claim."""

    def finish_tick(self, job: str, tick: datetime, holder: str, ok: bool, summary: Any, error: str | None) -> None:
        """Record the end of a claimed run and release its lease."""


@dataclass
class _Claim:
    holder: str
    lease_until: float
    finished: bool = False


@dataclass
class MemoryScheduleLog:
    """A schedule log for one process (``--once`` without a store, and tests)."""

    clock: Callable[[], float] = time.monotonic
    claims: dict[tuple[str, datetime], _Claim] = field(default_factory=dict)
    runs: list[JobRun] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def last_tick(self, job: str) -> datetime | None:
        with self._lock:
            return max((tick for name, tick in self.claims if name == job), default=None)

    def claim_tick(self, job: str, tick: datetime, holder: str, lease_seconds: float) -> bool:
        now = self.clock()
        with self._lock:
            if (job, tick) in self.claims:
                return False
            if any(name == job and not c.finished and c.lease_until > now for (name, _), c in self.claims.items()):
                return False
            self.claims[(job, tick)] = _Claim(holder, now + lease_seconds)
            return True

    def renew_tick(self, job: str, tick: datetime, holder: str, lease_seconds: float) -> None:
        with self._lock:
            claim = self.claims.get((job, tick))
            if claim is not None and claim.holder == holder:
                claim.lease_until = self.clock() + lease_seconds

    def finish_tick(self, job: str, tick: datetime, holder: str, ok: bool, summary: Any, error: str | None) -> None:
        with self._lock:
            claim = self.claims.get((job, tick))
            if claim is not None and claim.holder == holder:
                claim.finished = True


class Scheduler:
    """Runs every job at its due ticks until stopped (``serve``), or once (``serve --once``)."""

    def __init__(
        self,
        jobs: list[Job],
        schedule_log: ScheduleLog,
        holder: str,
        *,
        lease_seconds: float = DEFAULT_LEASE,
        now: Callable[[], datetime] = utc_now,
        max_workers: int | None = None,
    ) -> None:
        self.jobs = {job.name: job for job in jobs}
        self._log = schedule_log
        self._holder = holder
        self._lease = lease_seconds
        self._now = now
        self._started = now()
        self._running: dict[str, Future[JobRun]] = {}
        self._pool = ThreadPoolExecutor(max_workers=max_workers or max(1, len(jobs)), thread_name_prefix="schedule")
        self._wake = threading.Event()
        self._stopping = threading.Event()
        #: the most recent run of each job in this process (for status and metrics)
        self.last_runs: dict[str, JobRun] = {}

    # -- driving -------------------------------------------------------------------------------

    def run_once(self) -> list[JobRun]:
        """Run every job that is due now, one time each, and wait for them (``serve --once``)."""
        # a cron job never run before counts as due here: whoever calls --once wants it run
        started = [self._start(job, tick) for job in self.jobs.values()
                   if (tick := self._due(job, cron_waits=False)) is not None]
        return [future.result() for future in started if future is not None]

    def serve(self) -> None:
        """Start due jobs until :meth:`stop`; running jobs are left to finish (see :meth:`close`)."""
        while not self._stopping.is_set():
            for job in self.jobs.values():
                if job.name not in self._running and (tick := self._due(job)) is not None:
                    self._start(job, tick)
            self._wake.clear()
            if not self._stopping.is_set():
                # woken early when a job finishes (its next tick may be due already) or on stop
                self._wake.wait(min(MAX_NAP, self._seconds_to_next_tick()))
        log.info("scheduler stopped: no new runs are started")

    def stop(self) -> None:
        """Start no new runs (safe from a signal handler: it only sets two events)."""
        self._stopping.set()
        self._wake.set()

    def close(self, grace: float | None = None) -> bool:
        """Wait up to ``grace`` seconds for running jobs; True when all finished."""
        deadline = None if grace is None else time.monotonic() + grace
        for future in list(self._running.values()):
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                future.result(timeout=remaining)
            except Exception:  # noqa: BLE001 - recorded in the run; here we only wait
                pass
        finished = not self._running
        self._pool.shutdown(wait=finished, cancel_futures=True)
        return finished

    def next_ticks(self) -> dict[str, datetime]:
        """When each job is next due (for ``status``)."""
        now = self._now()
        return {name: job.schedule.next_tick(now) for name, job in self.jobs.items()}

    # -- one job -------------------------------------------------------------------------------

    def _due(self, job: Job, *, cron_waits: bool = True) -> datetime | None:
        """The tick ``job`` should run now; ``cron_waits``: a cron job never run before waits
        for its first tick after this scheduler started."""
        started = self._started if cron_waits else None
        return job.schedule.due_tick(self._log.last_tick(job.name), self._now(), started)

    def _start(self, job: Job, tick: datetime) -> Future[JobRun] | None:
        if not self._log.claim_tick(job.name, tick, self._holder, self._lease):
            return None
        future = self._pool.submit(self._run, job, tick)
        self._running[job.name] = future
        future.add_done_callback(lambda _done, name=job.name: self._finished(name))
        return future

    def _finished(self, name: str) -> None:
        self._running.pop(name, None)
        self._wake.set()

    def _run(self, job: Job, tick: datetime) -> JobRun:
        run = JobRun(job=job.name, tick=tick, started=self._now())
        done = threading.Event()
        renewer = threading.Thread(target=self._renew, args=(job.name, tick, done), daemon=True,
                                   name=f"lease-{job.name}")
        renewer.start()
        try:
            run.summary = job.action()
            run.ok = True
        except Exception as error:  # noqa: BLE001 - one failed run must not stop the schedule
            run.ok, run.error = False, f"{type(error).__name__}: {error}"
            log.error("scheduled run of %s failed: %s", job.name, run.error)
        finally:
            done.set()
            renewer.join()
            run.ended = self._now()
            self._log.finish_tick(job.name, tick, self._holder, bool(run.ok), run.summary, run.error)
            self.last_runs[job.name] = run
        return run

    def _renew(self, name: str, tick: datetime, done: threading.Event) -> None:
        while not done.wait(self._lease / 3):
            self._log.renew_tick(name, tick, self._holder, self._lease)

    def _seconds_to_next_tick(self) -> float:
        now = self._now()
        waiting = [job.schedule.next_tick(now) for name, job in self.jobs.items() if name not in self._running]
        if not waiting:
            return MAX_NAP
        return max(0.0, (min(waiting) - now) / timedelta(seconds=1))
