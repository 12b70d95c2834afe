"""A batch without de-dup arrives in SQLite as one row and becomes task rows when tasks are
next read or written: every reader sees the tasks as if they had been rows all along, ids
keep the order tasks were added in, and nothing is lost or doubled on the way."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from alumio_mistral.tasks import SqliteTaskStore, TaskOutcome
from alumio_mistral.tasks.store import Dedup, NewEntity
from tests.unit.test_tasks_batch_insert import raw_rows


def rows(path: Path, table: str) -> int:
    with sqlite3.connect(path) as db:
        return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def batch(first: int, size: int) -> list[NewEntity]:
    return [NewEntity({"n": n, "text": f"é{n}"}, f"id{n}") for n in range(first, first + size)]


def test_a_batch_waits_as_one_row_until_tasks_are_read(tmp_path: Path) -> None:
    with SqliteTaskStore(tmp_path / "t.db") as store:
        assert store.add_many("in", batch(0, 3), ["a", "b"]) == [2, 2, 2]
        assert (rows(store.path, "arrivals"), rows(store.path, "tasks")) == (1, 0)
        assert store.counts()["new"] == 6
        assert (rows(store.path, "arrivals"), rows(store.path, "tasks")) == (0, 6)
        tasks = store.list()
    assert [(task.id, task.outgoing, task.entity["n"], task.identity) for task in tasks] == [
        (1, "a", 0, "id0"), (2, "b", 0, "id0"), (3, "a", 1, "id1"), (4, "b", 1, "id1"),
        (5, "a", 2, "id2"), (6, "b", 2, "id2"),
    ]
    assert {(task.status, task.attempts, task.created_at == task.updated_at) for task in tasks} == {("new", 0, True)}
    assert tasks[0].entity == {"n": 0, "text": "é0"}


@pytest.mark.parametrize("read", [
    lambda store: [task.id for task in store.list()],
    lambda store: store.counts()["new"],
    lambda store: store.counts_by_outgoing()[("out", "new")],
    lambda store: [task.id for task in store.page()],
    lambda store: store.get(1).identity,
    lambda store: [task.id for task in store.claim("out", 10, "w")],
])
def test_every_read_of_tasks_sees_a_waiting_batch(tmp_path: Path, read) -> None:
    with SqliteTaskStore(tmp_path / "t.db") as store:
        store.add_many("in", batch(0, 2), ["out"])
        assert read(store)
        assert rows(store.path, "arrivals") == 0


def test_another_process_sees_the_batch_one_added(tmp_path: Path) -> None:
    with SqliteTaskStore(tmp_path / "t.db") as writer:
        writer.add_many("in", batch(0, 4), ["out"])
        with SqliteTaskStore(tmp_path / "t.db") as reader:
            assert [task.entity["n"] for task in reader.list()] == [0, 1, 2, 3]
        assert [task.id for task in writer.claim("out", 10, "w")] == [1, 2, 3, 4]


def test_ids_follow_the_order_tasks_were_added_in_whatever_the_path(tmp_path: Path) -> None:
    with SqliteTaskStore(tmp_path / "t.db") as store:
        store.add_many("in", batch(0, 2), ["out"])  # waits as an arrival
        store.add_tasks("in", {"n": 2}, ["out"], "id2")  # a row at once: after the batch before it
        store.add_many("in", batch(3, 2), ["out"])
        store.add_many("in", [NewEntity({"n": 5}, "id5", Dedup("new", "dedup:in", "id5", "h"))], ["out"])
        store.add_many("in", batch(6, 1), ["out"])
        claimed = store.claim("out", 100, "w")
    assert [(task.id, task.entity["n"]) for task in claimed] == [(n + 1, n) for n in range(7)]


def test_batches_become_tasks_oldest_first_and_are_finished_as_any_task(tmp_path: Path) -> None:
    with SqliteTaskStore(tmp_path / "t.db") as store:
        for first in range(0, 30, 10):
            store.add_many("in", batch(first, 10), ["out"])
        assert rows(store.path, "arrivals") == 3
        claimed = store.claim("out", 15, "w")
        assert [task.entity["n"] for task in claimed] == list(range(15))
        store.finish_many([TaskOutcome(task.id, "processed") for task in claimed])
        assert (store.counts()["new"], store.counts()["processed"]) == (15, 15)
        finished = store.finished_per_hour(datetime.now(timezone.utc) - timedelta(minutes=1))
        assert sum(finished.values()) == 15


def test_an_incoming_without_routes_gets_tasks_of_no_outgoing(tmp_path: Path) -> None:
    with SqliteTaskStore(tmp_path / "t.db") as store:
        assert store.add_many("in", batch(0, 2), []) == [1, 1]
        assert [(task.outgoing, task.entity["n"]) for task in store.list()] == [(None, 0), (None, 1)]


def test_a_batch_whose_tasks_cannot_be_made_stays_whole(tmp_path: Path) -> None:
    """Cutting an arrival into tasks is one transaction with its deletion: a failure in
    between (here a task row SQLite refuses) leaves the arrival, and no task of it."""
    with SqliteTaskStore(tmp_path / "t.db") as store:
        store.add_many("in", batch(0, 3), ["out"])
        with sqlite3.connect(store.path) as db:
            db.execute("CREATE TRIGGER refuse BEFORE INSERT ON tasks WHEN NEW.identity = 'id2'"
                       " BEGIN SELECT RAISE(ABORT, 'refused'); END")
        with pytest.raises(Exception, match="refused"):
            store.list()
        assert (rows(store.path, "arrivals"), rows(store.path, "tasks")) == (1, 0)
        with sqlite3.connect(store.path) as db:
            db.execute("DROP TRIGGER refuse")
        assert [task.identity for task in store.list()] == ["id0", "id1", "id2"]


#: objects and lists whose text SQLite could have rendered otherwise than they were given
AWKWARD_CONTAINERS = [
    {"id": "é", "text": "naïve 日本語 \U0001f600", "quote": 'a "b" \\ c\nd\t\u0001\u2028 </script>'},
    {1: "a key that is not text"},
    {"id": 2**70, "wide": -(2**65)},
    {},
    [],
    {"floats": [0.30000000000000004, 1e300, -0.0, 1.5, 5e-324, 1.7976931348623157e308, 1e16, 123456789012345678]},
    {"nested": {"a": [1, 2.5, True, None, {"b": "ü"}]}},
    [[[]], {"": ""}],
]


def test_an_arrival_makes_the_very_rows_adding_each_entity_alone_makes(tmp_path: Path) -> None:
    identities = ["é", None, "wide", "{}", "[]", "f", "日本", "last"]
    with SqliteTaskStore(tmp_path / "batch.db") as arrived, SqliteTaskStore(tmp_path / "alone.db") as alone:
        arrived.add_many("in", [NewEntity(e, i) for e, i in zip(AWKWARD_CONTAINERS, identities)], ["a", "b"])
        assert rows(arrived.path, "arrivals") == 1
        for entity, identity in zip(AWKWARD_CONTAINERS, identities):
            alone.add_tasks("in", entity, ["a", "b"], identity)
        arrived.counts()
        assert raw_rows(arrived.path) == raw_rows(alone.path)


def test_a_batch_holding_a_text_or_a_number_is_stored_as_rows_after_those_waiting(tmp_path: Path) -> None:
    with SqliteTaskStore(tmp_path / "t.db") as store:
        store.add_many("in", batch(0, 2), ["out"])
        store.add_many("in", [NewEntity({"n": 2}, "id2"), NewEntity("text", "t"), NewEntity(3.5, None)], ["out"])
        assert (rows(store.path, "arrivals"), rows(store.path, "tasks")) == (0, 5)
        assert [task.entity for task in store.list()] == [{"n": 0, "text": "é0"}, {"n": 1, "text": "é1"}, {"n": 2},
                                                          "text", 3.5]
