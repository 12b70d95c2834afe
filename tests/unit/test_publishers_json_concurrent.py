"""The JSON-array file target shared by several processes, and NaN kept out of every file target."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from types import SimpleNamespace

import pytest

from alumio_mistral.publishers import PublishError, build_publisher


def _project(root: Path) -> SimpleNamespace:
    return SimpleNamespace(root=root, path=root / "alumio.yaml", transformers={}, catalog=None)


def _write_records(root: str, writer: int, count: int) -> None:
    """One run's worth of records, from its own process and its own publisher."""
    publisher = build_publisher({"type": "json", "path": "out/all.json"}, _project(Path(root)), {})
    for number in range(count):
        publisher.publish({"writer": writer, "n": number})


def test_two_processes_sharing_a_json_array_lose_no_record(tmp_path: Path) -> None:
    """Each process used to cache the array it had read and rewrite the file from that cache,
    so the other process's records vanished (143 of 300 in the report)."""
    context = multiprocessing.get_context("spawn")  # a fresh process, as a second run would be
    writers = [context.Process(target=_write_records, args=(str(tmp_path), writer, 150)) for writer in (1, 2)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(timeout=60)
        assert process.exitcode == 0
    items = json.loads((tmp_path / "out" / "all.json").read_text(encoding="utf-8"))
    assert len(items) == 300
    assert sorted((item["writer"], item["n"]) for item in items) == [
        (writer, number) for writer in (1, 2) for number in range(150)
    ]


def test_a_json_array_sees_records_another_publisher_wrote_since(tmp_path: Path) -> None:
    first = build_publisher({"type": "json", "path": "all.json"}, _project(tmp_path), {})
    second = build_publisher({"type": "json", "path": "all.json"}, _project(tmp_path), {})
    first.publish({"a": 1})
    second.publish({"b": 2})
    first.publish({"c": 3})
    assert json.loads((tmp_path / "all.json").read_text()) == [{"a": 1}, {"b": 2}, {"c": 3}]


@pytest.mark.parametrize("kind", ["json", "jsonl", "csv"])
@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_infinity_fail_the_task_instead_of_writing_invalid_json(
    tmp_path: Path, kind: str, number: float
) -> None:
    target = tmp_path / f"out.{kind}"
    publisher = build_publisher({"type": kind, "path": target.name}, _project(tmp_path), {})
    with pytest.raises(PublishError, match=f"{target}.*NaN or Infinity"):
        publisher.publish({"id": 1, "score": {"value": number} if kind == "json" else number})
    assert not target.exists() or target.read_text() == ""
    publisher.publish({"id": 2, "score": 0.5})
    text = target.read_text()
    assert "NaN" not in text and "Infinity" not in text and "0.5" in text
