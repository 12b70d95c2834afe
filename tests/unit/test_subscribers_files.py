"""Local subscribers: JSON, JSONL, CSV and stdin, with bad rows reported by file and line."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from alumio_mistral.catalog import Catalog
from alumio_mistral.subscribers import CsvFile, JsonFile, JsonlFile, Stdin, SubscriberError, build_subscriber


def records(source) -> list[tuple[object, str, str | None]]:
    return [(r.entity, r.origin, r.error) for r in source.records()]


def test_jsonl_streams_and_reports_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": 1}\n\n{"id": 2\n{"id": 3}\n')
    found = records(JsonlFile(path))
    assert [entity for entity, _, _ in found] == [{"id": 1}, None, {"id": 3}]
    assert found[1][1] == f"{path}:3" and found[1][2].startswith("invalid JSON")
    assert found[2][1] == f"{path}:4"


def test_jsonl_is_read_lazily(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": 1}\n{"id": 2}\n')
    reader = JsonlFile(path).records()
    assert next(reader).entity == {"id": 1}
    path.write_text("")  # already open: the rest still comes from the open handle
    assert next(reader).entity == {"id": 2}


def test_csv_rows_are_string_dicts_and_bad_rows_name_their_line(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes('\ufeffid,subject,priority\n1,"Printer, on fire",2\n2,too,many,fields\n\n'
                     '3,"two\nlines",1\n4,short\n5,ok,3\n'.encode())
    found = records(CsvFile(path))
    good = [entity for entity, _, error in found if error is None]
    assert good == [
        {"id": "1", "subject": "Printer, on fire", "priority": "2"},
        {"id": "3", "subject": "two\nlines", "priority": "1"},
        {"id": "5", "subject": "ok", "priority": "3"},
    ]
    bad = [(origin, error) for _, origin, error in found if error]
    assert bad == [
        (f"{path}:3", "expected 3 fields (the header's), got 4"),
        (f"{path}:7", "expected 3 fields (the header's), got 2"),
    ]
    assert [origin for _, origin, _ in found][-1] == f"{path}:8"


def test_a_csv_header_naming_a_column_twice_is_refused_before_any_row(tmp_path: Path) -> None:
    """Each row's second "email" cell replaced its first in the record: half the data vanished
    without a word."""
    path = tmp_path / "in.csv"
    path.write_text("id,email,name,email\n1,a@x.test,Ann,b@x.test\n")
    assert records(CsvFile(path)) == [
        (None, f"{path}:1", "unreadable header: column 'email' is both column 2 and column 4 (rename one)")
    ]


def test_csv_delimiter_and_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("a;b\n1;2\n")
    assert records(CsvFile(path, ";")) == [({"a": "1", "b": "2"}, f"{path}:2", None)]
    path.write_text("")
    assert records(CsvFile(path)) == []


def test_json_array_pattern_and_single_document(tmp_path: Path) -> None:
    path = tmp_path / "in.json"
    path.write_text('[{"id": 1}, {"id": 2}]')
    assert [r.entity for r in JsonFile(path).records()] == [{"id": 1}, {"id": 2}]
    path.write_text('{"result": {"items": [{"id": 3}]}, "count": 1}')
    assert [r.entity for r in JsonFile(path, "$.result.items[*]").records()] == [{"id": 3}]
    assert [r.entity for r in JsonFile(path).records()] == [{"result": {"items": [{"id": 3}]}, "count": 1}]


def test_invalid_json_document_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "in.json"
    path.write_text('[\n{"id": 1},\n{"id" 2}\n]')
    [(entity, origin, error)] = records(JsonFile(path))
    assert entity is None and origin == f"{path}:3" and "invalid JSON" in error


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SubscriberError, match="nope.csv: cannot open"):
        records(CsvFile(tmp_path / "nope.csv"))


def test_stdin_jsonl_and_json() -> None:
    found = records(Stdin("jsonl", io.StringIO('{"a": 1}\nnot json\n')))
    assert found[0] == ({"a": 1}, "<stdin>:1", None)
    assert found[1][:2] == (None, "<stdin>:2") and found[1][2].startswith("invalid JSON")
    assert [r.entity for r in Stdin("json", io.StringIO("[1, 2]")).records()] == [1, 2]
    with pytest.raises(SubscriberError, match="unknown format 'xml'"):
        Stdin("xml")


def test_build_subscriber_resolves_paths_against_the_project(tmp_path: Path) -> None:
    class Project:
        root = tmp_path
        catalog = Catalog.default()

    (tmp_path / "t.csv").write_text("id\n1\n")
    subscriber = build_subscriber({"type": "csv", "path": "t.csv", "delimiter": ","}, Project(), {})
    assert [r.entity for r in subscriber.records()] == [{"id": "1"}]
    with pytest.raises(SubscriberError, match="unknown subscriber type 'xml'"):
        build_subscriber({"type": "xml"}, Project(), {})
    with pytest.raises(SubscriberError, match="unknown client 'other'"):
        build_subscriber({"type": "mistral", "client": "other", "entity": "files.list"}, Project(), {})
