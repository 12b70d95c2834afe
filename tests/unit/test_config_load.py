"""Loading good projects: YAML and JSON, folders, defaults, the implicit client, ${VAR} and .env."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import pytest
import yaml

from alumio_mistral.config import ConfigError, Problem, Project, load_project

PROJECT = {
    "description": "mirror models",
    "clients": {
        "hook": {
            "prototype": "generic",
            "base_uri": "https://hooks.example.com",
            "api_key": "${HOOK_KEY}",
            "read_timeout": "${HOOK_TIMEOUT:-7}",
            "description": "a webhook",
        },
    },
    "incoming": {
        "models": {"subscriber": {"entity": "models.list"}, "dedup": "changed"},
        "tickets": {
            "subscriber": {"type": "csv", "path": "tickets.csv", "delimiter": ";"},
            "entity_transformers": [{"type": "cast", "path": "$.size", "to": "integer"}],
            "identity": "ticket_id",
            "disabled": True,
        },
    },
    "outgoing": {
        "models-file": {"publisher": {"type": "jsonl", "path": "models.jsonl"}},
        "delete": {
            "publisher": {"entity": "models.delete", "path_params": {"model_id": "&{id}"}},
            "then": {"type": "stdout"},
            "failure": {"policy": "fail"},
            "concurrency": 4,
        },
    },
    "routes": [{"incoming": "models", "outgoing": "models-file"}, {"incoming": "models", "outgoing": ["delete"]}],
}

ENV = {"HOOK_KEY": "sk-hook-0123456789"}


def write(folder: Path, data: object, name: str = "alumio.yaml") -> Path:
    path = folder / name
    path.write_text(json.dumps(data) if name.endswith(".json") else yaml.safe_dump(data), encoding="utf-8")
    return path


def test_a_good_yaml_project_loads_with_defaults(tmp_path: Path) -> None:
    project = load_project(write(tmp_path, PROJECT), environ=ENV)

    assert project.root == tmp_path.resolve()
    assert project.description == "mirror models"
    assert sorted(project.clients) == ["hook", "mistral"]
    hook = project.clients["hook"]
    assert (hook.prototype, hook.base_uri, hook.api_key, hook.auth) == (
        "generic", "https://hooks.example.com", "sk-hook-0123456789", "bearer")
    assert hook.read_timeout == 7.0 and hook.connect_timeout == 5.0 and hook.description == "a webhook"

    models = project.incoming["models"]
    assert models.subscriber == {"type": "mistral", "client": "mistral", "entity": "models.list", "params": {}}
    assert (models.identity, models.dedup, models.disabled, models.entity_transformers) == ("id", "changed", False, [])
    tickets = project.incoming["tickets"]
    assert tickets.subscriber == {"type": "csv", "path": "tickets.csv", "delimiter": ";"}
    assert tickets.entity_transformers == [{"type": "cast", "path": "$.size", "to": "integer"}]
    assert (tickets.identity, tickets.dedup, tickets.disabled) == ("ticket_id", "always", True)

    models_file = project.outgoing["models-file"]
    assert models_file.publisher == {"type": "jsonl", "path": "models.jsonl"}
    assert models_file.failure == {"policy": "retry", "attempts": 3, "backoff": 1.0}
    assert (models_file.then, models_file.concurrency, models_file.response_transformers) == (None, 1, [])
    delete = project.outgoing["delete"]
    assert delete.publisher["type"] == "mistral" and delete.publisher["path_params"] == {"model_id": "&{id}"}
    assert delete.then == {"type": "stdout"}
    assert delete.failure == {"policy": "fail", "attempts": 3, "backoff": 1.0}
    assert delete.concurrency == 4

    assert [(route.incoming, route.outgoing) for route in project.routes] == [
        ("models", ["models-file"]), ("models", ["delete"])]
    # no MISTRAL_API_KEY: the models subscriber reads the sandbox, whose store is kept apart
    assert project.store.path == tmp_path.resolve() / ".alumio" / "sandbox" / "tasks.db"
    assert project.transformers == {}


def test_json_loads_the_same_project_as_yaml(tmp_path: Path) -> None:
    (tmp_path / "y").mkdir()
    (tmp_path / "j").mkdir()
    from_yaml = load_project(write(tmp_path / "y", PROJECT), environ=ENV)
    from_json = load_project(write(tmp_path / "j", PROJECT, "project.json"), environ=ENV)
    assert from_json.path.name == "project.json"
    assert _comparable(from_json) == _comparable(from_yaml)


def _comparable(project: Project) -> dict[str, object]:
    return {
        "clients": {name: asdict(config) for name, config in project.clients.items()},
        "incoming": {name: asdict(config) for name, config in project.incoming.items()},
        "outgoing": {name: asdict(config) for name, config in project.outgoing.items()},
        "routes": [asdict(route) for route in project.routes],
    }


def test_a_folder_means_its_alumio_yaml_and_store_path_is_relative_to_it(tmp_path: Path) -> None:
    write(tmp_path, {**PROJECT, "store": {"path": "state/tasks.sqlite"}})
    project = load_project(tmp_path, environ={**ENV, "MISTRAL_API_KEY": "sk-real-0123456789"})
    assert project.path == (tmp_path / "alumio.yaml").resolve()
    assert project.store.path == tmp_path.resolve() / "state" / "tasks.sqlite"


def test_a_folder_falls_back_to_alumio_json(tmp_path: Path) -> None:
    write(tmp_path, {"description": "json"}, "alumio.json")
    assert load_project(tmp_path, environ={}).path.name == "alumio.json"
    write(tmp_path, {"description": "yaml"})
    assert load_project(tmp_path, environ={}).description == "yaml"


def test_a_folder_without_a_project_file_is_a_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_project(tmp_path, environ={})
    assert caught.value.problems == [Problem(str(tmp_path / "alumio.yaml"), "", "no such file")]


@pytest.mark.parametrize(
    ("environ", "base_uri", "api_key"),
    [
        ({}, "sandbox", "sandbox-key"),
        ({"MISTRAL_API_KEY": "sk-real-0123456789"}, "https://api.mistral.ai", "sk-real-0123456789"),
        ({"MISTRAL_API_KEY": "sk-real-0123456789", "MISTRAL_BASE_URI": "http://127.0.0.1:9"}, "http://127.0.0.1:9",
         "sk-real-0123456789"),
    ],
)
def test_the_implicit_mistral_client_follows_the_environment(
    tmp_path: Path, environ: dict[str, str], base_uri: str, api_key: str
) -> None:
    project = load_project(write(tmp_path, {"incoming": {}}), environ=environ)
    client = project.clients["mistral"]
    assert (client.prototype, client.base_uri, client.api_key) == ("mistral", base_uri, api_key)
    assert list(project.clients) == ["mistral"]


def test_a_declared_mistral_client_replaces_the_implicit_one(tmp_path: Path) -> None:
    data = {"clients": {"mistral": {"api_key": "sk-own-0123456789", "max_attempts": 2, "rate_limit": 4}}}
    client = load_project(write(tmp_path, data), environ={}).clients["mistral"]
    assert (client.base_uri, client.api_key, client.max_attempts, client.rate_limit) == (
        "https://api.mistral.ai", "sk-own-0123456789", 2, 4.0)


def test_an_empty_mistral_key_means_the_sandbox(tmp_path: Path) -> None:
    data = {"clients": {"mistral": {"api_key": "${MISTRAL_API_KEY:-}"}}}
    client = load_project(write(tmp_path, data), environ={}).clients["mistral"]
    assert (client.base_uri, client.api_key) == ("sandbox", "sandbox-key")


def test_interpolation_forms(tmp_path: Path) -> None:
    data = {
        "description": "${WHO}-${UNSET:-fallback}-${EMPTY:-when-empty}-[${EMPTY}]-$${LITERAL}",
        "outgoing": {"out": {"publisher": {"type": "jsonl", "path": "${OUT:-out}/rows.jsonl"}}},
    }
    project = load_project(write(tmp_path, data), environ={"WHO": "me", "EMPTY": ""})
    assert project.description == "me-fallback-when-empty-[]-${LITERAL}"
    assert project.outgoing["out"].publisher["path"] == "out/rows.jsonl"


def test_dotenv_beside_the_project_is_read_and_the_real_environment_wins(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("FROM_FILE=file\nBOTH=file\n", encoding="utf-8")
    write(tmp_path, {"description": "${FROM_FILE} ${BOTH}"})
    assert load_project(tmp_path, environ={"BOTH": "env"}).description == "file env"
    assert load_project(tmp_path, environ={}).description == "file file"
    assert "FROM_FILE" not in os.environ


def test_the_real_environment_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALUMIO_TEST_DESCRIPTION", "from os.environ")
    assert load_project(write(tmp_path, {"description": "${ALUMIO_TEST_DESCRIPTION}"})).description == "from os.environ"


def test_secrets_stay_out_of_reprs(tmp_path: Path) -> None:
    project = load_project(write(tmp_path, PROJECT), environ={**ENV, "MISTRAL_API_KEY": "sk-mistral-0123456789"})
    assert project.clients["mistral"].api_key == "sk-mistral-0123456789"
    for text in (repr(project), repr(project.clients), str(project.clients)):
        assert "sk-hook-0123456789" not in text and "sk-mistral-0123456789" not in text
    assert "hook" in repr(project)


def test_generic_client_settings_reach_the_client_config(tmp_path: Path) -> None:
    data = {"clients": {
        "cohere": {"prototype": "generic", "base_uri": "https://api.cohere.com", "api_key": "co-0123456789",
                   "auth": "header", "auth_header": "X-Key", "headers": {"X-Team": "data"}, "max_retry_wait": 10},
        "intranet": {"prototype": "generic", "base_uri": "http://127.0.0.1:9", "auth": "basic", "username": "u",
                     "password": "pw-0123456789"},
    }}
    clients = load_project(write(tmp_path, data), environ={}).clients
    cohere, intranet = clients["cohere"], clients["intranet"]
    assert (cohere.auth, cohere.auth_header, cohere.headers, cohere.max_retry_wait) == (
        "header", "X-Key", {"X-Team": "data"}, 10.0)
    assert (intranet.auth, intranet.username, intranet.password) == ("basic", "u", "pw-0123456789")
    assert "pw-0123456789" not in repr(intranet) and "co-0123456789" not in repr(cohere)
