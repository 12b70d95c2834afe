"""What interaction logging promises a flow: it never slows the tasks down, whatever the tracking
endpoint does, and it never loses an event, even through a SIGKILL while the endpoint is down."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
import requests
import yaml

from alumio_mistral import engine
from alumio_mistral.config import load_project
from alumio_mistral.tasks import SqliteTaskStore

pytestmark = pytest.mark.e2e

CLI = [sys.executable, "-c", "from alumio_mistral.cli import main; main()"]
KEYS = {"RECONIFY_APP_KEY": "app-KEY-91c2e0", "RECONIFY_API_KEY": "api-KEY-5d7a13"}


def _project(folder: Path, sandbox, count: int, endpoint: str | None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tickets.jsonl").write_text("".join(
        json.dumps({"id": n, "subject": f"ticket {n}", "customer": {"id": f"c{n}"}}) + "\n" for n in range(count)))
    outgoing = {
        "publisher": {"entity": "chat.complete"},
        "entity_transformers": [{"type": "set", "path": "@", "value": {
            "model": "mistral-small-latest", "messages": [{"role": "user", "content": "&{subject}"}],
            "max_tokens": 4}}],
        "concurrency": 8,
    }
    if endpoint:
        outgoing["log"] = {"to": "reconify", "endpoint": endpoint, "app_key": "${RECONIFY_APP_KEY}",
                           "api_key": "${RECONIFY_API_KEY}", "session": "t&{id}", "timeout": 5,
                           "user": {"userId": "&{customer.id}"}}
    document = {
        "clients": {"mistral": {"base_uri": sandbox.base_uri, "api_key": "sandbox-key"}},
        "incoming": {"tickets": {"subscriber": {"type": "jsonl", "path": "tickets.jsonl"}, "identity": "id",
                                 "dedup": "new"}},
        "store": {"lease": 1},
        "outgoing": {"chat": outgoing},
        "routes": [{"incoming": "tickets", "outgoing": "chat"}],
    }
    (folder / "alumio.yaml").write_text(yaml.safe_dump(document))
    return folder


def _tasks_took(folder: Path, project_started: float) -> float:
    """Seconds from the start of the run to the moment its last task finished."""
    with SqliteTaskStore(folder / ".alumio" / "tasks.db") as store:
        tasks = store.list()
    assert {task.status for task in tasks} == {"processed"}
    return max(datetime.fromisoformat(task.updated_at).timestamp() for task in tasks) - project_started


@pytest.mark.slow
@pytest.mark.parametrize("endpoint_kind", ["answers-after-30s", "never-answers"])
def test_a_hanging_tracking_endpoint_never_slows_the_tasks(tmp_path, mistral_sandbox, mistral_sandbox_factory,
                                                            endpoint_kind):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(512)  # connections are taken by the kernel, never answered
    try:
        if endpoint_kind == "never-answers":
            endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}/track"
        else:
            endpoint = mistral_sandbox_factory(faults="latency=30s@/track").base_uri + "/track"
        took: dict[str, list[float]] = {"off": [], "on": []}
        for round_ in range(3):
            for mode in ("off", "on"):
                folder = _project(tmp_path / f"{mode}{round_}", mistral_sandbox, 200,
                                  endpoint if mode == "on" else None)
                started = time.time()
                run_started = time.monotonic()
                engine.run(load_project(folder, environ=KEYS))
                ran = time.monotonic() - run_started
                took[mode].append(_tasks_took(folder, started))
                if mode == "on":
                    assert ran <= took[mode][-1] + 5 + 1  # the end of the run waits at most the flush bound
        off, on = min(took["off"]), min(took["on"])
        # a blocked flow would take the endpoint's timeout (seconds) more; the margin is for a
        # shared machine, where one of 200-task runs of 0.3 s took 0.45 s with logging off
        assert on <= off * 1.25 + 0.1, took
        with SqliteTaskStore(tmp_path / "on2" / ".alumio" / "tasks.db") as store:
            counts = store.outbox_counts()["interactions:chat"]
        assert counts["delivered"] == 0 and counts["pending"] == 200  # kept for the endpoint's recovery
    finally:
        silent.close()


@pytest.mark.slow
def test_events_survive_sigkill_and_are_delivered_exactly_once(tmp_path, mistral_sandbox):
    down = "http://127.0.0.1:9/track"  # nobody listens: refused at once
    folder = _project(tmp_path / "p", mistral_sandbox, 300, down)
    environment = {**os.environ, **KEYS}
    process = subprocess.Popen([*CLI, "run", str(folder)], env=environment, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    database = folder / ".alumio" / "tasks.db"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if database.exists():
            with SqliteTaskStore(database) as store:
                if store.counts()["processed"] >= 100:
                    break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    _, stderr = process.communicate(timeout=10)
    assert process.returncode == -signal.SIGKILL
    with SqliteTaskStore(database) as store:
        done_before = store.counts()["processed"]
        queued = store.outbox_counts()["interactions:chat"]
    assert queued["delivered"] == 0 and queued["pending"] == done_before  # one event per finished task
    time.sleep(1.5)  # the killed run's leases lapse
    # the endpoint is back: the next run resumes the tasks and delivers every event once
    (folder / "alumio.yaml").write_text((folder / "alumio.yaml").read_text().replace(
        down, mistral_sandbox.base_uri + "/track"))
    rerun = subprocess.run([*CLI, "run", str(folder), "--json"], env=environment, capture_output=True,
                           text=True, timeout=120)
    events = requests.get(mistral_sandbox.base_uri + "/_sandbox/reconify", timeout=5).json()
    with SqliteTaskStore(database) as store:
        processed = store.counts()["processed"]
        counts = store.outbox_counts()["interactions:chat"]
    assert processed == 300
    sessions = [event["session"] for event in events]
    assert len(sessions) == len(set(sessions)) == 300 == counts["delivered"]  # exactly once each
    assert counts["pending"] == 0
    for key in KEYS.values():  # no key in any output, log line or store
        assert key not in rerun.stdout + rerun.stderr + stderr.decode()
        assert key.encode() not in b"".join(p.read_bytes() for p in database.parent.glob("tasks.db*"))
