"""What only the PostgreSQL store has to say: its URL and password, text it cannot hold, versions."""

from __future__ import annotations

from types import SimpleNamespace
from urllib.parse import urlsplit

import psycopg
import pytest

from alumio_mistral.secrets import redact
from alumio_mistral.tasks import Dedup, TaskStoreError, open_store
from alumio_mistral.tasks.migrations import SCHEMA_VERSION
from alumio_mistral.tasks.postgres import PostgresTaskStore
from alumio_mistral.tasks.urls import redact_url


def test_the_url_is_shown_without_its_password() -> None:
    assert redact_url("postgresql://app:s3cret-pw@db.example:5432/tasks") == "postgresql://app:***@db.example:5432/tasks"
    assert redact_url("postgresql://app@db/tasks") == "postgresql://app@db/tasks"


def test_an_unreachable_server_is_a_store_error_that_never_shows_the_password(postgres_server: str) -> None:
    parts = urlsplit(postgres_server)
    url = f"postgresql://app:never-shown-pw@127.0.0.1:{parts.port}/no_such_database"
    with pytest.raises(TaskStoreError) as caught:
        PostgresTaskStore(url, connect_timeout=2)
    assert "never-shown-pw" not in str(caught.value) and "no_such_database" in str(caught.value)
    assert redact(f"connecting with {url}") == f"connecting with {url.replace('never-shown-pw', '***')}"


def test_text_postgresql_cannot_hold_is_a_clear_error_and_writes_nothing(postgres_url: str) -> None:
    with PostgresTaskStore(postgres_url, schema="nul_text") as store:
        with pytest.raises(TaskStoreError, match="cannot contain NUL"):
            store.add_tasks("in", {}, ["out"], "a\u0000b")
        with pytest.raises(TaskStoreError, match="cannot store this text"):
            store.add_tasks("in", {"lone": "\ud800"}, ["out"], "2", Dedup("new", "dedup:in", "2", "h"))
        assert store.counts()["new"] == 0 and store.get("dedup:in", "2") is None


def test_an_entity_with_a_nul_character_is_kept_as_in_sqlite(postgres_url: str) -> None:
    """A task's JSON is ``json`` text, which holds the escape ``\u0000`` (``jsonb`` refused it)."""
    with PostgresTaskStore(postgres_url, schema="nul_entity") as store:
        [task_id] = store.add_tasks("in", {"name": "a\u0000b"}, ["out"], "1", Dedup("new", "dedup:in", "1", "h"))
        assert store.get(task_id).entity == {"name": "a\u0000b"} and store.get("dedup:in", "1") == "h"


def test_the_schema_is_made_by_the_migrations_and_a_newer_one_is_refused(postgres_url: str) -> None:
    PostgresTaskStore(postgres_url, schema="versions").close()
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        assert admin.execute("SELECT version FROM versions.schema_version").fetchall() == [(SCHEMA_VERSION,)]
        admin.execute("UPDATE versions.schema_version SET version = 99")
    with pytest.raises(TaskStoreError, match="schema version 99 is newer"):
        PostgresTaskStore(postgres_url, schema="versions")


def test_a_schema_6_database_keeps_its_tasks_and_then_stores_json_as_given(postgres_url: str) -> None:
    PostgresTaskStore(postgres_url, schema="v6").close()
    with psycopg.connect(postgres_url, autocommit=True) as admin:  # back to schema 6: jsonb columns
        admin.execute("ALTER TABLE v6.tasks ALTER COLUMN entity TYPE jsonb, ALTER COLUMN result TYPE jsonb,"
                      " ALTER COLUMN last_error TYPE jsonb, ALTER COLUMN resolution TYPE jsonb")
        admin.execute("UPDATE v6.schema_version SET version = 6")
        admin.execute("INSERT INTO v6.tasks (incoming, outgoing, entity, status, created_at, updated_at)"
                      " VALUES ('in', 'out', '{\"id\": 1, \"b\": 2}', 'new', now(), now())")
    with PostgresTaskStore(postgres_url, schema="v6") as store:
        assert store.migrated_from == 6 and [task.entity for task in store.list()] == [{"id": 1, "b": 2}]
        [task_id] = store.add_tasks("in", {"zeta": 1, "id": 2, "huge": 1e300}, ["out"], "2")
        assert list(store.get(task_id).entity) == ["zeta", "id", "huge"] and store.get(task_id).entity["huge"] == 1e300
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        types = admin.execute("SELECT data_type FROM information_schema.columns WHERE table_schema = 'v6'"
                              " AND table_name = 'tasks' AND column_name IN ('entity', 'result', 'last_error',"
                              " 'resolution')").fetchall()
        assert types == [("json",)] * 4


def test_a_schema_name_is_checked(postgres_url: str) -> None:
    with pytest.raises(TaskStoreError, match="lower-case letters"):
        PostgresTaskStore(postgres_url, schema="x; DROP TABLE tasks")


def test_open_store_picks_postgresql_for_a_project_with_a_url(postgres_url: str) -> None:
    project = SimpleNamespace(store=SimpleNamespace(url=postgres_url, schema="picked", path=None))
    with open_store(project) as store:
        assert isinstance(store, PostgresTaskStore) and store.schema == "picked"


def test_a_snapshot_for_a_dry_run_is_a_private_sqlite_copy(postgres_url: str, tmp_path) -> None:
    with PostgresTaskStore(postgres_url, schema="snapshots") as store:
        store.add_tasks("in", {"id": 1}, ["out"], "1", Dedup("new", "dedup:in", "1", "h"))
        with store.snapshot(tmp_path) as copy:
            assert [t.to_dict() for t in copy.list()] == [t.to_dict() for t in store.list()]
            copy.claim("out", 1, "dry-run")
            assert copy.get("dedup:in", "1") == "h"
        assert store.list()[0].status == "new"
