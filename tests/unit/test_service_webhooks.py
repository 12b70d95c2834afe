"""Webhooks over real loopback HTTP: signatures, tokens, size limits, bodies, concurrency."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator

import pytest
import requests

from alumio_mistral.errors import AlumioError
from alumio_mistral.service.app import Hook, ServiceApp
from alumio_mistral.webhooks import WebhookSpec, sign
from alumio_mistral.wsgi_server import BackgroundServer

SECRET = "hook-secret-value"
TOKEN = "hook-token-value"


class Inbox:
    """An ingest that keeps what it was given, as the task store would."""

    def __init__(self) -> None:
        self.entities: list[Any] = []
        self.lock = threading.Lock()
        self.broken = False

    def __call__(self, entities: list[Any]) -> dict[str, Any]:
        if self.broken:
            raise AlumioError("database is locked")
        with self.lock:
            self.entities.extend(entities)
        return {"created": len(entities)}


@pytest.fixture
def service() -> Iterator[tuple[str, Inbox, Inbox]]:
    signed, bearer = Inbox(), Inbox()
    app = ServiceApp(
        [Hook("tickets", WebhookSpec(path="/hooks/tickets", secret=SECRET, max_bytes=2048), signed),
         Hook("orders", WebhookSpec(path="/hooks/orders", token=TOKEN), bearer)],
        health=lambda: (True, {"store": "ok"}),
        metrics=lambda: (b"# metrics\n", "text/plain; version=0.0.4"),
    )
    server = BackgroundServer(app).start()
    try:
        yield server.base_uri, signed, bearer
    finally:
        server.stop()


def post_signed(base: str, document: Any, secret: str = SECRET) -> requests.Response:
    body = json.dumps(document).encode()
    return requests.post(f"{base}/hooks/tickets", data=body, timeout=5,
                         headers={"Content-Type": "application/json", "X-Signature-256": sign(secret, body)})


def test_a_signed_post_becomes_entities_only_after_ingest(service: tuple[str, Inbox, Inbox]) -> None:
    base, signed, _ = service
    answer = post_signed(base, [{"id": 1}, {"id": 2}])
    assert answer.status_code == 200 and answer.json() == {"incoming": "tickets", "created": 2}
    assert signed.entities == [{"id": 1}, {"id": 2}]
    assert post_signed(base, {"id": 3}).status_code == 200 and signed.entities[-1] == {"id": 3}


@pytest.mark.parametrize(
    ("headers", "status", "reason"),
    [
        ({}, 401, "missing signature header"),
        ({"X-Signature-256": "sha256=" + "0" * 64}, 401, "bad signature"),
        ({"X-Signature-256": sign("other-secret", b'{"id": 1}')}, 401, "bad signature"),
    ],
)
def test_unsigned_or_badly_signed_posts_are_refused_and_logged(
    service: tuple[str, Inbox, Inbox], caplog: pytest.LogCaptureFixture, headers: dict[str, str], status: int,
    reason: str,
) -> None:
    base, signed, _ = service
    answer = requests.post(f"{base}/hooks/tickets", data=b'{"id": 1}', timeout=5,
                           headers={"Content-Type": "application/json", **headers})
    assert answer.status_code == status and reason in answer.json()["error"]
    assert signed.entities == []
    assert any("refused" in record.message and reason in record.message for record in caplog.records)
    assert all(SECRET not in record.getMessage() for record in caplog.records)


def test_bearer_tokens(service: tuple[str, Inbox, Inbox]) -> None:
    base, _, bearer = service
    url = f"{base}/hooks/orders"
    assert requests.post(url, json={"id": 1}, timeout=5).status_code == 401
    assert requests.post(url, json={"id": 1}, headers={"Authorization": "Bearer wrong"}, timeout=5).status_code == 401
    good = requests.post(url, json={"id": 1}, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert good.status_code == 200 and bearer.entities == [{"id": 1}]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "reason"),
    [
        (b"not json", "application/json", 400, "not JSON"),
        (b"[1, 2]", "application/json", 400, "item 0 is a int"),
        (b'"text"', "application/json", 400, "the body is a str"),
        (b"id=1", "application/x-www-form-urlencoded", 415, "send application/json"),
        (b'{"pad": "' + b"x" * 4096 + b'"}', "application/json", 413, "limit is 2048"),
    ],
)
def test_bad_bodies_get_a_4xx_with_the_reason(
    service: tuple[str, Inbox, Inbox], body: bytes, content_type: str, status: int, reason: str
) -> None:
    base, signed, _ = service
    answer = requests.post(f"{base}/hooks/tickets", data=body, timeout=5,
                           headers={"Content-Type": content_type, "X-Signature-256": sign(SECRET, body)})
    assert answer.status_code == status and reason in answer.json()["error"]
    assert signed.entities == []


def test_a_store_that_cannot_take_the_post_answers_503(service: tuple[str, Inbox, Inbox]) -> None:
    base, signed, _ = service
    signed.broken = True
    answer = post_signed(base, {"id": 1})
    assert answer.status_code == 503 and "post again" in answer.json()["error"]


def test_other_routes(service: tuple[str, Inbox, Inbox]) -> None:
    base, _, _ = service
    assert requests.get(f"{base}/hooks/tickets", timeout=5).status_code == 405
    assert requests.get(f"{base}/nowhere", timeout=5).status_code == 404
    assert requests.get(f"{base}/healthz", timeout=5).json() == {"ok": True, "store": "ok"}
    assert requests.get(f"{base}/metrics", timeout=5).text == "# metrics\n"


def test_concurrent_posts_lose_nothing_and_let_no_forgery_through(service: tuple[str, Inbox, Inbox]) -> None:
    base, signed, _ = service
    session = requests.Session()

    def post(number: int) -> int:
        body = json.dumps({"id": number}).encode()
        secret = "forged" if number % 10 == 0 else SECRET
        return session.post(f"{base}/hooks/tickets", data=body, timeout=10, headers={
            "Content-Type": "application/json", "X-Signature-256": sign(secret, body)}).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(post, range(300)))
    assert statuses.count(401) == 30 and statuses.count(200) == 270
    assert sorted(entity["id"] for entity in signed.entities) == [n for n in range(300) if n % 10]


def test_the_spec_repr_hides_the_secret() -> None:
    spec = WebhookSpec(path="/hooks/x", secret=SECRET, token=TOKEN)
    assert SECRET not in repr(spec) and TOKEN not in repr(spec)
