"""Client building and sending: auth per scheme, URLs, query styles, timeouts, prototypes."""

from __future__ import annotations

import base64
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import responses
from responses import matchers

from alumio_mistral import __version__
from alumio_mistral.catalog.entity import Entity, Param
from alumio_mistral.http import Client, ClientConfig, ClientConfigError, ParameterError
from alumio_mistral.http.ratelimit import TokenBucket
from test_http_retry import BASE, CHAT_COMPLETE, CHAT_URL, FILES_UPLOAD, FILES_URL, KEY, clock, make_client

__all__ = ["clock"]  # fixture defined beside the retry tests

ADMIN_KEY = "sk-admin-55aa11bb22"

RETRIEVE = Entity(name="files.retrieve", operation_id="x", method="GET", path="/v1/files/{file_id}",
                  params=(Param("file_id", "path", True),))
LISTING = Entity(
    name="things.list", operation_id="x", method="GET", path="/v1/things",
    params=(Param("tags", "query", style="repeat"), Param("metadata", "query", style="json"),
            Param("page", "query"), Param("archived", "query")),
)


def sent_headers(index: int = 0) -> dict[str, str]:
    return dict(responses.calls[index].request.headers)


@pytest.mark.parametrize(
    ("scheme", "header", "value"),
    [
        ("bearer", "Authorization", f"Bearer {KEY}"),
        ("admin_bearer", "Authorization", f"Bearer {ADMIN_KEY}"),
        ("api_key_header", "x-api-key", KEY),
    ],
)
@responses.activate
def test_auth_follows_the_entity_scheme(scheme: str, header: str, value: str) -> None:
    entity = Entity(name="e", operation_id="e", method="GET", path="/v1/e", auth=scheme)  # type: ignore[arg-type]
    responses.get(BASE + "/v1/e", json={})
    make_client(admin_api_key=ADMIN_KEY).call(entity)
    assert sent_headers()[header] == value


@responses.activate
def test_admin_bearer_falls_back_to_the_api_key() -> None:
    entity = Entity(name="e", operation_id="e", method="GET", path="/v1/e", auth="admin_bearer")
    responses.get(BASE + "/v1/e", json={})
    make_client().call(entity)
    assert sent_headers()["Authorization"] == f"Bearer {KEY}"


@responses.activate
def test_auth_none_sends_no_credentials() -> None:
    entity = Entity(name="e", operation_id="e", method="GET", path="/v1/e", auth="none")
    responses.get(BASE + "/v1/e", json={})
    make_client().call(entity)
    assert "Authorization" not in sent_headers() and "x-api-key" not in sent_headers()


@pytest.mark.parametrize(
    ("settings", "header", "value"),
    [
        ({"auth": "bearer", "api_key": KEY}, "Authorization", f"Bearer {KEY}"),
        ({"auth": "header", "api_key": KEY, "auth_header": "X-Hook-Token"}, "X-Hook-Token", KEY),
        ({"auth": "basic", "username": "bob", "password": "hunter2-long"}, "Authorization",
         "Basic " + base64.b64encode(b"bob:hunter2-long").decode()),
        ({"auth": "none", "api_key": KEY}, "Authorization", None),
    ],
    ids=["bearer", "header", "basic", "none"],
)
@responses.activate
def test_generic_prototype_auth(settings: dict[str, str], header: str, value: str | None) -> None:
    config = ClientConfig(name="hook", prototype="generic", base_uri="https://hooks.example.test/in/", **settings)  # type: ignore[arg-type]
    responses.post("https://hooks.example.test/in/events", json={"ok": True})
    with Client(config) as client:
        client.request("POST", "events", json={"a": 1})
    assert sent_headers().get(header) == value
    for secret in ("hunter2-long", KEY):
        assert secret not in repr(config) and secret not in repr(client)


@responses.activate
def test_every_request_has_user_agent_and_both_timeouts() -> None:
    responses.post(CHAT_URL, json={})
    make_client(connect_timeout=2.0, read_timeout=30.0).call(CHAT_COMPLETE, json={"m": 1})
    call = responses.calls[0]
    assert call.request.headers["User-Agent"] == f"alumio-mistral/{__version__}"
    assert call.request.req_kwargs["timeout"] == (2.0, 30.0)
    assert json.loads(call.request.body) == {"m": 1}


@responses.activate
def test_path_params_are_quoted() -> None:
    responses.get(BASE + "/v1/files/a%3Ab%20c%3F%23", json={"id": "a:b c?#"})
    assert make_client().call(RETRIEVE, path_params={"file_id": "a:b c?#"}).json() == {"id": "a:b c?#"}


def test_a_slash_in_a_path_param_is_refused() -> None:
    # servers that decode %2F before routing would read two segments: another route
    with pytest.raises(ParameterError, match=r"files.retrieve: path parameter file_id 'a/b' holds a slash"):
        make_client().call(RETRIEVE, path_params={"file_id": "a/b"})


