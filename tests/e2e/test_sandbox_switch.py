"""Tried as a new user would: the ticket-triage example without a key, then with a real one.

The first run talks to the embedded sandbox and must say so; its de-dup marks must not make the
second run, pointed at a server by MISTRAL_API_KEY and MISTRAL_BASE_URI, skip any ticket as
already sent. A second, separately started sandbox stands in for the real API and counts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from alumio_mistral.config.clients import SANDBOX_NOTICE
from alumio_mistral.sandbox import Sandbox

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # three runs of the command, ~13 s

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ticket-triage"
CLI = [sys.executable, "-c", "from alumio_mistral.cli import main; main()"]
TICKETS = 5


def run(folder: Path, **variables: str) -> tuple[dict, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MISTRAL_")}
    done = subprocess.run([*CLI, "run", str(folder), "--json"], env={**env, **variables},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stderr


def test_a_run_with_a_key_after_a_sandbox_run_sends_every_ticket(tmp_path: Path) -> None:
    folder = tmp_path / "ticket-triage"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("out", ".alumio"))

    fake, stderr = run(folder)
    assert SANDBOX_NOTICE in stderr and fake["sandbox"] is True
    assert (fake["created"], fake["processed"]) == (TICKETS, TICKETS)

    with Sandbox() as real:
        variables = {"MISTRAL_API_KEY": "sk-e2e-switch-0123456789", "MISTRAL_BASE_URI": real.base_uri}
        sent, stderr = run(folder, **variables)
        assert SANDBOX_NOTICE not in stderr and sent["sandbox"] is False
        assert (sent["read"], sent["created"], sent["processed"]) == (TICKETS, TICKETS, TICKETS)
        assert real.requests()["chat.complete"] == TICKETS

        again, _ = run(folder, **variables)  # de-dup still holds within the real target
        assert (again["created"], again["processed"]) == (0, 0)
        assert real.requests()["chat.complete"] == TICKETS

    assert (folder / ".alumio" / "sandbox" / "tasks.db").is_file() and (folder / ".alumio" / "tasks.db").is_file()
