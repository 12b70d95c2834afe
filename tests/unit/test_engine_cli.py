"""The ``run`` command: summary, ``--json``, narrowing, ``--dry-run`` output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from alumio_mistral.cli import main


def _project(tmp_path: Path, rows: list[dict]) -> Path:
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    document = {
        "incoming": {"rows": {"subscriber": {"type": "jsonl", "path": "in.jsonl"}},
                     "idle": {"subscriber": {"type": "jsonl", "path": "in.jsonl"}}},
        "outgoing": {
            "copy": {"publisher": {"type": "jsonl", "path": "out/copy.jsonl"},
                     "entity_transformers": [{"type": "filter", "when": {"path": "drop", "equals": True}},
                                             {"type": "copy", "from": "name", "to": "upper"}]},
            "array": {"publisher": {"type": "json", "path": "out/all.json"}},
        },
        "routes": [{"incoming": "rows", "outgoing": ["copy"]}, {"incoming": "idle", "outgoing": ["array"]}],
    }
    (tmp_path / "alumio.yaml").write_text(yaml.safe_dump(document))
    return tmp_path


def test_summary_and_exit_zero(tmp_path):
    folder = _project(tmp_path, [{"id": 1, "name": "a"}, {"id": 2, "drop": True, "name": "b"}])
    result = CliRunner().invoke(main, ["run", str(folder), "--incoming", "rows"])
    assert result.exit_code == 0, result.output
    assert "read 2, created 2, processed 1, failed 0, skipped 1" in result.output
    assert (folder / "out" / "copy.jsonl").exists() and not (folder / "out" / "all.json").exists()


def test_json_summary_and_failure_exit(tmp_path):
    folder = _project(tmp_path, [{"id": 1, "name": "a"}, {"id": 2}])  # no name: the copy step fails
    result = CliRunner().invoke(main, ["run", str(folder), "--json", "--outgoing", "copy", "--incoming", "rows"])
    assert result.exit_code == 1
    summary = json.loads(result.output[: result.output.rindex("}") + 1])
    assert (summary["processed"], summary["failed"]) == (1, 1)
    assert summary["failures"][0]["type"] == "TransformError" and summary["failures"][0]["outgoing"] == "copy"


def test_dry_run_prints_planned_writes_and_stores_nothing(tmp_path):
    folder = _project(tmp_path, [{"id": 1, "name": "a"}])
    result = CliRunner().invoke(main, ["run", str(folder), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "WRITE jsonl" in result.output and "copy.jsonl" in result.output and "WRITE json " in result.output
    assert "nothing was written or stored" in result.output
    assert not (folder / "out").exists() and not (folder / ".alumio" / "tasks.db").exists()


def test_unknown_outgoing_is_a_clear_error(tmp_path):
    folder = _project(tmp_path, [])
    result = CliRunner().invoke(main, ["run", str(folder), "--outgoing", "nope"])
    assert result.exit_code == 1 and "no outgoing named 'nope'" in result.output
