"""Publishing speed: chat completions at C requests in flight against a server taking L per
answer, and a client rate limit against a server that answers 429 past its own limit.

The server runs in its own process, one thread per connection, and answers from a fixed body
after sleeping ``--latency``: it is never the bottleneck (the sandbox serves with 8 threads,
which would cap any C above 8). Each run is the CLI's ``run --json`` on a project whose tasks
were made beforehand, and its figure is the run's own duration (start-up left out).

* throughput: tasks/s for each ``--concurrency`` C, next to the ideal C/L and to what a bare
  loop of C threads posting with ``requests`` reaches against the same server (the ceiling
  this machine allows: each request also costs both Pythons their HTTP work);
* rate limit: the client's ``rate_limit`` at 100% and 90% of the server's limit (a sliding
  one-second window); achieved rate and the number of 429 answers.

Usage:

    python benchmarks/outgoing.py [--concurrency 1 8 32] [--latency-ms 20] [--per-worker 100]
                                  [--server-limit 50] [--limit-tasks 300] [--skip-rate-limit]
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from urllib3.util.retry import Retry

CLI = [sys.executable, "-c", "from alumio_mistral.cli import main; main()"]
ANSWER = json.dumps({
    "id": "cmpl-1", "object": "chat.completion", "model": "mistral-small-latest", "created": 1_716_963_433,
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}).encode()


# -- the server ------------------------------------------------------------------------------


def serve(latency: float, limit: int) -> None:
    """Answer every POST after ``latency`` seconds; past ``limit`` requests in the last second
    (0: no limit) answer 429. ``GET /stats`` tells the counts; runs until stdin closes."""
    lock = threading.Lock()
    recent: collections.deque[float] = collections.deque()
    counts = {"ok": 0, "429": 0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self) -> None:  # noqa: N802 (the name http.server calls)
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                now = time.monotonic()
                while recent and recent[0] <= now - 1.0:
                    recent.popleft()
                refused = bool(limit) and len(recent) >= limit
                if not refused:
                    recent.append(now)
                counts["429" if refused else "ok"] += 1
            if refused:
                self._answer(429, b'{"message":"Requests rate limit exceeded"}', {"Retry-After": "1"})
                return
            time.sleep(latency)
            self._answer(200, ANSWER)

        def do_GET(self) -> None:  # noqa: N802
            with lock:
                body = json.dumps(counts).encode()
                if self.path == "/reset":
                    counts.update({"ok": 0, "429": 0})
                    recent.clear()
            self._answer(200, body)

        def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.request_queue_size = 256
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()


class Server:
    """The server in its own process, as a context manager."""

    def __init__(self, latency: float, limit: int = 0) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", "--latency-ms", str(latency * 1000), "--server-limit", str(limit)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        assert self.process.stdout is not None
        self.base_uri = f"http://127.0.0.1:{int(self.process.stdout.readline())}"

    def stats(self, path: str = "/stats") -> dict[str, int]:
        import requests

        answer: dict[str, int] = requests.get(self.base_uri + path, timeout=10).json()
        return answer

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)


# -- a run -----------------------------------------------------------------------------------


def project(folder: Path, tasks: int, base_uri: str, concurrency: int, rate_limit: float | None = None) -> Path:
    folder.mkdir(parents=True)
    (folder / "rows.jsonl").write_text("".join(json.dumps({"id": n, "q": f"question {n}"}) + "\n"
                                               for n in range(tasks)))
    client: dict[str, Any] = {"base_uri": base_uri, "api_key": "bench-key"}
    if rate_limit:
        client["rate_limit"] = rate_limit
    document = {
        "clients": {"mistral": client},
        # disabled: the timed run only publishes; the tasks are made beforehand, by name
        "incoming": {"rows": {"subscriber": {"type": "jsonl", "path": "rows.jsonl"}, "disabled": True}},
        "outgoing": {"chat": {
            "publisher": {"entity": "chat.complete", "body": "request"},
            "entity_transformers": [{"type": "set", "path": "request", "value": {
                "model": "mistral-small-latest", "messages": [{"role": "user", "content": "&{q}"}]}}],
            "concurrency": concurrency,
        }},
        "routes": [{"incoming": "rows", "outgoing": "chat"}],
    }
    (folder / "alumio.yaml").write_text(yaml.safe_dump(document))
    made = subprocess.run([*CLI, "incoming", "run", str(folder), "rows"], capture_output=True, text=True)
    if made.returncode != 0:
        raise SystemExit(f"incoming run failed:\n{made.stderr}")
    return folder


def publish(folder: Path) -> tuple[int, float]:
    """Run the project; the tasks processed and the run's own duration in seconds."""
    answer = subprocess.run([*CLI, "run", str(folder), "--json"], capture_output=True, text=True)
    try:
        stats = json.loads(answer.stdout)
    except ValueError:
        raise SystemExit(f"run failed ({answer.returncode}):\n{answer.stdout}\n{answer.stderr}") from None
    if answer.returncode != 0:
        raise SystemExit(f"run failed ({answer.returncode}): {json.dumps(stats.get('failures', [])[:3])}")
    return int(stats["processed"]), float(stats["duration"])


