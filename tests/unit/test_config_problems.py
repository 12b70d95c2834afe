"""Broken projects: every problem at once, with file, dotted path (and line for YAML)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from alumio_mistral.cli import main
from alumio_mistral.config import ConfigError, Problem, check_project, load_project

SECRET = "sk-live-5ecret0123456789"

BROKEN_YAML = f"""\
clients:
  hook:
    prototype: generic
    base_uri: https://hooks.example.com
    api_key: {SECRET}
    colour: red
incoming:
  spare: {{subscriber: {{type: stdin}}}}
  models:
    subscriber:
      entity: models.lst
      client: nobody
    dedup: sometimes
  tickets:
    subscriber:
      type: csv
  sizes:
    subscriber:
      entity: files.list
      page_size: many
  spare:
    subscriber: {{type: stdin}}
outgoing:
  out:
    publisher:
      type: jsonl
      path: ${{OUT_DIR}}/out.jsonl
routes:
  - incoming: models
    outgoing: [out, nowhere]
"""

#: (dotted path, a fragment of the message, line) for every problem in BROKEN_YAML
EXPECTED = [
    ("clients.hook.colour", "unknown key", 6),
    ("incoming.spare", "duplicate key", 8),
    ("incoming.models.subscriber.entity", "models.list", 11),
    ("incoming.models.subscriber.client", "unknown client 'nobody'", 12),
    ("incoming.models.dedup", "Must be one of: always, new, changed", 13),
    ("incoming.tickets.subscriber.path", "Missing data for required field", 16),
    ("incoming.sizes.subscriber.page_size", "expected a whole number", 20),
    ("outgoing.out.publisher.path", "environment variable OUT_DIR is not set", 27),
    ("routes.0.outgoing.1", "unknown outgoing 'nowhere'", 30),
]


def _project(tmp_path: Path, text: str, name: str = "alumio.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _matches(problems: list[Problem], file: Path, with_lines: bool) -> None:
    assert len(problems) == len(EXPECTED), "\n".join(map(str, problems))
    for path, fragment, line in EXPECTED:
        found = [problem for problem in problems if problem.path == path and fragment in problem.message]
        assert len(found) == 1, (path, fragment, [str(p) for p in problems])
        assert found[0].file == str(file)
        assert found[0].line == (line if with_lines else None)


def test_every_problem_is_reported_at_once_with_file_path_and_line(tmp_path: Path) -> None:
    file = _project(tmp_path, BROKEN_YAML)
    with pytest.raises(ConfigError) as caught:
        load_project(file, environ={})
    _matches(caught.value.problems, file, with_lines=True)
    assert "duplicate key (again on line 21)" in str(caught.value)
    assert f"{file}:13: incoming.models.dedup: Must be one of: always, new, changed." in str(caught.value).splitlines()


def test_the_unknown_key_message_names_the_expected_keys_and_a_close_match(tmp_path: Path) -> None:
    file = _project(tmp_path, "incoming:\n  a:\n    subscriber: {entity: models.list}\n    dedupe: new\n")
    [problem] = check_project(file, environ={})[1]
    assert problem.path == "incoming.a.dedupe"
    assert "did you mean 'dedup'?" in problem.message
    assert "entity_transformers" in problem.message and "identity" in problem.message


def test_json_projects_report_the_same_problems_without_lines(tmp_path: Path) -> None:
    data = {
        "clients": {"hook": {"prototype": "generic", "base_uri": "https://hooks.example.com", "colour": "red"}},
        "incoming": {
            "models": {"subscriber": {"entity": "models.lst", "client": "nobody"}, "dedup": "sometimes"},
            "tickets": {"subscriber": {"type": "csv"}},
            "sizes": {"subscriber": {"entity": "files.list", "page_size": "many"}},
        },
        "outgoing": {"out": {"publisher": {"type": "jsonl", "path": "${OUT_DIR}/out.jsonl"}}},
        "routes": [{"incoming": "models", "outgoing": ["out", "nowhere"]}],
    }
    text = json.dumps(data).replace('"incoming": {', '"incoming": {"spare": {}, "spare": {"subscriber": {"type": "stdin"}}, ', 1)
    file = _project(tmp_path, text, "alumio.json")
    problems = check_project(file, environ={})[1]
    _matches(problems, file, with_lines=False)


@pytest.mark.parametrize(
    ("subscriber", "path", "fragment"),
    [
        ({"entity": "chat.complete"}, "incoming.a.subscriber.entity", "neither lists nor retrieves"),
        ({"entity": "fine_tuning.jobs.list"}, "incoming.a.subscriber.entity", "retired"),
        ({"entity": "models.retrieve"}, "incoming.a.subscriber.params", "needs parameter 'model_id'"),
        ({"entity": "files.list", "params": {"pag": 1}}, "incoming.a.subscriber.params.pag", "did you mean 'page'?"),
        ({"type": "ftp"}, "incoming.a.subscriber.type", "unknown type 'ftp'"),
        ({"path": "x.csv"}, "incoming.a.subscriber.type", "missing; one of: mistral, json, jsonl, csv, stdin"),
        ({"type": "stdin", "format": "xml"}, "incoming.a.subscriber.format", "Must be one of: jsonl, json"),
        ({"entity": "List Models", "method": "post"}, "incoming.a.subscriber.method",
         "'List Models' is models.list (GET /v1/models), not a POST"),
    ],
)
def test_subscriber_problems(tmp_path: Path, subscriber: dict[str, object], path: str, fragment: str) -> None:
    file = _project(tmp_path, json.dumps({"incoming": {"a": {"subscriber": subscriber}}}), "alumio.json")
    problems = check_project(file, environ={})[1]
    assert [problem.path for problem in problems] == [path]
    assert fragment in problems[0].message


@pytest.mark.parametrize(
    ("outgoing", "path", "fragment"),
    [
        ({"publisher": {"entity": "models.delete", "uri": "/v1/x"}}, "outgoing.a.publisher", "not both"),
        ({"publisher": {"entity": "Delete Model", "method": "POST"}}, "outgoing.a.publisher.method",
         "'Delete Model' is models.delete (DELETE /v1/models/{model_id}), not a POST"),
        ({"publisher": {"entity": "Update a library."}}, "outgoing.a.publisher.entity",
         "ambiguous; use one of the names: libraries.replace (PUT"),
        ({"publisher": {"type": "mistral", "method": "POST"}}, "outgoing.a.publisher.entity", "a method and a uri"),
        ({"publisher": {"entity": "models.delete", "path_params": {"id": "&{id}"}}},
         "outgoing.a.publisher.path_params.id", "its parameters: model_id"),
        ({"publisher": {"type": "http", "client": "hook", "uri": "/x"}}, "outgoing.a.publisher.client", "unknown client"),
        ({"publisher": {"type": "http", "uri": "/x", "method": "FETCH"}}, "outgoing.a.publisher.method", "expected one of"),
        ({"publisher": {"type": "stdout"}, "then": {"type": "jsonl"}}, "outgoing.a.then.path", "Missing data"),
        ({"publisher": {"type": "stdout"}, "concurrency": 0}, "outgoing.a.concurrency", "must be from 1 to 64, got 0"),
        ({"publisher": {"entity": "files.upload", "files": {"file": {"path": "a", "pattern": "$.b"}}}},
         "outgoing.a.publisher.files.file", "exactly one of path, content_base64, pattern"),
    ],
)
def test_publisher_problems(tmp_path: Path, outgoing: dict[str, object], path: str, fragment: str) -> None:
    file = _project(tmp_path, json.dumps({"outgoing": {"a": outgoing}}), "alumio.json")
    problems = check_project(file, environ={})[1]
    assert [problem.path for problem in problems] == [path], problems
    assert fragment in problems[0].message


def test_client_auth_needs_its_credentials(tmp_path: Path) -> None:
    data = {"clients": {
        "hook": {"prototype": "generic", "auth": "header"},
        "basic": {"prototype": "generic", "base_uri": "ftp://x", "auth": "basic"},
        "mistral": {"auth": "none"},
    }}
    problems = check_project(_project(tmp_path, json.dumps(data), "alumio.json"), environ={})[1]
    assert sorted(problem.path for problem in problems) == [
        "clients.basic.base_uri", "clients.basic.username",
        "clients.hook.api_key", "clients.hook.base_uri", "clients.mistral.auth",
    ]
    assert next(p for p in problems if p.path == "clients.basic.base_uri").message.startswith("expected an http")


def test_routes_name_existing_configurations_once(tmp_path: Path) -> None:
    data = {
        "incoming": {"orders": {"subscriber": {"type": "stdin"}}},
        "outgoing": {"out": {"publisher": {"type": "stdout"}}},
        "routes": [
            {"incoming": "ordres", "outgoing": "out"},
            {"incoming": "orders", "outgoing": ["out", "out"]},
            {"outgoing": []},
        ],
    }
    problems = check_project(_project(tmp_path, json.dumps(data), "alumio.json"), environ={})[1]
    assert sorted((problem.path, problem.message) for problem in problems) == [
        ("routes.0.incoming", "unknown incoming 'ordres' (did you mean 'orders'?); defined: orders"),
        ("routes.1.outgoing.1", "orders -> out is already routed at routes.1"),
        ("routes.2.incoming", "Missing data for required field."),
        ("routes.2.outgoing", "Shorter than minimum length 1."),
    ]


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("incoming:\n  a: [1,\n", "invalid YAML", 3),
        ("- just\n- a list\n", "expected a mapping at the top level, got list", 1),
        ("", "the file is empty", 1),
        ("description: ${BROKEN\n", "malformed variable reference '${BROKEN'", 1),
    ],
)
def test_unreadable_files(tmp_path: Path, text: str, message: str, line: int | None) -> None:
    problems = check_project(_project(tmp_path, text), environ={})[1]
    assert len(problems) == 1 and message in problems[0].message and problems[0].line == line


def test_transformer_steps_are_compiled_by_validate_keeping_their_index_and_line(tmp_path: Path) -> None:
    file = _project(tmp_path, """\
