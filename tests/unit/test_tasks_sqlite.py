"""The SQLite task store: tasks, claims, requeue, storages, threads, schema."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest

from alumio_mistral.tasks import Dedup, SqliteTaskStore, TaskStoreError, worker_id
from alumio_mistral.tasks.migrations import SCHEMA_VERSION


@pytest.fixture()
def store(tmp_path: Path):
    with SqliteTaskStore(tmp_path / ".alumio" / "tasks.db") as opened:
        yield opened


def test_add_tasks_one_per_outgoing_and_json_safe(store: SqliteTaskStore) -> None:
    ids = store.add_tasks("models", {"id": "m1", "n": [1, 2]}, ["file", "api"], "m1")
    assert len(ids) == 2
    tasks = [store.get(i) for i in ids]
    assert [t.outgoing for t in tasks] == ["file", "api"]
    assert all(t.status == "new" and t.attempts == 0 and t.entity == {"id": "m1", "n": [1, 2]} for t in tasks)
    json.dumps(tasks[0].to_dict())  # JSON-safe
    assert tasks[0].to_dict()["identity"] == "m1"


def test_no_route_stores_one_task_without_outgoing(store: SqliteTaskStore) -> None:
    [task_id] = store.add_tasks("files", {"id": 1}, [], "1")
    assert store.get(task_id).outgoing is None
    assert store.get(999) is None


def test_dedup_mark_written_with_the_tasks(store: SqliteTaskStore) -> None:
    store.add_tasks("files", {"id": 1}, [None], "1", Dedup("new", "dedup:files", "1", "hash"))
    assert store.get("dedup:files", "1") == "hash"


def test_failed_insert_rolls_back_the_mark(store: SqliteTaskStore) -> None:
    with pytest.raises(TypeError):
        store.add_tasks("files", {"bad": object()}, [None], "1", Dedup("new", "dedup:files", "1", "hash"))
    assert store.get("dedup:files", "1") is None
    assert store.counts()["new"] == 0


def test_claim_finish_requeue_cycle(store: SqliteTaskStore) -> None:
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
    assert store.counts() == {
        "new": 1, "processing": 3, "processed": 1, "failed": 1, "skipped": 0, "review": 0,
    }
    assert store.requeue(None, ["failed"]) == 1
    assert store.get(claimed[1].id).status == "new"
    assert store.requeue([claimed[0].id]) == 1
    assert store.requeue([]) == 0
    with pytest.raises(TaskStoreError):
        store.requeue(None)


def test_finish_checks_status_and_id(store: SqliteTaskStore) -> None:
    [task_id] = store.add_tasks("in", {}, [None], None)
    with pytest.raises(TaskStoreError, match="unknown task status 'done'"):
        store.finish(task_id, "done")
    with pytest.raises(TaskStoreError, match="no task with id 42"):
        store.finish(42, "processed")


def test_list_filters(store: SqliteTaskStore) -> None:
    store.add_tasks("a", {"id": 1}, ["x"], "1")
    store.add_tasks("b", {"id": 2}, ["y"], "2")
    store.add_tasks("b", {"id": 3}, ["x"], "3")
    assert [t.identity for t in store.list(incoming="b")] == ["2", "3"]
    assert [t.identity for t in store.list(outgoing="x", limit=1)] == ["1"]
    assert store.list(status="failed") == []


def test_stale_finds_tasks_whose_lease_lapsed(tmp_path: Path) -> None:
    now = [1000.0]
    with SqliteTaskStore(tmp_path / "tasks.db", clock=lambda: now[0]) as store:
        store.add_tasks("in", {"id": 1}, ["out"], "1")
        store.add_tasks("in", {"id": 2}, ["out"], "2")
        store.claim("out", 1, worker_id("t"), lease_seconds=30)
        store.claim("out", 1, "gone-host:1:dead", lease_seconds=10)
        now[0] += 20
        assert [t.identity for t in store.stale("out")] == ["2"]
        assert [t.identity for t in store.leased("out")] == ["1"]


def test_storages(store: SqliteTaskStore) -> None:
    store.set("lookup", "a", {"x": 1})
    store.set("lookup", "b", [1, "two"])
    store.set("lookup", "a", {"x": 2})
    store.set("other", "k", None)
    assert store.get("lookup", "a") == {"x": 2}
    assert list(store.items("lookup")) == [("a", {"x": 2}), ("b", [1, "two"])]
    assert store.namespaces() == {"lookup": 2, "other": 1}
    assert store.delete("lookup", "a") is True
    assert store.delete("lookup", "a") is False
    assert store.clear("lookup") == 1
    assert store.namespaces() == {"other": 1}


def test_wal_and_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    SqliteTaskStore(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    db.execute("UPDATE schema_version SET version = 99")
    db.commit()
    db.close()
    with pytest.raises(TaskStoreError, match="schema version 99 is newer"):
        SqliteTaskStore(path)


def test_threads_claim_each_task_once(store: SqliteTaskStore) -> None:
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


def test_a_locked_database_is_a_clear_error_after_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with SqliteTaskStore(path, busy_timeout_ms=50) as store:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(TaskStoreError, match="t.db: database is locked"):
                store.set("ns", "k", 1)
        finally:
            other.execute("ROLLBACK")
            other.close()
        store.set("ns", "k", 1)
        assert store.get("ns", "k") == 1


def test_claim_by_ids_takes_only_those_tasks(store: SqliteTaskStore) -> None:
    ids = [store.add_tasks("in", {"id": n}, ["out"], str(n))[0] for n in range(4)]
    assert [task.id for task in store.claim("out", 10, "w", ids=[ids[1], ids[3]])] == [ids[1], ids[3]]
    assert store.claim("out", 10, "w", ids=[]) == []
    assert [task.status for task in store.list()] == ["new", "processing", "new", "processing"]


def test_dedup_is_decided_inside_the_write(store: SqliteTaskStore) -> None:
    def add(policy: str, value: str) -> list[int]:
        return store.add_tasks("in", {"v": value}, ["out"], "k", Dedup(policy, "dedup:in", "k", value))

    assert len(add("changed", "h1")) == 1
    assert add("changed", "h1") == [] and add("new", "h2") == []
    assert len(add("changed", "h2")) == 1
    assert store.get("dedup:in", "k") == "h2" and store.counts()["new"] == 2
    with pytest.raises(TaskStoreError, match="unknown de-dup policy 'always'"):
        Dedup("always", "dedup:in", "k", "h")


def test_two_connections_racing_on_the_same_entities_create_one_task_each(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    start = threading.Barrier(2, timeout=10)

    def run() -> None:
        with SqliteTaskStore(path) as mine:
            start.wait()
            for n in range(150):
                mine.add_tasks("in", {"id": n}, ["out"], str(n), Dedup("new", "dedup:in", str(n), "h"))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with SqliteTaskStore(path) as store:
        assert sorted(int(task.identity) for task in store.list()) == list(range(150))


def test_two_processes_creating_the_database_at_once_both_open_it(tmp_path: Path) -> None:
    errors: list[str] = []

    def open_store(path: Path, start: threading.Barrier) -> None:
        start.wait()
        try:
            SqliteTaskStore(path).close()
        except TaskStoreError as error:  # "database is locked" from the switch to WAL
            errors.append(str(error))

    for attempt in range(60):
        start = threading.Barrier(2, timeout=10)
        threads = [threading.Thread(target=open_store, args=(tmp_path / f"{attempt}.db", start)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
