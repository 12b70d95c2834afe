"""The scheduler: one runner per tick across processes, no overlap, a clean stop."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

from alumio_mistral.schedule import Schedule
from alumio_mistral.scheduler import Job, MemoryScheduleLog, Scheduler

UTC = timezone.utc


class Clock:
    def __init__(self, start: str = "2026-11-30T10:00:05") -> None:
        self.now = datetime.fromisoformat(start).replace(tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_two_schedulers_sharing_a_log_run_each_tick_once() -> None:
    shared, clock, runs = MemoryScheduleLog(), Clock(), []
    jobs = [Job("poll", Schedule(every=60.0), lambda: runs.append("poll"))]
    first = Scheduler(jobs, shared, "host-a", now=clock)
    second = Scheduler(jobs, shared, "host-b", now=clock)
    assert len(first.run_once()) == 1
    assert second.run_once() == []
    clock.now += timedelta(minutes=1)
    assert len(second.run_once()) == 1 and first.run_once() == []
    assert runs == ["poll", "poll"]


def test_a_run_still_going_is_not_started_again_when_its_next_tick_comes() -> None:
    shared, clock = MemoryScheduleLog(), Clock()
    release, entered = threading.Event(), threading.Event()

    def slow() -> str:
        entered.set()
        release.wait(5)
        return "done"

    jobs = [Job("drain", Schedule(every=60.0), slow)]
    busy = Scheduler(jobs, shared, "host-a", now=clock)
    other = Scheduler(jobs, shared, "host-b", now=clock)
    worker = threading.Thread(target=busy.run_once)
    worker.start()
    assert entered.wait(5)
    clock.now += timedelta(minutes=3)  # three ticks pass while it runs
    assert other.run_once() == []  # the live lease keeps the job to its runner
    release.set()
    worker.join(5)
    assert busy.last_runs["drain"].ok and busy.last_runs["drain"].summary == "done"
    ran = other.run_once()  # the missed ticks coalesce into one run
    assert [run.tick for run in ran] == [datetime(2026, 11, 30, 10, 3, tzinfo=UTC)]


def test_an_expired_lease_lets_another_process_take_over() -> None:
    monotonic = [0.0]
    shared, clock = MemoryScheduleLog(clock=lambda: monotonic[0]), Clock()
    assert shared.claim_tick("poll", clock.now, "dead-host", lease_seconds=60)
    later = clock.now + timedelta(minutes=1)
    assert not shared.claim_tick("poll", later, "live-host", lease_seconds=60)
    monotonic[0] = 61.0  # the dead holder never renewed
    assert shared.claim_tick("poll", later, "live-host", lease_seconds=60)


def test_a_failing_run_is_recorded_and_the_schedule_goes_on() -> None:
    clock = Clock()

    def broken() -> None:
        raise RuntimeError("source unreachable")

    scheduler = Scheduler([Job("poll", Schedule(every=60.0), broken)], MemoryScheduleLog(), "me", now=clock)
    [run] = scheduler.run_once()
    assert run.ok is False and "source unreachable" in (run.error or "")
    clock.now += timedelta(minutes=1)
    assert len(scheduler.run_once()) == 1


def test_serve_runs_on_every_tick_and_stops_promptly() -> None:
    runs: list[float] = []
    scheduler = Scheduler([Job("tick", Schedule(every=1.0), lambda: runs.append(time.monotonic()))],
                          MemoryScheduleLog(), "me")
    loop = threading.Thread(target=scheduler.serve)
    loop.start()
    time.sleep(2.3)
    stopped_at = time.monotonic()
    scheduler.stop()
    loop.join(2)
    assert not loop.is_alive() and time.monotonic() - stopped_at < 0.5
    assert scheduler.close(grace=1)
    assert 2 <= len(runs) <= 4  # at start, then on each whole second
