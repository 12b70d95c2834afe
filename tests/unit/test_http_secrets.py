"""Redaction: registered secrets and secret-shaped values never leave in text, values or logs."""

from __future__ import annotations

import logging

import pytest

from alumio_mistral.http import Client, ClientConfig
from alumio_mistral.secrets import MASK, install_log_redaction, redact, redact_value, register_secret

SECRET = "sk-live-0a1b2c3d4e5f"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"key {SECRET} leaked", "key *** leaked"),
        ("Authorization: Bearer abc.def-123", "Authorization: Bearer ***"),
        ("authorization=Basic Ym9iOnB3", "authorization=Basic ***"),
        ('{"api_key": "plain-value"}', '{"api_key": "***"}'),
        ("GET /x?api_key=zz9&page=2", "GET /x?api_key=***&page=2"),
        ("x-api-key: hdr-value", "x-api-key: ***"),
        ("https://bob:pw-123@host/path", "https://bob:***@host/path"),
        ("max_tokens: 50, total_tokens=7", "max_tokens: 50, total_tokens=7"),
        ("", ""),
    ],
)
def test_redact(text: str, expected: str) -> None:
    register_secret(SECRET)
    assert redact(text) == expected


def test_very_short_values_are_masked_only_as_a_whole_text() -> None:
    register_secret("qz")
    assert redact("qz") == MASK
    assert redact("q z qz qzx") == "q z qz qzx"


def test_longest_registered_secret_is_masked_whole() -> None:
    register_secret("inner-secret")
    register_secret("outer-inner-secret-x")
    assert redact("outer-inner-secret-x") == MASK


def test_redact_value_is_deep_and_masks_secret_named_keys() -> None:
    register_secret(SECRET)
    value = {
        "Authorization": "anything", "password": "p", "token": "t", "usage": {"prompt_tokens": 3},
        "items": [{"note": f"uses {SECRET}"}, ("tuple", SECRET)], "api_key": None,
    }
    assert redact_value(value) == {
        "Authorization": MASK, "password": MASK, "token": MASK, "usage": {"prompt_tokens": 3},
        "items": [{"note": "uses ***"}, ("tuple", MASK)], "api_key": None,
    }


@pytest.mark.parametrize("logger_name", ["alumio_mistral", "alumio_mistral.engine.workers", "urllib3.connectionpool"])
def test_log_lines_are_redacted(caplog: pytest.LogCaptureFixture, logger_name: str) -> None:
    install_log_redaction()
    register_secret(SECRET)
    caplog.set_level(logging.DEBUG)
    logging.getLogger(logger_name).debug("sending %s with %s", "Bearer abc123xyz", SECRET)
    assert caplog.records[-1].getMessage() == "sending Bearer *** with ***"
    assert SECRET not in caplog.text and "abc123xyz" not in caplog.text


def test_building_a_client_registers_every_secret() -> None:
    secrets = ["sk-client-key-1", "sk-admin-key-2", "pw-basic-3", "hdr-token-4"]
    Client(ClientConfig(prototype="generic", base_uri="https://x.test", auth="basic", username="u",
                        api_key=secrets[0], admin_api_key=secrets[1], password=secrets[2],
                        headers={"X-Auth-Token": secrets[3], "X-Team": "blue-team"}))
    assert redact(" ".join(secrets + ["blue-team"])) == "*** *** *** *** blue-team"


def test_other_loggers_are_left_alone(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    caplog.set_level(logging.INFO)
    logging.getLogger("someone.else").info("value %s", "Bearer keep-me")
    assert caplog.records[-1].args == ("Bearer keep-me",)