def bare_rate(base_uri: str, concurrency: int, requests_in_all: int) -> float:
    """Requests per second of ``concurrency`` threads posting with a ``requests`` session each."""
    import requests

    local = threading.local()
    body = {"model": "mistral-small-latest", "messages": [{"role": "user", "content": "question"}]}

    sessions: list[requests.Session] = []

    def post(_number: int) -> None:
        session = getattr(local, "session", None)
        if session is None:  # a connection reset is tried again, as our client does
            session = local.session = requests.Session()
            session.mount("http://", requests.adapters.HTTPAdapter(max_retries=Retry(3, allowed_methods=None)))
            sessions.append(session)
        session.post(f"{base_uri}/v1/chat/completions", json=body, timeout=30).raise_for_status()

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(post, range(requests_in_all)))
    seconds = time.monotonic() - started
    for session in sessions:
        session.close()
    return requests_in_all / seconds


def throughput(root: Path, concurrencies: list[int], latency: float, per_worker: int) -> None:
    print(f"chat.complete, server latency {latency * 1000:g} ms")
    print(f"  {'C':>3} {'tasks':>6} {'tasks/s':>9} {'C/L':>7} {'of C/L':>7} {'bare/s':>7} {'of bare':>8}")
    with Server(latency) as server:
        for concurrency in concurrencies:
            tasks = max(200, per_worker * concurrency)
            done, seconds = publish(project(root / f"c{concurrency}", tasks, server.base_uri, concurrency))
            bare = bare_rate(server.base_uri, concurrency, tasks)
            ideal = concurrency / latency
            rate = done / seconds
            print(f"  {concurrency:>3} {done:>6} {rate:>9.0f} {ideal:>7.0f} {rate / ideal:>6.0%} {bare:>7.0f}"
                  f" {rate / bare:>7.0%}", flush=True)


def rate_limited(root: Path, limit: int, tasks: int) -> None:
    print(f"rate limit against a server allowing {limit}/s (sliding one-second window), concurrency 8")
    print(f"  {'client limit':>12} {'tasks':>6} {'tasks/s':>9} {'of limit':>9} {'429s':>5}")
    with Server(0.0, limit) as server:
        for share in (1.0, 0.9):
            server.stats("/reset")
            time.sleep(1.1)  # an empty window: each measurement starts alike
            folder = project(root / f"limit-{share:g}", tasks, server.base_uri, 8, rate_limit=limit * share)
            done, seconds = publish(folder)
            refused = server.stats()["429"]
            print(f"  {limit * share:>10g}/s {done:>6} {done / seconds:>9.1f} {done / seconds / limit:>8.1%}"
                  f" {refused:>5}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--per-worker", type=int, default=100, help="tasks per unit of concurrency (at least 200)")
    parser.add_argument("--server-limit", type=int, default=50, help="requests per second the server allows")
    parser.add_argument("--limit-tasks", type=int, default=300, help="tasks of each rate-limit run")
    parser.add_argument("--skip-rate-limit", action="store_true")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.latency_ms / 1000, args.server_limit)
    with tempfile.TemporaryDirectory(prefix="bench-outgoing-") as temp:
        root = Path(temp)
        throughput(root, args.concurrency, args.latency_ms / 1000, args.per_worker)
        if not args.skip_rate_limit:
            rate_limited(root, args.server_limit, args.limit_tasks)


if __name__ == "__main__":
    main()
