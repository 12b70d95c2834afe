"""A credential that cannot travel in an HTTP header is a clean error naming the field, never the key.

Before: a key with a trailing newline (read from a file) or a typographic quote (pasted from a
document) reached ``http.client``, which raised a raw traceback ending in
``ValueError: Invalid header value b'Bearer sk-test\\n'``, the key printed, and exit code 0
from ``call``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from alumio_mistral.cli import main
from alumio_mistral.http import ClientConfig, ClientConfigError

BAD_KEYS = {
    "trailing newline": ("sk-test\n", "contains a line break (a trailing newline from a file?)"),
    "typographic quote": ("sk-test\u2019s-key", "is \u2019 (U+2019), which an HTTP header cannot carry"),
    "control character": ("sk-te\x07st", "is a control character (U+0007)"),
    "surrounding space": (" sk-test", "starts or ends with a space"),
}


def _printed_key(key: str, output: str) -> bool:
    return key.strip() in output or repr(key)[1:-1] in output


@pytest.mark.parametrize("kind", BAD_KEYS)
def test_call_refuses_the_key_cleanly(kind: str) -> None:
    key, reason = BAD_KEYS[kind]
    result = CliRunner().invoke(main, ["call", "models.list"],
                                env={"MISTRAL_API_KEY": key, "MISTRAL_BASE_URI": "http://127.0.0.1:9"})
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1, result.stderr  # one line
    assert result.stderr.startswith("error: clients.mistral.api_key (from MISTRAL_API_KEY): ")
    assert reason in result.stderr
    assert not _printed_key(key, result.stdout + result.stderr)


def _project(tmp_path: Path, clients: dict | None = None) -> Path:
    (tmp_path / "in.jsonl").write_text(json.dumps({"id": 1, "text": "hi"}) + "\n")
    document = {
        "incoming": {"rows": {"subscriber": {"type": "jsonl", "path": "in.jsonl"}}},
        "outgoing": {"chat": {"publisher": {"entity": "chat.complete"}}},
        "routes": [{"incoming": "rows", "outgoing": "chat"}],
    }
    if clients:
        document["clients"] = clients
    (tmp_path / "alumio.yaml").write_text(yaml.safe_dump(document))
    return tmp_path


@pytest.mark.parametrize("kind", ["trailing newline", "typographic quote"])
def test_run_refuses_a_key_from_the_environment(tmp_path: Path, kind: str) -> None:
    key, reason = BAD_KEYS[kind]
    folder = _project(tmp_path)
    result = CliRunner().invoke(main, ["run", str(folder)],
                                env={"MISTRAL_API_KEY": key, "MISTRAL_BASE_URI": "http://127.0.0.1:9"})
    assert result.exit_code == 1, result.output
    assert result.stderr.count("\n") == 1 and "clients.mistral.api_key" in result.stderr
    assert "MISTRAL_API_KEY" in result.stderr and reason in result.stderr
    assert not _printed_key(key, result.stdout + result.stderr)


@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_key_written_in_the_file_is_reported_at_its_line(tmp_path: Path, command: str) -> None:
    key = "sk-file-key-77\n"
    folder = _project(tmp_path, {"mistral": {"api_key": key, "base_uri": "http://127.0.0.1:9"}})
    result = CliRunner().invoke(main, [command, str(folder)], env={"MISTRAL_API_KEY": ""})
    assert result.exit_code != 0
    assert "alumio.yaml:3: clients.mistral.api_key: contains a line break" in result.output
    assert not _printed_key(key, result.stdout + result.stderr)


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"api_key": "sk-ok", "admin_api_key": "sk-admin\r\n"}, "clients.svc.admin_api_key"),
        ({"auth": "basic", "username": "bob", "password": "pass\u201cword"}, "clients.svc.password"),
        ({"auth": "none", "headers": {"X-Team-Token": "tok\n"}}, "clients.svc.headers.X-Team-Token"),
    ],
)
def test_every_credential_field_is_checked(settings: dict, field: str) -> None:
    with pytest.raises(ClientConfigError) as caught:
        ClientConfig(name="svc", prototype="generic", base_uri="https://svc.test", **settings)
    assert str(caught.value).startswith(f"{field}: ")


def test_a_basic_password_may_keep_spaces_at_its_ends() -> None:
    ClientConfig(name="svc", prototype="generic", base_uri="https://svc.test", auth="basic", username="bob",
                 password=" spaced out ")
