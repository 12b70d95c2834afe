"""The environment's proxy and CA bundle settings still reach every request, read once per client
for its base URI (requests looked them up for every request, a tenth of a page's time)."""

from __future__ import annotations

from typing import Iterator

import pytest
import requests
import responses

from alumio_mistral.http import Client, ClientConfig, TransportError
from test_http_transport import Script, client_for, free_port, server

__all__ = ["server"]  # fixture defined beside the transport tests

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
                   "http_proxy", "https_proxy", "all_proxy", "no_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    yield


def test_the_proxy_of_the_environment_carries_the_base_uris_requests(
    server: tuple[str, Script], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy, script = server
    script.replies.extend([(200, {}, b"{}")] * 2)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    with client_for("http://files.test") as client:  # a host that resolves nowhere: only the proxy reaches it
        client.request("POST", "/v1/ping")
        client.request("POST", "/v1/ping")
    assert [seen.split()[1] for seen in script.seen] == ["http://files.test/v1/ping"] * 2


def test_no_proxy_for_the_base_uris_host_goes_direct(server: tuple[str, Script], monkeypatch: pytest.MonkeyPatch) -> None:
    base, script = server
    script.replies.append((200, {}, b"{}"))
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")  # refuses: only a direct call succeeds
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with client_for(base) as client:
        client.request("POST", "/v1/ping")
    assert [seen.split()[1] for seen in script.seen] == ["/v1/ping"]


def test_another_origin_is_looked_up_per_request(server: tuple[str, Script], monkeypatch: pytest.MonkeyPatch) -> None:
    """A download link or an absolute URL to another host: its own proxy rules, as requests reads them."""
    proxy, script = server
    script.replies.append((200, {}, b"{}"))
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("NO_PROXY", "direct.test")
    with client_for("http://files.test", max_attempts=1) as client:
        client.request("POST", "http://other.test/v1/ping")
        with pytest.raises(TransportError):  # not proxied, and the name resolves nowhere
            client.request("POST", "http://direct.test/v1/ping")
    assert [seen.split()[1] for seen in script.seen] == ["http://other.test/v1/ping"]


def test_the_base_uris_requests_read_the_environment_once(monkeypatch: pytest.MonkeyPatch) -> None:
    looked_up: list[str] = []
    real = requests.sessions.get_environ_proxies

    def counting(url: str, no_proxy: str | None = None) -> dict[str, str]:
        looked_up.append(url)
        return real(url, no_proxy=no_proxy)

    monkeypatch.setattr(requests.sessions, "get_environ_proxies", counting)
    with responses.RequestsMock() as rsps:
        rsps.post("https://api.test/v1/ping", json={})
        with Client(ClientConfig(base_uri="https://api.test", api_key="k", max_attempts=1)) as client:
            for _ in range(3):
                client.request("POST", "/v1/ping")
    assert looked_up == []


def test_the_ca_bundle_of_the_environment_verifies_the_base_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/corporate.pem")
    with responses.RequestsMock() as rsps:
        rsps.post("https://api.test/v1/ping", json={})
        with Client(ClientConfig(base_uri="https://api.test", api_key="k", max_attempts=1)) as client:
            client.request("POST", "/v1/ping")
        assert rsps.calls[0].request.req_kwargs["verify"] == "/etc/ssl/corporate.pem"
