"""``serve``, ``worker`` and ``status`` as people run them: subprocesses, real signals, loopback HTTP.

A scheduled incoming reads a JSONL file into tasks, a scheduled outgoing sends each as a chat
completion to the sandbox and appends the answer to a JSONL target; each task must end once,
counted on the sandbox and in the output, whether the process stops gracefully or is killed.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from alumio_mistral.config import load_project
from alumio_mistral.tasks import open_store
from alumio_mistral.webhooks import sign

pytestmark = pytest.mark.e2e

CLI = [sys.executable, "-c", "from alumio_mistral.cli import main; main()"]
SECRET = "a-shared-secret-of-some-length"


def project(folder: Path, sandbox: Any, rows: int, *, incoming: dict | None = None,
            outgoing: dict | None = None, concurrency: int = 4, lease: float = 60, url: str | None = None) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "rows.jsonl").write_text("".join(json.dumps({"id": f"r{n}", "text": f"row {n}"}) + "\n"
                                              for n in range(rows)))
    document = {
        "clients": {"mistral": {"base_uri": sandbox.base_uri, "api_key": "sandbox-key", "max_attempts": 1}},
        "store": {"lease": lease, **({"url": url} if url else {})},
        "incoming": {
            "rows": {"subscriber": {"type": "jsonl", "path": "rows.jsonl"}, "identity": "id", "dedup": "new",
                     **(incoming or {})},
            "posted": {"subscriber": {"type": "webhook", "path": "/hooks/posted", "secret": SECRET},
                       "identity": "id", "dedup": "new"},
        },
        "outgoing": {"chat": {
            "publisher": {"entity": "chat.complete"},
            "entity_transformers": [{"use": "mistral/chat-request", "with": {"prompt": "&{text}", "max_tokens": 5}}],
            "response_transformers": [{"use": "mistral/chat-answer"},
                                      {"type": "set", "path": "row", "value": "&{_task.entity.id}"}],
            "then": {"type": "jsonl", "path": "out/answers.jsonl"},
            "failure": {"policy": "fail"},
            "concurrency": concurrency,
            **(outgoing or {}),
        }},
        "routes": [{"incoming": "rows", "outgoing": "chat"}, {"incoming": "posted", "outgoing": "chat"}],
    }
    (folder / "alumio.yaml").write_text(yaml.safe_dump(document))
    return folder


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def listening(process: subprocess.Popen[str]) -> str:
    """The base URI a ``serve`` subprocess prints once it listens."""
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("serve: listening on "), line + (process.stderr.read() if process.poll() is not None else "")
    return line.split()[-1]


def statuses(folder: Path) -> dict[str, int]:
    with sqlite3.connect(folder / ".alumio" / "tasks.db", timeout=10) as db:
        return dict(db.execute("SELECT status, COUNT(*) FROM tasks GROUP BY status").fetchall())


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def chat_calls(sandbox: Any) -> int:
    return int(requests.get(f"{sandbox.base_uri}/_sandbox/requests", timeout=5).json().get("chat.complete", 0))


def answered_rows(folder: Path) -> list[str]:
    path = folder / "out" / "answers.jsonl"
    return [json.loads(line)["row"] for line in path.read_text().splitlines()] if path.exists() else []


def status_json(folder: Path) -> dict[str, Any]:
    done = subprocess.run([*CLI, "status", str(folder), "--json"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_serve_polls_drains_then_stops_gracefully_mid_flight(tmp_path: Path, mistral_sandbox_factory: Any) -> None:
    sandbox = mistral_sandbox_factory(faults="latency=200ms@/v1/chat/*")
    folder = project(tmp_path / "p", sandbox, 200, incoming={"schedule": "2s"},
                     outgoing={"schedule": "1s"}, concurrency=20)
    serve = start("serve", str(folder), "--port", "0", "--grace", "10")
    try:
        base = listening(serve)
        assert requests.get(base + "/healthz", timeout=5).json()["ok"] is True
        wait_for(lambda: statuses(folder).get("processing", 0) >= 15, 30, "20 chat calls in flight")
        serve.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        assert serve.wait(timeout=15) == 0, serve.stderr.read() if serve.stderr else ""
        assert time.monotonic() - stopped_at < 10
    finally:
        if serve.poll() is None:
            serve.kill()
    after_stop = statuses(folder)
    assert after_stop.get("processing", 0) == 0 and after_stop.get("failed", 0) == 0, after_stop
    assert 0 < after_stop["processed"] < 200
    assert chat_calls(sandbox) == after_stop["processed"] == len(answered_rows(folder))

    rerun = subprocess.run([*CLI, "serve", str(folder), "--once"], capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert statuses(folder) == {"processed": 200}
    rows = answered_rows(folder)
    assert sorted(rows) == sorted(f"r{n}" for n in range(200))  # each once
    assert chat_calls(sandbox) == 200  # no request sent twice
    report = status_json(folder)
    assert report["tasks"] == {"chat": {"processed": 200}}
    jobs = {row["job"]: row for row in report["schedules"]}
    assert set(jobs) == {"incoming:rows", "outgoing:chat"} and all(row["last"]["ok"] for row in jobs.values())


@pytest.mark.slow
def test_a_second_signal_leaves_at_once_and_nothing_is_lost(tmp_path: Path, mistral_sandbox_factory: Any) -> None:
    sandbox = mistral_sandbox_factory(faults="latency=3s@/v1/chat/*")
    folder = project(tmp_path / "p", sandbox, 10, incoming={"schedule": "1s"}, outgoing={"schedule": "1s"},
                     concurrency=5, lease=1)
    serve = start("serve", str(folder), "--port", "0", "--grace", "30")
    try:
        listening(serve)
        wait_for(lambda: statuses(folder).get("processing", 0) == 5, 30, "5 chat calls in flight")
        serve.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=2) == 1  # not the 3 s the calls in flight would take
    finally:
        if serve.poll() is None:
            serve.kill()
    assert statuses(folder).get("processing", 0) == 5  # left to their leases
    time.sleep(1.5)  # the leases lapse; a chat completion is safe to send again
    rerun = subprocess.run([*CLI, "serve", str(folder), "--once"], capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert statuses(folder) == {"processed": 10}
    assert sorted(answered_rows(folder)) == sorted(f"r{n}" for n in range(10))


@pytest.mark.slow
def test_two_serve_processes_run_each_tick_once(tmp_path: Path, mistral_sandbox: Any) -> None:
    # the scheduled incoming lists the sandbox's models: every run of it, by either process, is
    # one GET the sandbox counts, so a tick run twice would show as more GETs than runs logged
    folder = project(tmp_path / "p", mistral_sandbox, 0,
                     incoming={"subscriber": {"entity": "models.list"}, "schedule": "1s"})
    processes = [start("serve", str(folder), "--port", "0") for _ in range(2)]
    try:
        for process in processes:
            listening(process)
        time.sleep(8)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(timeout=30) for process in processes]
    assert codes == [0, 0]
    with sqlite3.connect(folder / ".alumio" / "tasks.db") as db:
        runs = db.execute("SELECT tick, holder, ok FROM schedule_runs WHERE job = 'incoming:rows' ORDER BY tick").fetchall()
    assert len(runs) >= 5 and all(ok == 1 for _tick, _holder, ok in runs)
    counts = requests.get(f"{mistral_sandbox.base_uri}/_sandbox/requests", timeout=5).json()
    assert counts["models.list"] == len(runs)  # each tick ran once, in one of the two processes
    ticks = [datetime.fromisoformat(tick) for tick, _holder, _ok in runs]
    assert all((later - earlier).total_seconds() <= 2 for earlier, later in zip(ticks, ticks[1:]))


def test_webhook_posts_become_tasks_exactly_once_and_metrics_match(tmp_path: Path, mistral_sandbox: Any) -> None:
    folder = project(tmp_path / "p", mistral_sandbox, 0)
    serve = start("serve", str(folder), "--port", "0")
    answers: list[int] = []
    lock = threading.Lock()

    def post(numbers: range) -> None:
        with requests.Session() as session:
            for n in numbers:
                body = json.dumps({"id": f"h{n}", "text": f"post {n}"}).encode()
                signature = sign(SECRET if n % 10 else "not-the-secret", body)
                answer = session.post(f"{base}/hooks/posted", data=body, timeout=30,
                                      headers={"Content-Type": "application/json", "X-Signature-256": signature})
                with lock:
                    answers.append(answer.status_code)

    try:
        base = listening(serve)
        threads = [threading.Thread(target=post, args=(range(k, 1000, 8),)) for k in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        metrics = requests.get(base + "/metrics", timeout=5).text
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=30)
    assert serve.returncode == 0
    assert sorted(set(answers)) == [200, 401] and answers.count(401) == 100 and answers.count(200) == 900
    assert serve.stderr is not None and serve.stderr.read().count("bad signature") == 100  # each refusal logged
    with sqlite3.connect(folder / ".alumio" / "tasks.db") as db:
        identities = [row[0] for row in db.execute("SELECT identity FROM tasks")]
    assert sorted(identities) == sorted(f"h{n}" for n in range(1000) if n % 10)  # no loss, no duplicate

    families = {family.name: family for family in text_string_to_metric_families(metrics)}
    scraped = {(s.labels["outgoing"], s.labels["status"]): s.value for s in families["alumio_tasks"].samples}
    listed = subprocess.run([*CLI, "tasks", "list", str(folder), "--json"], capture_output=True, text=True, timeout=60)
    tasks = json.loads(listed.stdout)
    tasks = tasks["tasks"] if isinstance(tasks, dict) else tasks
    counted: dict[tuple[str, str], int] = {}
    for task in tasks:
        key = (task["outgoing"] or "", task["status"])
        counted[key] = counted.get(key, 0) + 1
    assert scraped == counted == {("chat", "new"): 900}


def test_webhook_refuses_a_post_whose_item_the_pipeline_rejects(tmp_path: Path, mistral_sandbox: Any) -> None:
    folder = project(tmp_path / "p", mistral_sandbox, 0)
    serve = start("serve", str(folder), "--port", "0")
    try:
        base = listening(serve)
        body = json.dumps([{"id": "ok", "text": "fine"}, {"text": "no identity"}]).encode()
        answer = requests.post(f"{base}/hooks/posted", data=body, timeout=10,
                               headers={"Content-Type": "application/json", "X-Signature-256": sign(SECRET, body)})
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=30)
    assert answer.status_code == 422 and "item 1" in answer.json()["error"]
    assert statuses(folder) == {}  # nothing of the post was stored


def store_counts(folder: Path) -> Callable[[], dict[str, int]]:
    """The task counts of ``folder``'s store (SQLite or PostgreSQL), non-zero ones only."""
    store = open_store(load_project(folder, environ={}))

    def counts() -> dict[str, int]:
        return {status: count for status, count in store.counts().items() if count}
    return counts


