"""Batch mode against direct mode: tasks/s end to end for chat completions on the sandbox.

Each figure is one ``run`` (read the rows into tasks, publish them, finish every task) of a
fresh project, timed in this process against an embedded sandbox whose batch jobs advance one
state per poll (so a job is done after three polls: the server's own work is left out). Batch
mode sends ``--max-requests`` per job; direct mode sends one request per task,
``--concurrency`` at a time. The sandbox shares this process's interpreter with the run, so
both figures are lower than against a separate server; their ratio is the point.

Usage:

    python benchmarks/batch.py [--rows 100000] [--direct-rows 100000] [--max-requests 10000]
                               [--concurrency 8]

``--direct-rows`` smaller than ``--rows`` times direct mode on that many rows (a rate is a rate).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from alumio_mistral import engine
from alumio_mistral.config import load_project
from alumio_mistral.sandbox import Sandbox


def project(folder: Path, base_uri: str, rows: int, outgoing: dict[str, Any]) -> Path:
    folder.mkdir()
    with (folder / "rows.jsonl").open("w") as out:
        for n in range(rows):
            out.write(json.dumps({"id": n, "text": f"ticket number {n}"}) + "\n")
    document = {
        "clients": {"mistral": {"base_uri": base_uri, "api_key": "sandbox-key"}},
        "incoming": {"rows": {"subscriber": {"type": "jsonl", "path": "rows.jsonl"}}},
        "outgoing": {"chat": {
            "publisher": {"entity": "chat.complete"},
            "entity_transformers": [{"use": "mistral/chat-request",
                                     "with": {"prompt": "Label this: &{text}", "max_tokens": 8}}],
            "response_transformers": [{"use": "mistral/chat-answer"}],
            **outgoing,
        }},
        "routes": [{"incoming": "rows", "outgoing": "chat"}],
    }
    (folder / "alumio.yaml").write_text(yaml.safe_dump(document))
    return folder


def timed_run(folder: Path, rows: int) -> float:
    """Tasks per second of one full run; every task must end processed."""
    started = time.perf_counter()
    stats = engine.run(load_project(folder, environ={}))
    elapsed = time.perf_counter() - started
    if stats.processed != rows:
        raise SystemExit(f"{folder.name}: {stats.processed} of {rows} tasks processed: {stats.failures[:3]}")
    return rows / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--direct-rows", type=int, default=None, help="rows for direct mode (default: --rows)")
    parser.add_argument("--max-requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    direct_rows = args.direct_rows or args.rows
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp, Sandbox() as sandbox:
        batch = timed_run(project(Path(tmp) / "batch", sandbox.base_uri, args.rows, {
            "mode": "batch", "batch": {"max_requests": args.max_requests, "poll_interval": 0}}), args.rows)
        jobs = sandbox.app.counts().get("batch_jobs.create", 0)
        direct = timed_run(project(Path(tmp) / "direct", sandbox.base_uri, direct_rows,
                                   {"concurrency": args.concurrency}), direct_rows)
    print(f"{'mode':<32} {'rows':>8} {'tasks/s':>9}")
    print(f"{f'batch ({jobs} jobs of <= {args.max_requests})':<32} {args.rows:>8} {batch:>9.0f}")
    print(f"{f'direct (concurrency {args.concurrency})':<32} {direct_rows:>8} {direct:>9.0f}")
    print(f"batch / direct: {batch / direct:.1f}x")


if __name__ == "__main__":
    main()
