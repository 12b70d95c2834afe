"""``run`` and a batched file target: the records are written while the incoming reads, and the
tasks stored already finished, with what the publish loop would have written and recorded."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from alumio_mistral import engine
from alumio_mistral.config import load_project
from alumio_mistral.outgoing import Outgoing
from alumio_mistral.runtime import Runtime
from alumio_mistral.tasks import SqliteTaskStore

ROWS = 2500  # more than two batches of the incoming and of the target


def _project(folder: Path, *, dedup: str = "always", outgoing: dict | None = None, rows: int = ROWS):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rows.jsonl").write_text("".join(
        json.dumps({"id": n, "email": f"u{n}@example.com" if n % 7 else "none", "text": f"row {n}"}) + "\n"
        for n in range(rows)))
    document = {
        "incoming": {"rows": {"subscriber": {"type": "jsonl", "path": "rows.jsonl"}, "identity": "id", "dedup": dedup}},
        "outgoing": {"out": outgoing or {"publisher": {"type": "jsonl", "path": "out/rows.jsonl"}}},
        "routes": [{"incoming": "rows", "outgoing": "out"}],
    }
    (folder / "alumio.yaml").write_text(yaml.safe_dump(document))
    return load_project(folder, environ={})


def _tasks(project) -> list:
    with SqliteTaskStore(project.store.path) as store:
        return store.list(limit=100_000)


def _spy(monkeypatch) -> list[int]:
    """The size of every batch an outgoing wrote ahead."""
    batches: list[int] = []
    real = Outgoing.write_ahead

    def write_ahead(self, entities):
        batches.append(len(entities))
        return real(self, entities)

    monkeypatch.setattr(Outgoing, "write_ahead", write_ahead)
    return batches


def test_run_writes_ahead_what_reading_then_publishing_writes(tmp_path: Path, monkeypatch) -> None:
    batches = _spy(monkeypatch)
    ahead = _project(tmp_path / "ahead")
    stats = engine.run(ahead)
    assert sum(batches) == ROWS and len(batches) >= 3
    assert (stats.read, stats.created, stats.processed, stats.failed) == (ROWS, ROWS, ROWS, 0) and stats.ok

    batches.clear()
    queued = _project(tmp_path / "queued")
    with Runtime(queued) as runtime:  # the two steps one at a time: every task claimed, then finished
        runtime.read()
        engine.publish(runtime)
    assert batches == []
    written = (tmp_path / "ahead" / "out" / "rows.jsonl").read_bytes()
    assert written == (tmp_path / "queued" / "out" / "rows.jsonl").read_bytes()
    assert len(written.splitlines()) == ROWS

    tasks = _tasks(ahead)
    assert {(task.status, task.attempts, task.claimed_by) for task in tasks} == {("processed", 1, None)}
    assert [task.entity["id"] for task in tasks] == list(range(ROWS))
    assert [task.entity for task in tasks] == [task.entity for task in _tasks(queued)]


def test_an_entity_the_outgoing_refuses_is_a_failed_task_and_the_others_are_written(tmp_path: Path) -> None:
    project = _project(tmp_path, outgoing={
        "publisher": {"type": "jsonl", "path": "out/rows.jsonl"},
        "entity_transformers": [{"type": "validate", "fields": {"email": {"required": True, "pattern": "[^@]+@"}}}],
    })
    stats = engine.run(project)
    refused = [n for n in range(ROWS) if n % 7 == 0]
    assert (stats.processed, stats.failed) == (ROWS - len(refused), len(refused)) and not stats.ok
    assert stats.failures[0]["outgoing"] == "out" and "email" in stats.failures[0]["message"]
    lines = (tmp_path / "out" / "rows.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [n for n in range(ROWS) if n % 7]
    failed = [task for task in _tasks(project) if task.status == "failed"]
    assert [task.entity["id"] for task in failed] == refused
    assert all(task.last_error["type"] == "TransformError" and task.attempts == 1 for task in failed)


def test_a_target_with_tasks_waiting_from_before_goes_through_the_tasks_in_order(tmp_path: Path,
                                                                                monkeypatch) -> None:
    batches = _spy(monkeypatch)
    project = _project(tmp_path, rows=3)
    with Runtime(project) as runtime:
        runtime.read()  # three tasks wait, new
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps({"id": n, "email": "@"}) + "\n" for n in (10, 11)))
    stats = engine.run(project)
    assert stats.processed == 5 and batches == []
    lines = (tmp_path / "out" / "rows.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [0, 1, 2, 10, 11]
    engine.run(project)  # nothing waits now: this run writes ahead
    assert batches == [2]


def test_an_incoming_that_deduplicates_goes_through_the_tasks(tmp_path: Path, monkeypatch) -> None:
    """De-dup decides inside the store's transaction, after a record written ahead would be in
    the file: such an incoming's tasks are stored new, then claimed and published."""
    batches = _spy(monkeypatch)
    project = _project(tmp_path, dedup="new", rows=10)
    assert engine.run(project).processed == 10 and batches == []
    assert engine.run(project).processed == 0  # seen: no task, no line
    assert len((tmp_path / "out" / "rows.jsonl").read_text().splitlines()) == 10


def test_a_target_with_then_or_answer_transformers_goes_through_the_tasks(tmp_path: Path, monkeypatch) -> None:
    batches = _spy(monkeypatch)
    project = _project(tmp_path, rows=10, outgoing={
        "publisher": {"type": "jsonl", "path": "out/rows.jsonl"},
        "response_transformers": [{"type": "set", "path": "seen", "value": True}],
    })
    assert engine.run(project).processed == 10 and batches == []


def test_a_batch_that_cannot_be_written_ahead_waits_as_new_and_the_publish_pass_reports_it(tmp_path: Path) -> None:
    project = _project(tmp_path, rows=10)
    (tmp_path / "out" / "rows.jsonl").mkdir(parents=True)  # a folder where the file goes
    stats = engine.run(project)
    assert stats.failed == 10 and not stats.ok and "rows.jsonl" in stats.failures[0]["message"]
    assert {(task.status, task.attempts) for task in _tasks(project)} == {("failed", 1)}
