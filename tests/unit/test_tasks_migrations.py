"""The schema as numbered steps: contiguous versions, both dialects, old SQLite files upgraded
(PostgreSQL's upgrades are in ``tests/contract/test_postgres_store.py``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alumio_mistral.tasks import SqliteTaskStore
from alumio_mistral.tasks.migrations import MIGRATIONS, SCHEMA_VERSION


def test_steps_are_numbered_from_one_without_gaps_and_speak_every_dialect() -> None:
    assert [step.version for step in MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1))
    assert all(step.why and (step.sqlite or step.postgres) for step in MIGRATIONS)
    # a step one dialect needs nothing of says why (the version still counts there)
    assert all(step.sqlite or "SQLite" in step.why for step in MIGRATIONS)
    assert all(step.postgres or "PostgreSQL" in step.why for step in MIGRATIONS)


def test_a_schema_2_database_gains_the_schedule_log_and_keeps_its_tasks(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    db.execute("INSERT INTO schema_version VALUES (2)")
    for step in MIGRATIONS[:2]:
        for statement in step.sqlite:
            db.execute(statement)
    db.execute("INSERT INTO tasks (incoming, outgoing, entity, identity, status, created_at, updated_at)"
               " VALUES ('in', 'out', '{\"id\": 1}', '1', 'new', 't', 't')")
    db.commit()
    db.close()
    with SqliteTaskStore(path) as store:
        assert store.get(1).entity == {"id": 1}
        assert store.schedule_runs() == []
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