incoming:
  a:
    subscriber: {type: stdin}
    entity_transformers:
      - not a step
      - {type: cats}
outgoing:
  b:
    publisher: {type: stdout}
    response_transformers: [{use: no-such-definition}]
transformers:
  row: [{type: cast, path: $.x}]
""")
    problems = check_project(file, environ={})[1]
    assert [(problem.path, problem.line) for problem in problems] == [
        ("incoming.a.entity_transformers[0]", 5),
        ("incoming.a.entity_transformers[1].type", 6),
        ("outgoing.b.response_transformers[0]", 10),
        ("transformers.row[0].to", 12),
    ]
    assert "unknown transformer type 'cats'" in problems[1].message
    assert "no-such-definition" in problems[2].message
    # run and every other command load through the same checks: the same problems
    with pytest.raises(ConfigError) as caught:
        load_project(file, environ={})
    assert caught.value.problems == problems


def test_validate_prints_every_problem_and_exits_1(tmp_path: Path) -> None:
    file = _project(tmp_path, BROKEN_YAML)
    result = CliRunner().invoke(main, ["validate", str(file)])
    assert result.exit_code == 1
    lines = [line for line in result.stdout.splitlines() if line]
    assert len(lines) == len(EXPECTED)
    for path, fragment, line in EXPECTED:
        assert any(text.startswith(f"{file}:{line}: {path}: ") and fragment in text for text in lines), path
    assert SECRET not in result.output


def test_validate_json_lists_problems_for_scripts(tmp_path: Path) -> None:
    file = _project(tmp_path, BROKEN_YAML)
    result = CliRunner().invoke(main, ["validate", "--json", str(file)])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert {(p["file"], p["path"]) for p in report["problems"]} == {(str(file), path) for path, _, _ in EXPECTED}
    assert SECRET not in result.output


def test_validate_a_good_project_folder(tmp_path: Path) -> None:
    _project(tmp_path, f"""\
