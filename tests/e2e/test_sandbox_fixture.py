"""The pytest fixtures the plugin ships: a plain sandbox, and a factory taking faults and seeds."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import requests

pytestmark = pytest.mark.e2e
BEARER = {"Authorization": "Bearer sandbox-key"}


def _upload_id(base_uri: str) -> str:
    files = {"file": ("a.txt", b"x"), "purpose": (None, "ocr")}
    return str(requests.post(f"{base_uri}/v1/files", files=files, headers=BEARER, timeout=5).json()["id"])


def test_the_factory_applies_faults_to_the_routes_they_name(mistral_sandbox_factory: Callable[..., Any]) -> None:
    sandbox = mistral_sandbox_factory(faults="error=1.0:503@/v1/models")
    assert requests.get(f"{sandbox.base_uri}/v1/models", headers=BEARER, timeout=5).status_code == 503
    assert requests.get(f"{sandbox.base_uri}/v1/files", headers=BEARER, timeout=5).status_code == 200


def test_the_factory_seeds_ids_and_each_sandbox_has_its_own_state(
        mistral_sandbox_factory: Callable[..., Any]) -> None:
    first, same, other = (mistral_sandbox_factory(seed=seed) for seed in (7, 7, 8))
    assert len({first.base_uri, same.base_uri, other.base_uri}) == 3
    assert _upload_id(first.base_uri) == _upload_id(same.base_uri) != _upload_id(other.base_uri)


def test_the_plain_fixture_has_no_faults(mistral_sandbox: Any) -> None:
    assert requests.get(f"{mistral_sandbox.base_uri}/v1/models", headers=BEARER, timeout=5).status_code == 200
    assert mistral_sandbox.app.faults is None or not mistral_sandbox.app.faults
