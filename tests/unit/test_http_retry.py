"""Retry policy through the real client, with ``responses`` and a fake clock (no real sleeps).

Every mocked server here echoes the API key in its body, so each path also proves the key
never reaches an error, a repr, a record or a log line.
"""

from __future__ import annotations

import json
import logging
from email.utils import formatdate

import pytest
import responses
import urllib3.util.retry

from alumio_mistral.catalog.entity import Entity
from alumio_mistral.http import (
    Client,
    ClientConfig,
    RateLimitedError,
    ServerError,
    TransportError,
)
from alumio_mistral.http import ratelimit, retry

KEY = "sk-test-7f3a9c0e5b1d"
BASE = "https://api.example.test"

FILES_UPLOAD = Entity(
    name="files.upload", operation_id="files_api_routes_upload_file", method="POST",
    path="/v1/files", body="multipart", body_required=True, safe_to_retry=False,
)
CHAT_COMPLETE = Entity(
    name="chat.complete", operation_id="chat_completion_v1_chat_completions_post", method="POST",
    path="/v1/chat/completions", body="json", body_required=True, safe_to_retry=True,
    extra={"sse_optional": True},
)
CHAT_URL = BASE + CHAT_COMPLETE.path
FILES_URL = BASE + FILES_UPLOAD.path


class FakeClock:
    """Stands in for the ``time`` module: sleeping records the wait and moves the clock."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The fake clock, as seen by urllib3's Retry, our retry policy and the rate limiter."""
    fake = FakeClock()
    for module in (urllib3.util.retry, retry, ratelimit):
        monkeypatch.setattr(module, "time", fake)
    monkeypatch.setattr(urllib3.util.retry.random, "random", lambda: 0.0)
    return fake


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def make_client(**settings: object) -> Client:
    return Client(ClientConfig(name="test", base_uri=BASE, api_key=KEY, **settings))  # type: ignore[arg-type]


def echo_body(status: int) -> dict[str, object]:
    """An error body that (wrongly, but servers do) repeats the caller's key."""
    return {"object": "error", "message": f"status {status} for key {KEY}", "type": "t", "code": str(status)}


def assert_key_absent(*texts: object) -> None:
    for text in texts:
        assert KEY not in str(text)


def assert_error_clean(error: Exception, client: Client, logs: pytest.LogCaptureFixture) -> None:
    record = error.to_dict()  # type: ignore[attr-defined]
    assert_key_absent(str(error), repr(error), error.args, json.dumps(record), repr(client),
                      repr(client.config), logs.text)


@responses.activate
def test_retry_after_seconds_is_waited(clock: FakeClock, logs: pytest.LogCaptureFixture) -> None:
    responses.post(CHAT_URL, status=429, json=echo_body(429), headers={"Retry-After": "3"})
    responses.post(CHAT_URL, status=200, json={"id": "c1"})
    with make_client() as client:
        response = client.call(CHAT_COMPLETE, json={"model": "m", "messages": []})
    assert response.json() == {"id": "c1"}
    assert clock.sleeps == [3]
    assert len(responses.calls) == 2
    assert_key_absent(logs.text, repr(client), repr(client.config))


@responses.activate
def test_a_wait_over_a_second_is_logged_at_info_with_its_reason(clock: FakeClock, logs: pytest.LogCaptureFixture) -> None:
    responses.post(CHAT_URL, status=503, json=echo_body(503), headers={"Retry-After": "2"})
    responses.post(CHAT_URL, status=503, json=echo_body(503), headers={"Retry-After": "1"})
    responses.post(CHAT_URL, status=200, json={"id": "c1"})
    with make_client() as client:
        client.call(CHAT_COMPLETE, json={"model": "m", "messages": []})
    assert clock.sleeps == [2, 1]
    waits = [record for record in logs.records if hasattr(record, "retry_wait")]
    assert [(record.levelname, record.retry_wait, record.retry_reason) for record in waits] == [("INFO", 2, "HTTP 503")]
    assert waits[0].getMessage() == f"waiting 2.0 s before retrying POST {CHAT_URL} (HTTP 503)"


@responses.activate
def test_retry_after_http_date_is_waited(clock: FakeClock, logs: pytest.LogCaptureFixture) -> None:
    when = formatdate(clock.now + 7, usegmt=True)
    responses.post(CHAT_URL, status=429, json=echo_body(429), headers={"Retry-After": when})
    responses.post(CHAT_URL, status=200, json={"id": "c2"})
    client = make_client()
    client.call(CHAT_COMPLETE, json={})
    assert clock.sleeps == [7]
    assert_key_absent(logs.text, repr(client), repr(client.config))


@responses.activate
def test_gives_up_after_configured_attempts_with_typed_error(
    clock: FakeClock, logs: pytest.LogCaptureFixture
) -> None:
    responses.post(CHAT_URL, status=429, json=echo_body(429), headers={"Retry-After": "2"})
    client = make_client(max_attempts=4)
    with pytest.raises(RateLimitedError) as caught:
        client.call(CHAT_COMPLETE, json={})
    assert len(responses.calls) == 4
    assert clock.sleeps == [2, 2, 2]
    error = caught.value
    assert (error.status, error.retry_after, error.entity) == (429, 2.0, "chat.complete")
    assert "status 429 for key ***" in error.message
    assert_error_clean(error, client, logs)


