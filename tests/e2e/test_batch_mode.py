"""``mode: batch`` against the sandbox: jobs cut by max_requests, answers as direct mode gives
them, failed lines, inline jobs, cancelling, and the config checks of a batch outgoing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from alumio_mistral import engine
from alumio_mistral.batch.publisher import BATCH_NAMESPACE, open_batch_jobs
from alumio_mistral.cli import main
from alumio_mistral.config import load_project
from alumio_mistral.errors import AlumioError
from alumio_mistral.sandbox import Sandbox
from alumio_mistral.tasks import SqliteTaskStore

pytestmark = pytest.mark.e2e

CHAT = {"use": "mistral/chat-request", "with": {"prompt": "Label this: &{text}", "max_tokens": 8}}


def write_project(folder: Path, base_uri: str, rows: list[dict[str, Any]], *, mode: str = "batch",
                  batch: dict[str, Any] | None = None, entity: str = "chat.complete",
                  transformers: list[Any] | None = None, lease: float = 60.0,
                  then: dict[str, Any] | None = None) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "rows.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    outgoing: dict[str, Any] = {"publisher": {"entity": entity}, "mode": mode,
                                "entity_transformers": transformers if transformers is not None else [CHAT],
                                "response_transformers": [{"use": "mistral/chat-answer"}]}
    if then is not None:
        outgoing["then"] = then
    if mode == "batch":
        outgoing["batch"] = {"poll_interval": 0, **(batch or {})}
    document = {
        "clients": {"mistral": {"base_uri": base_uri, "api_key": "sandbox-key", "max_attempts": 1}},
        "incoming": {"rows": {"subscriber": {"type": "jsonl", "path": "rows.jsonl"}, "dedup": "new"}},
        "outgoing": {"out": outgoing},
        "routes": [{"incoming": "rows", "outgoing": "out"}],
        "store": {"lease": lease},
    }
    (folder / "alumio.yaml").write_text(yaml.safe_dump(document))
    return folder


def tasks_of(folder: Path) -> list[Any]:
    with SqliteTaskStore(folder / ".alumio" / "tasks.db") as store:
        return store.list()


def rows(count: int) -> list[dict[str, Any]]:
    return [{"id": n, "text": f"ticket number {n}"} for n in range(count)]


@pytest.mark.slow
def test_25000_rows_make_three_jobs_with_the_answers_of_direct_mode(tmp_path: Path) -> None:
    with Sandbox() as sandbox:
        folder = write_project(tmp_path / "batch", sandbox.base_uri, rows(25_000), batch={"max_requests": 10_000})
        stats = engine.run(load_project(folder, environ={}))
        counts = sandbox.app.counts()
        assert stats.processed == 25_000 and stats.failed == 0, stats.failures[:3]
        assert counts.get("files.upload") == 3 and counts.get("batch_jobs.create") == 3
        assert not counts.get("chat.complete")
        assert sorted(job["total_requests"] for job in sandbox.app.handlers["batch_jobs.list"].__self__.jobs.values()) \
            == [5_000, 10_000, 10_000]
        batched = {task.entity["id"]: task for task in tasks_of(folder)}
        assert {task.status for task in batched.values()} == {"processed"}
        sample = [0, 1, 9_999, 10_000, 17_321, 24_999]
        direct = write_project(tmp_path / "direct", sandbox.base_uri, [rows(25_000)[n] for n in sample], mode="direct")
        engine.run(load_project(direct, environ={}))
        for task in tasks_of(direct):
            assert batched[task.entity["id"]].result == task.result
        with SqliteTaskStore(folder / ".alumio" / "tasks.db") as store:
            assert open_batch_jobs(store) == []


def test_lines_answered_with_an_error_fail_with_status_and_message(tmp_path: Path, mistral_sandbox) -> None:
    # an odd row's request asks for a negative max_tokens: the sandbox answers that line 422
    bad_when_odd = [CHAT, {"type": "conditional", "if": {"path": "messages[0].content", "matches": "[13579]$"},
                           "then": [{"type": "set", "path": "max_tokens", "value": -5}]}]
    folder = write_project(tmp_path / "p", mistral_sandbox.base_uri, rows(10), transformers=bad_when_odd)
    stats = engine.run(load_project(folder, environ={}))
    by_id = {task.entity["id"]: task for task in tasks_of(folder)}
    assert stats.processed == 5 and stats.failed == 5
    for number, task in by_id.items():
        if number % 2:
            assert task.status == "failed"
            assert task.last_error["status"] == 422 and "max_tokens" in task.last_error["message"], task.last_error
        else:
            assert task.status == "processed" and task.result


def test_below_inline_below_no_file_is_uploaded(tmp_path: Path, mistral_sandbox) -> None:
    folder = write_project(tmp_path / "p", mistral_sandbox.base_uri, rows(20), batch={"inline_below": 50})
    stats = engine.run(load_project(folder, environ={}))
    counts = mistral_sandbox.app.counts()
    assert stats.processed == 20
    assert counts.get("batch_jobs.create") == 1 and not counts.get("files.upload")


def test_a_line_over_max_bytes_fails_alone_before_upload(tmp_path: Path, mistral_sandbox) -> None:
    data = rows(5)
    data[2]["text"] = "x" * 2_000
    folder = write_project(tmp_path / "p", mistral_sandbox.base_uri, data, batch={"max_bytes": 1_000})
    stats = engine.run(load_project(folder, environ={}))
    by_id = {task.entity["id"]: task for task in tasks_of(folder)}
    assert stats.processed == 4 and stats.failed == 1
    assert by_id[2].status == "failed" and "over batch.max_bytes" in by_id[2].last_error["message"]


def test_cancel_batch_returns_the_unfinished_tasks_to_new(tmp_path: Path) -> None:
    # jobs advance one state per 60 s: the run gives up polling at once (max_wait 0)
    with Sandbox(batch_step=60) as sandbox:
        folder = write_project(tmp_path / "p", sandbox.base_uri, rows(4), batch={"max_wait": 0}, lease=1)
        stats = engine.run(load_project(folder, environ={}))
        assert stats.stopped and stats.processed == 0
        with SqliteTaskStore(folder / ".alumio" / "tasks.db") as store:
            [job] = open_batch_jobs(store)
        store_lease_lapse(folder)
        result = CliRunner().invoke(main, ["tasks", "cancel-batch", str(folder), job["job"], "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["returned"] == 4
        assert {task.status for task in tasks_of(folder)} == {"new"}
        assert sandbox.app.handlers["batch_jobs.get"].__self__.jobs[job["job"]]["status"] in (
            "CANCELLATION_REQUESTED", "CANCELLED")


def store_lease_lapse(folder: Path) -> None:
    """What a second later looks like to the store: the run's leases have lapsed."""
    import sqlite3

    with sqlite3.connect(folder / ".alumio" / "tasks.db") as db:
        db.execute("UPDATE tasks SET lease_until = 0 WHERE status = 'processing'")


