"""Tasks per second through ``engine.run``: chat completions to the sandbox, and a JSONL file.

The sandbox runs in the benchmark's own process (``Sandbox``), so HTTP figures include its
cost on the same cores; they are a floor for what a remote API allows, not a ceiling. Usage:

    python benchmarks/outgoing.py [--tasks 1000] [--concurrency 1 8] [--latency 20ms]

``--latency`` makes the sandbox wait before each answer, as a remote API does; that is where
``concurrency`` pays.
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


def _project(folder: Path, tasks: int, outgoing: dict[str, Any], base_uri: str) -> Any:
    folder.mkdir(parents=True)
    (folder / "rows.jsonl").write_text("".join(json.dumps({"id": n, "q": f"question {n}"}) + "\n" for n in range(tasks)))
    document = {
        "clients": {"mistral": {"base_uri": base_uri, "api_key": "sandbox-key"}},
        "incoming": {"rows": {"subscriber": {"type": "jsonl", "path": "rows.jsonl"}}},
        "outgoing": {"out": outgoing},
        "routes": [{"incoming": "rows", "outgoing": "out"}],
    }
    (folder / "alumio.yaml").write_text(yaml.safe_dump(document))
    return load_project(folder, environ={})


def measure(label: str, project: Any) -> None:
    started = time.perf_counter()
    stats = engine.run(project)
    elapsed = time.perf_counter() - started
    assert stats.failed == 0, stats.failures[:3]
    print(f"{label:<40} {stats.processed:>6} tasks in {elapsed:6.2f} s = {stats.processed / elapsed:8.0f} tasks/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--latency", default=None, help="added server latency, e.g. 20ms")
    args = parser.parse_args()
    chat = {"entity": "chat.complete", "body": "request"}
    request = [{"type": "set", "path": "request",
                "value": {"model": "mistral-small-latest", "messages": [{"role": "user", "content": "&{q}"}]}}]
    with tempfile.TemporaryDirectory() as temp, Sandbox(faults=f"latency={args.latency}" if args.latency else None) as sandbox:
        root = Path(temp)
        for concurrency in args.concurrency:
            project = _project(root / f"chat-{concurrency}", args.tasks,
                               {"publisher": chat, "entity_transformers": request, "concurrency": concurrency},
                               sandbox.base_uri)
            measure(f"chat.complete, concurrency {concurrency}, latency {args.latency or '0'}", project)
        project = _project(root / "jsonl", args.tasks, {"publisher": {"type": "jsonl", "path": "out.jsonl"}},
                           sandbox.base_uri)
        measure("jsonl file (fsync per task)", project)


if __name__ == "__main__":
    main()
