"""Leases instead of host+pid: a claim lasts until renewed, a lapsed one is recovered whatever
host or pid claimed it, a live one is never touched; databases of schema version 1 open."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
import yaml

from alumio_mistral.config import load_project
from alumio_mistral.runtime import ClientPool
from alumio_mistral.outgoing import SENT_NAMESPACE, Outgoing
from alumio_mistral.tasks import SqliteTaskStore, TaskStoreError
from alumio_mistral.tasks.migrations import SCHEMA_VERSION


@pytest.fixture
def store(tmp_path: Path, clock):
    with SqliteTaskStore(tmp_path / "tasks.db", clock=clock) as opened:
        yield opened


def _project(tmp_path: Path, publisher: dict, lease: float = 30) -> object:
    document = {
        "incoming": {"items": {"subscriber": {"type": "jsonl", "path": "items.jsonl"}}},
        "outgoing": {"out": {"publisher": publisher}},
        "routes": [{"incoming": "items", "outgoing": "out"}],
        "store": {"lease": lease},
    }
    (tmp_path / "items.jsonl").write_text("")
    (tmp_path / "alumio.yaml").write_text(yaml.safe_dump(document))
    return load_project(tmp_path, environ={})


def test_a_task_claimed_under_another_host_name_is_recovered_once_its_lease_lapses(tmp_path, store, clock) -> None:
    """The old identity said "another machine: never steal", so a restarted container's tasks
    stayed processing forever; the host name is now only a label."""
    project = _project(tmp_path, {"type": "jsonl", "path": "out.jsonl"})
    [task_id] = store.add_tasks("items", {"id": "a"}, ["out"], "a")
    store.claim("out", 1, "old-container-name:1:abcd1234:out", lease_seconds=30)
    worker = Outgoing(project, project.outgoing["out"], ClientPool(project.clients, project.catalog), store=store)
    assert worker.publish(store).leased == 1 and store.get(task_id).status == "processing"
    clock.now += 31
    stats = worker.publish(store)
    assert (stats.resumed, stats.processed) == (1, 1) and store.get(task_id).status == "processed"


def test_the_heartbeat_keeps_a_slow_task_leased_while_it_is_sent(tmp_path) -> None:
    """A publish longer than the lease: the heartbeat renews it, so no other run takes it."""
    project = _project(tmp_path, {"type": "jsonl", "path": "out.jsonl"}, lease=1)
    with SqliteTaskStore(tmp_path / "real-time.db") as store:
        [task_id] = store.add_tasks("items", {"id": "a"}, ["out"], "a")
        worker = Outgoing(project, project.outgoing["out"], ClientPool(project.clients, project.catalog), store=store)
        seen: dict[str, object] = {}
        original = worker.publisher.publish

        def slow(entity):
            threading.Event().wait(1.5)  # longer than the 1 s lease
            seen["stale"] = [task.id for task in store.stale("out")]
            seen["leased"] = [task.id for task in store.leased("out")]
            return original(entity)

        worker.publisher.publish = slow  # type: ignore[method-assign]
        assert worker.publish(store).processed == 1
    assert seen == {"stale": [], "leased": [task_id]}


def test_a_schema_1_database_opens_and_its_processing_rows_count_as_lapsed(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE schema_version (version INTEGER NOT NULL);
        INSERT INTO schema_version VALUES (1);
        CREATE TABLE tasks (
            id INTEGER PRIMARY KEY AUTOINCREMENT, incoming TEXT NOT NULL, outgoing TEXT, entity TEXT NOT NULL,
            identity TEXT, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL, last_error TEXT, result TEXT, claimed_by TEXT);
        CREATE TABLE storage (namespace TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
            updated_at TEXT NOT NULL, PRIMARY KEY (namespace, key)) WITHOUT ROWID;
        INSERT INTO tasks (incoming, outgoing, entity, identity, status, attempts, created_at, updated_at, claimed_by)
            VALUES ('in', 'out', '{"id": 1}', '1', 'processing', 1, 't', 't', 'other-host:12:1');
        INSERT INTO tasks (incoming, outgoing, entity, identity, status, attempts, created_at, updated_at)
            VALUES ('in', 'out', '{"id": 2}', '2', 'processed', 1, 't', 't');
    """)
    db.close()
    with SqliteTaskStore(path) as store:
        assert [task.identity for task in store.stale("out")] == ["1"]
        assert store.get(2).status == "processed" and store.get(2).lease_until is None
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    SqliteTaskStore(path).close()  # opening again is a no-op


def test_a_lapsed_unsafe_task_whose_request_left_goes_to_review_with_what_to_look_for(tmp_path, store, clock) -> None:
    project = _project(tmp_path, {"entity": "files.upload",
                                  "files": {"file": {"pattern": "text", "filename": "&{name}"}}})
    [task_id] = store.add_tasks("items", {"name": "a.txt", "text": "hello"}, ["out"], "a")
    store.claim("out", 1, "gone:1:1", lease_seconds=5)
    look = {"operation": "files.upload", "client": "mistral", "filename": "a.txt", "bytes": 5}
    store.set(SENT_NAMESPACE, str(task_id), {"worker": "gone:1:1", "at": "t", "look": look})
    clock.now += 6
    stats = Outgoing(project, project.outgoing["out"], ClientPool(project.clients, project.catalog), store=store).recover(store)
    task = store.get(task_id)
    assert stats.review == 1 and task.status == "review"
    assert task.last_error["type"] == "InterruptedPublish" and task.last_error["look"] == look
    assert store.get(SENT_NAMESPACE, str(task_id)) is None


@pytest.mark.parametrize("lease", [0.5, 7200])
def test_the_lease_setting_is_bounded(tmp_path, lease) -> None:
    from alumio_mistral.config.problems import ConfigError

    with pytest.raises(ConfigError, match="store.lease"):
        _project(tmp_path, {"type": "jsonl", "path": "out.jsonl"}, lease=lease)


@pytest.mark.parametrize("make_bad", [
    lambda tmp: Path("/proc/alumio-no-such/tasks.db"),
    lambda tmp: (tmp / "file").write_text("x") and tmp / "file" / "tasks.db",
    lambda tmp: (tmp / "folder").mkdir() or tmp / "folder",
])
def test_a_store_that_cannot_be_created_is_a_clean_error_naming_the_path(tmp_path, make_bad) -> None:
    path = make_bad(tmp_path)
    with pytest.raises(TaskStoreError, match=str(path)):
        SqliteTaskStore(path)
