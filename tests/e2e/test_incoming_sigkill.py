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


def test_sigkill_mid_run_then_rerun_completes_without_duplicates(tmp_path: Path) -> None:
    with (tmp_path / "in.jsonl").open("w") as handle:
        for n in range(LINES):
            handle.write(json.dumps({"id": f"e{n}", "n": n, "text": "x" * 200}) + "\n")
    (tmp_path / "alumio.yaml").write_text(
        "incoming:\n  items:\n    subscriber: {type: jsonl, path: in.jsonl}\n    dedup: new\n"
    )
    db = tmp_path / ".alumio" / "tasks.db"
    process = subprocess.Popen([*CLI, "incoming", "run", str(tmp_path)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while count_tasks(db) < 1000:
            assert process.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL

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