@pytest.mark.slow
@pytest.mark.parametrize("backing", ["sqlite", "postgres"])
def test_workers_share_the_tasks_and_survive_a_kill(tmp_path: Path, mistral_sandbox_factory: Any,
                                                    backing: str, request: pytest.FixtureRequest) -> None:
    sandbox = mistral_sandbox_factory(faults="latency=20ms@/v1/chat/*")
    url = request.getfixturevalue("postgres_url") if backing == "postgres" else None
    folder = project(tmp_path / "p", sandbox, 600, concurrency=4, lease=2, url=url)
    loaded = subprocess.run([*CLI, "incoming", "run", str(folder)], capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stderr
    counts = store_counts(folder)
    workers = [start("worker", str(folder), "--grace", "10") for _ in range(3)]
    try:
        wait_for(lambda: counts().get("processed", 0) >= 150, 60, "a quarter of the tasks")
        os.kill(workers[0].pid, signal.SIGKILL)
        wait_for(lambda: counts().get("processed", 0) == 600, 90, "every task to end")
    finally:
        for process in workers[1:]:
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(timeout=30) for process in workers]
    assert codes[0] == -signal.SIGKILL and codes[1:] == [0, 0]
    assert counts() == {"processed": 600}
    # every task ended once (above); a chat completion and a JSONL record are safe to repeat, so
    # the killed worker's tasks in flight (at most its concurrency of 4) were sent again once
    # their leases lapsed, and one it had written but not finished has its record twice
    rows = answered_rows(folder)
    assert set(rows) == {f"r{n}" for n in range(600)} and len(rows) <= 604
    assert 600 <= chat_calls(sandbox) <= 604


def test_serve_shows_the_dashboard_and_refuses_the_network_without_its_token(
    tmp_path: Path, mistral_sandbox: Any
) -> None:
    folder = project(tmp_path / "p", mistral_sandbox, 3)
    env = {key: value for key, value in os.environ.items() if key != "ALUMIO_DASHBOARD_TOKEN"}
    refused = subprocess.run([*CLI, "serve", str(folder), "--host", "0.0.0.0",
                              "--port", "0"], capture_output=True, text=True, timeout=60, env=env)
    assert refused.returncode == 1 and "ALUMIO_DASHBOARD_TOKEN" in refused.stderr
    serve = start("serve", str(folder), "--port", "0")
    try:
        base = listening(serve)
        page = requests.get(base + "/", timeout=10)
        assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
        assert requests.get(base + "/healthz", timeout=5).json()["ok"] is True
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=30)
