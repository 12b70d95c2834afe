"""File and stdout publishers: whole records under concurrency, CSV headers once, atomic JSON arrays."""

from __future__ import annotations

import csv
import json
import os
import stat
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


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_csv_rows_follow_the_columns_whatever_the_order_of_a_record_s_keys(project):
    """Each record's cells used to follow its own keys: a record with its keys in another order
    put its values under each other's columns."""
    publisher = build_publisher({"type": "csv", "path": "rows.csv"}, project, {})
    publisher.publish({"id": 1, "name": "Ann"})
    publisher.publish({"name": "Bob", "id": 2})
    publisher.publish({"id": 3})
    publisher.close()
    assert _rows(project.root / "rows.csv") == [["id", "name"], ["1", "Ann"], ["2", "Bob"], ["3", ""]]


def test_a_csv_record_with_a_key_that_has_no_column_fails_alone(project):
    """Its value had no place: it went under another record's column, or was lost unseen."""
    publisher = build_publisher({"type": "csv", "path": "rows.csv"}, project, {})
    publisher.publish({"id": 1, "name": "Ann"})
    with pytest.raises(PublishError, match=r"no column for the record's 'email' \(the file's columns: id, name\);"
                                           r" set `fields`"):
        publisher.publish({"id": 2, "email": "b@x.test"})
    publisher.publish({"id": 3, "name": "Cy"})
    publisher.close()
    assert _rows(project.root / "rows.csv") == [["id", "name"], ["1", "Ann"], ["3", "Cy"]]


def test_a_csv_target_appends_under_the_header_its_file_already_has(project):
    (project.root / "rows.csv").write_bytes('\ufeff"name",id\r\nAnn,1\r\n'.encode())
    publisher = build_publisher({"type": "csv", "path": "rows.csv"}, project, {})
    publisher.publish({"id": 2, "name": "Bob"})
    publisher.close()
    assert _rows(project.root / "rows.csv")[1:] == [["Ann", "1"], ["Bob", "2"]]


def test_a_csv_file_made_meanwhile_with_other_columns_is_not_written_to(project):
    """Another writer made the file between this target's first record and its write."""
    publisher = build_publisher({"type": "csv", "path": "rows.csv"}, project, {})
    publisher.hold_until_flushed()
    publisher.publish({"id": 1, "name": "Ann"})
    (project.root / "rows.csv").write_text("name,id\nBob,2\n")
    with pytest.raises(PublishError, match="the file's columns are name, id, not id, name"):
        publisher.flush()
    publisher.discard()  # as the publish loop does with a batch that could not be written
    publisher.close()
    assert (project.root / "rows.csv").read_text() == "name,id\nBob,2\n"


def test_a_record_written_at_once_that_fails_is_not_kept_back_for_the_next_write(project):
    """Kept back, it was written with the next record although its task had failed (and was
    written again when retried), and a file that kept failing made the memory grow."""
    (project.root / "rows.csv").write_text("name,id\nBob,2\n")
    publisher = build_publisher({"type": "csv", "path": "rows.csv", "fields": ["id", "name"],
                                 "durability": "task"}, project, {})
    for n in range(3):
        with pytest.raises(PublishError, match="the file's columns are name, id"):
            publisher.publish({"id": n, "name": "x"})
    (project.root / "rows.csv").unlink()
    publisher.publish({"id": 9, "name": "Zed"})
    publisher.close()
    assert _rows(project.root / "rows.csv") == [["id", "name"], ["9", "Zed"]]


@pytest.mark.parametrize("durability", ["task", "batch"])
def test_a_file_moved_or_deleted_under_a_target_is_made_anew_at_its_path(project, durability):
    """The target kept writing to the file it had open: into the rotated file under its new
    name, or, once deleted, into a file nobody could open, losing every record."""
    path = project.root / "out.jsonl"
    publisher = build_publisher({"type": "jsonl", "path": "out.jsonl", "durability": durability,
                                 "batch_size": 1}, project, {})
    publisher.publish({"n": 1})
    path.rename(project.root / "out.1.jsonl")
    publisher.publish({"n": 2})
    assert path.read_text() == '{"n":2}\n' and (project.root / "out.1.jsonl").read_text() == '{"n":1}\n'
    path.unlink()
    publisher.publish({"n": 3})
    publisher.close()
    assert path.read_text() == '{"n":3}\n'


def test_json_array_is_replaced_atomically_and_keeps_earlier_items(project):
    target = project.root / "all.json"
    target.write_text("[1]")
    publisher = build_publisher({"type": "json", "path": "all.json"}, project, {})
    publisher.publish({"a": 1})
    publisher.publish({"b": 2})
    assert json.loads(target.read_text()) == [1, {"a": 1}, {"b": 2}]
    assert [name for name in os.listdir(project.root) if name.startswith(".")] == []  # no temp left behind


def test_json_array_keeps_its_file_readable_as_before_and_syncs_the_swap(project, monkeypatch):
    """The private temporary file took the array's place with its own mode, 0600: after the
    first write nobody else could read it. And the rename was never synced."""
    target = project.root / "all.json"
    target.write_text("[]")
    target.chmod(0o644)
    synced: list[bool] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(stat.S_ISDIR(os.fstat(fd).st_mode)), real(fd))[1])
    publisher = build_publisher({"type": "json", "path": "all.json"}, project, {})
    publisher.publish({"a": 1})
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert synced == [False, True]  # the new file, then the folder after the rename
    fresh = build_publisher({"type": "json", "path": "new.json"}, project, {})
    umask = os.umask(0o022)
    try:
        fresh.publish({"b": 2})
    finally:
        os.umask(umask)
    assert stat.S_IMODE((project.root / "new.json").stat().st_mode) == 0o644


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
