"""How commands load a project: the same problems from validate and run, reading without secrets,
the sandbox said out loud and kept apart, and no sandbox when a server is named without a key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from alumio_mistral.cli import main
from alumio_mistral.config import ConfigError, load_project
from alumio_mistral.config.clients import SANDBOX_NOTICE
from alumio_mistral.tasks import open_store

SEVERAL_PROBLEMS = """\
incoming:
  tickets:
    subscriber: {type: csv, path: missing.csv}
  models:
    subscriber: {entity: models.lst}
outgoing:
  out:
    publisher: {type: stdout}
    concurrency: 2.5
    entity_transformers: [{type: cats}]
routes:
  - {incoming: tickets, outgoing: nowhere}
"""

FILE_ONLY = "incoming:\n  rows:\n    subscriber: {type: jsonl, path: rows.jsonl}\n"
CHAT = FILE_ONLY + """\
outgoing:
  chat:
    publisher: {entity: chat.complete}
    entity_transformers: [{use: mistral/chat-request, with: {prompt: "row &{id}"}}]
routes:
  - {incoming: rows, outgoing: chat}
"""


@pytest.fixture(autouse=True)
def no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MISTRAL_API_KEY", raising=False)
    monkeypatch.delenv("MISTRAL_BASE_URI", raising=False)


def _project(folder: Path, text: str) -> Path:
    (folder / "alumio.yaml").write_text(text, encoding="utf-8")
    (folder / "rows.jsonl").write_text('{"id": 1}\n', encoding="utf-8")
    return folder / "alumio.yaml"


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_run_and_validate_report_the_same_problems(tmp_path: Path) -> None:
    file = _project(tmp_path, SEVERAL_PROBLEMS)
    code, out, _ = _invoke("validate", str(file), "--json")
    listed = [f"{p['file']}:{p['line']}: {p['path']}: {p['message']}" for p in json.loads(out)["problems"]]
    assert code == 1 and len(listed) == 5
    assert any("incoming.tickets.subscriber.path: no such file" in line for line in listed)
    for command in (["run"], ["incoming", "run"], ["run", "--dry-run"]):
        code, _, err = _invoke(*command, str(file))
        assert code == 1
        assert [line.removeprefix("error: ") for line in err.splitlines()] == listed, command


def test_validate_reports_a_missing_source_file_at_its_line(tmp_path: Path) -> None:
    file = _project(tmp_path, "incoming:\n  a:\n    subscriber:\n      type: csv\n      path: gone.csv\n")
    code, out, _ = _invoke("validate", str(file))
    assert code == 1
    assert out.startswith(f"{file}:5: incoming.a.subscriber.path: no such file: {tmp_path / 'gone.csv'}")


def test_tasks_list_show_and_storage_need_no_secrets_but_sending_does(tmp_path: Path) -> None:
    text = CHAT.replace("outgoing:", "clients:\n  mistral: {api_key: '${TEAM_MISTRAL_KEY}'}\noutgoing:", 1)
    file = _project(tmp_path, text)
    project = load_project(file, environ={"TEAM_MISTRAL_KEY": "sk-team-0123456789"})
    with open_store(project) as store:
        store.add_tasks("rows", {"id": 1}, ["chat"], identity="1")
    for command in (["tasks", "list"], ["tasks", "show"], ["storage", "list"]):
        code, out, err = _invoke(*command, str(file), *(["1"] if command[1] == "show" else []))
        assert code == 0, err
        assert "TEAM_MISTRAL_KEY" not in err
    assert '"identity": "1"' in _invoke("tasks", "show", str(file), "1", "--json")[1]
    for command in (["run"], ["tasks", "retry", "--status", "new"]):
        code, _, err = _invoke(*command, str(file))
        assert code == 1 and "environment variable TEAM_MISTRAL_KEY is not set" in err, command


def test_storage_list_of_an_unknown_storage_is_an_error_naming_the_known_ones(tmp_path: Path) -> None:
    file = _project(tmp_path, FILE_ONLY)
    with open_store(load_project(file)) as store:
        store.set("lookups", "a", 1)
    code, _, err = _invoke("storage", "list", str(file), "lookup")
    assert code == 1 and "no storage named 'lookup'; storages: dedup:rows, lookups" in err
    assert _invoke("storage", "list", str(file), "lookups", "--json")[1].strip() == '{\n  "a": 1\n}'
    assert _invoke("storage", "list", str(file), "dedup:rows")[0] == 0  # implied by the incoming, empty


def test_the_sandbox_is_said_on_stderr_and_in_json_and_its_store_is_apart(tmp_path: Path) -> None:
    file = _project(tmp_path, CHAT)
    code, out, err = _invoke("run", str(file), "--json")
    assert code == 0, err
    assert SANDBOX_NOTICE in err and json.loads(out)["sandbox"] is True
    assert (tmp_path / ".alumio" / "sandbox" / "tasks.db").exists()
    assert not (tmp_path / ".alumio" / "tasks.db").exists()
    code, out, err = _invoke("call", "models.list", "--json")
    assert code == 0 and SANDBOX_NOTICE in err and json.loads(out)["sandbox"] is True
    code, _, err = _invoke("tasks", "retry", str(file), "--status", "processed", "--json")
    assert code == 0 and SANDBOX_NOTICE in err


def test_no_notice_and_the_usual_store_when_no_client_is_used(tmp_path: Path) -> None:
    file = _project(tmp_path, FILE_ONLY + "outgoing:\n  copy: {publisher: {type: jsonl, path: out.jsonl}}\n"
                    "routes:\n  - {incoming: rows, outgoing: copy}\n")
    code, out, err = _invoke("run", str(file), "--json")
    assert code == 0 and SANDBOX_NOTICE not in err and json.loads(out)["sandbox"] is False
    assert load_project(file).store.path == tmp_path.resolve() / ".alumio" / "tasks.db"


@pytest.mark.parametrize(
    ("text", "environ", "where"),
    [
        (CHAT, {"MISTRAL_BASE_URI": "http://127.0.0.1:9"}, "clients.mistral: MISTRAL_BASE_URI is set but no api_key"),
        (CHAT.replace("outgoing:", "clients:\n  mistral: {base_uri: 'http://127.0.0.1:9'}\noutgoing:", 1), {},
         "clients.mistral: base_uri is set but no api_key"),
    ],
    ids=["from the environment", "in the file"],
)
def test_a_base_uri_without_a_key_is_a_config_error_not_the_sandbox(
    tmp_path: Path, text: str, environ: dict[str, str], where: str
) -> None:
    file = _project(tmp_path, text)
    with pytest.raises(ConfigError, match=where):
        load_project(file, environ=environ)
    # reading tasks needs no key: the store is the real target's, not the sandbox's
    project = load_project(file, environ=environ, lenient=True)
    assert not project.uses_sandbox and project.store.path.parent.name == ".alumio"


def test_call_with_a_base_uri_but_no_key_fails_instead_of_using_the_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MISTRAL_BASE_URI", "http://127.0.0.1:9")
    code, _, err = _invoke("call", "models.list")
    assert code == 1 and "MISTRAL_BASE_URI is set but no api_key; set MISTRAL_API_KEY" in err
