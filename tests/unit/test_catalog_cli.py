"""``alumio-mistral entities``: the table for people, ``--json`` for scripts."""

from __future__ import annotations

import json

from click.testing import CliRunner

from alumio_mistral.cli import main

FIELDS = {
    "name", "operation_id", "title", "method", "path", "params", "body", "body_required", "streams", "success_codes",
    "auth", "safe_to_retry", "pagination", "items", "retired", "group", "request_schema", "response_schema", "response_json",
    "extra",
}


def test_entities_json_lists_every_operation_with_all_fields():
    result = CliRunner().invoke(main, ["entities", "--json"])
    assert result.exit_code == 0, result.output
    entities = json.loads(result.output)
    assert sum(not e["retired"] for e in entities) >= 288
    assert {e["name"] for e in entities if e["retired"]} >= {"fine_tuning.jobs.list", "fine_tuning.jobs.cancel"}
    assert all(set(e) == FIELDS for e in entities)
    files_list = next(e for e in entities if e["name"] == "files.list")
    assert files_list["pagination"]["style"] == "page_total" and files_list["items"] == "$.data[*]"
    assert {"name": "mimetypes", "location": "query", "required": False, "style": "repeat"} in files_list["params"]


def test_entities_table_with_search():
    result = CliRunner().invoke(main, ["entities", "fine_tuning/jobs"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "METHOD", "TITLE", "PATH", "FLAGS"]
    assert len(lines) == 6
    listing = next(line for line in lines if line.startswith("fine_tuning.jobs.list "))
    assert "GET" in listing and "/v1/fine_tuning/jobs" in listing and "paged:page_total" in listing and "retired" in listing


def test_entities_shows_titles_and_finds_by_them():
    result = CliRunner().invoke(main, ["entities", "delete model"])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if line.startswith("models.delete "))
    assert "Delete Model" in row


def test_entities_flags_streams():
    result = CliRunner().invoke(main, ["entities", "conversations.start"])
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert "stream" in rows["conversations.start_stream"] and "stream" not in rows["conversations.start"]


def test_entities_no_match_exits_non_zero():
    result = CliRunner().invoke(main, ["entities", "no-such-entity"])
    assert result.exit_code == 1
    assert "no entity matches 'no-such-entity'" in result.output


def test_entities_with_extra_spec(tmp_path):
    spec = tmp_path / "extra.yaml"
    spec.write_text(
        "paths:\n  /v1/gadgets:\n    get:\n      tags: [gadgets]\n      responses: {'200': {description: ok}}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["entities", "--json", "--spec", str(spec), "gadgets"])
    assert result.exit_code == 0, result.output
    assert [e["name"] for e in json.loads(result.output)] == ["gadgets.list"]


def test_entities_with_broken_spec_fails_clearly(tmp_path):
    spec = tmp_path / "broken.yaml"
    spec.write_text("nothing: here\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["entities", "--spec", str(spec)])
    assert result.exit_code == 1
    assert "broken.yaml" in result.output and "not an OpenAPI document" in result.output
