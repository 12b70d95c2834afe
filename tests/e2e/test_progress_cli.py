"""``run`` as a person and as a log file see it: a live display under a terminal, and off a
terminal a summary line at least every 5 seconds, however slow the API is."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.e2e

COMMAND = [sys.executable, "-c", "from alumio_mistral.cli import main; main()"]


def _command(*args: str) -> list[str]:
    return [*COMMAND, *args]


def _rows_project(folder: Path, rows: int) -> Path:
    (folder / "rows.jsonl").write_text("".join(json.dumps({"id": n}) + "\n" for n in range(rows)), encoding="utf-8")
    document = {
        "incoming": {"rows": {"subscriber": {"type": "jsonl", "path": "rows.jsonl"}, "identity": "id"}},
        "outgoing": {"copy": {"publisher": {"type": "jsonl", "path": "out/rows.jsonl"}}},
        "routes": [{"incoming": "rows", "outgoing": ["copy"]}],
    }
    (folder / "alumio.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    return folder


def test_under_a_terminal_run_shows_a_live_display(tmp_path: Path) -> None:
    project = _rows_project(tmp_path, 5000)
    leader, follower = pty.openpty()
    process = subprocess.Popen(_command("run", str(project)), stdin=follower, stdout=follower, stderr=follower,
                               env={**os.environ, "COLUMNS": "120", "TERM": "xterm"}, close_fds=True)
    os.close(follower)
    shown = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: the command is done
                break
            if not chunk:
                break
            shown += chunk
        elif process.poll() is not None:
            break
    os.close(leader)
    assert process.wait(timeout=10) == 0, shown.decode(errors="replace")
    text = shown.decode(errors="replace")
    assert "\x1b[" in text  # redrawn in place
    assert "run\r\n" in text or "run\n" in text  # the display's title line
    assert "read " in text and "copy: processed" in text
    assert "read 5000, created 5000, processed 5000" in text  # the summary once the display is gone
    assert len((project / "out" / "rows.jsonl").read_text().splitlines()) == 5000


@pytest.mark.slow
def test_off_a_terminal_a_progress_line_comes_at_least_every_5_seconds(
    tmp_path: Path, mistral_sandbox_factory: Any
) -> None:
    sandbox = mistral_sandbox_factory(faults="latency=1:0.3s")
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps({"id": n}) + "\n" for n in range(25)), encoding="utf-8")
    document = {
        "clients": {"mistral": {"base_uri": sandbox.base_uri, "api_key": "sk-progress-test-4242"}},
        "incoming": {"rows": {"subscriber": {"type": "jsonl", "path": "rows.jsonl"}, "identity": "id"}},
        "outgoing": {"chat": {
            "publisher": {"entity": "chat.complete", "body": "request"},
            "entity_transformers": [{"type": "set", "path": "request", "value": {
                "model": "mistral-small-latest", "messages": [{"role": "user", "content": "row &{id}"}]}}],
        }},
        "routes": [{"incoming": "rows", "outgoing": ["chat"]}],
    }
    (tmp_path / "alumio.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    log = tmp_path / "run.log"
    arrivals: list[tuple[float, str]] = []
    with log.open("w") as sink:
        started = time.monotonic()
        process = subprocess.Popen(_command("run", str(tmp_path)), stdout=sink, stderr=sink)
        seen = 0
        while process.poll() is None or seen < len(log.read_text().splitlines()):
            lines = log.read_text().splitlines()
            arrivals += [(time.monotonic(), line) for line in lines[seen:]]
            seen = len(lines)
            time.sleep(0.1)
    duration = time.monotonic() - started
    assert process.returncode == 0, log.read_text()
    assert duration > 6, "the run must outlast the interval for the test to mean anything"
    progress = [when for when, line in arrivals if line.startswith("run: ")]
    assert progress, log.read_text()
    gaps = [b - a for a, b in zip([started, *progress], [*progress, time.monotonic()])]
    assert max(gaps) <= 5.5, f"gaps between progress lines: {gaps}"
    assert any("chat: processed" in line for _, line in arrivals)
    assert "\x1b[" not in log.read_text()  # no terminal codes in a log file
