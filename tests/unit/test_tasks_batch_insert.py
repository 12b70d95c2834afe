"""SQLite's batch insert (one statement per batch, entities cut from one blob by byte offsets)
and migration 6 (tasks rebuilt lighter to insert): nothing stored or kept differs."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from alumio_mistral.fastjson import dumps
from alumio_mistral.tasks import SqliteTaskStore, TaskStoreError
from alumio_mistral.tasks import migrations
from alumio_mistral.tasks.migrations import MIGRATIONS, SCHEMA_VERSION
from alumio_mistral.tasks.store import NewEntity, TaskOutcome

#: entities whose text is longer in bytes than in characters, or that orjson refuses
AWKWARD = [
    {"id": "é", "text": "naïve 日本語 \U0001f600", "quote": 'a "b" \\ c\nd'},
    {1: "a key that is not text"},
    {"id": 2**70, "wide": -(2**65)},
    {},
    [],
    "text alone",
    None,
    {"id": "last", "nested": {"a": [1, 2.5, True, None, {"b": "ü"}]}},
]


def raw_rows(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT incoming, outgoing, entity, identity, status FROM tasks ORDER BY id").fetchall()


def test_a_batch_stores_each_entity_as_adding_it_alone_does(tmp_path: Path) -> None:
    identities = ["é", None, "wide", "{}", "[]", "t", None, "日本"]
    with SqliteTaskStore(tmp_path / "batch.db") as batch, SqliteTaskStore(tmp_path / "alone.db") as alone:
        assert batch.add_many("in", [NewEntity(e, i) for e, i in zip(AWKWARD, identities)], ["a", "b"]) == [2] * 8
        for entity, identity in zip(AWKWARD, identities):
            alone.add_tasks("in", entity, ["a", "b"], identity)
        tasks = batch.list()  # the batch's arrival becomes its task rows
        assert raw_rows(batch.path) == raw_rows(alone.path)
    assert [task.outgoing for task in tasks] == ["a", "b"] * 8
    assert [task.entity for task in tasks[::2]] == [{"1": "a key that is not text"} if e == {1: "a key that is not text"}
                                                   else e for e in AWKWARD]
    assert raw_rows(tmp_path / "batch.db")[4][2] == dumps({"id": 2**70, "wide": -(2**65)})


def v5_database(path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A database as schema 5 left it, with tasks whose newest ids had been taken and rolled
    into the id sequence (as a deleted task would leave it); returns when they were updated."""
    with monkeypatch.context() as patched:
        patched.setattr(migrations, "MIGRATIONS", MIGRATIONS[:5])
        patched.setattr(migrations, "SCHEMA_VERSION", 5)
        SqliteTaskStore(path).close()
    stamp = (datetime.now(timezone.utc) - timedelta(minutes=5)).isoformat(timespec="milliseconds")
    with sqlite3.connect(path) as db:
        for n, status in enumerate(["new", "processed", "failed", "review"], start=1):
            db.execute("INSERT INTO tasks (id, incoming, outgoing, entity, identity, status, attempts, created_at,"
                       " updated_at, result) VALUES (?, 'in', 'out', ?, ?, ?, 1, ?, ?, ?)",
                       (n * 2, f'{{"n": {n}}}', str(n), status, stamp, stamp, '{"ok": true}'))
        db.execute("UPDATE sqlite_sequence SET seq = 20 WHERE name = 'tasks'")
    return stamp


def test_migration_6_keeps_rows_ids_and_the_id_sequence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "v5.db"
    stamp = v5_database(path, monkeypatch)
    before = raw_rows(path)
    with SqliteTaskStore(path) as store:
        assert store.migrated_from == 5 and SCHEMA_VERSION >= 6
        assert raw_rows(path) == before
        assert [task.id for task in store.list()] == [2, 4, 6, 8]
        assert store.get(4).result == {"ok": True} and store.get(8).status == "review"
        assert store.add_many("in", [NewEntity({"n": 5}, "5")], ["out"]) == [1]
        assert store.list()[-1].id == 21  # after the sequence, not after the largest id left
        hour = stamp[:13]  # the hour the tasks were finished in (not now's: an hour may begin in between)
        counted = store.finished_per_hour(datetime.now(timezone.utc) - timedelta(hours=1))
        assert sum(n for (_hour, status), n in counted.items() if status == "processed") == 1
        assert sum(n for (_hour, status), n in counted.items() if status == "failed") == 1
        assert hour in {found for found, _status in counted}


def test_the_rebuilt_table_refuses_an_unknown_status_and_finished_tasks_are_counted(tmp_path: Path) -> None:
    with SqliteTaskStore(tmp_path / "t.db") as store:
        store.add_many("in", [NewEntity({"n": n}, str(n)) for n in range(3)], ["out"])
        assert store.counts()["new"] == 3  # read: the batch's arrival is task rows now
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            store._db().execute("UPDATE tasks SET status = 'lost' WHERE id = 1")
        claimed = store.claim("out", 2, "w")
        store.finish_many([TaskOutcome(claimed[0].id, "processed"), TaskOutcome(claimed[1].id, "failed")])
        counted = store.finished_per_hour(datetime.now(timezone.utc) - timedelta(minutes=1))
        assert sorted((status, n) for (_hour, status), n in counted.items()) == [("failed", 1), ("processed", 1)]


def test_an_sqlite_too_old_for_the_store_is_named_at_open(tmp_path, monkeypatch) -> None:
    """``UPDATE ... RETURNING`` needs SQLite 3.35: an older library would fail at the first claim
    with a syntax error that names nothing the user can act on."""
    from alumio_mistral.tasks import sqlite as store_module

    monkeypatch.setattr(store_module.sqlite3, "sqlite_version_info", (3, 31, 1))
    monkeypatch.setattr(store_module.sqlite3, "sqlite_version", "3.31.1")
    with pytest.raises(TaskStoreError, match=r"needs SQLite 3\.35\.0 or newer, and this Python's sqlite3 module has 3\.31\.1"):
        SqliteTaskStore(tmp_path / "tasks.db")
