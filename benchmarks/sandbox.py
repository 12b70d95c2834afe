"""Requests per second the sandbox serves to one plain ``requests.Session`` loop.

The sandbox runs in its own process (``alumio-mistral sandbox``), as it does for users, so
the client loop and the server do not share one interpreter lock. Usage:

    python benchmarks/sandbox.py [--seconds 2] [--rounds 3] [--spec path/to/openapi.yaml]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

CHAT = {"model": "mistral-small-latest", "messages": [{"role": "user", "content": "Say hello in one word."}]}


def start(spec: Path | None) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-c", "from alumio_mistral.cli import main; main()", "sandbox", "--json"]
    if spec is not None:
        command += ["--spec", str(spec)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    lines = []
    while True:
        line = process.stdout.readline()
        if not line:
            raise SystemExit("the sandbox did not start")
        lines.append(line)
        if line.startswith("}"):
            return process, json.loads("".join(lines))["base_uri"]


def rate(session: requests.Session, method: str, url: str, body: Any, seconds: float) -> float:
    """Requests per second over ``seconds`` (after a short warm-up)."""
    for _ in range(50):
        session.request(method, url, json=body).raise_for_status()
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        session.request(method, url, json=body).raise_for_status()
        count += 1
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0, help="measuring time of one round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per operation (the median is reported)")
    parser.add_argument("--spec", type=Path, help="serve with request validation against this spec file")
    args = parser.parse_args()
    process, base_uri = start(args.spec)
    try:
        session = requests.Session()
        session.headers["Authorization"] = "Bearer sandbox-key"
        mode = "validating against the spec" if args.spec else "without a spec"
        for name, method, path, body in (("models.list", "GET", "/v1/models", None),
                                         ("chat.complete", "POST", "/v1/chat/completions", CHAT)):
            rounds = sorted(rate(session, method, base_uri + path, body, args.seconds) for _ in range(args.rounds))
            figures = ", ".join(f"{r:.0f}" for r in rounds)
            print(f"{name:14} {statistics.median(rounds):7.0f} requests/s median ({figures}; {mode})")
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    main()
