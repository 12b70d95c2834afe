"""Workers sharing one store: tasks per second for 1, 2 and 4 ``worker`` processes.

Each round makes ``--tasks`` tasks (``incoming run``), starts N ``alumio-mistral worker``
processes on the project, and times from their start until every task is ``processed``; then
the workers get SIGTERM. Each task is a chat completion to the sandbox (``--latency-ms`` per
answer) whose answer is appended to a JSONL target. The store is SQLite, or PostgreSQL with
``--store-url postgresql://...`` (each round in a fresh schema). Start-up (imports, catalog) is
inside the figure: it is what a person starting workers waits for. The sandbox answers with 8
threads in this process: on a small machine it, not the workers, sets the ceiling (the figure
shows whether workers add overhead there; on real hosts they add throughput).

Usage:

    python benchmarks/workers.py [--workers 1 2 4] [--tasks 2000] [--concurrency 8] [--latency-ms 20]
                                 [--store-url postgresql://...]
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

from alumio_mistral.config import load_project
from alumio_mistral.sandbox import Sandbox
from alumio_mistral.tasks import open_store

CLI = [sys.executable, "-c", "from alumio_mistral.cli import main; main()"]


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


def round_of(workers: int, folder: Path, tasks: int) -> float:
    """Seconds from starting ``workers`` processes until every task is processed."""
    store = open_store(load_project(folder, environ={}))
    started = time.monotonic()
    processes = [subprocess.Popen([*CLI, "worker", str(folder)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for _ in range(workers)]
    try:
        while store.counts()["processed"] < tasks:
            if any(process.poll() is not None for process in processes):
                raise SystemExit("a worker ended early")
            time.sleep(0.05)
        return time.monotonic() - started
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=60)
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--store-url", default=None)
    options = parser.parse_args()
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # a busy sandbox says so per request
    with Sandbox(faults=f"latency={options.latency_ms}ms@/v1/chat/*", validate=False) as sandbox, \
            tempfile.TemporaryDirectory(prefix="alumio-bench-workers-") as root:
        print(f"{options.tasks} chat tasks, concurrency {options.concurrency} per worker, "
              f"{options.latency_ms} ms per answer, store {'PostgreSQL' if options.store_url else 'SQLite'}")
        print(f"{'workers':>8} {'seconds':>8} {'tasks/s':>8}")
        for count in options.workers:
            folder = make_project(Path(root) / f"w{count}", sandbox.base_uri, options.tasks,
                                  options.concurrency, options.store_url)
            seconds = round_of(count, folder, options.tasks)
            print(f"{count:>8} {seconds:>8.2f} {options.tasks / seconds:>8.0f}", flush=True)


if __name__ == "__main__":
    main()