def test_a_run_resumes_a_job_left_open_and_finishes_its_tasks(tmp_path: Path) -> None:
    with Sandbox(batch_step=60) as sandbox:
        folder = write_project(tmp_path / "p", sandbox.base_uri, rows(4), batch={"max_wait": 0}, lease=1)
        engine.run(load_project(folder, environ={}))
        store_lease_lapse(folder)
        sandbox.app.handlers["batch_jobs.get"].__self__.step_seconds = None  # now one step per poll
        write_project(folder, sandbox.base_uri, rows(4), lease=1)
        stats = engine.run(load_project(folder, environ={}))
        assert stats.processed == 4 and sandbox.app.counts().get("batch_jobs.create") == 1
        with SqliteTaskStore(folder / ".alumio" / "tasks.db") as store:
            assert not dict(store.items(BATCH_NAMESPACE))


@pytest.mark.parametrize(("entity", "ok"), [("chat.complete", True), ("embeddings.create", True),
                                            ("models.list", False), ("files.upload", False)])
def test_batch_mode_only_on_a_batchable_operation(tmp_path: Path, entity: str, ok: bool) -> None:
    folder = write_project(tmp_path / "p", "http://127.0.0.1:9", rows(1), entity=entity, transformers=[])
    if ok:
        load_project(folder, environ={})
        return
    with pytest.raises(AlumioError, match=r"outgoing\.out\.mode: outgoing 'out': .* not an operation the Batch API runs"):
        load_project(folder, environ={})


def test_run_prints_each_job_with_its_size_status_and_progress(tmp_path: Path, mistral_sandbox) -> None:
    folder = write_project(tmp_path / "p", mistral_sandbox.base_uri, rows(4))
    result = CliRunner().invoke(main, ["run", str(folder)])
    assert result.exit_code == 0, result.output
    assert "(out): 4 requests, QUEUED" in result.output
    assert "(out): SUCCESS 4/4" in result.output


def test_a_refused_create_fails_the_jobs_tasks_and_keeps_no_record(tmp_path: Path, mistral_sandbox_factory) -> None:
    sandbox = mistral_sandbox_factory(faults="error=1.0:400@batch_jobs.create")
    folder = write_project(tmp_path / "p", sandbox.base_uri, rows(3))
    stats = engine.run(load_project(folder, environ={}))
    assert stats.failed == 3 and {task.status for task in tasks_of(folder)} == {"failed"}
    with SqliteTaskStore(folder / ".alumio" / "tasks.db") as store:
        assert open_batch_jobs(store) == []


def test_a_create_the_server_may_have_acted_on_is_looked_for_by_the_next_run(
        tmp_path: Path, mistral_sandbox_factory) -> None:
    sandbox = mistral_sandbox_factory(faults="drop=1.0@batch_jobs.create")  # created, never answered
    folder = write_project(tmp_path / "p", sandbox.base_uri, rows(3), lease=1)
    stats = engine.run(load_project(folder, environ={}))
    assert stats.stopped and stats.processed == 0
    store_lease_lapse(folder)
    sandbox.app.faults = type(sandbox.app.faults).parse(None)
    stats = engine.run(load_project(folder, environ={}))
    assert stats.processed == 3 and sandbox.app.counts().get("batch_jobs.create") == 1


def test_answers_go_through_the_then_target_as_in_direct_mode(tmp_path: Path, mistral_sandbox) -> None:
    then = {"type": "jsonl", "path": "out/answers.jsonl"}
    batched = write_project(tmp_path / "b", mistral_sandbox.base_uri, rows(6), then=then)
    direct = write_project(tmp_path / "d", mistral_sandbox.base_uri, rows(6), then=then, mode="direct")
    for folder in (batched, direct):
        assert engine.run(load_project(folder, environ={})).processed == 6

    def answers(folder: Path) -> list[Any]:
        lines = (folder / "out" / "answers.jsonl").read_text().splitlines()
        return sorted((json.loads(line) for line in lines), key=json.dumps)

    assert answers(batched) == answers(direct) and len(answers(batched)) == 6
