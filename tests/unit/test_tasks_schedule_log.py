"""The SQLite schedule log: two processes on one store run each tick once, a dead one's lease lapses."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from alumio_mistral.schedule import Schedule
from alumio_mistral.scheduler import Job, Scheduler
from alumio_mistral.tasks import SqliteTaskStore

UTC = timezone.utc
TICK = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def test_a_tick_is_claimed_once_across_stores_on_one_file(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    with SqliteTaskStore(path) as first, SqliteTaskStore(path) as second:
        assert first.claim_tick("poll", TICK, "host-a", 60)
        assert not second.claim_tick("poll", TICK, "host-b", 60)
        assert second.last_tick("poll") == TICK


def test_a_running_job_holds_its_later_ticks_until_it_finishes_or_its_lease_lapses(tmp_path: Path) -> None:
    now = [1000.0]
    store = SqliteTaskStore(tmp_path / "tasks.db", clock=lambda: now[0])
    assert store.claim_tick("drain", TICK, "host-a", 60)
    later = TICK + timedelta(minutes=1)
    assert not store.claim_tick("drain", later, "host-b", 60)
    now[0] += 30
    store.renew_tick("drain", TICK, "host-a", 60)
    now[0] += 45  # past the first lease, within the renewed one
    assert not store.claim_tick("drain", later, "host-b", 60)
    now[0] += 60  # host-a died: nobody renews
    assert store.claim_tick("drain", later, "host-b", 60)
    store.close()


def test_finished_runs_are_recorded_newest_first(tmp_path: Path) -> None:
    with SqliteTaskStore(tmp_path / "tasks.db") as store:
        store.claim_tick("poll", TICK, "me", 60)
        store.finish_tick("poll", TICK, "me", True, {"read": 3}, None)
        later = TICK + timedelta(minutes=1)
        store.claim_tick("poll", later, "me", 60)
        store.finish_tick("poll", later, "me", False, None, "RuntimeError: boom")
        runs = store.schedule_runs("poll")
    assert [(run.tick, run.ok, run.summary, run.error) for run in runs] == [
        (later, False, None, "RuntimeError: boom"), (TICK, True, {"read": 3}, None)]
    assert all(run.duration is not None and run.duration >= 0 for run in runs)


def test_two_schedulers_on_one_store_never_double_run(tmp_path: Path) -> None:
    path, ran = tmp_path / "tasks.db", []
    clock = [TICK + timedelta(seconds=5)]
    stores = [SqliteTaskStore(path), SqliteTaskStore(path)]
    schedulers = [
        Scheduler([Job("poll", Schedule(every=60.0), lambda host=host: ran.append(host))], store, host,
                  now=lambda: clock[0])
        for host, store in zip(("host-a", "host-b"), stores)
    ]
    for _ in range(5):
        for scheduler in schedulers:
            scheduler.run_once()
        clock[0] += timedelta(minutes=1)
    assert len(ran) == 5
    assert [run.tick for run in reversed(stores[0].schedule_runs("poll"))] == [
        TICK + timedelta(minutes=n) for n in range(5)]
    for store in stores:
        store.close()
