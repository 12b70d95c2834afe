"""``alumio-mistral sandbox``: serves until interrupted, prints its base URI, refuses bad faults."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests
from click.testing import CliRunner

from alumio_mistral.cli import main

pytestmark = pytest.mark.e2e
COMMAND = [sys.executable, "-c", "from alumio_mistral.cli import main; main()", "sandbox"]


def test_serves_until_interrupted_and_prints_its_base_uri() -> None:
    process = subprocess.Popen([*COMMAND, "--json", "--seed", "3", "--faults", "error=1:503@/v1/files"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        base_uri = json.loads("".join(lines))["base_uri"]
        headers = {"Authorization": "Bearer k"}
        assert requests.get(base_uri + "/v1/models", headers=headers).status_code == 200
        assert requests.get(base_uri + "/v1/files", headers=headers).status_code == 503
        assert requests.get(base_uri + "/_sandbox/requests").json()["status 503"] == 1
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
    assert process.returncode == 0


def test_bad_fault_spec_exits_non_zero_with_the_reason() -> None:
    result = CliRunner().invoke(main, ["sandbox", "--faults", "latency=soon"])
    assert result.exit_code == 1
    assert "'latency=soon'" in result.output and "50ms" in result.output


def test_help_documents_the_fault_grammar() -> None:
    result = CliRunner().invoke(main, ["sandbox", "--help"])
    assert result.exit_code == 0
    for word in ("rate_limit=20/s", "error=0.1:503", "latency=50ms", "drop=", "truncate=", "garbage=", "seed="):
        assert word in result.output



@contextmanager
def serving(*options: str) -> Iterator[str]:
    """The base URI of ``alumio-mistral sandbox --json OPTIONS`` in a subprocess, stopped after."""
    process = subprocess.Popen([*COMMAND, "--json", *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        assert process.stdout is not None
        yield json.loads("".join(process.stdout.readline() for _ in range(3)))["base_uri"]
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)


def test_a_sandbox_started_with_no_options_validates_requests() -> None:
    with serving() as base_uri:
        answer = requests.post(base_uri + "/v1/chat/completions", json={"messages": "not a list"},
                               headers={"Authorization": "Bearer k"})
    assert answer.status_code == 422
    assert {"loc": ["body", "messages"], "msg": "'not a list' is not of type 'array'", "type": "type"} in \
        answer.json()["detail"]


def test_no_validate_lets_bodies_through() -> None:
    headers = {"Authorization": "Bearer k"}
    body = {"model": "m", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": -5}
    with serving("--no-validate") as base_uri:
        assert requests.post(base_uri + "/v1/chat/completions", json=body, headers=headers).status_code == 200
        assert requests.post(base_uri + "/v1/chat/completions", json=[1], headers=headers).status_code == 422
