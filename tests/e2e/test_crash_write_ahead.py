"""SIGKILL a ``run`` that writes ahead to a JSONL target five times, then let one finish:
nothing lost, nothing torn, and no task recorded whose record is not in the file.

With ``dedup: always`` every run reads its source whole again, so each killed run's records
stay in the file as far as it got (that is what ``always`` means, written ahead or not); what
must hold is that the file never holds half a line, that every row reaches it, and that a
task is stored ``processed`` only once its batch is synced.
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

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROWS = 20_000
KILLS = 5
CLI = [sys.executable, "-c", "from alumio_mistral.cli import main; main()"]


def _project(folder: Path) -> Path:
    rows = [{"id": n, "text": f"row {n} " + "x" * (n % 300)} for n in range(ROWS)]
    (folder / "rows.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    document = {
        "incoming": {"rows": {"subscriber": {"type": "jsonl", "path": "rows.jsonl"}}},
        "outgoing": {"out": {"publisher": {"type": "jsonl", "path": "out/rows.jsonl", "batch_size": 500}}},
        "routes": [{"incoming": "rows", "outgoing": "out"}],
    }
    (folder / "alumio.yaml").write_text(yaml.safe_dump(document))
    return folder


def _size(target: Path) -> int:
    try:
        return target.stat().st_size
    except FileNotFoundError:
        return 0


def _kill_after(folder: Path, grown: int) -> None:
    """Start a run and SIGKILL it once the target grew by ``grown`` bytes (or after 20 s)."""
    target = folder / "out" / "rows.jsonl"
    start = _size(target)
    child = subprocess.Popen([*CLI, "run", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while _size(target) - start < grown and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)


def _recorded(folder: Path) -> list[int]:
    """The ids of the entities whose tasks the store holds as processed."""
    db = sqlite3.connect(folder / ".alumio" / "tasks.db")
    try:
        return [json.loads(entity)["id"] for (entity,) in
                db.execute("SELECT entity FROM tasks WHERE outgoing = 'out' AND status = 'processed'")]
    finally:
        db.close()


def test_kills_of_a_run_writing_ahead_lose_nothing_and_tear_no_line(tmp_path: Path) -> None:
    folder = _project(tmp_path)
    rng = random.Random(7)
    for _ in range(KILLS):
        _kill_after(folder, rng.randrange(50_000, 2_000_000))
        raw = (folder / "out" / "rows.jsonl").read_bytes()
        # what the store holds as processed is in the file (a task is recorded after its sync)
        written = Counter(json.loads(line)["id"] for line in raw.splitlines() if line.endswith(b"}"))
        recorded = Counter(_recorded(folder))
        assert not recorded - written, "a task recorded without its record in the file"
    final = subprocess.run([*CLI, "run", str(folder), "--json"], capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stdout + final.stderr
    assert json.loads(final.stdout)["processed"] == ROWS

    raw = (folder / "out" / "rows.jsonl").read_bytes()
    assert raw.endswith(b"\n")
    records = [json.loads(line) for line in raw.decode("utf-8").splitlines()]  # a torn line fails here
    counts = Counter(record["id"] for record in records)
    assert set(counts) == set(range(ROWS))
    assert max(counts.values()) <= KILLS + 1
    assert all(record == {"id": record["id"], "text": f"row {record['id']} " + "x" * (record["id"] % 300)}
               for record in records)
    assert Counter(_recorded(folder)) - counts == Counter()
