"""store: {url: postgresql://...}: a PostgreSQL store, its password a secret, kept apart on the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from alumio_mistral.config import load_project
from alumio_mistral.config.problems import ConfigError
from alumio_mistral.secrets import redact


def _load(tmp_path: Path, store: dict, environ: dict | None = None, clients: dict | None = None,
          publisher: dict | None = None):
    document = {"incoming": {"items": {"subscriber": {"type": "jsonl", "path": "items.jsonl"}}},
                "outgoing": {"out": {"publisher": publisher or {"type": "jsonl", "path": "out.jsonl"}}},
                "routes": [{"incoming": "items", "outgoing": "out"}], "store": store}
    if clients:
        document["clients"] = clients
    (tmp_path / "items.jsonl").write_text("")
    (tmp_path / "alumio.yaml").write_text(yaml.safe_dump(document))
    return load_project(tmp_path, environ=environ or {})


def test_a_url_selects_postgresql_and_its_password_from_a_variable_is_a_secret(tmp_path: Path) -> None:
    project = _load(tmp_path, {"url": "postgresql://app:${DB_PASS}@db.internal/tasks", "schema": "tickets"},
                    environ={"DB_PASS": "pw-from-env-1"},
                    clients={"mistral": {"prototype": "mistral", "api_key": "k" * 32}})
    assert project.store.url == "postgresql://app:pw-from-env-1@db.internal/tasks"
    assert project.store.schema == "tickets"
    assert "pw-from-env-1" not in repr(project.store)
    assert redact(f"cannot reach {project.store.url}") == "cannot reach postgresql://app:***@db.internal/tasks"


def test_a_url_without_a_password_leaves_it_to_libpq(tmp_path: Path) -> None:
    project = _load(tmp_path, {"url": "postgresql://app@db.internal/tasks"},
                    clients={"mistral": {"prototype": "mistral", "api_key": "k" * 32}})
    assert (project.store.url, project.store.schema) == ("postgresql://app@db.internal/tasks", None)


def test_a_sandbox_project_keeps_its_tasks_in_a_schema_apart(tmp_path: Path) -> None:
    chat = {"entity": "chat.complete"}
    project = _load(tmp_path, {"url": "postgresql://app@db/tasks"}, publisher=chat)
    assert project.sandbox_clients and project.store.schema == "alumio_sandbox"
    assert _load(tmp_path, {"url": "postgresql://app@db/tasks", "schema": "t"}, publisher=chat).store.schema == "t_sandbox"


@pytest.mark.parametrize(("store", "message"), [
    ({"url": "mysql://app@db/tasks"}, "store.url: expected a postgresql:// URL"),
    ({"url": "postgresql://app@db/tasks", "path": "t.db"}, r"store.url: a store is a path \(SQLite\) or a url"),
    ({"schema": "tickets"}, "store.schema: schema is a PostgreSQL setting"),
    ({"url": "postgresql://app@db/tasks", "schema": "Bad-Name"}, "store.schema: expected lower-case letters"),
])
def test_store_settings_that_cannot_work_are_refused(tmp_path: Path, store: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, store)
