"""Checkpoints of the connections that store arrivals run on the store's own thread, never
inside the writer's commit, and the store waits for one that runs when it closes."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from alumio_mistral.tasks import SqliteTaskStore, sqlite_checkpoints
from alumio_mistral.tasks.sqlite_checkpoints import FALLBACK_PAGES
from alumio_mistral.tasks.store import NewEntity


def batch(size: int) -> list[NewEntity]:
    return [NewEntity({"n": n, "text": "x" * 500}, str(n)) for n in range(size)]


def backfilled(path: Path) -> tuple[int, int]:
    """The log's frames and how many of them are in the database already (checkpointing none)."""
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_autocheckpoint = 0")
        _busy, frames, done = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return frames, done


def test_the_writer_leaves_checkpoints_to_the_store_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_checkpoints, "CHECKPOINT_PAGES", 4)
    ran_on: list[str] = []
    original = sqlite_checkpoints.Checkpointer._checkpoint

    def spied(self: sqlite_checkpoints.Checkpointer) -> None:
        ran_on.append(threading.current_thread().name)
        original(self)

    monkeypatch.setattr(sqlite_checkpoints.Checkpointer, "_checkpoint", spied)
    with SqliteTaskStore(tmp_path / "t.db") as store:
        store.add_many("in", batch(200), ["out"])  # about 100 KB: past 4 pages of 16 KB
        writer = store._db()
        assert writer.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == FALLBACK_PAGES
        store._checkpointer.close()  # waits for the checkpoint that runs
        assert ran_on and all(name.startswith("sqlite-checkpoint") for name in ran_on)
        frames, done = backfilled(store.path)
        assert frames and done == frames
        assert store.counts()["new"] == 200


def test_little_written_starts_no_checkpoint_and_a_closed_store_ends_its_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_checkpoints.Checkpointer, "_checkpoint",
                        lambda self: pytest.fail("a checkpoint before 1,000 pages were written"))
    with SqliteTaskStore(tmp_path / "t.db") as store:
        store.add_many("in", batch(10), ["out"])
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("sqlite-checkpoint")]


def test_a_failed_checkpoint_is_logged_and_the_writes_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sqlite_checkpoints, "CHECKPOINT_PAGES", 1)
    with SqliteTaskStore(tmp_path / "t.db") as store:
        checkpointer = sqlite_checkpoints.Checkpointer(
            lambda: (_ for _ in ()).throw(sqlite3.OperationalError("disk I/O error")), 16384, "t.db")
        store._checkpointer = checkpointer
        store.add_many("in", batch(100), ["out"])
        checkpointer.close()
        store.add_many("in", batch(100), ["out"])
        assert store.counts()["new"] == 200
    assert "t.db: a background checkpoint failed: disk I/O error" in caplog.text
