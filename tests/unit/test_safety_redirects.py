"""Credentials never follow a redirect to another host, whatever the auth scheme.

Before: ``requests`` dropped only ``Authorization`` on a cross-host redirect, so an
``X-API-Key`` (admin routes), an ``auth: header`` key and secret-named custom headers reached
the other host. Now a client with credentials refuses such a redirect by default, and with
``follow_cross_host_redirects: true`` follows it with every credential header removed.
"""

from __future__ import annotations

from typing import Any

import pytest
import responses

from alumio_mistral.catalog.entity import Entity
from alumio_mistral.http import Client, ClientConfig
from alumio_mistral.http.auth import CrossHostRedirectError

OWN = "https://api.own.test"
OTHER = "https://elsewhere.test"
KEY = "sk-redirect-key-0123"
SECRET_HEADER = "tok-custom-9876543"


def _entity(scheme: str) -> Entity:
    return Entity(name="things.get", operation_id="x", method="GET", path="/v1/things", auth=scheme)  # type: ignore[arg-type]


#: (client settings, entity scheme or None for a plain request, the header that carries the credential)
AUTH_KINDS: dict[str, tuple[dict[str, Any], str | None, str]] = {
    "bearer": ({}, "bearer", "Authorization"),
    "x-api-key admin route": ({}, "api_key_header", "x-api-key"),
    "auth: header": ({"prototype": "generic", "auth": "header", "auth_header": "X-Service-Key"}, None,
                     "X-Service-Key"),
    "basic": ({"prototype": "generic", "auth": "basic", "username": "bob", "password": "pw-basic-77"}, None,
              "Authorization"),
    "custom secret header": ({"prototype": "generic", "auth": "none", "headers": {"X-Secret-Token": SECRET_HEADER}},
                             None, "X-Secret-Token"),
}


def _client(settings: dict[str, Any], **extra: Any) -> Client:
    return Client(ClientConfig(name="svc", base_uri=OWN, api_key=KEY, **{**settings, **extra}))


def _send(client: Client, scheme: str | None) -> Any:
    if scheme is None:
        return client.request("GET", "/v1/things")
    return client.call(_entity(scheme))


@pytest.mark.parametrize("kind", AUTH_KINDS)
@responses.activate
def test_a_cross_host_redirect_is_refused_by_default(kind: str) -> None:
    settings, scheme, header = AUTH_KINDS[kind]
    responses.get(f"{OWN}/v1/things", status=302, headers={"Location": f"{OTHER}/collect"})
    landing = responses.get(f"{OTHER}/collect", json={})
    with pytest.raises(CrossHostRedirectError) as caught:
        _send(_client(settings), scheme)
    assert header in responses.calls[0].request.headers  # the credential went to its own host only
    assert landing.call_count == 0
    error = caught.value
    assert error.status == 302 and error.server_may_have_acted
    assert "follow_cross_host_redirects" in str(error) and OTHER in str(error)
    assert KEY not in str(error) and SECRET_HEADER not in str(error)


@pytest.mark.parametrize("kind", AUTH_KINDS)
@responses.activate
def test_an_allowed_cross_host_redirect_carries_no_credential(kind: str) -> None:
    settings, scheme, header = AUTH_KINDS[kind]
    responses.get(f"{OWN}/v1/things", status=302, headers={"Location": f"{OTHER}/collect"})
    responses.get(f"{OTHER}/collect", json={"ok": True})
    response = _send(_client(settings, follow_cross_host_redirects=True), scheme)
    assert response.json() == {"ok": True}
    first, second = (call.request.headers for call in responses.calls)
    assert header in first
    assert header not in second
    assert not {"authorization", "x-api-key", "x-service-key", "x-secret-token", "cookie"} & {
        name.lower() for name in second
    }
    assert KEY not in str(dict(second)) and SECRET_HEADER not in str(dict(second))


@pytest.mark.parametrize(
    "target",
    ["http://api.own.test/v1/moved",  # https -> http on the same host: a downgrade
     "https://api.own.test:8443/v1/moved"],  # another port
)
@responses.activate
def test_scheme_and_port_changes_count_as_another_host(target: str) -> None:
    responses.get(f"{OWN}/v1/things", status=307, headers={"Location": target})
    with pytest.raises(CrossHostRedirectError):
        _client({}).call(_entity("bearer"))


@responses.activate
def test_a_same_host_redirect_keeps_the_credential() -> None:
    responses.get(f"{OWN}/v1/things", status=301, headers={"Location": f"{OWN}/v2/things"})
    responses.get(f"{OWN}/v2/things", json={})
    _client({}).call(_entity("api_key_header"))
    assert responses.calls[1].request.headers["x-api-key"] == KEY


@responses.activate
def test_a_client_without_credentials_follows_and_drops_secret_named_request_headers() -> None:
    responses.get(f"{OWN}/hook", status=302, headers={"Location": f"{OTHER}/hook"})
    responses.get(f"{OTHER}/hook", json={})
    client = Client(ClientConfig(prototype="generic", base_uri=OWN, auth="none"))
    client.request("GET", "/hook", headers={"X-Signing-Secret": SECRET_HEADER, "X-Trace": "t1"})
    second = responses.calls[1].request.headers
    assert "X-Signing-Secret" not in second and second["X-Trace"] == "t1"


def test_the_setting_is_part_of_a_project_client(tmp_path: Any) -> None:
    from alumio_mistral.config import load_project

    (tmp_path / "alumio.yaml").write_text(
        "clients:\n  hooks:\n    prototype: generic\n    base_uri: https://hooks.test\n"
        "    follow_cross_host_redirects: true\n"
    )
    assert load_project(tmp_path, environ={}).clients["hooks"].follow_cross_host_redirects is True
