"""store copy SQLite -> PostgreSQL -> SQLite keeps every task and value (compared row by row);
store migrate reports the schema versions."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from alumio_mistral.cli import main
from alumio_mistral.tasks import Dedup, NewEntity, SqliteTaskStore
from alumio_mistral.tasks.migrations import SCHEMA_VERSION
from alumio_mistral.tasks.postgres import PostgresTaskStore


def _fill(store: SqliteTaskStore) -> None:
    """Tasks in every status, with attempts, a live lease, results, errors and resolutions."""
    store.add_many("in", [NewEntity({"id": n, "text": f"é{n}", "nested": {"b": [1, 2.5, None]}}, str(n),
                                    Dedup("new", "dedup:in", str(n), f"h{n}")) for n in range(2500)], ["a", "b"])
    store.add_tasks("other", {"x": 1}, [], None)
    claimed = store.claim("a", 6, "host:1:abc", lease_seconds=600)
    store.finish(claimed[0].id, "processed", result={"answer": "ok", "usage": {"tokens": 3}})
    store.finish(claimed[1].id, "failed", error={"type": "ApiError", "status": 500, "message": "boom"})
    store.finish(claimed[2].id, "review", error={"type": "InterruptedPublish"})
    store.finish(claimed[3].id, "skipped")
    store.resolve(claimed[2].id, "processed", {"note": "seen on the server", "by": "ops", "at": "t"})
    store.claim("b", 2, "host:2:def", lease_seconds=600)  # still processing under a lease
    store.set("marks", "last", {"created_at": 1700000000, "ids": ["a", "b"]})
    store.set("lookup", "Zed", [1, "two", None])


def _dump(store) -> tuple[list[dict], dict]:
    values = {namespace: list(store.items(namespace)) for namespace in store.namespaces()}
    return [task.to_dict() for task in store.list()], values


def test_copy_to_postgresql_and_back_keeps_every_row(tmp_path: Path, postgres_url: str) -> None:
    source = tmp_path / "source.db"
    with SqliteTaskStore(source) as store:
        _fill(store)
        expected = _dump(store)
    runner = CliRunner()
    there = runner.invoke(main, ["store", "copy", str(source), postgres_url, "--json"])
    assert there.exit_code == 0, there.output
    assert json.loads(there.output) == {"from": str(source), "to": f"PostgresTaskStore({postgres_url!r})",
                                        "tasks": 5001, "values": 2502}
    with PostgresTaskStore(postgres_url) as store:
        assert _dump(store) == expected
        assert store.add_tasks("in", {}, ["a"], "new") == [5002]  # ids go on after the copied ones
        store.finish(5002, "processed")
    back = runner.invoke(main, ["store", "copy", postgres_url, str(tmp_path / "back.db")])
    assert back.exit_code == 0 and "copied 5002 tasks and 2502 storage values" in back.output
    with SqliteTaskStore(tmp_path / "back.db") as store:
        tasks, values = _dump(store)
    assert (tasks[:-1], values) == expected and tasks[-1]["status"] == "processed"
    again = runner.invoke(main, ["store", "copy", str(source), postgres_url])
    assert again.exit_code == 1 and "copy into an empty store" in again.output


def test_migrate_reports_the_versions_of_a_project_store(tmp_path: Path) -> None:
    (tmp_path / "alumio.yaml").write_text(yaml.safe_dump({"incoming": {}, "store": {"path": "t.db"}}))
    runner = CliRunner()
    first = runner.invoke(main, ["store", "migrate", str(tmp_path), "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.output) == {"store": str(tmp_path / "t.db"), "from_version": 0, "version": SCHEMA_VERSION}
    assert f"already at schema version {SCHEMA_VERSION}" in runner.invoke(main, ["store", "migrate", str(tmp_path)]).output
