"""Batch writes of the SQLite store: a page of entities, a batch of outcomes, one transaction each."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import pytest

from alumio_mistral.tasks import Dedup, NewEntity, SqliteTaskStore, TaskOutcome, TaskStoreError, worker_id


@pytest.fixture()
def store(tmp_path: Path):
    with SqliteTaskStore(tmp_path / "tasks.db") as opened:
        yield opened


def new(key: str, value: str = "h", policy: str = "new") -> NewEntity:
    return NewEntity({"id": key, "v": value}, key, Dedup(policy, "dedup:in", key, value))


def test_a_batch_gets_one_task_per_entity_and_outgoing(store: SqliteTaskStore) -> None:
    created = store.add_many("in", [NewEntity({"id": n}, str(n)) for n in range(3)], ["a", "b"])
    assert created == [2, 2, 2]
    tasks = store.list()
    assert [(t.entity["id"], t.outgoing) for t in tasks] == [(0, "a"), (0, "b"), (1, "a"), (1, "b"), (2, "a"), (2, "b")]
    assert {t.status for t in tasks} == {"new"} and tasks[0].identity == "0"


def test_a_batch_without_routes_stores_tasks_without_outgoing(store: SqliteTaskStore) -> None:
    assert store.add_many("in", [NewEntity({"id": 1}, "1")], []) == [1]
    assert store.list()[0].outgoing is None


def test_dedup_in_a_batch_means_what_adding_one_at_a_time_means(store: SqliteTaskStore, tmp_path: Path) -> None:
    store.add_tasks("in", {"id": "old"}, ["out"], "old", Dedup("new", "dedup:in", "old", "h"))
    batch = [new("old"), new("k1"), new("k1"), new("k2", "v1", "changed"), new("k2", "v1", "changed"),
             new("k2", "v2", "changed")]
    assert store.add_many("in", batch, ["out"]) == [0, 1, 0, 1, 0, 1]
    assert store.get("dedup:in", "k2") == "v2" and store.get("dedup:in", "k1") == "h"
    with SqliteTaskStore(tmp_path / "one-by-one.db") as single:
        single.add_tasks("in", {"id": "old"}, ["out"], "old", Dedup("new", "dedup:in", "old", "h"))
        one_by_one = [len(single.add_tasks("in", e.entity, ["out"], e.identity, e.dedup)) for e in batch]
    assert one_by_one == [0, 1, 0, 1, 0, 1]


def test_a_batch_that_fails_writes_nothing(store: SqliteTaskStore) -> None:
    batch = [new("k1"), NewEntity({"bad": object()}, "k2", Dedup("new", "dedup:in", "k2", "h"))]
    with pytest.raises(TypeError):
        store.add_many("in", batch, ["out"])
    assert store.get("dedup:in", "k1") is None and store.counts()["new"] == 0


def _add_pages(path: str, start: threading.Barrier | None = None) -> None:
    with SqliteTaskStore(path) as mine:
        if start is not None:
            start.wait()
        for page in range(0, 600, 50):
            mine.add_many("in", [new(str(n)) for n in range(page, page + 50)], ["out"])


def test_two_processes_adding_the_same_pages_create_one_task_each(tmp_path: Path) -> None:
    path = str(tmp_path / "tasks.db")
    SqliteTaskStore(path).close()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_add_pages, args=(path,)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    with SqliteTaskStore(path) as store:
        assert sorted(int(task.identity) for task in store.list()) == list(range(600))


def test_two_threads_adding_the_same_pages_create_one_task_each(tmp_path: Path) -> None:
    start = threading.Barrier(2, timeout=10)
    threads = [threading.Thread(target=_add_pages, args=(str(tmp_path / "tasks.db"), start)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with SqliteTaskStore(tmp_path / "tasks.db") as store:
        assert sorted(int(task.identity) for task in store.list()) == list(range(600))


def test_finish_many_records_every_outcome_at_once(store: SqliteTaskStore) -> None:
    store.add_many("in", [NewEntity({"id": n}, str(n)) for n in range(3)], ["out"])
    claimed = store.claim("out", 3, worker_id())
    store.finish_many([TaskOutcome(claimed[0].id, "processed", result={"ok": 1}),
                       TaskOutcome(claimed[1].id, "failed", error={"type": "E", "message": "m"}),
                       TaskOutcome(claimed[2].id, "skipped")])
    assert [(t.status, t.result, t.last_error, t.claimed_by) for t in store.list()] == [
        ("processed", {"ok": 1}, None, None), ("failed", None, {"type": "E", "message": "m"}, None),
        ("skipped", None, None, None)]
    store.finish_many([])


def test_finish_many_with_an_unknown_task_records_none(store: SqliteTaskStore) -> None:
    store.add_many("in", [NewEntity({"id": 1}, "1")], ["out"])
    [task] = store.claim("out", 1, worker_id())
    with pytest.raises(TaskStoreError, match="no task with id 999"):
        store.finish_many([TaskOutcome(task.id, "processed"), TaskOutcome(999, "processed")])
    assert store.get(task.id).status == "processing"
    with pytest.raises(TaskStoreError, match="unknown task status 'new'"):
        store.finish_many([TaskOutcome(task.id, "new")])
