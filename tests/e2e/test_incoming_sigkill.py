"""SIGKILL in the middle of `incoming run`: the database stays readable, every task is whole,
and a rerun under dedup `new` completes the set without duplicates."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

pytestmark = pytest.mark.e2e

LINES = 20_000
CLI = [sys.executable, "-c", "from alumio_mistral.cli import main; main()"]


def count_tasks(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as connection:
            return connection.execute("SELECT COUNT(*) FROM tasks").fetchone()[0]
    except sqlite3.OperationalError:  # schema not created yet
        return 0


def kill_run_once(folder: Path, stored_enough: Callable[[], bool]) -> None:
    """Start `incoming run` on ``folder`` and SIGKILL it as soon as ``stored_enough``."""
    process = subprocess.Popen([*CLI, "incoming", "run", str(folder)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not stored_enough():
            assert process.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.002)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL


def test_sigkill_mid_run_then_rerun_completes_without_duplicates(tmp_path: Path) -> None:
    with (tmp_path / "in.jsonl").open("w") as handle:
        for n in range(LINES):
            handle.write(json.dumps({"id": f"e{n}", "n": n, "text": "x" * 200}) + "\n")
    (tmp_path / "alumio.yaml").write_text(
        "incoming:\n  items:\n    subscriber: {type: jsonl, path: in.jsonl}\n    dedup: new\n"
    )
    db = tmp_path / ".alumio" / "tasks.db"
    kill_run_once(tmp_path, lambda: count_tasks(db) >= 1000)

    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = connection.execute("SELECT identity, entity FROM tasks").fetchall()
        marks = connection.execute("SELECT COUNT(*) FROM storage WHERE namespace = 'dedup:items'").fetchone()[0]
    killed_at = len(rows)
    assert 1000 <= killed_at < LINES
    assert marks == killed_at  # each mark went in with its task, in one transaction
    for identity, entity in rows:
        assert json.loads(entity)["id"] == identity

    rerun = subprocess.run([*CLI, "incoming", "run", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    with sqlite3.connect(db) as connection:
        total, distinct = connection.execute("SELECT COUNT(*), COUNT(DISTINCT identity) FROM tasks").fetchone()
    assert total == distinct == LINES
    assert f"created {LINES - killed_at}" in rerun.stderr


def test_sigkill_while_batches_wait_as_arrivals_loses_no_task_and_tears_none(tmp_path: Path) -> None:
    """Without de-dup a batch is stored as one arrival row: after a SIGKILL the next read
    makes tasks of every batch stored whole, in reading order, and of nothing else."""
    from alumio_mistral.tasks import SqliteTaskStore

    with (tmp_path / "in.jsonl").open("w") as handle:
        for n in range(LINES):
            handle.write(json.dumps({"id": f"e{n}", "n": n, "text": "x" * 200}) + "\n")
    (tmp_path / "alumio.yaml").write_text("incoming:\n  items:\n    subscriber: {type: jsonl, path: in.jsonl}\n")
    db = tmp_path / ".alumio" / "tasks.db"

    def arrivals() -> int:
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as connection:
                return connection.execute("SELECT COUNT(*) FROM arrivals").fetchone()[0]
        except sqlite3.OperationalError:  # not created yet
            return 0

    kill_run_once(tmp_path, lambda: arrivals() >= 2)

    with SqliteTaskStore(db) as store:
        tasks = store.list()
    assert 2 <= len(tasks) < LINES
    assert [task.entity["n"] for task in tasks] == list(range(len(tasks)))  # whole batches, in order
    assert all(task.entity == {"id": f"e{task.entity['n']}", "n": task.entity["n"], "text": "x" * 200}
               and task.status == "new" for task in tasks)
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert connection.execute("SELECT COUNT(*) FROM arrivals").fetchone()[0] == 0
