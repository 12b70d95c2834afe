"""Workers sharing one store: tasks per second for 1, 2 and 4 ``worker`` processes.

Each round makes ``--tasks`` tasks (``incoming run``), starts N ``alumio-mistral worker``
processes on the project, and times from their start until every task is ``processed``; then
the workers get SIGTERM. Each task is a chat completion to the sandbox (``--latency-ms`` per
answer) whose answer is appended to a JSONL target. After each round it checks exactly-once
where it happened: tasks processed in the store, chat completions counted on the sandbox and
records in the JSONL target must each equal ``--tasks``.

The store is SQLite, or PostgreSQL with ``--store postgres`` (the server ``ALUMIO_PG_URL``
names, else a throw-away cluster started for the run; each round in a fresh schema). The
sandbox runs in a process of its own with ``--sandbox-threads`` threads, so it does not share
an interpreter with the workers or with this timer. Start-up (imports, catalog) is inside the
figure: it is what a person starting workers waits for. On a small machine the sandbox and the
database share the cores with the workers and set the ceiling.

Usage:

    python benchmarks/workers.py [--workers 1 2 4] [--tasks 2000] [--concurrency 8] [--latency-ms 20]
                                 [--store sqlite|postgres] [--sandbox-threads 32]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import requests
import yaml

from alumio_mistral.config import load_project
from alumio_mistral.tasks import open_store

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import postgres_cluster

CLI = [sys.executable, "-c", "from alumio_mistral.cli import main; main()"]

#: the sandbox in a process of its own: prints its base URI, serves until its stdin closes
SANDBOX = """
import logging, sys
from alumio_mistral.sandbox import Sandbox
logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # a busy sandbox says so per request
with Sandbox(faults=sys.argv[1], validate=False, threads=int(sys.argv[2])) as sandbox:
    print(sandbox.base_uri, flush=True)
    sys.stdin.read()
"""


@contextlib.contextmanager
def sandbox_process(latency_ms: int, threads: int) -> Iterator[str]:
    """The base URI of a sandbox answering chat completions after ``latency_ms``."""
    process = subprocess.Popen([sys.executable, "-c", SANDBOX, f"latency={latency_ms}ms@/v1/chat/*", str(threads)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=30)


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """``ALUMIO_PG_URL``, or a throw-away cluster for the run (its own top-level folder, which
    the cluster's owner can reach when we run as root)."""
    if url := os.environ.get("ALUMIO_PG_URL"):
        yield url
        return
    folder = Path(tempfile.mkdtemp(prefix="alumio-bench-pg-"))
    try:
        yield postgres_cluster.start(folder)
    finally:
        postgres_cluster.stop(folder)


def make_project(folder: Path, base_uri: str, tasks: int, concurrency: int, store_url: str | None) -> Path:
    folder.mkdir(parents=True)
    (folder / "rows.jsonl").write_text("".join(json.dumps({"id": f"r{n}", "text": f"row {n}"}) + "\n"
                                              for n in range(tasks)))
    store = {"url": store_url, "schema": f"bench_{uuid.uuid4().hex[:8]}"} if store_url else {}
    (folder / "alumio.yaml").write_text(yaml.safe_dump({
        "clients": {"mistral": {"base_uri": base_uri, "api_key": "bench"}},
        "store": store,
        "incoming": {"rows": {"subscriber": {"type": "jsonl", "path": "rows.jsonl"}}},
        "outgoing": {"chat": {
            "publisher": {"entity": "chat.complete"},
            "entity_transformers": [{"use": "mistral/chat-request", "with": {"prompt": "&{text}", "max_tokens": 5}}],
            "response_transformers": [{"use": "mistral/chat-answer"}],
            "then": {"type": "jsonl", "path": "out/answers.jsonl"},
            "concurrency": concurrency,
        }},
        "routes": [{"incoming": "rows", "outgoing": "chat"}],
    }))
    subprocess.run([*CLI, "incoming", "run", str(folder)], check=True, capture_output=True)
    return folder


def round_of(workers: int, folder: Path, tasks: int) -> tuple[float, int]:
    """Seconds from starting ``workers`` processes until every task is processed, and how many are."""
    store = open_store(load_project(folder, environ={}))
    started = time.monotonic()
    processes = [subprocess.Popen([*CLI, "worker", str(folder)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for _ in range(workers)]
    try:
        while store.counts()["processed"] < tasks:
            if any(process.poll() is not None for process in processes):
                raise SystemExit("a worker ended early")
            time.sleep(0.05)
        return time.monotonic() - started, store.counts()["processed"]
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=60)
        store.close()


def chat_calls(base_uri: str) -> int:
    return int(requests.get(f"{base_uri}/_sandbox/requests", timeout=30).json().get("chat.complete", 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--sandbox-threads", type=int, default=32)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="alumio-bench-workers-") as root, \
            sandbox_process(options.latency_ms, options.sandbox_threads) as base_uri, \
            (postgres_server() if options.store == "postgres" else contextlib.nullcontext()) as store_url:
        print(f"{options.tasks} chat tasks, concurrency {options.concurrency} per worker, "
              f"{options.latency_ms} ms per answer, store {'PostgreSQL' if store_url else 'SQLite'}")
        print(f"{'workers':>8} {'seconds':>8} {'tasks/s':>8} {'processed':>10} {'chats':>8} {'records':>8}")
        failed = False
        for count in options.workers:
            folder = make_project(Path(root) / f"w{count}", base_uri, options.tasks,
                                  options.concurrency, store_url)
            chats_before = chat_calls(base_uri)
            seconds, processed = round_of(count, folder, options.tasks)
            chats = chat_calls(base_uri) - chats_before
            with (folder / "out" / "answers.jsonl").open() as answers:
                records = sum(1 for _ in answers)
            print(f"{count:>8} {seconds:>8.2f} {options.tasks / seconds:>8.0f} {processed:>10} {chats:>8} {records:>8}",
                  flush=True)
            failed |= not processed == chats == records == options.tasks
        if failed:
            sys.exit("not exactly once: processed, chat completions and records must each equal the tasks")


if __name__ == "__main__":
    main()
