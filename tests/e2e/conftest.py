"""Helpers of the SDK conformance tests: a loopback-only environment and one call per operation."""

from __future__ import annotations

from typing import Any, Callable, TypeVar

import pytest

T = TypeVar("T")


@pytest.fixture
def offline_sdk_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No telemetry, no tracing export, no proxy between an SDK and the loopback sandbox."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
                 "MISTRAL_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("MISTRAL_SDK_TELEMETRY", "false")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")


def _conform(operation: str, call: Callable[[], T]) -> T:
    try:
        return call()
    except Exception as error:  # noqa: BLE001 - every client error is a conformance failure
        pytest.fail(f"{operation}: {type(error).__name__}: {error}", pytrace=False)


@pytest.fixture
def conform() -> Callable[[str, Callable[[], Any]], Any]:
    """``conform(operation, call)``: ``call()``, or a test failure naming the operation and the
    client's error (a client's own response models validate every answer, so a shape it rejects
    fails here with its validation message)."""
    return _conform
