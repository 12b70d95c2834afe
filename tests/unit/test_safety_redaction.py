"""Secrets that reach a request by other ways than the client's key are masked too.

Before: a basic password shorter than 8 characters was never registered, and a value put in a
publisher's ``query`` from a variable named like a secret (``${SIGNING_KEY}`` under a harmless
name such as ``sig``) went unmasked into ``--dry-run`` output, task error records and logs.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import responses
import yaml
from click.testing import CliRunner

from alumio_mistral import engine
from alumio_mistral.cli import main
from alumio_mistral.config import load_project
from alumio_mistral.http import ApiError, Client, ClientConfig
from alumio_mistral.secrets import MASK, install_log_redaction, is_secret_variable, redact, redact_value
from alumio_mistral.tasks import SqliteTaskStore

HOOKS = "https://hooks.redact.test"
#: every value here is unique to this module: the registry of secrets lives as long as the process
SIGNING_KEY = "q7+Sg/n=K&ey 42"  # URL-encoded in a query string: q7%2BSg%2Fn%3DK%26ey+42
PARTNER_TOKEN = "ptok-5150-zz"
REGION = "eu-redact-zone-3"


@pytest.mark.parametrize(
    ("name", "secret"),
    [("SIGNING_KEY", True), ("GITHUB_TOKEN", True), ("CLIENT_SECRET", True), ("DB_PASSWORD_FILE", True),
     ("MISTRAL_API_KEY", True), ("REGION", False), ("MAX_TOKENS", False), ("KEYBOARD", False)],
)
def test_variables_named_like_secrets(name: str, secret: bool) -> None:
    assert is_secret_variable(name) is secret


@responses.activate
def test_a_short_basic_password_is_masked_where_it_stands_alone() -> None:
    password = "pw7Zq"
    client = Client(ClientConfig(prototype="generic", base_uri=HOOKS, auth="basic", username="bob",
                                 password=password))
    responses.get(f"{HOOKS}/me", status=401, json={"message": f"bad password {password} for bob"})
    with pytest.raises(ApiError) as caught:
        client.request("GET", "/me")
    assert password not in str(caught.value) and password not in json.dumps(caught.value.to_dict())
    assert "bad password *** for bob" in caught.value.message
    assert redact(f"xpw7Zqx and {password}.") == "xpw7Zqx and ***."  # inside a word it is left alone


def test_a_very_short_password_is_masked_as_a_whole_value() -> None:
    Client(ClientConfig(prototype="generic", base_uri=HOOKS, auth="basic", username="bob", password="k9!"))
    assert redact_value({"echo": "k9!", "note": "k9! stays in a sentence"}) == {
        "echo": MASK, "note": "k9! stays in a sentence"}


def _project(tmp_path: Path) -> Any:
    (tmp_path / "in.jsonl").write_text(json.dumps({"id": 1}) + "\n")
    (tmp_path / "alumio.yaml").write_text(yaml.safe_dump({
        "clients": {"hooks": {"prototype": "generic", "base_uri": HOOKS, "max_attempts": 1}},
        "incoming": {"rows": {"subscriber": {"type": "jsonl", "path": "in.jsonl"}}},
        "outgoing": {"notify": {
            "publisher": {"type": "http", "client": "hooks", "method": "GET", "uri": "/notify",
                          "query": {"sig": "${SIGNING_KEY}", "api_key": "${PARTNER_TOKEN}",
                                    "region": "${REGION}"}},
            "failure": {"policy": "fail"},
        }},
        "routes": [{"incoming": "rows", "outgoing": "notify"}],
    }))
    return load_project(tmp_path, environ={"SIGNING_KEY": SIGNING_KEY, "PARTNER_TOKEN": PARTNER_TOKEN,
                                           "REGION": REGION})


def _leaks(text: str) -> list[str]:
    encoded = "q7%2BSg%2Fn%3DK%26ey"
    return [value for value in (SIGNING_KEY, encoded, PARTNER_TOKEN) if value in text]


def test_secret_variables_in_a_query_are_masked_in_the_dry_run(tmp_path: Path) -> None:
    stats = engine.run(_project(tmp_path), dry_run=True)
    [plan] = [plan for plan in stats.planned if plan.get("outgoing") == "notify"]
    assert not _leaks(json.dumps(plan))
    assert "sig=***" in plan["url"] and REGION in plan["url"]  # a harmless variable stays readable


@responses.activate
def test_secret_variables_in_a_query_are_masked_in_task_records_and_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    install_log_redaction()
    caplog.set_level(logging.DEBUG)
    responses.get(f"{HOOKS}/notify", status=500, body="upstream failed")
    project = _project(tmp_path)
    stats = engine.run(project)
    assert stats.failed == 1
    with SqliteTaskStore(project.store.path) as store:
        [task] = store.list(status="failed")
    record = json.dumps(task.last_error)
    assert "sig=" in responses.calls[0].request.url and "sig=***" in record
    assert not _leaks(record) and not _leaks(json.dumps(stats.failures)) and not _leaks(caplog.text)
    assert "/notify?" in caplog.text  # the request was logged, masked


@responses.activate
def test_a_secret_echoed_in_an_http_publishers_answer_never_reaches_the_task_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: the answer was stored verbatim, so a webhook echoing its header put the key in the result."""
    webhook_token = "whk-echo-8086-secret"
    responses.post(f"{HOOKS}/echo", status=200,
                   json={"received": {"sig": webhook_token}, "note": f"signed by {webhook_token}"})
    (tmp_path / "in.jsonl").write_text(json.dumps({"id": 1}) + "\n")
    (tmp_path / "alumio.yaml").write_text(yaml.safe_dump({
        "clients": {"hooks": {"prototype": "generic", "base_uri": HOOKS, "max_attempts": 1}},
        "incoming": {"rows": {"subscriber": {"type": "jsonl", "path": "in.jsonl"}}},
        "outgoing": {"echo": {"publisher": {"type": "http", "client": "hooks", "method": "POST", "uri": "/echo",
                                            "query": {"sig": "${HOOK_TOKEN}"}}}},
        "routes": [{"incoming": "rows", "outgoing": "echo"}],
    }))
    monkeypatch.setenv("HOOK_TOKEN", webhook_token)
    stats = engine.run(load_project(tmp_path))
    assert stats.processed == 1
    assert f"sig={webhook_token}" in responses.calls[0].request.url
    shown = CliRunner().invoke(main, ["tasks", "show", str(tmp_path), "1", "--json"])
    assert shown.exit_code == 0, shown.output
    assert webhook_token not in shown.output
    assert f"signed by {MASK}" in shown.output
    with SqliteTaskStore(tmp_path / ".alumio" / "tasks.db") as store:
        assert webhook_token not in json.dumps(store.get(1).to_dict())


def test_incoming_and_outgoing_reprs_mask_their_secrets() -> None:
    from alumio_mistral.config.model import IncomingConfig, OutgoingConfig
    from alumio_mistral.secrets import register_secret

    register_secret("a-registered-query-secret")
    outgoing = OutgoingConfig(name="chat", publisher={"query": {"sig": "a-registered-query-secret"}},
                              log={"to": "reconify", "app_key": "app-key-in-clear", "api_key": "api-key-in-clear"})
    incoming = IncomingConfig(name="hook", subscriber={"type": "webhook", "token": "a-webhook-token-in-clear"})
    shown = repr(outgoing) + repr(incoming)
    for secret in ("a-registered-query-secret", "app-key-in-clear", "api-key-in-clear", "a-webhook-token-in-clear"):
        assert secret not in shown
    assert "OutgoingConfig(name='chat'" in shown and "IncomingConfig(name='hook'" in shown
