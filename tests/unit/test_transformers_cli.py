"""The transform command: preview (default), --explain, --json, failures, and `transform test`."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from alumio_mistral.cli import main


def invoke(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["transform", *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_preview_a_named_definition_with_parameters_from_stdin() -> None:
    code, out, _ = invoke(
        "mistral/chat-request",
        "--input",
        "-",
        "--with",
        "prompt=Hi &{name}",
        "-w",
        "temperature=0.5",
        stdin='{"name": "Ann"}\n{"name": "Bob"}\n',
    )
    assert code == 0
    assert [json.loads(line) for line in out.splitlines()] == [
        {"model": "mistral-small-latest", "messages": [{"role": "user", "content": f"Hi {name}"}], "temperature": 0.5}
        for name in ("Ann", "Bob")
    ]


def test_preview_a_definition_file_with_a_json_array_input(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        "- {type: filter, when: {path: skip, equals: true}}\n- {type: set, path: ok, value: 1}\n"
    )
    (tmp_path / "in.json").write_text('[{"skip": true}, {"a": 1}]')
    code, out, _ = invoke(str(tmp_path / "p.yaml"), "--input", str(tmp_path / "in.json"), "--json")
    assert code == 0 and json.loads(out) == {"entities": [{"a": 1, "ok": 1}], "skipped": 1, "failed": []}


def test_json_lines_holding_a_line_separator_inside_a_text_stay_one_entity_each(tmp_path: Path) -> None:
    """JSON allows U+2028 and U+2029 unescaped in a text; str.splitlines broke lines there."""
    (tmp_path / "p.yaml").write_text("- {type: set, path: ok, value: 1}\n")
    texts = ["one\u2028two", "three\u2029four"]
    stdin = "".join(json.dumps({"text": text}, ensure_ascii=False) + "\n" for text in texts)
    code, out, err = invoke(str(tmp_path / "p.yaml"), "--input", "-", "--json", stdin=stdin)
    assert code == 0, err
    assert json.loads(out)["entities"] == [{"text": text, "ok": 1} for text in texts]


def test_a_failing_step_exits_non_zero_naming_position_and_type(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("- {type: set, path: a, value: 1}\n- {type: cast, path: n, to: integer}\n")
    code, out, err = invoke(str(tmp_path / "p.yaml"), "--input", "-", stdin='{"n": "x"}\n{"n": "2"}\n')
    assert code == 1
    assert json.loads(out) == {"n": 2, "a": 1}
    assert "entity 1: step 2 (cast) failed" in err


def test_explain_prints_each_step_with_input_and_output(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("- {type: set, path: a, value: 1}\n- {type: cast, path: n, to: integer}\n")
    code, out, _ = invoke(str(tmp_path / "p.yaml"), "--input", "-", "--explain", stdin='{"n": "3"}')
    assert code == 0
    assert out.splitlines() == [
        "entity 1",
        "  step 1: set a",
        '    in:  [{"n": "3"}]',
        '    out: [{"n": "3", "a": 1}]',
        "  step 2: cast n",
        '    in:  [{"n": "3", "a": 1}]',
        '    out: [{"n": 3, "a": 1}]',
    ]
    code, out, _ = invoke(str(tmp_path / "p.yaml"), "--input", "-", "--explain", stdin='{"n": "z"}')
    assert code == 1 and "error:" in out and "step 2" in out


def test_config_errors_and_bad_input_exit_non_zero(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("- {type: set, path: 'a[', value: 1}\n")
    code, _, err = invoke(str(tmp_path / "p.yaml"), "--input", "-", stdin="{}")
    assert code == 1 and "steps[0].path: invalid jsonpath" in err
    code, _, err = invoke("no/such-definition", "--input", "-", stdin="{}")
    assert code == 1 and "no transformer definition named 'no/such-definition'" in err
    code, _, err = invoke("mistral/chat-answer", "--input", "-", stdin="{nope")
    assert code == 2 and "<stdin>:1: invalid JSON" in err and "expected JSON, a JSON array or JSON lines" in err


def test_project_definitions_and_saved_tests_with_diffs(tmp_path: Path) -> None:
    (tmp_path / "alumio.yaml").write_text("description: demo\n")
    folder = tmp_path / "transformers"
    folder.mkdir()
    (folder / "mine.yaml").write_text(
        "steps: [{type: set, path: a, value: 2}]\n" "tests: [{name: wrong, input: {}, expect: [{a: 1}]}]\n"
    )
    code, out, _ = invoke("mine", "--project", str(tmp_path), "--input", "-", stdin="{}")
    assert code == 0 and json.loads(out) == {"a": 2}
    code, out, _ = invoke("test", "mine", "--project", str(tmp_path))
    assert code == 1 and "FAIL mine: wrong" in out and '-    "a": 1' in out and '+    "a": 2' in out
    code, out, _ = invoke("test", "mistral/model-row", "mistral/file-row")
    assert code == 0 and out.splitlines()[-1] == "4 passed, 0 failed"


def test_help_explains_the_positional_and_the_test_subcommand() -> None:
    code, out, _ = invoke("--help")
    assert code == 0 and "transform NAME_OR_FILE" in out and "transform test [NAME ...]" in out
    code, out, _ = invoke("preview", "--help")
    assert code == 0 and "--explain" in out


def _preview_of(source: str, stdin: bytes | None = None) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(main, ["transform", "mistral/chat-answer", "--input", source], input=stdin)
    return result.exit_code, result.stderr, result.exception


def test_hostile_input_files_are_clean_errors_naming_file_and_line(tmp_path: Path) -> None:
    """Before: a 100,000-deep document and undecodable bytes were raw tracebacks."""
    deep, lines, broken = tmp_path / "deep.json", tmp_path / "rows.jsonl", tmp_path / "broken.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    lines.write_bytes(b'{"a": 1}\n{"b": "caf\xe9"}\n')
    broken.write_text('[\n  {"a": 1},\n  {"b": }\n]\n')
    for path, expected in ((deep, f"{deep}: invalid JSON: nested far deeper"),
                           (lines, f"{lines}:2: bytes that are not valid utf-8: 0xe9"),
                           (broken, f"{broken}:3: invalid JSON: Expecting value")):
        code, err, exception = _preview_of(str(path))
        assert code == 2 and isinstance(exception, SystemExit), err
        assert expected in err and "Traceback" not in err, err


def test_undecodable_bytes_on_stdin_are_a_clean_error() -> None:
    code, err, exception = _preview_of("-", stdin=b'{"b": "\xff\xfe"}\n')
    assert code == 2 and isinstance(exception, SystemExit), err
    assert "<stdin>[0]: at $.b: " in err and "Traceback" not in err, err


def test_json_lines_and_json_documents_both_still_read(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("- {type: set, path: seen, value: true}\n")
    for text in ('{"n": 1}\n\n{"n": 2}\n', '[{"n": 1}, {"n": 2}]', '{\n  "n": 1\n}\n'):
        code, out, err = invoke(str(tmp_path / "p.yaml"), "--input", "-", stdin=text)
        assert code == 0 and out.count('"seen": true') == (1 if text.startswith("{\n") else 2), err
