"""SIGKILL at random points of the batch lifecycle, ten times, then one run to the end.

The sandbox lives in this process (a thread), so it survives every kill and counts what the
runs did: no task's request is in two jobs (a crash after an upload or a create makes no second
job for the same tasks), and at the end every task is ``processed`` or ``failed``.
"""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from alumio_mistral.sandbox import Sandbox
from tests.e2e.test_batch_mode import rows, tasks_of, write_project

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROWS = 60
KILLS = 10
#: seconds the sandbox takes over each create, upload and download: a kill lands inside one
LATENCY = 0.2
CLI = [sys.executable, "-c", "from alumio_mistral.cli import main; main()"]


def _lapse_leases(folder: Path) -> None:
    """What the lease's length later looks like: the killed run's claims have lapsed."""
    database = folder / ".alumio" / "tasks.db"
    if database.exists():
        with sqlite3.connect(database, timeout=10) as db:
            db.execute("UPDATE tasks SET lease_until = 0 WHERE status = 'processing'")


def _batches(sandbox: Sandbox) -> dict[str, dict]:
    return sandbox.app.handlers["batch_jobs.get"].__self__.jobs


def _count(sandbox: Sandbox, operation: str) -> int:
    return sandbox.app.counts().get(operation, 0)


def _kill_somewhere(folder: Path, sandbox: Sandbox, rng: random.Random) -> None:
    """Start a run and SIGKILL it: at a random moment, or just after a random number of uploads,
    creates or result downloads (inside the slow create or read that follows, where the server
    acts and the run never hears)."""
    child = subprocess.Popen([*CLI, "run", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        choice = rng.random()
        if choice < 0.25:
            time.sleep(rng.uniform(0.3, 2.0))  # anywhere: start-up, claiming, uploading, polling, reading
        else:
            operation = "files.upload" if choice < 0.5 else "batch_jobs.create" if choice < 0.75 else "files.download"
            wanted = _count(sandbox, operation) + rng.randint(1, 2)
            while _count(sandbox, operation) < wanted and child.poll() is None and time.monotonic() < deadline:
                time.sleep(0.002)
            time.sleep(rng.uniform(0, LATENCY * 1.5))
    finally:
        child.kill()
        child.wait()
    _lapse_leases(folder)


def test_sigkill_anywhere_in_the_batch_lifecycle_makes_no_second_job(tmp_path: Path) -> None:
    rng = random.Random(14)
    slow = f"latency={LATENCY}s@batch_jobs.create,files.upload,files.download"
    with Sandbox(faults=slow, batch_step=0.05) as sandbox:
        folder = write_project(tmp_path / "p", sandbox.base_uri, rows(ROWS), lease=1,
                               batch={"max_requests": 5, "poll_interval": 0.05})
        for _ in range(KILLS):
            _kill_somewhere(folder, sandbox, rng)
        final = subprocess.run([*CLI, "run", str(folder)], check=False, capture_output=True, text=True, timeout=60)
        assert final.returncode == 0, final.stderr
        statuses = Counter(task.status for task in tasks_of(folder))
        assert set(statuses) <= {"processed", "failed"} and sum(statuses.values()) == ROWS, statuses
        # every job ran to its end: count each task's request over all of them
        handlers = sandbox.app.handlers["batch_jobs.get"].__self__
        sent = Counter(line["custom_id"] for lines in handlers.outputs.values() for line in lines)
        assert sent and max(sent.values()) == 1, [cid for cid, n in sent.items() if n > 1]
        assert statuses["processed"] == ROWS