@responses.activate
def test_server_errors_exhausted_raise_server_error(clock: FakeClock, logs: pytest.LogCaptureFixture) -> None:
    responses.get(BASE + "/v1/models", status=503, json=echo_body(503))
    client = make_client(max_attempts=3, backoff_factor=0.5)
    with pytest.raises(ServerError) as caught:
        client.request("GET", "/v1/models")
    assert len(responses.calls) == 3
    # urllib3 backoff: no wait before the first retry, then factor * 2 ** (n - 1)
    assert clock.sleeps == [1.0]
    assert_error_clean(caught.value, client, logs)


@responses.activate
def test_files_upload_is_not_retried_after_500(clock: FakeClock, logs: pytest.LogCaptureFixture) -> None:
    responses.post(FILES_URL, status=500, json=echo_body(500))
    responses.post(FILES_URL, status=200, json={"id": "never reached"})
    client = make_client()
    with pytest.raises(ServerError) as caught:
        client.call(FILES_UPLOAD, files={"file": ("a.jsonl", b"{}\n")})
    assert len(responses.calls) == 1
    assert clock.sleeps == []
    assert caught.value.status == 500
    assert_error_clean(caught.value, client, logs)


@responses.activate
def test_chat_complete_is_retried_after_500(clock: FakeClock, logs: pytest.LogCaptureFixture) -> None:
    responses.post(CHAT_URL, status=500, json=echo_body(500))
    responses.post(CHAT_URL, status=502, body="<html><title>502 Bad Gateway</title></html>")
    responses.post(CHAT_URL, status=200, json={"id": "ok"})
    client = make_client()
    response = client.call(CHAT_COMPLETE, json={})
    assert response.status_code == 200
    assert len(responses.calls) == 3
    assert_key_absent(logs.text, repr(client), repr(client.config))


@pytest.mark.parametrize("status", [429, 503])
@responses.activate
def test_files_upload_is_retried_where_the_server_did_not_process_it(
    clock: FakeClock, status: int
) -> None:
    responses.post(FILES_URL, status=status, json=echo_body(status), headers={"Retry-After": "1"})
    responses.post(FILES_URL, status=200, json={"id": "file-1"})
    response = make_client().call(FILES_UPLOAD, files={"file": ("a.jsonl", b"{}\n")})
    assert response.json() == {"id": "file-1"}
    assert len(responses.calls) == 2
    # the retried upload sends the very same multipart body
    assert responses.calls[0].request.body == responses.calls[1].request.body
    assert clock.sleeps == [1]


@responses.activate
def test_retry_after_beyond_the_total_cap_gives_up_at_once(
    clock: FakeClock, logs: pytest.LogCaptureFixture
) -> None:
    responses.post(CHAT_URL, status=429, json=echo_body(429), headers={"Retry-After": "600"})
    client = make_client(max_retry_wait=120)
    with pytest.raises(RateLimitedError) as caught:
        client.call(CHAT_COMPLETE, json={})
    assert len(responses.calls) == 1
    assert clock.sleeps == []
    assert caught.value.retry_after == 600
    assert_error_clean(caught.value, client, logs)


@responses.activate
def test_total_time_cap_stops_backoff(clock: FakeClock) -> None:
    responses.post(CHAT_URL, status=502, body="bad gateway")
    client = make_client(max_attempts=10, backoff_factor=0.5, max_retry_wait=2.5)
    with pytest.raises(ServerError):
        client.call(CHAT_COMPLETE, json={})
    # waits 0, 1.0; the next (2.0) would pass the 2.5 s cap
    assert clock.sleeps == [1.0]
    assert len(responses.calls) == 3


@responses.activate
def test_backoff_has_jitter_and_a_cap(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(urllib3.util.retry.random, "random", lambda: 0.5)
    responses.get(BASE + "/v1/models", status=504)
    client = make_client(max_attempts=5, backoff_factor=0.5, backoff_max=2.0)
    with pytest.raises(ServerError):
        client.request("GET", "/v1/models")
    # factor * 2 ** (n - 1) plus half the jitter range (= factor), capped at backoff_max
    assert clock.sleeps == [1.25, 2.0, 2.0]


@responses.activate
def test_transport_failure_is_typed_and_clean(clock: FakeClock, logs: pytest.LogCaptureFixture) -> None:
    import requests

    responses.post(CHAT_URL, body=requests.ConnectionError(f"refused while sending key {KEY}"))
    client = make_client()
    with pytest.raises(TransportError) as caught:
        client.call(CHAT_COMPLETE, json={})
    assert caught.value.status is None
    # a bare connection error cannot prove the request stayed here: the careful reading
    assert caught.value.request_sent and caught.value.server_may_have_acted
    assert "the connection broke after the request was sent" in str(caught.value)
    assert_error_clean(caught.value, client, logs)


@responses.activate
def test_max_attempts_one_means_no_retry(clock: FakeClock) -> None:
    responses.post(CHAT_URL, status=503)
    with pytest.raises(ServerError):
        make_client(max_attempts=1).call(CHAT_COMPLETE, json={})
    assert len(responses.calls) == 1


@responses.activate
def test_unreadable_retry_after_falls_back_to_backoff(clock: FakeClock) -> None:
    responses.post(CHAT_URL, status=503, headers={"Retry-After": "soon"})
    client = make_client(max_attempts=3, backoff_factor=0.5)
    with pytest.raises(ServerError) as caught:
        client.call(CHAT_COMPLETE, json={})
    assert clock.sleeps == [1.0]
    assert caught.value.status == 503
