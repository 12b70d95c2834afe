"""The incoming, tasks and storage commands on a small CSV project."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from alumio_mistral.cli import main
from alumio_mistral.tasks import SqliteTaskStore

PROJECT = """
incoming:
  tickets:
    subscriber: {type: csv, path: tickets.csv}
    dedup: new
outgoing:
  copy:
    publisher: {type: jsonl, path: out.jsonl}
routes:
  - {incoming: tickets, outgoing: [copy]}
"""


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    (tmp_path / "alumio.yaml").write_text(PROJECT)
    (tmp_path / "tickets.csv").write_text("id,subject\n1,a\n2,b,extra\n3,c\n")
    return tmp_path


def invoke(*args: str) -> object:
    return CliRunner().invoke(main, [*args])


def test_incoming_run_reports_bad_rows_and_exits_1(project: Path) -> None:
    result = invoke("incoming", "run", str(project))
    assert result.exit_code == 1
    assert f"error: incoming tickets: {project / 'tickets.csv'}:3: expected 2 fields" in result.output
    assert "incoming: read 3, created 2, failed 1" in result.output
    again = invoke("incoming", "run", str(project), "tickets", "--json")
    stats = json.loads(again.output)
    assert (again.exit_code, stats["created"], stats["skipped"], stats["failed"]) == (1, 0, 2, 1)


def test_incoming_run_unknown_name(project: Path) -> None:
    result = invoke("incoming", "run", str(project), "nope")
    assert result.exit_code == 1 and "no incoming named 'nope'" in result.output


def test_tasks_list_show(project: Path) -> None:
    invoke("incoming", "run", str(project))
    listed = json.loads(invoke("tasks", "list", str(project), "--json").output)
    assert [(t["identity"], t["outgoing"], t["status"]) for t in listed] == [("1", "copy", "new"), ("3", "copy", "new")]
    text = invoke("tasks", "list", str(project), "--status", "new")
    assert text.exit_code == 0 and "tickets -> copy" in text.output and "new 2" in text.output
    shown = invoke("tasks", "show", str(project), str(listed[0]["id"]), "--json")
    assert json.loads(shown.output)["entity"] == {"id": "1", "subject": "a"}
    missing = invoke("tasks", "show", str(project), "999")
    assert missing.exit_code == 1 and "no task with id 999" in missing.output
    bad = invoke("tasks", "list", str(project), "--status", "done")
    assert bad.exit_code == 2


def test_tasks_retry_requeues_and_publishes(project: Path) -> None:
    invoke("incoming", "run", str(project))
    with SqliteTaskStore(project / ".alumio" / "tasks.db") as store:
        first, second = store.list()
        store.claim("copy", 1, "w")
        store.finish(first.id, "failed", error={"message": "disk full"})
    result = invoke("tasks", "retry", str(project), "--json")
    assert result.exit_code == 0, result.output
    with SqliteTaskStore(project / ".alumio" / "tasks.db") as store:
        assert store.get(first.id).status == "processed"
    lines = (project / "out.jsonl").read_text().splitlines()
    assert json.loads(lines[0]) == {"id": "1", "subject": "a"}
    nothing = invoke("tasks", "retry", str(project))
    assert nothing.exit_code == 0 and "no failed tasks to retry" in nothing.output


def test_storage_list_get_clear(project: Path) -> None:
    invoke("incoming", "run", str(project))
    assert json.loads(invoke("storage", "list", str(project), "--json").output) == {"dedup:tickets": 2}
    keys = json.loads(invoke("storage", "list", str(project), "dedup:tickets", "--json").output)
    assert sorted(keys) == ["1", "3"]
    assert json.loads(invoke("storage", "get", str(project), "dedup:tickets", "1").output) == keys["1"]
    missing = invoke("storage", "get", str(project), "dedup:tickets", "9")
    assert missing.exit_code == 1 and "no key '9'" in missing.output
    assert "removed 1 key(s)" in invoke("storage", "clear", str(project), "dedup:tickets", "1").output
    assert "removed 1 key(s)" in invoke("storage", "clear", str(project), "dedup:tickets").output
    assert invoke("storage", "list", str(project)).output.strip() == "empty"


def test_help_on_every_command() -> None:
    for args in (["incoming", "run"], ["tasks", "list"], ["tasks", "show"], ["tasks", "retry"],
                 ["storage", "list"], ["storage", "get"], ["storage", "clear"]):
        result = invoke(*args, "--help")
        assert result.exit_code == 0 and "Usage" in result.output


def test_incoming_run_reads_stdin(tmp_path: Path) -> None:
    (tmp_path / "alumio.yaml").write_text("incoming:\n  piped:\n    subscriber: {type: stdin, format: jsonl}\n")
    result = CliRunner().invoke(main, ["incoming", "run", str(tmp_path), "--json"], input='{"id": 1}\n{"id": 2}\n')
    assert result.exit_code == 0 and json.loads(result.output)["created"] == 2


def test_run_names_the_file_and_line_of_a_bad_row(project: Path) -> None:
    """Before: `run` printed "tickets: error: expected 2 fields", leaving the row to be hunted for."""
    result = invoke("run", str(project))
    assert result.exit_code == 1
    assert f"incoming tickets: {project / 'tickets.csv'}:3: expected 2 fields" in result.output
