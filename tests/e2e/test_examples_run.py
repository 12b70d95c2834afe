"""Every shipped example, run end to end over loopback HTTP; outputs and task statuses checked.

Each test copies its example to a temporary folder first, so runs never touch the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

from alumio_mistral import engine
from alumio_mistral.config import load_project
from alumio_mistral.sandbox import Sandbox
from alumio_mistral.tasks import SqliteTaskStore

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
KEY = "sk-e2e-example-key-424242"


def copy_example(name: str, target: Path) -> Path:
    folder = target / name
    shutil.copytree(EXAMPLES / name, folder, ignore=shutil.ignore_patterns("out", ".alumio"))
    return folder


def cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the installed command the way a user does (the console script beside this Python)."""
    script = Path(sys.executable).parent / "alumio-mistral"
    command = [str(script)] if script.exists() else [sys.executable, "-c", "from alumio_mistral.cli import main; main()"]
    return subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=timeout)


def environment(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MISTRAL_API_KEY", "MISTRAL_BASE_URI")}
    return {**env, **values}


def statuses(project_folder: Path, store_folder: str = ".alumio") -> dict[str, int]:
    """Task counts by status; a run without a key keeps them in ``.alumio/sandbox``."""
    with SqliteTaskStore(project_folder / store_folder / "tasks.db") as store:
        return {status: count for status, count in store.counts().items() if count}


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_quickstart_without_a_key_runs_against_the_embedded_sandbox(tmp_path):
    folder = copy_example("quickstart", tmp_path)
    done = cli("run", str(folder), env=environment())
    assert done.returncode == 0, done.stderr
    rows = read_jsonl(folder / "out" / "models.jsonl")
    assert rows and all({"id", "chat", "max_context_length"} <= set(row) for row in rows)
    assert any(row["id"] == "mistral-small-latest" for row in rows)
    assert f"processed {len(rows)}, failed 0" in done.stderr
    assert statuses(folder, ".alumio/sandbox") == {"processed": len(rows)}
    again = cli("run", str(folder), env=environment())  # a new embedded sandbox, the same models
    assert again.returncode == 0, again.stderr
    assert "created 0" in again.stderr
    assert read_jsonl(folder / "out" / "models.jsonl") == rows


def test_quickstart_with_a_key_and_base_uri_goes_to_that_server(tmp_path, mistral_sandbox):
    folder = copy_example("quickstart", tmp_path)
    done = cli("run", str(folder), "--json", env=environment(MISTRAL_API_KEY=KEY, MISTRAL_BASE_URI=mistral_sandbox.base_uri))
    assert done.returncode == 0, done.stderr
    assert mistral_sandbox.requests().get("GET /v1/models") == 1
    rows = read_jsonl(folder / "out" / "models.jsonl")
    summary = json.loads(done.stdout)
    assert summary["read"] == summary["processed"] == len(rows) > 0
    assert KEY not in done.stdout + done.stderr


def test_dry_run_only_reads_and_prints_no_key(tmp_path, mistral_sandbox):
    folder = copy_example("quickstart", tmp_path)
    env = environment(MISTRAL_API_KEY=KEY, MISTRAL_BASE_URI=mistral_sandbox.base_uri)
    done = cli("run", str(folder), "--dry-run", env=env)
    assert done.returncode == 0, done.stderr
    sent = {key for key in mistral_sandbox.requests() if not key.startswith("status")}
    assert sent == {"GET /v1/models", "models.list"}  # the read, and nothing else
    assert "WRITE jsonl" in done.stdout and "read 10, would create 10" in done.stderr
    assert KEY not in done.stdout + done.stderr
    assert not (folder / "out").exists() and not (folder / ".alumio" / "tasks.db").exists()


def test_ticket_triage_writes_one_row_per_ticket(tmp_path, mistral_sandbox):
    folder = copy_example("ticket-triage", tmp_path)
    environ = {"MISTRAL_API_KEY": KEY, "MISTRAL_BASE_URI": mistral_sandbox.base_uri}
    stats = engine.run(load_project(folder, environ=environ))
    assert (stats.read, stats.processed, stats.failed) == (5, 5, 0)
    rows = sorted(read_jsonl(folder / "out" / "triage.jsonl"), key=lambda row: row["ticket"])
    assert [row["ticket"] for row in rows] == [f"T-100{n}" for n in range(1, 6)]
    assert rows[0]["subject"] == "Invoice charged twice"
    assert all(row["label"] and row["total_tokens"] == row["prompt_tokens"] + row["completion_tokens"] for row in rows)
    assert mistral_sandbox.requests()["chat.complete"] == 5
    assert statuses(folder) == {"processed": 5}
    again = engine.run(load_project(folder, environ=environ))  # dedup: new -> nothing is sent twice
    assert (again.created, again.processed) == (0, 0) and mistral_sandbox.requests()["chat.complete"] == 5


def dry_run_deletes(stdout: str) -> list[str]:
    """The model ids of the ``DELETE`` lines a dry run printed, sorted."""
    urls = [line.split()[1] for line in stdout.splitlines() if line.startswith("DELETE ")]
    return sorted(unquote(url.rsplit("/", 1)[1]) for url in urls)


def test_cleanup_models_readme_without_a_key_lists_deletes_then_creates_nothing(tmp_path):
    folder = copy_example("cleanup-models", tmp_path)
    dry = cli("run", str(folder), "--dry-run", env=environment())
    assert dry.returncode == 0, dry.stderr
    would = dry_run_deletes(dry.stdout)
    assert len(would) == 2 and all(model.startswith("ft:mistral-small-latest:") for model in would)
    assert "read 10, would create 2" in dry.stderr
    assert not (folder / "out").exists() and not (folder / ".alumio").exists()
    done = cli("run", str(folder), env=environment())
    assert done.returncode == 0, done.stderr
    assert "created 2, processed 2, failed 0" in done.stderr
    assert sorted(row["id"] for row in read_jsonl(folder / "out" / "deleted.jsonl")) == would
    again = cli("run", str(folder), env=environment())  # a new embedded sandbox, the same models
    assert again.returncode == 0, again.stderr
    assert "created 0, processed 0, failed 0" in again.stderr
    assert statuses(folder, ".alumio/sandbox") == {"processed": 2}


def test_cleanup_models_against_a_server_dry_run_reads_and_deletes_nothing(tmp_path, mistral_sandbox):
    folder = copy_example("cleanup-models", tmp_path)
    env = environment(MISTRAL_API_KEY=KEY, MISTRAL_BASE_URI=mistral_sandbox.base_uri)
    dry = cli("run", str(folder), "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    would = dry_run_deletes(dry.stdout)
    assert len(would) == 2
    assert mistral_sandbox.requests().get("models.list") == 1 and "models.delete" not in mistral_sandbox.requests()
    done = cli("run", str(folder), env=env)
    assert done.returncode == 0, done.stderr
    assert mistral_sandbox.requests()["models.delete"] == 2
    from alumio_mistral.http import Client, ClientConfig

    with Client(ClientConfig(base_uri=mistral_sandbox.base_uri, api_key=KEY)) as client:
        left = {model["id"] for model in client.call("models.list").json()["data"]}
    assert not set(would) & left
    assert any(model.startswith("ft:codestral-latest:") for model in left)
    again = cli("run", str(folder), env=env)
    assert again.returncode == 0 and "created 0" in again.stderr
    assert mistral_sandbox.requests()["models.delete"] == 2 and statuses(folder) == {"processed": 2}


def test_cleanup_models_never_queues_a_pending_delete_twice(tmp_path, mistral_sandbox):
    folder = copy_example("cleanup-models", tmp_path)
    env = environment(MISTRAL_API_KEY=KEY, MISTRAL_BASE_URI=mistral_sandbox.base_uri)
    assert cli("incoming", "run", str(folder), env=env).returncode == 0  # two deletes pending
    dry = cli("run", str(folder), "--dry-run", env=env)
    assert len(dry_run_deletes(dry.stdout)) == 2 and "would create 0" in dry.stderr
    done = cli("run", str(folder), env=env)
    assert done.returncode == 0, done.stderr
    assert "created 0, processed 2, failed 0" in done.stderr
    assert mistral_sandbox.requests()["models.delete"] == 2 and statuses(folder) == {"processed": 2}


def test_cleanup_models_a_delete_whose_answer_was_lost_waits_in_review_and_reconcile_settles_it(tmp_path):
    folder = copy_example("cleanup-models", tmp_path)
    with Sandbox(faults="drop=1@models.delete") as sandbox:  # each delete is done, its answer lost
        env = environment(MISTRAL_API_KEY=KEY, MISTRAL_BASE_URI=sandbox.base_uri)
        done = cli("run", str(folder), env=env)
        assert done.returncode == 3 and statuses(folder) == {"review": 2}, done.stderr
        settled = cli("tasks", "reconcile", str(folder), env=env)
        assert settled.returncode == 0 and settled.stdout.count("the object is gone") == 2, settled.stdout
        again = cli("run", str(folder), env=env)
        assert again.returncode == 0 and "created 0" in again.stderr, again.stderr
        assert sandbox.requests()["models.delete"] == 2  # never sent twice
    assert statuses(folder) == {"processed": 2}


def test_cleanup_models_a_model_already_gone_fails_with_404_and_is_settled_by_hand(tmp_path, mistral_sandbox):
    folder = copy_example("cleanup-models", tmp_path)
    env = environment(MISTRAL_API_KEY=KEY, MISTRAL_BASE_URI=mistral_sandbox.base_uri)
    assert cli("incoming", "run", str(folder), env=env).returncode == 0
    from alumio_mistral.http import Client, ClientConfig

    with Client(ClientConfig(base_uri=mistral_sandbox.base_uri, api_key=KEY)) as client:
        gone = dry_run_deletes(cli("run", str(folder), "--dry-run", env=env).stdout)[0]
        client.call("models.delete", path_params={"model_id": gone})  # deleted by hand meanwhile
    done = cli("run", str(folder), env=env)
    assert done.returncode == 1 and "NotFoundError" in done.stderr, done.stderr
    failed = json.loads(cli("tasks", "list", str(folder), "--status", "failed", "--json", env=env).stdout)
    assert [(task["identity"], task["last_error"]["status"]) for task in failed] == [(gone, 404)]
    resolved = cli("tasks", "resolve", str(folder), str(failed[0]["id"]), "--status", "processed",
                   "--note", "already gone", env=env)
    assert resolved.returncode == 0, resolved.stderr
    assert statuses(folder) == {"processed": 2}
    assert cli("run", str(folder), env=env).returncode == 0


def test_cleanup_models_with_an_old_cutoff_deletes_nothing(tmp_path, mistral_sandbox):
    folder = copy_example("cleanup-models", tmp_path)
    environ = {"MISTRAL_API_KEY": KEY, "MISTRAL_BASE_URI": mistral_sandbox.base_uri, "CLEANUP_BEFORE": "2001-01-01"}
    stats = engine.run(load_project(folder, environ=environ))
    assert (stats.read, stats.created, stats.processed) == (10, 0, 0)
    assert "models.delete" not in mistral_sandbox.requests()


CONVERSATION_OPERATIONS = (
    "start", "list", "get", "delete", "append", "get_history", "get_messages", "restart",
    "start_stream", "append_stream", "restart_stream",
)


def test_conversations_example_uses_all_eleven_operations(tmp_path, mistral_sandbox):
    folder = copy_example("conversations", tmp_path)
    environ = {"MISTRAL_API_KEY": KEY, "MISTRAL_BASE_URI": mistral_sandbox.base_uri}
    first = engine.run(load_project(folder, environ=environ))
    assert (first.created, first.processed, first.failed) == (4, 4, 0)
    second = engine.run(load_project(folder, environ=environ))
    assert (second.read, second.processed, second.failed) == (6, 16, 0)  # 4 conversations x 4 outgoings
    counts = mistral_sandbox.requests()
    assert {op: counts.get(f"conversations.{op}", 0) > 0 for op in CONVERSATION_OPERATIONS} == dict.fromkeys(
        CONVERSATION_OPERATIONS, True)
    assert counts["conversations.delete"] == 4 and counts["conversations.start_stream"] == 2
    with SqliteTaskStore(folder / ".alumio" / "tasks.db") as store:
        streamed = [task.result for task in store.list(outgoing="start-stream")]
        assert all(result["result"]["answer"].startswith("Sandbox answer") for result in streamed)
        assert all(result["result"]["usage"]["total_tokens"] > 0 for result in streamed)
        assert all(result["then"]["conversation_id"] == result["result"]["conversation_id"] for result in streamed)
        restarted = [task.result["then"] for task in store.list(outgoing="messages-restart-stream")]
        assert all(answer["output"] and answer["final"]["usage"] for answer in restarted)
    assert statuses(folder) == {"processed": 20}
    assert len(read_jsonl(folder / "out" / "conversations.jsonl")) == 4
