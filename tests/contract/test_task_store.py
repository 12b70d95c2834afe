"""The TaskStore contract: every test runs against SQLite and against PostgreSQL (see conftest).

Tasks and their leases, de-dup inside the insert, batches, storages and the schedule log:
what the engine, the CLI and ``serve`` may rely on whichever store a project uses.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
from datetime import datetime, timedelta, timezone

import pytest
from store_backings import Backing, Clock

from alumio_mistral.schedule import Schedule
from alumio_mistral.scheduler import Job, Scheduler
from alumio_mistral.tasks import (
    Dedup,
    LeaseHeldError,
    NewEntity,
    Settled,
    Task,
    TaskOutcome,
    TaskStore,
    TaskStoreError,
    worker_id,
)

UTC = timezone.utc
TICK = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def new(key: str, value: str = "h", policy: str = "new") -> NewEntity:
    return NewEntity({"id": key, "v": value}, key, Dedup(policy, "dedup:in", key, value))


# -- tasks ---------------------------------------------------------------------------------


def test_add_tasks_one_per_outgoing_and_json_safe(store: TaskStore) -> None:
    ids = store.add_tasks("models", {"id": "m1", "n": [1, 2]}, ["file", "api"], "m1")
    assert len(ids) == 2
    tasks = [store.get(i) for i in ids]
    assert [t.outgoing for t in tasks] == ["file", "api"]
    assert all(t.status == "new" and t.attempts == 0 and t.entity == {"id": "m1", "n": [1, 2]} for t in tasks)
    json.dumps(tasks[0].to_dict())  # JSON-safe
    assert tasks[0].to_dict()["identity"] == "m1"
    assert datetime.fromisoformat(tasks[0].created_at).tzinfo is not None


def test_no_route_stores_one_task_without_outgoing(store: TaskStore) -> None:
    [task_id] = store.add_tasks("files", {"id": 1}, [], "1")
    assert store.get(task_id).outgoing is None
    assert [task.id for task in store.claim(None, 5, "w")] == [task_id]
    assert store.get(999) is None


def test_claim_finish_requeue_cycle(store: TaskStore) -> None:
    for n in range(5):
        store.add_tasks("in", {"id": n}, ["out"], str(n))
    store.add_tasks("in", {"id": 99}, ["other"], "99")
    claimed = store.claim("out", 3, "w1")
    assert [t.entity["id"] for t in claimed] == [0, 1, 2]
    assert all(t.status == "processing" and t.attempts == 1 and t.claimed_by == "w1" for t in claimed)
    assert [t.entity["id"] for t in store.claim("out", 10, "w2")] == [3, 4]
    assert store.claim("out", 10, "w3") == []
    store.finish(claimed[0].id, "processed", result={"ok": True})
    store.finish(claimed[1].id, "failed", error={"type": "ApiError", "status": 500})
    done = store.get(claimed[1].id)
    assert done.last_error == {"type": "ApiError", "status": 500} and done.claimed_by is None
    assert store.get(claimed[0].id).result == {"ok": True}
    assert store.counts() == {
        "new": 1, "processing": 3, "processed": 1, "failed": 1, "skipped": 0, "review": 0,
    }
    assert store.requeue(None, ["failed"]) == 1
    assert store.get(claimed[1].id).status == "new"
    assert store.requeue([claimed[0].id]) == 1
    assert store.requeue([]) == 0
    with pytest.raises(TaskStoreError):
        store.requeue(None)


def test_a_claimed_task_is_the_task_as_stored(store: TaskStore) -> None:
    """A claim reads its tasks back in one piece of JSON: every value must come back exactly,
    and the task must equal what ``get`` then shows."""
    entity = {"big": 2**64 + 12345, "tenth": 0.1, "small": 5e-7, "one": 1.0,
              "text": "é😀\u2028\"\\", "none": None, "nested": [{"flag": True}]}
    [task_id] = store.add_tasks("in", entity, ["out"], "key-1")
    store.finish_many([TaskOutcome(store.claim("out", 1, "w0")[0].id, "failed", error={"why": "é", "n": 2**70})])
    store.requeue([task_id])
    [task] = store.claim("out", 5, "w1", lease_seconds=60)
    assert task.entity == entity and type(task.entity["big"]) is int and type(task.entity["one"]) is float
    assert (task.identity, task.status, task.attempts, task.claimed_by) == ("key-1", "processing", 2, "w1")
    assert task.last_error == {"why": "é", "n": 2**70}
    assert task == store.get(task_id)


def test_json_comes_back_as_written(store: TaskStore) -> None:
    """An entity, a result, an error and a resolution come back with their keys in the order
    they had and every number of the type it had: a file target writes them as they come, and
    a CSV target takes its columns from the first record's keys. (PostgreSQL's ``jsonb`` sorts
    keys by length and keeps numbers as ``numeric``, which turns ``1e300`` into an integer.)"""
    entity = {"zeta": 1, "id": "a", "huge": 1e300, "tiny": -2.5e-300, "nested": {"b": 1e20, "a": [3.0, 1e16]}}
    result = {"usage": {"total": 1e18}, "id": "r"}
    error = {"type": "X", "amount": 1e25, "message": "m"}
    [done_id, failed_id] = [store.add_tasks("in", entity, ["out"], key)[0] for key in ("1", "2")]
    store.claim("out", 2, "w")
    store.finish_many([TaskOutcome(done_id, "processed", result=result), TaskOutcome(failed_id, "failed", error=error)])
    store.resolve(failed_id, "failed", {"by": "me", "note": "n", "at": 1e21})
    done, failed = store.get(done_id), store.get(failed_id)
    assert json.dumps(done.entity) == json.dumps(failed.entity) == json.dumps(entity)
    assert json.dumps(store.list(status="processed")[0].entity) == json.dumps(entity)
    assert json.dumps(done.result) == json.dumps(result)
    assert json.dumps(failed.last_error) == json.dumps(error)
    assert list(failed.resolution)[:3] == ["by", "note", "at"] and type(failed.resolution["at"]) is float


def test_finish_checks_status_and_id(store: TaskStore) -> None:
    [task_id] = store.add_tasks("in", {}, [None], None)
    with pytest.raises(TaskStoreError, match="unknown task status 'done'"):
        store.finish(task_id, "done")
    with pytest.raises(TaskStoreError, match="no task with id 42"):
        store.finish(42, "processed")


def test_list_filters(store: TaskStore) -> None:
    store.add_tasks("a", {"id": 1}, ["x"], "1")
    store.add_tasks("b", {"id": 2}, ["y"], "2")
    store.add_tasks("b", {"id": 3}, ["x"], "3")
    assert [t.identity for t in store.list(incoming="b")] == ["2", "3"]
    assert [t.identity for t in store.list(outgoing="x", limit=1)] == ["1"]
    assert store.list(status="failed") == []


def test_claim_by_ids_takes_only_those_tasks(store: TaskStore) -> None:
    ids = [store.add_tasks("in", {"id": n}, ["out"], str(n))[0] for n in range(4)]
    assert [task.id for task in store.claim("out", 10, "w", ids=[ids[1], ids[3]])] == [ids[1], ids[3]]
    assert store.claim("out", 10, "w", ids=[]) == []
    assert [task.status for task in store.list()] == ["new", "processing", "new", "processing"]


def test_threads_claim_each_task_once(store: TaskStore) -> None:
    for n in range(200):
        store.add_tasks("in", {"id": n}, ["out"], str(n))
    claimed: list[int] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while batch := store.claim("out", 7, name):
            for task in batch:
                store.finish(task.id, "processed")
            with lock:
                claimed.extend(task.id for task in batch)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == 200
    assert store.counts()["processed"] == 200


def test_resolve_settles_review_and_failed_tasks_only(store: TaskStore) -> None:
    ids = [store.add_tasks("in", {"id": n}, ["out"], str(n))[0] for n in range(3)]
    store.claim("out", 3, "w")
    store.finish(ids[0], "review", result={"sent": True})
    store.finish(ids[1], "failed", error={"type": "E"})
    task = store.resolve(ids[0], "processed", {"note": "checked", "by": "me", "at": "t"})
    assert (task.status, task.result, task.resolution) == (
        "processed", {"sent": True}, {"note": "checked", "by": "me", "at": "t", "from": "review"})
    assert store.resolve(ids[1], "failed", {"note": "n"}, result={"found": None}).result == {"found": None}
    with pytest.raises(TaskStoreError, match=f"task {ids[2]} is processing"):
        store.resolve(ids[2], "processed", {})
    with pytest.raises(TaskStoreError, match="no task with id 999"):
        store.resolve(999, "processed", {})


def test_a_task_settled_as_processed_keeps_its_old_error_only_in_the_resolution(store: TaskStore) -> None:
    """Before: `tasks list` showed "uncertain send" on a task reconcile had found landed."""
    ids = [store.add_tasks("in", {"id": n}, ["out"], str(n))[0] for n in range(3)]
    store.claim("out", 3, "w")
    uncertain = {"type": "UncertainPublish", "message": "may have reached the server", "look": {"filename": "a"}}
    for task_id in ids:
        store.finish(task_id, "review", error=uncertain)
    landed = store.resolve(ids[0], "processed", {"note": "found"})
    assert landed.last_error is None and landed.resolution == {"note": "found", "from": "review", "error": uncertain}
    assert store.get(ids[0]).last_error is None
    absent = store.resolve(ids[1], "failed", {"note": "not found"})
    assert absent.last_error == uncertain and "error" not in absent.resolution  # the reason it failed
    unknown = store.resolve(ids[2], "review", {"note": "cannot tell"})
    assert unknown.last_error == uncertain  # what `tasks reconcile` looks with next time


# -- leases --------------------------------------------------------------------------------


def test_stale_finds_tasks_whose_lease_lapsed(store: TaskStore, clock: Clock) -> None:
    store.add_tasks("in", {"id": 1}, ["out"], "1")
    store.add_tasks("in", {"id": 2}, ["out"], "2")
    store.claim("out", 1, worker_id("t"), lease_seconds=30)
    store.claim("out", 1, "gone-host:1:dead", lease_seconds=10)
    clock.now += 20
    assert [t.identity for t in store.stale("out")] == ["2"]
    assert [t.identity for t in store.leased("out")] == ["1"]


def test_a_claim_lapses_unless_renewed_by_its_worker(store: TaskStore, clock: Clock) -> None:
    ids = [store.add_tasks("in", {"n": n}, ["out"], str(n))[0] for n in range(3)]
    store.claim("out", 3, "w1", lease_seconds=10)
    clock.now += 8
    assert store.renew(ids[:2], "w1", lease_seconds=10) == ids[:2]
    assert store.renew(ids, "someone-else", lease_seconds=10) == []  # only the holder renews
    clock.now += 5  # 13 s after the claim, 5 s after the renewal
    assert [task.id for task in store.stale("out")] == [ids[2]]
    assert [task.id for task in store.leased("out")] == ids[:2]
    assert store.get(ids[0]).lease_until == clock.now - 5 + 10


def test_requeue_never_touches_a_live_lease(store: TaskStore, clock: Clock) -> None:
    [task_id] = store.add_tasks("in", {}, ["out"], None)
    store.claim("out", 1, "w", lease_seconds=10)
    with pytest.raises(LeaseHeldError, match=f"task {task_id} is being worked on"):
        store.requeue(None, ["processing"])
    assert store.get(task_id).status == "processing"
    clock.now += 11
    assert store.requeue(None, ["processing"]) == 1 and store.get(task_id).status == "new"


def test_release_gives_back_an_unsent_claim_without_counting_the_attempt(store: TaskStore) -> None:
    [task_id] = store.add_tasks("in", {}, ["out"], None)
    store.claim("out", 1, "w")
    assert store.release([task_id], "other") == 0
    assert store.release([task_id], "w") == 1
    task = store.get(task_id)
    assert (task.status, task.attempts, task.claimed_by, task.lease_until) == ("new", 0, None, None)


def test_real_time_leases_lapse(backing: Backing) -> None:
    """Without an injected clock, leases run on real time (PostgreSQL: the server's)."""
    with backing.open() as store:
        [task_id] = store.add_tasks("in", {}, ["out"], None)
        [task] = store.claim("out", 1, "w", lease_seconds=0.2)
        assert store.leased("out") == [task] and store.stale("out") == []
        threading.Event().wait(0.3)
        assert [t.id for t in store.stale("out")] == [task_id]


# -- de-dup --------------------------------------------------------------------------------


def test_dedup_mark_written_with_the_tasks(store: TaskStore) -> None:
    store.add_tasks("files", {"id": 1}, [None], "1", Dedup("new", "dedup:files", "1", "hash"))
    assert store.get("dedup:files", "1") == "hash"


def test_failed_insert_rolls_back_the_mark(store: TaskStore) -> None:
    with pytest.raises(TypeError):
        store.add_tasks("files", {"bad": object()}, [None], "1", Dedup("new", "dedup:files", "1", "hash"))
    assert store.get("dedup:files", "1") is None
    assert store.counts()["new"] == 0


def test_dedup_is_decided_inside_the_write(store: TaskStore) -> None:
    def add(policy: str, value: str) -> list[int]:
        return store.add_tasks("in", {"v": value}, ["out"], "k", Dedup(policy, "dedup:in", "k", value))

    assert len(add("changed", "h1")) == 1
    assert add("changed", "h1") == [] and add("new", "h2") == []
    assert len(add("changed", "h2")) == 1
    assert store.get("dedup:in", "k") == "h2" and store.counts()["new"] == 2
    with pytest.raises(TaskStoreError, match="unknown de-dup policy 'always'"):
        Dedup("always", "dedup:in", "k", "h")


def test_a_null_mark_counts_as_none(store: TaskStore) -> None:
    store.set("dedup:in", "k", None)
    assert len(store.add_tasks("in", {}, ["out"], "k", Dedup("new", "dedup:in", "k", {"a": [1]}))) == 1
    assert store.add_tasks("in", {}, ["out"], "k", Dedup("changed", "dedup:in", "k", {"a": [1]})) == []


def test_two_stores_racing_on_the_same_entities_create_one_task_each(backing: Backing) -> None:
    start = threading.Barrier(2, timeout=10)

    def run() -> None:
        with backing.open() as mine:
            start.wait()
            for n in range(150):
                mine.add_tasks("in", {"id": n}, ["out"], str(n), Dedup("new", "dedup:in", str(n), "h"))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with backing.open() as store:
        assert sorted(int(task.identity) for task in store.list()) == list(range(150))


# -- batches -------------------------------------------------------------------------------


def test_a_batch_gets_one_task_per_entity_and_outgoing(store: TaskStore) -> None:
    created = store.add_many("in", [NewEntity({"id": n}, str(n)) for n in range(3)], ["a", "b"])
    assert created == [2, 2, 2]
    tasks = store.list()
    assert [(t.entity["id"], t.outgoing) for t in tasks] == [(0, "a"), (0, "b"), (1, "a"), (1, "b"), (2, "a"), (2, "b")]
    assert {t.status for t in tasks} == {"new"} and tasks[0].identity == "0"


def test_a_batch_without_routes_stores_tasks_without_outgoing(store: TaskStore) -> None:
    assert store.add_many("in", [NewEntity({"id": 1}, "1")], []) == [1]
    assert store.list()[0].outgoing is None
    assert store.add_many("in", [], ["out"]) == []


def test_dedup_in_a_batch_means_what_adding_one_at_a_time_means(backing: Backing, store: TaskStore) -> None:
    store.add_tasks("in", {"id": "old"}, ["out"], "old", Dedup("new", "dedup:in", "old", "h"))
    batch = [new("old"), new("k1"), new("k1"), new("k2", "v1", "changed"), new("k2", "v1", "changed"),
             new("k2", "v2", "changed")]
    assert store.add_many("in", batch, ["out"]) == [0, 1, 0, 1, 0, 1]
    assert store.get("dedup:in", "k2") == "v2" and store.get("dedup:in", "k1") == "h"
    with backing.fresh().open() as single:
        single.add_tasks("in", {"id": "old"}, ["out"], "old", Dedup("new", "dedup:in", "old", "h"))
        one_by_one = [len(single.add_tasks("in", e.entity, ["out"], e.identity, e.dedup)) for e in batch]
    assert one_by_one == [0, 1, 0, 1, 0, 1]


def test_a_batch_that_fails_writes_nothing(store: TaskStore) -> None:
    batch = [new("k1"), NewEntity({"bad": object()}, "k2", Dedup("new", "dedup:in", "k2", "h"))]
    with pytest.raises(TypeError):
        store.add_many("in", batch, ["out"])
    assert store.get("dedup:in", "k1") is None and store.counts()["new"] == 0


def test_a_batch_written_ahead_stores_those_tasks_finished(store: TaskStore) -> None:
    """A file target wrote a batch's records while it was read: its tasks are stored finished,
    with their outcomes, beside the new tasks of the other outgoings, in one transaction."""
    batch = [NewEntity({"id": n}, str(n)) for n in range(4)]
    error = {"type": "PublishError", "message": "NaN"}
    ahead = [Settled("processed"), Settled("failed", error=error), Settled("skipped"), Settled("processed")]
    assert store.add_many("in", batch, ["api"], {"file": ahead}) == [2, 2, 2, 2]
    new_ones = store.list(outgoing="api")
    assert [(t.entity["id"], t.status, t.attempts) for t in new_ones] == [(n, "new", 0) for n in range(4)]
    written = {t.entity["id"]: t for t in store.list(outgoing="file")}
    assert {n: (t.status, t.attempts, t.identity) for n, t in written.items()} == {
        0: ("processed", 1, "0"), 1: ("failed", 1, "1"), 2: ("skipped", 1, "2"), 3: ("processed", 1, "3")}
    assert written[1].last_error == error and written[1].claimed_by is None and written[0].result is None
    assert store.claim("file", 10, "w") == []
    # every outgoing written ahead: no task of outgoing None
    assert store.add_many("in", batch[:1], [], {"file": [Settled("processed")]}) == [1]
    assert all(t.outgoing is not None for t in store.list())


def test_a_batch_written_ahead_is_checked_before_anything_is_stored(store: TaskStore) -> None:
    batch = [NewEntity({"id": 1}, "1")]
    with pytest.raises(TaskStoreError, match="cannot be de-duplicated"):
        store.add_many("in", [new("k1")], [], {"file": [Settled("processed")]})
    with pytest.raises(TaskStoreError, match="both new and written ahead"):
        store.add_many("in", batch, ["file"], {"file": [Settled("processed")]})
    with pytest.raises(TaskStoreError, match="2 tasks written ahead for 1 entities"):
        store.add_many("in", batch, [], {"file": [Settled("processed")] * 2})
    with pytest.raises(TaskStoreError, match="unknown task status 'new'"):
        store.add_many("in", batch, [], {"file": [Settled("new")]})
    assert sum(store.counts().values()) == 0 and store.get("dedup:in", "k1") is None


def _add_pages(backing: Backing, start: threading.Barrier | None = None) -> None:
    with backing.open() as mine:
        if start is not None:
            start.wait()
        for page in range(0, 600, 50):
            mine.add_many("in", [new(str(n)) for n in range(page, page + 50)], ["out"])


def test_two_processes_adding_the_same_pages_create_one_task_each(backing: Backing) -> None:
    backing.open().close()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_add_pages, args=(backing,)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    with backing.open() as store:
        assert sorted(int(task.identity) for task in store.list()) == list(range(600))


def test_two_threads_adding_the_same_pages_create_one_task_each(backing: Backing) -> None:
    start = threading.Barrier(2, timeout=10)
    threads = [threading.Thread(target=_add_pages, args=(backing, start)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with backing.open() as store:
        assert sorted(int(task.identity) for task in store.list()) == list(range(600))


def test_finish_many_records_every_outcome_at_once(store: TaskStore) -> None:
    store.add_many("in", [NewEntity({"id": n}, str(n)) for n in range(3)], ["out"])
    claimed = store.claim("out", 3, worker_id())
    store.finish_many([TaskOutcome(claimed[0].id, "processed", result={"ok": 1}),
                       TaskOutcome(claimed[1].id, "failed", error={"type": "E", "message": "m"}),
                       TaskOutcome(claimed[2].id, "skipped")])
    assert [(t.status, t.result, t.last_error, t.claimed_by) for t in store.list()] == [
        ("processed", {"ok": 1}, None, None), ("failed", None, {"type": "E", "message": "m"}, None),
        ("skipped", None, None, None)]
    store.finish_many([])


def test_finish_many_with_an_unknown_task_records_none(store: TaskStore) -> None:
    store.add_many("in", [NewEntity({"id": 1}, "1")], ["out"])
    [task] = store.claim("out", 1, worker_id())
    with pytest.raises(TaskStoreError, match="no task with id 999"):
        store.finish_many([TaskOutcome(task.id, "processed"), TaskOutcome(999, "processed")])
    assert store.get(task.id).status == "processing"
    with pytest.raises(TaskStoreError, match="unknown task status 'new'"):
        store.finish_many([TaskOutcome(task.id, "new")])


# -- storages ------------------------------------------------------------------------------


def test_counts_by_outgoing_group_every_task_once(store: TaskStore) -> None:
    for n in range(3):
        store.add_tasks("in", {"id": n}, ["a", "b"], str(n))
    store.add_tasks("loose", {"id": 9}, [], "9")
    [claimed] = store.claim("a", 1, "w")
    store.finish(claimed.id, "processed")
    counts = store.counts_by_outgoing()
    assert counts == {("a", "new"): 2, ("a", "processed"): 1, ("b", "new"): 3, (None, "new"): 1}
    assert sum(counts.values()) == sum(store.counts().values())


def test_page_newest_first_by_keyset_with_filters(store: TaskStore) -> None:
    for n in range(6):
        store.add_tasks("in" if n % 2 else "other", {"id": n, "name": f"item_{n}%"}, ["a", "b"], str(n))
    newest = store.page(limit=3)
    assert [t.id for t in newest] == sorted((t.id for t in newest), reverse=True)
    following = store.page(limit=100, before=newest[-1].id)
    assert len(newest) + len(following) == 12 and max(t.id for t in following) < newest[-1].id
    [claimed] = store.claim("a", 1, "w")
    store.finish(claimed.id, "failed", error={"type": "ApiError", "message": "quota gone"})
    assert [t.id for t in store.page(status="failed")] == [claimed.id]
    assert [t.id for t in store.page(status="failed", outgoing="b")] == []
    assert {t.incoming for t in store.page(incoming="in")} == {"in"}
    assert {(t.outgoing, t.entity["id"]) for t in store.page(outgoing="b", incoming="in")} == {
        ("b", 1), ("b", 3), ("b", 5)}
    assert [t.entity["id"] for t in store.page(text="item_3")] == [3, 3]
    assert store.page(text="tem_3%") != [] and store.page(text="item%3") == []  # % and _ are literal
    assert [t.id for t in store.page(text="quota")] == [claimed.id]  # the error is searched too
    ids = sorted(t.id for t in store.page(limit=100))
    assert [t.id for t in store.page(after=ids[2], before=ids[6])] == ids[5:2:-1]
    assert [t.entity["id"] for t in store.page(text="item_", after=ids[-3])] == [5, 5]
    with pytest.raises(TaskStoreError, match="unknown task status"):
        store.page(status="lost")


def test_finished_per_hour_counts_outcomes_by_hour(store: TaskStore) -> None:
    for n in range(5):
        store.add_tasks("in", {"id": n}, ["out"], str(n))
    claimed = store.claim("out", 5, "w")
    before = datetime.now(UTC).strftime("%Y-%m-%dT%H")
    store.finish_many([TaskOutcome(t.id, "failed" if t.entity["id"] == 0 else "processed") for t in claimed[:4]])
    hours = {before, datetime.now(UTC).strftime("%Y-%m-%dT%H")}  # an hour may turn between
    since = datetime.now(UTC) - timedelta(hours=24)
    counts = store.finished_per_hour(since)
    assert sum(n for (hour, _status), n in counts.items() if hour in hours) == 4
    assert sum(counts.values()) == 4 and sum(n for (_, s), n in counts.items() if s == "failed") == 1
    assert store.finished_per_hour(datetime.now(UTC) + timedelta(hours=1)) == {}
    assert store.finished_per_hour(since, until=since + timedelta(hours=1)) == {}
    assert store.finished_per_hour(since, until=datetime.now(UTC) + timedelta(seconds=5)) == counts


def test_finished_per_hour_puts_each_task_in_the_hour_of_its_last_update(store: TaskStore) -> None:
    def at(task_id: int, status: str, moment: datetime) -> Task:
        text = moment.isoformat(timespec="milliseconds")
        return Task(task_id, "in", "out", {"id": task_id}, str(task_id), status, 1, text, text)

    store.import_tasks([
        at(1, "processed", TICK - timedelta(minutes=1)),  # 09:59, before the range
        at(2, "processed", TICK), at(3, "failed", TICK + timedelta(minutes=59, seconds=59)),
        at(4, "processed", TICK + timedelta(hours=1)), at(5, "new", TICK + timedelta(hours=1)),
        at(6, "failed", TICK + timedelta(hours=3, minutes=30)),
    ])
    assert store.finished_per_hour(TICK, until=TICK + timedelta(hours=4)) == {
        ("2026-11-30T10", "processed"): 1, ("2026-11-30T10", "failed"): 1,
        ("2026-11-30T11", "processed"): 1, ("2026-11-30T13", "failed"): 1}
    assert store.finished_per_hour(TICK + timedelta(minutes=30), until=TICK + timedelta(hours=1)) == {
        ("2026-11-30T10", "failed"): 1}


def test_storages(store: TaskStore) -> None:
    store.set("lookup", "b", [1, "two"])
    store.set("lookup", "a", {"x": 1})
    store.set("lookup", "a", {"x": 2})
    store.set("lookup", "B", 1.5)
    store.set("other", "k", None)
    assert store.get("lookup", "a") == {"x": 2}
    assert list(store.items("lookup")) == [("B", 1.5), ("a", {"x": 2}), ("b", [1, "two"])]  # code point order
    assert store.namespaces() == {"lookup": 3, "other": 1}
    assert store.delete("lookup", "a") is True
    assert store.delete("lookup", "a") is False
    assert store.clear("lookup") == 2
    assert store.namespaces() == {"other": 1}


# -- opening -------------------------------------------------------------------------------


def test_stores_opening_a_new_database_at_once_all_open_it(backing: Backing) -> None:
    errors: list[str] = []

    def open_store(where: Backing, start: threading.Barrier) -> None:
        start.wait()
        try:
            where.open().close()
        except TaskStoreError as error:  # SQLite: "database is locked" from the switch to WAL
            errors.append(str(error))

    for _ in range(20):
        start, fresh = threading.Barrier(3, timeout=10), backing.fresh()
        threads = [threading.Thread(target=open_store, args=(fresh, start)) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []


# -- the schedule log ----------------------------------------------------------------------


def test_a_tick_is_claimed_once_across_stores_on_one_database(backing: Backing) -> None:
    with backing.open() as first, backing.open() as second:
        assert first.claim_tick("poll", TICK, "host-a", 60)
        assert not second.claim_tick("poll", TICK, "host-b", 60)
        assert second.last_tick("poll") == TICK
        assert second.last_tick("other") is None


def test_a_running_job_holds_its_later_ticks_until_it_finishes_or_its_lease_lapses(store, clock) -> None:
    assert store.claim_tick("drain", TICK, "host-a", 60)
    later = TICK + timedelta(minutes=1)
    assert not store.claim_tick("drain", later, "host-b", 60)
    clock.now += 30
    store.renew_tick("drain", TICK, "host-a", 60)
    clock.now += 45  # past the first lease, within the renewed one
    assert not store.claim_tick("drain", later, "host-b", 60)
    clock.now += 60  # host-a died: nobody renews
    assert store.claim_tick("drain", later, "host-b", 60)


def test_finished_runs_are_recorded_newest_first(store: TaskStore) -> None:
    store.claim_tick("poll", TICK, "me", 60)
    store.finish_tick("poll", TICK, "me", True, {"read": 3, "at": TICK}, None)
    later = TICK + timedelta(minutes=1)
    store.claim_tick("poll", later, "me", 60)
    store.finish_tick("poll", later, "me", False, None, "RuntimeError: boom")
    runs = store.schedule_runs("poll")
    assert [(run.tick, run.ok, run.summary, run.error) for run in runs] == [
        (later, False, None, "RuntimeError: boom"), (TICK, True, {"read": 3, "at": str(TICK)}, None)]
    assert all(run.duration is not None and run.duration >= 0 for run in runs)
    assert [run.job for run in store.schedule_runs()] == ["poll", "poll"]


def test_two_schedulers_on_one_store_never_double_run(backing: Backing) -> None:
    ran: list[str] = []
    clock = [TICK + timedelta(seconds=5)]
    stores = [backing.open(), backing.open()]
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


# -- the outbox ----------------------------------------------------------------------------


def finished_with_messages(store: TaskStore, *messages: tuple[str, object]) -> int:
    [task_id] = store.add_tasks("in", {"id": 1}, ["out"], "1")
    store.claim("out", 1, "w")
    store.finish(task_id, "processed", {"ok": True}, outbox=list(messages))
    return task_id


def test_finishing_a_task_queues_its_messages_in_the_same_write(store: TaskStore) -> None:
    finished_with_messages(store, ("log:reconify", {"n": 1, "text": "é"}), ("trigger", [1, 2]))
    messages = store.outbox_list()
    assert [(m.topic, m.payload, m.state, m.attempts) for m in messages] == [
        ("log:reconify", {"n": 1, "text": "é"}, "pending", 0), ("trigger", [1, 2], "pending", 0)]
    assert store.outbox_counts() == {"log:reconify": {"pending": 1, "delivered": 0, "gave_up": 0},
                                     "trigger": {"pending": 1, "delivered": 0, "gave_up": 0}}
    json.dumps(messages[0].to_dict())


def test_a_finish_batch_that_fails_queues_no_message(store: TaskStore) -> None:
    [task_id] = store.add_tasks("in", {"id": 1}, ["out"], "1")
    store.claim("out", 1, "w")
    with pytest.raises(TaskStoreError):
        store.finish_many([TaskOutcome(task_id, "processed", outbox=(("t", 1),)),
                           TaskOutcome(999_999, "processed", outbox=(("t", 2),))])
    assert store.outbox_list() == []
    store.finish_many([TaskOutcome(task_id, "failed", error={"m": "x"}, outbox=(("t", 3),))])
    assert [m.payload for m in store.outbox_list()] == [3]


def test_outbox_claim_leases_due_messages_once(store: TaskStore, clock: Clock) -> None:
    store.outbox_add([("a", 1), ("b", 2), ("a", 3)])
    first = store.outbox_claim(["a"], 10, "w1", lease_seconds=30)
    assert [(m.payload, m.attempts, m.claimed_by) for m in first] == [(1, 1, "w1"), (3, 1, "w1")]
    assert store.outbox_claim(["a"], 10, "w2") == []  # leased
    assert [m.payload for m in store.outbox_claim(None, 10, "w2")] == [2]
    clock.now += 31  # w1 died: its lease lapsed
    assert [(m.payload, m.attempts) for m in store.outbox_claim(["a"], 1, "w3")] == [(1, 2)]
    assert store.outbox_delivered([first[0].id], "w1") == 0  # no longer w1's
    assert store.outbox_delivered([first[0].id], "w3") == 1
    assert store.outbox_claim(["a"], 10, "w4")[0].payload == 3


def test_outbox_retry_waits_for_its_delay_and_give_up_is_kept(store: TaskStore, clock: Clock) -> None:
    store.outbox_add([("a", 1), ("a", 2)])
    one, two = store.outbox_claim(None, 10, "w")
    assert store.outbox_retry(one.id, "w", "503 from the endpoint", 20)
    assert store.outbox_give_up(two.id, "w", "400 from the endpoint: bad key")
    assert store.outbox_claim(None, 10, "w") == []
    clock.now += 21
    [again] = store.outbox_claim(None, 10, "w")
    assert (again.id, again.attempts, again.last_error) == (one.id, 2, "503 from the endpoint")
    store.outbox_delivered([again.id], "w")
    assert store.outbox_counts() == {"a": {"pending": 0, "delivered": 1, "gave_up": 1}}
    [kept] = store.outbox_list(state="gave_up")
    assert (kept.payload, kept.gave_up, kept.last_error) == (2, True, "400 from the endpoint: bad key")
    assert [m.state for m in store.outbox_list(topic="a")] == ["delivered", "gave_up"]
    with pytest.raises(TaskStoreError):
        store.outbox_list(state="lost")


def test_an_early_claim_takes_messages_still_waiting_out_their_delay(store: TaskStore, clock: Clock) -> None:
    store.outbox_add([("a", 1), ("a", 2)])
    first, second = store.outbox_claim(None, 10, "w")
    store.outbox_retry(first.id, "w", "503", 300)
    store.outbox_give_up(second.id, "w", "400")
    assert store.outbox_claim(None, 10, "w2") == []
    [again] = store.outbox_claim(None, 10, "w2", early=True)  # never a given-up one
    assert (again.id, again.attempts) == (first.id, 2)
    assert store.outbox_claim(None, 10, "w3", early=True) == []  # leased


def test_two_deliverers_claiming_at_once_take_disjoint_messages(backing: Backing) -> None:
    with backing.open() as setup:
        setup.outbox_add([("t", n) for n in range(200)])
    stores = [backing.open(), backing.open()]
    taken: list[list[int]] = [[], []]

    def deliver(n: int) -> None:
        while batch := stores[n].outbox_claim(["t"], 7, f"w{n}"):
            taken[n].extend(m.payload for m in batch)
            stores[n].outbox_delivered([m.id for m in batch], f"w{n}")

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken[0] + taken[1]) == list(range(200))
    assert stores[0].outbox_counts()["t"]["delivered"] == 200
    for store in stores:
        store.close()