def test_missing_path_param_names_it() -> None:
    with pytest.raises(ParameterError, match=r"files.retrieve: missing path parameter\(s\) file_id"):
        make_client().call(RETRIEVE)


@responses.activate
def test_query_styles() -> None:
    responses.get(
        BASE + "/v1/things",
        json=[],
        match=[matchers.query_string_matcher(
            "tags=a&tags=b&metadata=%7B%22k%22%3A1%7D&page=2&archived=false"
        )],
    )
    client = make_client()
    client.call(LISTING, query={"tags": ["a", "b"], "metadata": {"k": 1}, "page": 2,
                                "archived": False, "skipped": None})
    assert client.url_for(LISTING, query={"tags": ["x", "y"]}) == BASE + "/v1/things?tags=x&tags=y"


def test_url_for_joins_relative_and_keeps_absolute() -> None:
    client = make_client()
    assert client.url_for(RETRIEVE, path_params={"file_id": "f1"}) == BASE + "/v1/files/f1"
    assert client.url_for("/v1/models") == BASE + "/v1/models"
    assert client.url_for("https://other.test/x") == "https://other.test/x"


@responses.activate
def test_stream_returns_the_body_unread() -> None:
    responses.post(CHAT_URL, body="data: {}\n\n", content_type="text/event-stream")
    response = make_client().call(CHAT_COMPLETE, json={"stream": True}, stream=True)
    assert response.raw.tell() == 0
    assert responses.calls[0].request.headers["Accept"] == "text/event-stream"


@responses.activate
def test_catalog_name_is_looked_up(monkeypatch: pytest.MonkeyPatch) -> None:
    class OneEntityCatalog:
        def get(self, name: str) -> Entity:
            assert name == "files.upload"
            return FILES_UPLOAD

    responses.post(FILES_URL, json={"id": "f"})
    client = Client(ClientConfig(base_uri=BASE, api_key=KEY), catalog=OneEntityCatalog())  # type: ignore[arg-type]
    assert client.call("files.upload", files={"file": ("x.txt", b"x")}).json() == {"id": "f"}


def test_the_transport_never_starts_a_sandbox_itself() -> None:
    with pytest.raises(ClientConfigError, match="must be resolved"):
        Client(ClientConfig(base_uri="sandbox", api_key="sandbox-key"))


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"prototype": "soap"}, "unknown prototype 'soap'"),
        ({"auth": "oauth"}, "unknown auth 'oauth'"),
        ({"prototype": "generic"}, "a generic client needs a base_uri"),
        ({"auth": "basic"}, "basic auth needs a username"),
        ({"max_attempts": 0}, "max_attempts must be at least 1"),
    ],
)
def test_bad_client_config_is_refused(settings: dict[str, object], problem: str) -> None:
    with pytest.raises(ClientConfigError, match=problem):
        ClientConfig(name="c", **settings)  # type: ignore[arg-type]


def test_config_repr_hides_secrets() -> None:
    config = ClientConfig(api_key=KEY, admin_api_key=ADMIN_KEY, password="pw-secret-1",
                          headers={"X-Api-Key": "hdr-secret-99", "X-Team": "blue"})
    text = repr(config)
    for secret in (KEY, ADMIN_KEY, "pw-secret-1", "hdr-secret-99"):
        assert secret not in text
    assert "X-Team': 'blue'" in text


@responses.activate
def test_rate_limit_spaces_requests(clock: object) -> None:
    responses.get(BASE + "/v1/models", json={})
    client = make_client(rate_limit=2.0)
    for _ in range(5):
        client.request("GET", "/v1/models")
    # no burst (a server counting per second would refuse it): one every half second from the first
    assert clock.sleeps == [0.5, 0.5, 0.5, 0.5]  # type: ignore[attr-defined]


@responses.activate
def test_concurrent_calls_keep_their_own_retry_policy(clock: object) -> None:
    """Uploads (not retried after 500) and chats (retried) interleave on one shared client."""
    responses.post(FILES_URL, status=500)
    responses.post(CHAT_URL, status=500)
    # the breaker off: 40 failures in a row would open it, and this is about retry policies
    client = make_client(max_attempts=3, backoff_factor=0, breaker_failures=0)

    def send(entity: Entity) -> int:
        try:
            client.call(entity, json={})
        except Exception as error:  # noqa: BLE001 - the status is what is compared
            return error.status  # type: ignore[attr-defined]
        return 0

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(send, [FILES_UPLOAD, CHAT_COMPLETE] * 20))
    assert statuses == [500] * 40
    uploads = sum(1 for call in responses.calls if call.request.url == FILES_URL)
    chats = sum(1 for call in responses.calls if call.request.url == CHAT_URL)
    assert (uploads, chats) == (20, 60)


def test_token_bucket_holds_across_threads() -> None:
    """40 tokens at 200/s from 4 threads take at least 39/200 s: no thread skips the queue."""
    bucket = TokenBucket(rate=200.0)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: bucket.acquire(), range(40)))
    assert time.monotonic() - started >= 39 / 200
