"""What only the SQLite store has: WAL, its version row, a locked file (the rest: tests/contract)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from alumio_mistral.tasks import SqliteTaskStore, TaskStoreError
from alumio_mistral.tasks.migrations import SCHEMA_VERSION


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


