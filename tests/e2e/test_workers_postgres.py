"""Four ``worker`` processes on one store: every task ends exactly once, killed workers included.

Counted where it happened, not where the workers say it did: chat completions and uploaded
files on the sandbox, records in the JSONL target, statuses in the store. A chat completion is
safe to repeat; an upload is not, so the kill rounds use uploads and count files by name.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from alumio_mistral.config import load_project
from alumio_mistral.sandbox import Sandbox
from alumio_mistral.tasks import open_store

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CLI = [sys.executable, "-c", "from alumio_mistral.cli import main; main()"]
WORKERS = 4


def write_project(folder: Path, base_uri: str, rows: list[dict[str, Any]], outgoing: dict[str, Any],
                  url: str | None, lease: float = 60) -> Path:
    folder.mkdir()
    (folder / "rows.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (folder / "alumio.yaml").write_text(yaml.safe_dump({
        "clients": {"mistral": {"base_uri": base_uri, "api_key": "sandbox-key", "max_attempts": 1,
                                "read_timeout": 10}},
        # a schema per test: the module's tests share one database
        "store": {"lease": lease, **({"url": url, "schema": f"workers_{uuid.uuid4().hex[:8]}"} if url else {})},
        "incoming": {"rows": {"subscriber": {"type": "jsonl", "path": "rows.jsonl"}, "identity": "id",
                              "dedup": "new"}},
        "outgoing": {"out": {**outgoing, "concurrency": 4}},
        "routes": [{"incoming": "rows", "outgoing": "out"}],
    }))
    loaded = subprocess.run([*CLI, "incoming", "run", str(folder)], capture_output=True, text=True, timeout=120, check=False)
    assert loaded.returncode == 0, loaded.stderr
    return folder


def worker(folder: Path) -> subprocess.Popen[str]:
    """A ``worker`` whose messages go to a file of its own (a pipe nobody reads would stall it)."""
    log = folder / f"worker-{time.monotonic_ns()}.log"
    with log.open("w") as messages:
        return subprocess.Popen([*CLI, "worker", str(folder), "--grace", "10"],
                                stdout=messages, stderr=subprocess.STDOUT, text=True)


def messages_of(folder: Path) -> str:
    return "".join(log.read_text()[-500:] for log in sorted(folder.glob("worker-*.log")))


def counts_of(folder: Path) -> Any:
    store = open_store(load_project(folder, environ={}))
    return lambda: {status: count for status, count in store.counts().items() if count}


def wait_for(condition: Any, timeout: float, what: str, counts: Any = dict) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {counts()}"
        time.sleep(0.05)


def stop(workers: list[subprocess.Popen[str]]) -> None:
    for process in workers:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in workers:
        process.wait(timeout=30)


def test_four_workers_on_postgres_process_every_task_exactly_once(tmp_path: Path, postgres_url: str) -> None:
    tasks = 2000
    rows = [{"id": f"r{n}", "text": f"row {n}"} for n in range(tasks)]
    chat = {"publisher": {"entity": "chat.complete"},
            "entity_transformers": [{"use": "mistral/chat-request", "with": {"prompt": "&{text}", "max_tokens": 5}}],
            "response_transformers": [{"use": "mistral/chat-answer"},
                                      {"type": "set", "path": "row", "value": "&{_task.entity.id}"}],
            "then": {"type": "jsonl", "path": "out/answers.jsonl"},
            "failure": {"policy": "fail"}}
    with Sandbox(faults="latency=5ms@/v1/chat/*", validate=False, threads=16) as sandbox:
        folder = write_project(tmp_path / "p", sandbox.base_uri, rows, chat, postgres_url)
        counts = counts_of(folder)
        workers = [worker(folder) for _ in range(WORKERS)]
        try:
            wait_for(lambda: counts().get("processed", 0) == tasks, 240, "every task to be processed")
        finally:
            stop(workers)
        calls = requests.get(f"{sandbox.base_uri}/_sandbox/requests", timeout=5).json().get("chat.complete", 0)
    assert [process.returncode for process in workers] == [0] * WORKERS, messages_of(folder)
    assert counts() == {"processed": tasks}
    answered = Counter(json.loads(line)["row"] for line in (folder / "out" / "answers.jsonl").read_text().splitlines())
    assert calls == tasks
    assert set(answered) == {row["id"] for row in rows} and set(answered.values()) == {1}


UPLOAD = {"publisher": {"entity": "files.upload", "body": "form",
                        "files": {"file": {"pattern": "content", "filename": "&{filename}"}}}}


@pytest.mark.parametrize("backing", ["postgres", "sqlite"])
def test_killing_one_of_four_workers_five_times_sends_no_upload_twice(
    tmp_path: Path, backing: str, request: pytest.FixtureRequest
) -> None:
    tasks, lease = 300, 2.0
    url = request.getfixturevalue("postgres_url") if backing == "postgres" else None
    rows = [{"id": n, "filename": f"row-{n:04d}.jsonl", "content": json.dumps({"n": n}) + "\n",
             "form": {"purpose": "fine-tune"}} for n in range(tasks)]
    with Sandbox(seed=5, faults="latency=0.2s@files.upload", threads=24) as sandbox:
        folder = write_project(tmp_path / "p", sandbox.base_uri, rows, UPLOAD, url, lease=lease)
        counts = counts_of(folder)
        uploaded = lambda: len(sandbox.app.files.records)
        workers = [worker(folder) for _ in range(WORKERS)]
        killed = []
        try:
            for round_ in range(5):
                wanted = (round_ + 1) * tasks // 7
                wait_for(lambda: uploaded() >= wanted, 60, f"uploads before kill {round_ + 1}")  # noqa: B023
                victim = workers.pop(round_ % len(workers))
                victim.send_signal(signal.SIGKILL)
                killed.append(victim.wait(timeout=10))
                workers.append(worker(folder))
            settled = lambda: counts().get("processed", 0) + counts().get("review", 0) == tasks
            wait_for(settled, 60, "every task to end processed or in review once the leases lapse", counts)
        finally:
            stop(workers)
        assert killed == [-signal.SIGKILL] * 5
        assert [process.returncode for process in workers] == [0] * WORKERS, messages_of(folder)
        in_review = counts().get("review", 0)
        assert in_review, "the kills should have caught uploads in flight"
        # no upload sent twice, counted on the sandbox by filename
        by_name = Counter(record["filename"] for record in sandbox.app.files.records.values())
        assert max(by_name.values()) == 1, [name for name, count in by_name.items() if count > 1]

        reconciled = subprocess.run([*CLI, "tasks", "reconcile", str(folder), "--settle", "0", "--json"],
                                    capture_output=True, text=True, timeout=60, check=False)
        assert reconciled.returncode == 0, reconciled.stderr
        assert len(json.loads(reconciled.stdout or "[]")) == in_review
        replayed = subprocess.run([*CLI, "tasks", "retry", str(folder)], capture_output=True, text=True,
                                  timeout=60, check=False)
        assert replayed.returncode == 0, replayed.stderr
        by_name = Counter(record["filename"] for record in sandbox.app.files.records.values())
    assert counts() == {"processed": tasks}
    assert sorted(by_name) == [row["filename"] for row in rows] and set(by_name.values()) == {1}
