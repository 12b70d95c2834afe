"""Signed file URLs: fetchable without a bearer token until they expire; OCR reads the file they sign."""

from __future__ import annotations

from typing import Iterator

import pytest
import requests

from alumio_mistral.sandbox import ManualClock, Sandbox

pytestmark = pytest.mark.e2e
BEARER = {"Authorization": "Bearer sandbox-key"}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sandbox(clock: ManualClock) -> Iterator[Sandbox]:
    with Sandbox(clock=clock) as running:
        yield running


def _upload(sandbox: Sandbox, content: bytes) -> str:
    files = {"file": ("scan.md", content), "purpose": (None, "ocr")}
    answer = requests.post(f"{sandbox.base_uri}/v1/files", files=files, headers=BEARER, timeout=5)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id"])


def _signed_url(sandbox: Sandbox, file_id: str, hours: int) -> str:
    answer = requests.get(f"{sandbox.base_uri}/v1/files/{file_id}/url", params={"expiry": hours}, headers=BEARER,
                          timeout=5)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["url"])


def test_a_signed_url_serves_the_file_without_a_token_until_it_expires(sandbox: Sandbox,
                                                                       clock: ManualClock) -> None:
    file_id = _upload(sandbox, b"# Invoice 42")
    url = _signed_url(sandbox, file_id, hours=1)
    assert requests.get(url, timeout=5).content == b"# Invoice 42"
    clock.advance(3600)
    expired = requests.get(url, timeout=5)
    assert expired.status_code == 403 and "expired" in expired.json()["message"]


def test_a_tampered_signature_is_refused_and_the_plain_route_still_needs_a_token(sandbox: Sandbox) -> None:
    file_id = _upload(sandbox, b"secret")
    url = _signed_url(sandbox, file_id, hours=24)
    assert requests.get(url[:-4] + "0000", timeout=5).status_code == 403
    assert requests.get(f"{sandbox.base_uri}/v1/files/{file_id}/content", timeout=5).status_code == 401


def test_expiry_outside_one_hour_to_a_week_is_refused(sandbox: Sandbox) -> None:
    file_id = _upload(sandbox, b"x")
    answer = requests.get(f"{sandbox.base_uri}/v1/files/{file_id}/url", params={"expiry": 169}, headers=BEARER,
                          timeout=5)
    assert answer.status_code == 422


def test_ocr_of_the_sandboxs_own_signed_url_reads_that_file(sandbox: Sandbox, clock: ManualClock) -> None:
    file_id = _upload(sandbox, "# Page one\fPage two".encode())
    url = _signed_url(sandbox, file_id, hours=1)
    body = {"model": "mistral-ocr-latest", "document": {"type": "document_url", "document_url": url}}
    answer = requests.post(f"{sandbox.base_uri}/v1/ocr", json=body, headers=BEARER, timeout=5)
    assert [page["markdown"] for page in answer.json()["pages"]] == ["# Page one", "Page two"]
    clock.advance(7200)
    late = requests.post(f"{sandbox.base_uri}/v1/ocr", json=body, headers=BEARER, timeout=5)
    assert late.status_code == 400 and "expired" in late.json()["message"]
