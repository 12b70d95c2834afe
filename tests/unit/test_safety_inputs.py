"""Hostile input files: each bad row is a clean error naming file and line, and the rest go on.

On the old code every case below that goes through ``run_incoming`` stopped the whole run with
a traceback (UnicodeDecodeError, RecursionError, UnicodeEncodeError) and created no task, or
(the unclosed CSV quote, NaN) took the damage in silently.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from alumio_mistral.config import load_project
from alumio_mistral.config.problems import ConfigError
from alumio_mistral.runtime import Runtime
from alumio_mistral.subscribers import Stdin
from alumio_mistral.subscribers.base import MAX_DEPTH, entity_problem
from alumio_mistral.tasks import SqliteTaskStore
from alumio_mistral.transformers import TransformError, compile_pipeline


def run(tmp_path: Path, kind: str, data: bytes, options: str = "", steps: str = "") -> tuple[object, list[object]]:
    """Read ``data`` as the file of one incoming; the stats and the entities that became tasks."""
    (tmp_path / f"in.{kind}").write_bytes(data)
    (tmp_path / "alumio.yaml").write_text(
        f"incoming:\n  items:\n    subscriber: {{type: {kind}, path: in.{kind}{options}}}\n"
        f"    dedup: always\n{steps}"
    )
    project = load_project(tmp_path)
    with SqliteTaskStore(project.store.path) as store:
        stats = Runtime(project, store=store).read()
        return stats, [task.entity for task in store.list()]


def failures(stats: object) -> list[tuple[str, str]]:
    return [(failure.origin, failure.message) for failure in stats.failures]


def test_invalid_utf8_in_a_csv_row_fails_that_row_only(tmp_path: Path) -> None:
    stats, tasks = run(tmp_path, "csv", b"id,subject\n1,a\n2,caf\xe9\n3,c\n")
    assert tasks == [{"id": "1", "subject": "a"}, {"id": "3", "subject": "c"}]
    assert failures(stats) == [(f"{tmp_path / 'in.csv'}:3", "column 'subject': bytes that are not valid utf-8: 0xe9")]


def test_invalid_utf8_in_a_jsonl_line_names_line_and_column(tmp_path: Path) -> None:
    stats, tasks = run(tmp_path, "jsonl", b'{"id": 1}\n{"id": "\xff\xfe"}\n{"id": 3}\n')
    assert tasks == [{"id": 1}, {"id": 3}]
    assert failures(stats) == [(f"{tmp_path / 'in.jsonl'}:2", "bytes that are not valid utf-8: 0xff 0xfe (column 9)")]


def test_invalid_utf8_in_a_json_document_fails_the_item_holding_it(tmp_path: Path) -> None:
    stats, tasks = run(tmp_path, "json", b'[{"id": 1}, {"id": "\xff"}, {"id": 3}]')
    assert tasks == [{"id": 1}, {"id": 3}]
    [(origin, message)] = failures(stats)
    assert origin == f"{tmp_path / 'in.json'}[1]"
    assert message.startswith(r"at $.id: text holds \udcff, an unpaired surrogate")


def test_invalid_utf8_that_breaks_a_json_document_names_its_line(tmp_path: Path) -> None:
    stats, tasks = run(tmp_path, "json", b'[\n{"id": 1},\n\xff\n]')
    assert tasks == []
    assert failures(stats) == [(f"{tmp_path / 'in.json'}:3", "bytes that are not valid utf-8: 0xff (column 1)")]


def test_a_utf16_file_reads_with_its_encoding_and_says_so_without(tmp_path: Path) -> None:
    data = "id,name\n1,Zoë\n2,Łukasz\n".encode("utf-16")
    stats, tasks = run(tmp_path, "csv", data, ", encoding: utf-16")
    assert (stats.failed, tasks) == (0, [{"id": "1", "name": "Zoë"}, {"id": "2", "name": "Łukasz"}])
    (tmp_path / "default").mkdir()
    stats, tasks = run(tmp_path / "default", "csv", data)
    [(origin, message)] = failures(stats)
    assert origin == f"{tmp_path / 'default' / 'in.csv'}:1" and tasks == []
    assert message.endswith("bytes that are not valid utf-8: 0xff 0xfe (a UTF-16 byte order mark: set `encoding: utf-16`)")


def test_latin1_and_utf8_with_a_byte_order_mark(tmp_path: Path) -> None:
    stats, tasks = run(tmp_path, "jsonl", '{"name": "café"}\n'.encode("latin-1"), ", encoding: latin-1")
    assert (stats.failed, tasks) == (0, [{"name": "café"}])
    (tmp_path / "marked").mkdir()
    stats, tasks = run(tmp_path / "marked", "csv", "\ufeffid\n1\n".encode("utf-8"), ", encoding: utf-8")
    assert (stats.failed, tasks) == (0, [{"id": "1"}])  # the mark is not part of the first column's name


@pytest.mark.parametrize("encoding", ["klingon", "base64", "rot13"])
def test_an_encoding_that_is_not_a_text_codec_is_a_config_error(tmp_path: Path, encoding: str) -> None:
    (tmp_path / "in.csv").write_text("id\n1\n")
    (tmp_path / "alumio.yaml").write_text(
        f"incoming:\n  items:\n    subscriber: {{type: csv, path: in.csv, encoding: {encoding}}}\n"
    )
    with pytest.raises(ConfigError, match=rf"incoming\.items\.subscriber\.encoding: unknown text encoding '{encoding}'"):
        load_project(tmp_path)


def test_nesting_too_deep_to_parse_fails_that_line(tmp_path: Path) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    stats, tasks = run(tmp_path, "jsonl", b'{"id": 1}\n' + deep + b'\n{"id": 3}\n')
    assert tasks == [{"id": 1}, {"id": 3}]
    assert failures(stats) == [(f"{tmp_path / 'in.jsonl'}:2", "invalid JSON: nested far deeper than 200 levels")]
    stats, tasks = run(tmp_path, "json", deep)
    assert failures(stats) == [(str(tmp_path / "in.json"), "invalid JSON: nested far deeper than 200 levels")]


@pytest.mark.parametrize("depth", [500, 950])
def test_an_entity_deeper_than_the_cap_fails_before_any_transformer(tmp_path: Path, depth: int) -> None:
    """500 levels parse from any call stack and meet the entity check, which names the path;
    whether json's parser reaches 950 depends on how deep the stack already is, so that row
    may fail at the parse instead: a clean failure of its line either way."""
    deep = json.dumps({"id": 2, "tree": json.loads("[" * depth + "]" * depth)}).encode()
    steps = "    entity_transformers:\n      - {type: set, path: seen, value: true}\n"
    stats, tasks = run(tmp_path, "jsonl", b'{"id": 1}\n' + deep + b'\n{"id": 3}\n', steps=steps)
    assert tasks == [{"id": 1, "seen": True}, {"id": 3, "seen": True}]
    [(origin, message)] = failures(stats)
    assert origin == f"{tmp_path / 'in.jsonl'}:2" and message.endswith(f"deeper than {MAX_DEPTH} levels")
    if depth == 500:
        assert message.startswith("at $.tree[0][0]") and message.endswith(f"nested deeper than {MAX_DEPTH} levels")


def test_a_too_deep_entity_given_to_a_pipeline_is_a_transform_error_naming_the_step() -> None:
    deep = json.loads("[" * 950 + "]" * 950)
    pipeline = compile_pipeline([{"type": "set", "path": "n", "value": 1}], where="outgoing.o.entity_transformers")
    with pytest.raises(TransformError, match=r"entity_transformers\[0\] \(set, .*nested too deeply") as caught:
        pipeline.run({"deep": deep})
    assert not caught.value.unexpected
    with pytest.raises(TransformError, match="nested too deeply"):
        pipeline.explain({"deep": deep})
    with pytest.raises(TransformError, match="nested too deeply"):
        compile_pipeline([]).run({"deep": deep})


def test_a_lone_surrogate_escape_fails_that_line(tmp_path: Path) -> None:
    stats, tasks = run(tmp_path, "jsonl", b'{"id": 1}\n{"id": 2, "note": ["ok", "\\ud800"]}\n{"id": "\\ud83d\\ude00"}\n')
    assert tasks == [{"id": 1}, {"id": "\U0001f600"}]  # a proper pair is one character, and fine
    [(origin, message)] = failures(stats)
    assert origin == f"{tmp_path / 'in.jsonl'}:2"
    assert message.startswith(r"at $.note[1]: text holds \ud800, an unpaired surrogate")
    assert message.encode("utf-8")  # the message itself can be printed and stored


def test_an_unclosed_csv_quote_is_reported_at_the_line_it_opens(tmp_path: Path) -> None:
    stats, tasks = run(tmp_path, "csv", b'id,subject\n1,a\n2,"never closed\n3,c\n4,d\n')
    assert tasks == [{"id": "1", "subject": "a"}]
    assert failures(stats) == [
        (f"{tmp_path / 'in.csv'}:3", "a quote opened in this row is never closed: it runs to the end of the file")
    ]


def test_nan_and_infinity_in_json_input_fail_their_line(tmp_path: Path) -> None:
    stats, tasks = run(tmp_path, "jsonl", b'{"id": 1}\n{"x": NaN}\n{"x": [-Infinity]}\n{"x": 1e999}\n{"id": 5}\n')
    assert tasks == [{"id": 1}, {"id": 5}]
    assert [message for _, message in failures(stats)] == [
        "at $.x: NaN is not a valid JSON number",
        "at $.x[0]: -Infinity is not a valid JSON number",
        "at $.x: Infinity is not a valid JSON number",
    ]


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-Infinity", "1e999"])
def test_cast_refuses_non_finite_numbers(text: str) -> None:
    for target in ("number", "integer", "object"):
        with pytest.raises(TransformError, match=f"cannot cast to {target}"):
            compile_pipeline([{"type": "cast", "path": "x", "to": target}]).run({"x": text})


def test_stdin_with_bad_bytes_fails_that_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b'{"id": 1}\n{"id": "\xc3"}\n{"id": 3}\n')))
    found = [(record.entity, record.origin, record.error) for record in Stdin("jsonl").records()]
    assert found == [
        ({"id": 1}, "<stdin>:1", None),
        (None, "<stdin>:2", "bytes that are not valid utf-8: 0xc3 (column 9)"),
        ({"id": 3}, "<stdin>:3", None),
    ]
    assert not sys.stdin.closed


def test_entity_problem_accepts_what_json_can_hold() -> None:
    assert entity_problem({"a": [1, 2.5, "é", None, True, {"b": "\U0001f600"}]}) is None
    assert entity_problem(json.loads("[" * MAX_DEPTH + "]" * MAX_DEPTH)) is None
    assert entity_problem(json.loads("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))) is not None
