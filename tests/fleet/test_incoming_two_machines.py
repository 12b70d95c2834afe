"""Two `incoming run` processes, as two machines (each its own host name), read the same
20,000-entity source into one PostgreSQL store with `dedup: new`: exactly 20,000 tasks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LINES = 20_000


def machine(host: str) -> list[str]:
    """The CLI in a process whose host name (what task records say of their maker) is ``host``."""
    return [sys.executable, "-c",
            f"import socket; socket.gethostname = lambda: {host!r}; from alumio_mistral.cli import main; main()"]


def test_two_machines_reading_one_source_make_one_task_per_entity(tmp_path: Path, postgres_url: str) -> None:
    with (tmp_path / "in.jsonl").open("w") as handle:
        for n in range(LINES):
            handle.write(json.dumps({"id": f"e{n}", "n": n, "text": "x" * 100}) + "\n")
    (tmp_path / "alumio.yaml").write_text(
        "incoming:\n  items:\n    subscriber: {type: jsonl, path: in.jsonl}\n    dedup: new\n"
        f"store: {{url: '{postgres_url}', schema: fleet}}\n"
    )
    runs = [subprocess.Popen([*machine(host), "incoming", "run", str(tmp_path), "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for host in ("machine-a", "machine-b")]
    reports = []
    for run in runs:
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
        reports.append(json.loads(out))
    with psycopg.connect(postgres_url) as db:
        identities = [row[0] for row in db.execute("SELECT identity FROM fleet.tasks")]
        marks = db.execute("SELECT COUNT(*) FROM fleet.storage WHERE namespace = 'dedup:items'").fetchone()[0]
    assert len(identities) == LINES and sorted(identities) == sorted(f"e{n}" for n in range(LINES))
    assert marks == LINES and sum(report["created"] for report in reports) == LINES
