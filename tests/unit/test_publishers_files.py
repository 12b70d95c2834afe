"""File and stdout publishers: whole records under concurrency, CSV headers once, atomic JSON arrays."""

from __future__ import annotations

import csv
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest

from alumio_mistral.publishers import PublishError, build_publisher


@pytest.fixture
def project(tmp_path: Path) -> SimpleNamespace:
    return SimpleNamespace(root=tmp_path, path=tmp_path / "alumio.yaml", transformers={}, catalog=None)


def test_jsonl_lines_stay_whole_under_parallel_writers(project):
    publisher = build_publisher({"type": "jsonl", "path": "out/rows.jsonl"}, project, {})
    big = "x" * 20_000  # larger than a pipe buffer: a torn write would show
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda n: publisher.publish({"n": n, "pad": big}), range(200)))
    lines = (project.root / "out" / "rows.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["n"] for line in lines) == list(range(200))
    assert publisher.safe_to_repeat and publisher.publish({"n": 1}) is None


def test_jsonl_appends_to_an_existing_file(project):
    target = project.root / "rows.jsonl"
    target.write_text('{"old": true}\n')
    build_publisher({"type": "jsonl", "path": "rows.jsonl"}, project, {}).publish({"new": "é"})
    assert target.read_text(encoding="utf-8").splitlines() == ['{"old": true}', '{"new":"é"}']


@pytest.mark.parametrize("record", [
    {"deep": {"scores": [1.5, float("nan")]}},
    {"pairs": [(0.5, float("-inf"))]},
    [{"ok": 1}, {"score": float("inf")}],
])
def test_jsonl_refuses_nan_and_infinity_at_any_depth(project, record):
    """The JSONL encoder writes NaN as null: a nested one must still fail the task, not vanish."""
    publisher = build_publisher({"type": "jsonl", "path": "rows.jsonl"}, project, {})
    with pytest.raises(PublishError, match="NaN or Infinity"):
        publisher.publish(record)
    publisher.close()
    assert not (project.root / "rows.jsonl").exists() or (project.root / "rows.jsonl").read_text() == ""


def test_jsonl_writes_what_its_fast_encoder_refuses(project):
    """Integer keys and integers beyond 64 bits are JSON a reader takes: written, not failed."""
    publisher = build_publisher({"type": "jsonl", "path": "rows.jsonl"}, project, {})
    publisher.publish({1: "one", "big": 2**70, "text": "é\u2028"})
    publisher.publish({"tuple": (1, 2), "none": None, "float": 0.25})
    publisher.close()
    lines = (project.root / "rows.jsonl").read_bytes().decode("utf-8").split("\n")[:-1]  # U+2028 is no line end
    assert [json.loads(line) for line in lines] == [
        {"1": "one", "big": 2**70, "text": "é\u2028"}, {"tuple": [1, 2], "none": None, "float": 0.25},
    ]


def test_csv_writes_the_header_once_and_formats_cells(project):
    publisher = build_publisher({"type": "csv", "path": "rows.csv", "fields": ["id", "tags", "ok", "none"]}, project, {})
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda n: publisher.publish({"id": n, "tags": ["a", "b"], "ok": True, "extra": 1}), range(20)))
    with open(project.root / "rows.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["id", "tags", "ok", "none"]
    assert len(rows) == 21
    assert rows[1][1:] == ['["a", "b"]', "true", ""]


def test_csv_columns_default_to_the_first_entity_and_reject_non_objects(project):
    publisher = build_publisher({"type": "csv", "path": "rows.csv", "delimiter": ";"}, project, {})
    publisher.publish({"a": 1, "b": "x;y"})
    assert (project.root / "rows.csv").read_text().splitlines() == ["a;b", '1;"x;y"']
    with pytest.raises(PublishError, match="a CSV row needs an object"):
        publisher.publish([1, 2])


def test_json_array_is_replaced_atomically_and_keeps_earlier_items(project):
    target = project.root / "all.json"
    target.write_text("[1]")
    publisher = build_publisher({"type": "json", "path": "all.json"}, project, {})
    publisher.publish({"a": 1})
    publisher.publish({"b": 2})
    assert json.loads(target.read_text()) == [1, {"a": 1}, {"b": 2}]
    assert [name for name in os.listdir(project.root) if name.startswith(".")] == []  # no temp left behind


def test_json_array_write_failure_changes_nothing(project, monkeypatch):
    target = project.root / "all.json"
    publisher = build_publisher({"type": "json", "path": "all.json"}, project, {})
    publisher.publish({"a": 1})

    def broken_replace(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        publisher.publish({"b": 2})
    monkeypatch.undo()
    assert json.loads(target.read_text()) == [{"a": 1}]
    publisher.publish({"c": 3})  # the failed item was not kept in memory either
    assert json.loads(target.read_text()) == [{"a": 1}, {"c": 3}]


def test_json_target_that_is_not_an_array_is_refused(project):
    (project.root / "doc.json").write_text('{"a": 1}')
    with pytest.raises(PublishError, match="not a JSON array"):
        build_publisher({"type": "json", "path": "doc.json"}, project, {}).publish({})


def test_stdout_prints_json_lines(project, capsys):
    publisher = build_publisher({"type": "stdout"}, project, {})
    publisher.publish({"a": 1})
    publisher.publish("text")
    assert capsys.readouterr().out == '{"a": 1}\n"text"\n'
    assert publisher.plan({"a": 1}).describe() == {"method": "WRITE stdout", "url": "-", "body": {"a": 1}}


def test_file_publisher_needs_a_path(project):
    with pytest.raises(PublishError, match="needs a path"):
        build_publisher({"type": "jsonl"}, project, {})