clients:
  hook: {{prototype: generic, base_uri: "https://hooks.example.com", api_key: {SECRET}}}
incoming:
  models: {{subscriber: {{entity: models.list}}, entity_transformers: [{{type: cast, path: $.created, to: date}}]}}
outgoing:
  hook: {{publisher: {{type: http, client: hook, uri: /models}}}}
routes: [{{incoming: models, outgoing: hook}}]
""")
    result = CliRunner().invoke(main, ["validate", str(tmp_path)])
    assert (result.exit_code, result.stdout) == (0, "OK: 2 clients, 1 incoming, 1 outgoing, 1 routes\n")
    report = json.loads(CliRunner().invoke(main, ["validate", "--json", str(tmp_path)]).stdout)
    assert report == {"ok": True, "summary": "2 clients, 1 incoming, 1 outgoing, 1 routes", "problems": []}


def test_a_secret_echoed_in_a_problem_is_masked(tmp_path: Path) -> None:
    """A key pasted where a client name belongs is echoed by "unknown client": never in clear."""
    file = _project(tmp_path, BROKEN_YAML.replace("client: nobody", "client: ${HOOK_KEY}"))
    for options in ([], ["--json"]):
        result = CliRunner().invoke(main, ["validate", *options, str(file)], env={"HOOK_KEY": SECRET})
        assert result.exit_code == 1
        assert "unknown client '***'" in result.stdout
        assert SECRET not in result.output
    with pytest.raises(ConfigError) as caught:
        load_project(file, environ={"HOOK_KEY": SECRET})
    assert SECRET not in str(caught.value) and "unknown client '***'" in str(caught.value)


def test_validate_accepts_an_entity_by_its_title_with_its_method(tmp_path: Path) -> None:
    """The platform's way: a method, then the operation by its title."""
    project = {
        "incoming": {"models": {"subscriber": {"entity": "list models", "method": "GET"}}},
        "outgoing": {"drop": {"publisher": {"entity": "Delete Model", "method": "delete",
                                            "path_params": {"model_id": "&{id}"}}}},
        "routes": [{"incoming": "models", "outgoing": ["drop"]}],
    }
    file = _project(tmp_path, json.dumps(project), "alumio.json")
    assert check_project(file, environ={})[1] == []
    result = CliRunner().invoke(main, ["validate", str(file)])
    assert result.exit_code == 0, result.output
    project["outgoing"]["drop"]["publisher"]["method"] = "POST"
    file.write_text(json.dumps(project), encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", str(file)])
    assert result.exit_code == 1
    assert "outgoing.drop.publisher.method: 'Delete Model' is models.delete" in result.output
    assert "not a POST" in result.output
