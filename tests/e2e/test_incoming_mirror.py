"""examples/mirror against the sandbox: models, files and batch jobs into tasks; a rerun
against the same server creates nothing, and one batch job that moved on gives one task."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from alumio_mistral.http import Client, ClientConfig
from alumio_mistral.tasks import SqliteTaskStore

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mirror"
CLI = [sys.executable, "-c", "from alumio_mistral.cli import main; main()"]


def incoming_run(folder: Path, base_uri: str, *names: str) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MISTRAL_")}
    env["MISTRAL_BASE_URI"] = base_uri
    env["MISTRAL_API_KEY"] = "sk-test-0123456789"  # a base URI without a key is refused
    done = subprocess.run([*CLI, "incoming", "run", str(folder), *names, "--json"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr + done.stdout
    return json.loads(done.stdout)


def test_mirror_example_reads_models_files_and_batch_jobs_into_tasks(tmp_path: Path, mistral_sandbox) -> None:
    folder = tmp_path / "mirror"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns(".alumio"))
    with Client(ClientConfig(base_uri=mistral_sandbox.base_uri, api_key="k")) as client:
        uploads = [
            client.call("files.upload", files={"file": (f"in-{n}.jsonl", '{"custom_id": "a", "body": {}}\n'),
                                               "purpose": (None, "batch")}).json()
            for n in range(3)
        ]
        jobs = [
            client.call("batch_jobs.create", json={"endpoint": "/v1/embeddings", "model": "mistral-embed",
                                                   "requests": [{"custom_id": "x", "body": {"input": "hi"}}]}).json()
            for _ in range(2)
        ]
        models = client.call("models.list").json()["data"]

    first = incoming_run(folder, mistral_sandbox.base_uri)
    expected = len(models) + len(uploads) + len(jobs)
    assert (first["read"], first["created"], first["failed"]) == (expected, expected, 0)
    with SqliteTaskStore(folder / ".alumio" / "tasks.db") as store:
        by_incoming = {name: {t.identity for t in store.list(incoming=name)} for name in ("models", "files", "batch-jobs")}
    assert by_incoming == {
        "models": {model["id"] for model in models},
        "files": {upload["id"] for upload in uploads},
        "batch-jobs": {job["id"] for job in jobs},
    }

    again = incoming_run(folder, mistral_sandbox.base_uri)
    assert (again["created"], again["skipped"]) == (0, expected)

    with Client(ClientConfig(base_uri=mistral_sandbox.base_uri, api_key="k")) as client:
        client.call("batch_jobs.cancel", path_params={"job_id": jobs[0]["id"]})
    moved = incoming_run(folder, mistral_sandbox.base_uri, "batch-jobs")
    assert (moved["read"], moved["created"], moved["skipped"]) == (2, 1, 1)
    with SqliteTaskStore(folder / ".alumio" / "tasks.db") as store:
        latest = store.list(incoming="batch-jobs")[-1]
    assert latest.identity == jobs[0]["id"] and latest.entity["status"].startswith("CANCELL")
