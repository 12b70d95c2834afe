"""Requests per second the sandbox serves to one keep-alive client loop.

The sandbox runs in its own process (``alumio-mistral sandbox``), as it does for users, so
the client loop and the server do not share one interpreter lock. The default client is the
standard library's ``http.client`` on one keep-alive connection: a request and its answer
take turns, so a heavy client halves the figure whatever the server does (``--client
requests`` shows what a ``requests.Session`` loop sees). The server's own CPU time per
request is printed too: it does not depend on the client. Usage:

    python benchmarks/sandbox.py [--seconds 2] [--rounds 3] [--client requests] [--no-validate] [--spec FILE]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

CHAT = {"model": "mistral-small-latest", "messages": [{"role": "user", "content": "Say hello in one word."}]}
AUTH = {"Authorization": "Bearer sandbox-key"}
Send = Callable[[str, str, Any], None]


def start(spec: Path | None, validate: bool = True) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-c", "from alumio_mistral.cli import main; main()", "sandbox", "--json"]
    if spec is not None:
        command += ["--spec", str(spec)]
    if not validate:
        command.append("--no-validate")
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


def stdlib_sender(base_uri: str) -> Send:
    where = urlsplit(base_uri)
    connection = http.client.HTTPConnection(where.hostname or "127.0.0.1", where.port)

    def send(method: str, path: str, body: Any) -> None:
        data = json.dumps(body).encode() if body is not None else None
        headers = {**AUTH, "Content-Type": "application/json"} if data else AUTH
        connection.request(method, path, body=data, headers=headers)
        answer = connection.getresponse()
        answer.read()
        if answer.status != 200:
            raise SystemExit(f"{method} {path} answered {answer.status}")

    return send


def requests_sender(base_uri: str) -> Send:
    session = requests.Session()
    session.headers.update(AUTH)

    def send(method: str, path: str, body: Any) -> None:
        session.request(method, base_uri + path, json=body).raise_for_status()

    return send


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux ``/proc``; ``None`` elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rate(send: Send, method: str, path: str, body: Any, seconds: float, pid: int) -> tuple[float, float | None]:
    """Requests per second over ``seconds`` (after a short warm-up) and the server's CPU µs per request."""
    for _ in range(50):
        send(method, path, body)
    count, started, cpu = 0, time.perf_counter(), cpu_seconds(pid)
    while time.perf_counter() - started < seconds:
        send(method, path, body)
        count += 1
    elapsed = time.perf_counter() - started
    used = cpu_seconds(pid)
    return count / elapsed, (used - cpu) / count * 1e6 if used is not None and cpu is not None else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0, help="measuring time of one round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per operation (the median is reported)")
    parser.add_argument("--client", choices=("stdlib", "requests"), default="stdlib", help="the client loop")
    parser.add_argument("--no-validate", action="store_true", help="serve without request validation")
    parser.add_argument("--spec", type=Path, help="serve a newer spec file's schemas")
    args = parser.parse_args()
    process, base_uri = start(args.spec, validate=not args.no_validate)
    try:
        send = (stdlib_sender if args.client == "stdlib" else requests_sender)(base_uri)
        mode = f"{'no validation' if args.no_validate else 'validating'}, {args.client} client"
        for name, method, path, body in (("models.list", "GET", "/v1/models", None),
                                         ("chat.complete", "POST", "/v1/chat/completions", CHAT)):
            rounds = [rate(send, method, path, body, args.seconds, process.pid) for _ in range(args.rounds)]
            rates = sorted(r for r, _ in rounds)
            cpu = [c for _, c in rounds if c is not None]
            server = f"; server CPU {statistics.median(cpu):.0f} µs/request" if cpu else ""
            figures = ", ".join(f"{r:.0f}" for r in rates)
            print(f"{name:14} {statistics.median(rates):7.0f} requests/s median ({figures}; {mode}{server})")
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    main()
