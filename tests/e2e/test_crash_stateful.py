"""SIGKILL at random points, ten times, while uploads (not safe to repeat) run eight at a time.

Between two runs the dead run's claims are rewritten to another host name, as when a restarted
container comes back under a new name: the lease, not the host+pid identity, decides that they
are stale. Counted on the sandbox at the end: no row lost, no file uploaded twice, nothing left
in ``processing``; ``tasks reconcile`` then settles every task held in ``review`` by looking at
the sandbox's files, and ``tasks retry`` (without ``--force``) sends the ones that never landed.
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from alumio_mistral.cli import main
from alumio_mistral.sandbox import Sandbox
from alumio_mistral.tasks import SqliteTaskStore

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROWS = 80
KILLS = 10
LEASE = 1.0
KEY = "sk-crash-test-key-24680"
CLI = [sys.executable, "-c", "from alumio_mistral.cli import main; main()"]


def _project(folder: Path, base_uri: str) -> Path:
    folder.mkdir()
    rows = [{"id": n, "filename": f"row-{n:03d}.jsonl", "content": json.dumps({"n": n}) + "\n",
             "form": {"purpose": "fine-tune"}} for n in range(ROWS)]
    (folder / "rows.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    document = {
        "clients": {"mistral": {"base_uri": base_uri, "api_key": KEY, "max_attempts": 1, "read_timeout": 10}},
        "incoming": {"rows": {"subscriber": {"type": "jsonl", "path": "rows.jsonl"}, "identity": "id", "dedup": "new"}},
        "outgoing": {"upload": {
            "publisher": {"entity": "files.upload", "body": "form",
                          "files": {"file": {"pattern": "content", "filename": "&{filename}"}}},
            "concurrency": 8,
        }},
        "routes": [{"incoming": "rows", "outgoing": "upload"}],
        "store": {"lease": LEASE},
    }
    (folder / "alumio.yaml").write_text(yaml.safe_dump(document))
    return folder


def _db(folder: Path) -> Path:
    return folder / ".alumio" / "tasks.db"


def _rename_host_of_claims(folder: Path) -> int:
    """What a container restarted under a new name sees: claims by a host that is gone."""
    if not _db(folder).exists():
        return 0
    with sqlite3.connect(_db(folder), timeout=10) as db:
        return db.execute(
            "UPDATE tasks SET claimed_by = 'previous-container:1:0123abcd:upload' WHERE status = 'processing'"
        ).rowcount


def _kill_somewhere(folder: Path, sandbox: Sandbox, rng: random.Random) -> None:
    """Start a run and SIGKILL it: at a random moment, or just after a random number of uploads."""
    before = len(sandbox.app.files.records)
    child = subprocess.Popen([*CLI, "run", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if rng.random() < 0.3:
            time.sleep(rng.uniform(0.05, 0.6))  # anywhere: start-up, reading, claiming, sending
        else:
            wanted = before + rng.randint(1, 12)
            deadline = time.monotonic() + 10
            while len(sandbox.app.files.records) < wanted and child.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.1))  # some uploads in flight, some answered
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)


def _tasks(folder: Path) -> list:
    with SqliteTaskStore(_db(folder)) as store:
        return store.list()


def test_ten_kills_lose_nothing_send_nothing_twice_and_leave_nothing_processing(tmp_path: Path) -> None:
    rng = random.Random(20260101)
    with Sandbox(seed=3, faults="latency=0.3s@files.upload", threads=16) as sandbox:
        folder = _project(tmp_path / "project", sandbox.base_uri)
        renamed = 0
        for kill in range(KILLS):
            _kill_somewhere(folder, sandbox, rng)
            if kill % 2:
                renamed += _rename_host_of_claims(folder)
            time.sleep(LEASE + 0.1)  # the dead run renews nothing: its leases lapse
        assert renamed, "some claims should have been left by the killed runs"

        last = subprocess.run([*CLI, "run", str(folder)], capture_output=True, text=True, timeout=60)
        assert last.returncode in (0, 3), last.stderr  # 3: tasks held in review need a person
        tasks = _tasks(folder)
        statuses = Counter(task.status for task in tasks)
        summary = f"statuses {dict(statuses)}; last run: {last.stderr.strip()[-300:]}"

        # 0 lost: one task per row, each settled; nothing left processing
        assert sorted(task.entity["id"] for task in tasks) == list(range(ROWS)), summary
        assert set(statuses) <= {"processed", "review"}, summary
        # 0 sent twice: one sandbox file per filename at most
        uploads = Counter(record["filename"] for record in sandbox.app.files.records.values())
        assert max(uploads.values()) == 1, f"uploaded twice: {[n for n, c in uploads.items() if c > 1]}; {summary}"
        by_name = {record["filename"]: record for record in sandbox.app.files.records.values()}
        for task in tasks:
            if task.status == "processed":
                assert task.result["id"] == by_name[task.entity["filename"]]["id"], summary
            else:
                assert task.last_error["type"] == "InterruptedPublish", summary
                assert task.last_error["look"]["filename"] == task.entity["filename"], summary

        # a person's next steps: reconcile what is in review, replay what never landed
        # every killed run's request was answered long ago: no settle window to wait out
        reconciled = CliRunner().invoke(main, ["tasks", "reconcile", str(folder), "--settle", "0", "--json"])
        assert reconciled.exit_code == 0, reconciled.output
        decisions = json.loads(reconciled.output)
        assert len(decisions) == statuses["review"]
        for decision in decisions:
            landed = next(t for t in tasks if t.id == decision["task"]).entity["filename"] in by_name
            assert decision["status"] == ("processed" if landed else "failed"), decision
        replayed = CliRunner().invoke(main, ["tasks", "retry", str(folder)])
        assert replayed.exit_code == 0, replayed.output
        final = _tasks(folder)
        uploads = Counter(record["filename"] for record in sandbox.app.files.records.values())
    assert {task.status for task in final} == {"processed"}
    assert sorted(uploads) == sorted(task.entity["filename"] for task in final)
    assert set(uploads.values()) == {1}
