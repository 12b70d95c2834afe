"""SIGKILL a run writing a JSONL target ten times, then finish it: nothing lost, nothing torn,
nothing written more than twice, and each crash repeats at most the records in flight.

A file target is safe to repeat, and written a batch at a time: the publish loop notes where a
batch goes before writing it, so the next run finishes the tasks of a batch that reached the
file instead of writing it again. What may repeat is a record of a task still in flight when
the batch was written (its outcome is not in that batch). What must never happen is a record
lost (a task marked processed whose line is not in the file), half a line, or more repeats.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROWS = 4000
KILLS = 10
LEASE = 1.0
CONCURRENCY = 4
#: records a crash may repeat: those of the tasks in flight when a batch was written
REPEATS_PER_CRASH = CONCURRENCY
CLI = [sys.executable, "-c", "from alumio_mistral.cli import main; main()"]


def _project(folder: Path) -> Path:
    rows = [{"id": n, "text": f"row {n} " + "x" * (n % 300)} for n in range(ROWS)]
    (folder / "rows.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    document = {
        # disabled: the runs below only publish; the tasks are made once, by name, first
        "incoming": {"rows": {"subscriber": {"type": "jsonl", "path": "rows.jsonl"}, "identity": "id",
                              "dedup": "new", "disabled": True}},
        "outgoing": {"out": {"publisher": {"type": "jsonl", "path": "out/rows.jsonl"}, "concurrency": CONCURRENCY}},
        "routes": [{"incoming": "rows", "outgoing": "out"}],
        "store": {"lease": LEASE},
    }
    (folder / "alumio.yaml").write_text(yaml.safe_dump(document))
    return folder


def _lines(target: Path) -> int:
    try:
        with target.open("rb") as handle:
            return sum(1 for _ in handle)
    except FileNotFoundError:
        return 0


def _kill_after(folder: Path, lines: int) -> None:
    """Start a run and SIGKILL it once the target holds ``lines`` lines (or after 20 s)."""
    target = folder / "out" / "rows.jsonl"
    child = subprocess.Popen([*CLI, "run", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while _lines(target) < lines and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)


def test_ten_kills_then_a_rerun_write_every_record_once_or_twice(tmp_path: Path) -> None:
    folder = _project(tmp_path)
    made = subprocess.run([*CLI, "incoming", "run", str(folder), "rows"], capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    rng = random.Random(11)
    marks = sorted(rng.sample(range(100, ROWS - 100), KILLS))
    for mark in marks:
        _kill_after(folder, mark)
    time.sleep(LEASE + 0.2)  # the last dead run's leases lapse
    final = subprocess.run([*CLI, "run", str(folder), "--json"], capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stdout + final.stderr

    raw = (folder / "out" / "rows.jsonl").read_bytes()
    assert raw.endswith(b"\n")
    records = [json.loads(line) for line in raw.decode("utf-8").splitlines()]  # a torn line fails here
    counts = Counter(record["id"] for record in records)
    assert set(counts) == set(range(ROWS)), f"lost: {sorted(set(range(ROWS)) - set(counts))[:10]}"
    assert max(counts.values()) <= 2, counts.most_common(3)
    repeated = len(records) - ROWS
    assert repeated <= KILLS * REPEATS_PER_CRASH, f"{repeated} records repeated over {KILLS} crashes"
    assert all(record == {"id": record["id"], "text": f"row {record['id']} " + "x" * (record["id"] % 300)}
               for record in records)
