"""``run`` against a server that fails or a process that dies: retry, fail, tasks retry, SIGKILL.

The server is a small loopback HTTP server written here, so that failures are chosen by task
(one ticket in ten fails on its first request) and every request is counted per task identity.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import yaml
from click.testing import CliRunner

from alumio_mistral import engine
from alumio_mistral.cli import main
from alumio_mistral.config import load_project
from alumio_mistral.tasks import SqliteTaskStore

pytestmark = pytest.mark.e2e

KEY = "sk-resilience-key-777777"


class _Recorder(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: Counter[str] = Counter()
        self.lock = threading.Lock()
        #: (identity, how many times it was seen before) -> HTTP status to answer
        self.decide: Callable[[str, int], int] = lambda _identity, _before: 200
        self.delay = 0.0

    @property
    def base_uri(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: _Recorder

    def log_message(self, *_args: Any) -> None:
        """Quiet: the test asserts on counts, not logs."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if self.path == "/v1/chat/completions":
            identity = body["messages"][-1]["content"]
        else:  # /v1/libraries: a create, not safe to repeat
            identity = body["name"]
        with self.server.lock:
            before = self.server.seen[identity]
            self.server.seen[identity] += 1
        time.sleep(self.server.delay)
        status = self.server.decide(identity, before)
        if status >= 400:
            answer: dict[str, Any] = {"object": "error", "message": f"injected failure for {identity}", "type": "boom"}
        elif self.path == "/v1/chat/completions":
            answer = {"id": "cmpl", "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                                                 "finish_reason": "stop"}],
                      "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
        else:
            status, answer = 201, {"id": f"lib-{identity}", "name": identity}
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def server() -> Iterator[_Recorder]:
    recorder = _Recorder()
    thread = threading.Thread(target=recorder.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield recorder
    recorder.shutdown()
    recorder.server_close()


def _project(folder: Path, server: _Recorder, count: int, outgoing: dict[str, Any], **extra: Any) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "items.jsonl").write_text("".join(json.dumps({"id": f"t{n:02d}"}) + "\n" for n in range(count)))
    document = {
        "clients": {"mistral": {"base_uri": server.base_uri, "api_key": KEY, "max_attempts": 1}},
        "incoming": {"items": {"subscriber": {"type": "jsonl", "path": "items.jsonl"}, "dedup": "new"}},
        "outgoing": {"out": outgoing},
        "routes": [{"incoming": "items", "outgoing": "out"}],
        **extra,
    }
    (folder / "alumio.yaml").write_text(yaml.safe_dump(document))
    return folder


CHAT = {"publisher": {"entity": "chat.complete", "body": "request"},
        "entity_transformers": [{"type": "set", "path": "request",
                                 "value": {"model": "m", "messages": [{"role": "user", "content": "&{id}"}]}}]}


def _one_in_ten_fails_first(identity: str, before: int) -> int:
    return 500 if identity.endswith("3") and before == 0 else 200


def _tasks(folder: Path) -> list[Any]:
    with SqliteTaskStore(folder / ".alumio" / "tasks.db") as store:
        return store.list()


def test_retry_policy_ends_every_task_processed(tmp_path, server):
    server.decide = _one_in_ten_fails_first
    folder = _project(tmp_path / "p", server, 30, {**CHAT, "failure": {"policy": "retry", "attempts": 3, "backoff": 0}})
    stats = engine.run(load_project(folder, environ={}))
    assert (stats.processed, stats.failed) == (30, 0)
    assert {task.status for task in _tasks(folder)} == {"processed"}
    assert server.seen == Counter({f"t{n:02d}": 2 if n % 10 == 3 else 1 for n in range(30)})


def test_fail_policy_fails_exactly_the_failing_tasks_and_tasks_retry_completes_them(tmp_path, server):
    server.decide = _one_in_ten_fails_first
    folder = _project(tmp_path / "p", server, 30, {**CHAT, "failure": {"policy": "fail"}, "concurrency": 4})
    stats = engine.run(load_project(folder, environ={}))
    assert (stats.processed, stats.failed) == (27, 3) and not stats.ok
    failed = {task.identity: task for task in _tasks(folder) if task.status == "failed"}
    assert sorted(failed) == ["t03", "t13", "t23"]
    for task in failed.values():
        assert task.last_error["type"] == "ServerError" and task.last_error["status"] == 500
        assert f"injected failure for {task.identity}" in task.last_error["body"]
        assert KEY not in json.dumps(task.to_dict())

    result = CliRunner().invoke(main, ["tasks", "retry", str(folder)])
    assert result.exit_code == 0, result.output
    assert {task.status for task in _tasks(folder)} == {"processed"}
    assert sum(server.seen.values()) == 33


def test_run_exits_non_zero_when_a_task_failed(tmp_path, server):
    server.decide = lambda identity, _before: 500 if identity == "t01" else 200
    folder = _project(tmp_path / "p", server, 3, {**CHAT, "failure": {"policy": "fail"}})
    result = CliRunner().invoke(main, ["run", str(folder)])
    assert result.exit_code == 1
    assert "processed 2, failed 1" in result.output and "t01" in result.output
    assert KEY not in result.output


def _start_run(folder: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", "from alumio_mistral.cli import main; main()", "run", str(folder)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_sigkill_then_rerun_finishes_every_task_once_and_never_repeats_a_create(tmp_path, server):
    server.delay = 0.2  # requests in flight long enough for the kill to land among them
    folder = _project(tmp_path / "p", server, 40, {
        "publisher": {"entity": "libraries.create", "body": "request"},
        "entity_transformers": [{"type": "set", "path": "request", "value": {"name": "&{id}"}}],
        "concurrency": 8,
    }, store={"lease": 1})
    first = _start_run(folder)
    deadline = time.monotonic() + 30
    while sum(server.seen.values()) < 12 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)  # reaped: a zombie would still look alive to the next run
    assert first.returncode == -signal.SIGKILL
    interrupted = [task for task in _tasks(folder) if task.status == "processing"]
    assert interrupted, "the kill should land while requests are in flight"
    time.sleep(1.1)  # nobody renews the dead run's leases: they lapse

    second = _start_run(folder)
    _out, err = second.communicate(timeout=60)
    tasks = _tasks(folder)
    assert len(tasks) == 40 and {task.status for task in tasks} <= {"processed", "review"}, err
    assert max(server.seen.values()) == 1  # no create was sent twice
    processed = [task for task in tasks if task.status == "processed"]
    assert all(server.seen[task.identity] == 1 for task in processed)
    review = [task for task in tasks if task.status == "review"]
    assert review and all(task.last_error["type"] == "InterruptedPublish" for task in review)
    assert {task.id for task in review} <= {task.id for task in interrupted}
    assert second.returncode == 3 and f"review {len(review)}" in err  # 3: a person must look
