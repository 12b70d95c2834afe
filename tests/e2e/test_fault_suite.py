"""The fault suite: 200 rows to ``chat.complete`` and to ``files.upload`` through the sandbox under
each injected fault, then ``tasks retry`` (never ``--force``) until nothing is replayable.

Counted on the sandbox afterwards: no file uploaded twice (the sandbox's file records by
filename), every task ``processed``, ``failed`` with a reason or ``review`` (nothing left ``new``
or ``processing``), and every processed chat task holding the sandbox's full answer for its row
(never a result read from a truncated or non-JSON body).

The faults stay on for the first retry rounds (a flaky API stays flaky), then the storm passes,
so the rounds end with nothing replayable. A dropped connection happens after the sandbox
handled the request: the realistic, dangerous case, where an upload exists but its answer was
lost. The client's waits are small so the whole suite stays well under two minutes.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from click.testing import CliRunner

from alumio_mistral import engine
from alumio_mistral.cli import main
from alumio_mistral.config import load_project
from alumio_mistral.http import Client, ClientConfig
from alumio_mistral.http.errors import TransportError
from alumio_mistral.sandbox import Faults, Sandbox
from alumio_mistral.tasks import SqliteTaskStore

pytestmark = pytest.mark.e2e

ROWS = 200
KEY = "sk-fault-suite-key-777777"
#: retry rounds with the faults still on, then rounds after the storm has passed
ROUNDS_UNDER_FAULTS = 3
MAX_ROUNDS = 8
#: the client gives up on an answer after this long; the latency fault waits longer
READ_TIMEOUT = 0.5
SLOWEST = 0.7

FAULTS = {
    "drop": "drop=0.3",
    "read-timeout": f"latency=0.25:{SLOWEST}s",
    "truncate": "truncate=0.3",
    "garbage": "garbage=0.3",
    "server-errors": "error=0.15:500;error=0.15:503",
    "429-storm": "rate_limit=100/s",
    "mix": f"drop=0.1;latency=0.05:{SLOWEST}s;truncate=0.1;garbage=0.1;error=0.05:500;error=0.05:503;"
           "rate_limit=150/s",
}
#: what the sandbox must have counted for a scenario to have exercised its fault at all
EVIDENCE = {"drop": "dropped", "server-errors": "status 503", "429-storm": "status 429", "mix": "dropped"}
CHAT_ANSWER = re.compile(r"Sandbox answer [0-9a-f]{8} to: (?P<prompt>.+)")


def _row(n: int) -> dict[str, Any]:
    return {"id": n, "text": f"row {n}: say hello", "filename": f"row-{n:03d}.jsonl",
            "content": json.dumps({"n": n}) + "\n", "form": {"purpose": "fine-tune"}}


def _project(folder: Path, base_uri: str) -> Path:
    """Rows routed to a chat outgoing and an upload outgoing; small waits everywhere."""
    folder.mkdir()
    (folder / "rows.jsonl").write_text("".join(json.dumps(_row(n)) + "\n" for n in range(ROWS)))
    task_retry = {"policy": "retry", "attempts": 3, "backoff": 0.01}
    document = {
        "clients": {"mistral": {
            "base_uri": base_uri, "api_key": KEY, "max_attempts": 3, "backoff_factor": 0.01,
            "backoff_max": 0.05, "max_retry_wait": 3, "connect_timeout": 2, "read_timeout": READ_TIMEOUT,
            "breaker_cool_down": 0.2,
        }},
        "incoming": {"rows": {"subscriber": {"type": "jsonl", "path": "rows.jsonl"},
                              "identity": "id", "dedup": "new"}},
        "outgoing": {
            "chat": {
                "publisher": {"entity": "chat.complete", "body": "request"},
                "entity_transformers": [{"type": "set", "path": "request", "value": {
                    "model": "mistral-small-latest", "messages": [{"role": "user", "content": "&{text}"}]}}],
                "failure": task_retry, "concurrency": 8,
            },
            "upload": {
                "publisher": {"entity": "files.upload", "body": "form",
                              "files": {"file": {"pattern": "content", "filename": "&{filename}"}}},
                "failure": task_retry, "concurrency": 8,
            },
        },
        "routes": [{"incoming": "rows", "outgoing": ["chat", "upload"]}],
    }
    (folder / "alumio.yaml").write_text(yaml.safe_dump(document))
    return folder


def _tasks(folder: Path) -> list[Any]:
    with SqliteTaskStore(folder / ".alumio" / "tasks.db") as store:
        return store.list()


def _replay_until_nothing_is_replayable(folder: Path, sandbox: Sandbox) -> int:
    """``tasks retry`` of the failed tasks (and of any left ``new``, e.g. by an open circuit
    breaker) round after round; returns the rounds it took."""
    for round_number in range(1, MAX_ROUNDS + 1):
        if round_number == ROUNDS_UNDER_FAULTS + 1:
            sandbox.app.faults = Faults()  # the storm passes
        replayable = Counter(task.status for task in _tasks(folder) if task.status in ("failed", "new"))
        if not replayable:
            return round_number - 1
        for status in replayable:
            result = CliRunner().invoke(main, ["tasks", "retry", str(folder), "--status", status, "--json"])
            assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return MAX_ROUNDS


def test_a_dropped_upload_was_handled_before_its_connection_closed() -> None:
    """The drop fault is the dangerous kind: the server acted, the client heard nothing."""
    with Sandbox(faults="drop=1@files.upload") as sandbox, \
            Client(ClientConfig(base_uri=sandbox.base_uri, api_key=KEY, max_attempts=1)) as client:
        with pytest.raises(TransportError):
            client.call("files.upload", files={"file": ("dropped.jsonl", b"{}\n")}, data={"purpose": "fine-tune"})
        assert [record["filename"] for record in sandbox.app.files.records.values()] == ["dropped.jsonl"]
        assert sandbox.requests()["dropped"] == 1


def _run_and_replay(folder: Path, sandbox: Sandbox) -> int:
    """One run of the 200 rows, then the replay rounds; returns the rounds they took."""
    first = engine.run(load_project(folder, environ={}))
    assert (first.read, first.created) == (ROWS, 2 * ROWS)
    return _replay_until_nothing_is_replayable(folder, sandbox)


@pytest.mark.slow
@pytest.mark.parametrize("fault", list(FAULTS))
def test_no_duplicate_upload_no_lost_task_no_broken_answer(tmp_path: Path, fault: str) -> None:
    with Sandbox(seed=11, faults=FAULTS[fault], threads=16) as sandbox:
        folder = _project(tmp_path / "project", sandbox.base_uri)
        rounds = _run_and_replay(folder, sandbox)
        counts = requests.get(f"{sandbox.base_uri}/_sandbox/requests", timeout=5).json()
        files = list(sandbox.app.files.records.values())
    tasks = _tasks(folder)
    statuses = Counter(task.status for task in tasks)
    summary = f"{fault}: statuses {dict(statuses)} after {rounds} retry round(s); sandbox counted {counts}"
    if fault in EVIDENCE:
        assert counts.get(EVIDENCE[fault], 0) > 0, f"the fault never happened: {summary}"

    # no upload twice: one sandbox file per filename at most
    twice = {name: n for name, n in Counter(record["filename"] for record in files).items() if n > 1}
    assert not twice, f"{len(twice)} files uploaded more than once, e.g. {sorted(twice.items())[:3]}; {summary}"

    # every task settled: processed, failed with a reason, or review; nothing left to replay
    assert set(statuses) <= {"processed", "failed", "review"}, summary
    assert statuses["failed"] == 0, f"still replayable after {MAX_ROUNDS} rounds: {summary}"
    unexplained = [task.id for task in tasks if task.status in ("failed", "review")
                   and not (task.last_error and task.last_error.get("message"))]
    assert not unexplained, f"tasks {unexplained[:5]} have no reason; {summary}"

    # what is processed is real: the sandbox's whole answer, the uploaded file's own record
    by_name = {record["filename"]: record for record in files}
    for task in tasks:
        if task.status != "processed":
            continue
        if task.outgoing == "chat":
            choices = task.result.get("choices") if isinstance(task.result, dict) else None
            content = choices[0]["message"]["content"] if choices else None
            match = CHAT_ANSWER.fullmatch(content) if isinstance(content, str) else None
            assert match and match["prompt"] == task.entity["text"], \
                f"chat task {task.id} recorded {task.result!r:.200} as processed; {summary}"
        else:
            record = by_name.get(task.entity["filename"])
            assert isinstance(task.result, dict) and record is not None and task.result.get("id") == record["id"], \
                f"upload task {task.id} recorded {task.result!r:.200} as processed; {summary}"


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["drop", "read-timeout", "server-errors", "mix"])
def test_reconcile_then_retry_leaves_exactly_one_file_per_row(tmp_path: Path, fault: str) -> None:
    """After the storm, ``tasks reconcile`` settles the uploads held in review by looking for each
    file, and ``tasks retry`` sends only those that never arrived: every row, one file.

    Reconciling starts once the slowest request the sandbox was still handling has finished
    (see the next test for reconciling while one is in flight)."""
    with Sandbox(seed=11, faults=FAULTS[fault], threads=16) as sandbox:
        folder = _project(tmp_path / "project", sandbox.base_uri)
        _run_and_replay(folder, sandbox)
        sandbox.app.faults = Faults()
        time.sleep(SLOWEST)  # nothing is in flight any more: no need to wait out the settle window
        reconciled = CliRunner().invoke(main, ["tasks", "reconcile", str(folder), "--settle", "0", "--json"])
        assert reconciled.exception is None, reconciled.output
        rounds = _replay_until_nothing_is_replayable(folder, sandbox)
        files = Counter(record["filename"] for record in sandbox.app.files.records.values())
    uploads = Counter(task.status for task in _tasks(folder) if task.outgoing == "upload")
    summary = f"{fault}: upload statuses {dict(uploads)} after reconcile and {rounds} retry round(s)"
    assert uploads == {"processed": ROWS}, summary
    assert files == Counter(_row(n)["filename"] for n in range(ROWS)), summary


def test_reconcile_does_not_call_an_upload_still_in_flight_absent(tmp_path: Path) -> None:
    """An upload whose answer timed out may still be in the server's hands: until it could have
    finished, looking and not finding it proves nothing, so the task must not become replayable."""
    with Sandbox(faults="latency=1.5s@files.upload") as sandbox:
        folder = _project(tmp_path / "project", sandbox.base_uri)
        (folder / "rows.jsonl").write_text(json.dumps(_row(0)) + "\n")
        engine.run(load_project(folder, environ={}), outgoing="upload")
        assert [task.status for task in _tasks(folder) if task.outgoing == "upload"] == ["review"]
        early = CliRunner().invoke(main, ["tasks", "reconcile", str(folder)])  # the upload is still being handled
        assert early.exit_code == 3 and "look again after" in early.output, early.output
        sandbox.app.faults = Faults()
        time.sleep(1.5)  # now it has landed
        CliRunner().invoke(main, ["tasks", "retry", str(folder)])
        files = [record["filename"] for record in sandbox.app.files.records.values()]
    assert files == ["row-000.jsonl"]
