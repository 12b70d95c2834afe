"""Putting credentials on a request, per scheme, without ever printing them.

A catalog entity names its scheme (``bearer``, ``admin_bearer``, ``api_key_header``,
``none``); a route outside the catalog uses the client's ``auth`` setting. The credential
lives in a ``requests`` auth object applied at send time, not in the session's headers, so no
repr of the session shows it.

On a redirect ``requests`` copies every header and drops only ``Authorization``, and only
when the host changes: an ``X-API-Key``, a custom auth header or a secret-named header would
reach the other host. :class:`CredentialSession` closes that gap for every scheme.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from requests.auth import AuthBase, HTTPBasicAuth

from alumio_mistral.http.environment import HomeEnvironmentSession
from alumio_mistral.http.errors import ApiError
from alumio_mistral.http.prototypes import ClientConfig
from alumio_mistral.secrets import is_secret_key


class CrossHostRedirectError(ApiError):
    """A redirect to another scheme, host or port, refused because the client holds credentials.

    The server answered (with the redirect) and may have acted first (a 303 after a POST is
    exactly that), so a request that is not safe to repeat waits for a person.
    """

    @property
    def server_may_have_acted(self) -> bool:
        return True


class CredentialSession(HomeEnvironmentSession):
    """A session that never carries a credential to another origin on a redirect (and reads the
    environment's proxy settings for its base URI once: see :mod:`~alumio_mistral.http.environment`).

    A redirect that changes scheme, host or port (``requests``' own test, which allows only
    the http-to-https upgrade on the same host) is refused with :class:`CrossHostRedirectError`
    for a client with credentials, unless it opted in with ``follow_cross_host_redirects``;
    then, like every redirect of a client without credentials, it is followed with every
    header that may carry a credential removed.
    """

    def __init__(self, config: ClientConfig) -> None:
        super().__init__(config.base_uri)
        self._client = config.name
        self._credential_headers = config.credential_headers()
        self._refuse_cross_host = config.has_credentials and not config.follow_cross_host_redirects

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: requests.Response) -> None:
        source, target = response.request.url or "", prepared_request.url or ""
        if self.should_strip_auth(source, target):
            if self._refuse_cross_host:
                raise CrossHostRedirectError(
                    f"client {self._client!r}: refused a redirect to another host ({_origin(target)});"
                    " the client's credentials stay with its own host. Set"
                    " follow_cross_host_redirects: true on the client to follow such redirects"
                    " without credentials",
                    status=response.status_code,
                    reason=response.reason or "",
                    method=response.request.method,
                    url=source,
                )
            for name in list(prepared_request.headers):
                if name.lower() in self._credential_headers or is_secret_key(name):
                    del prepared_request.headers[name]
        super().rebuild_auth(prepared_request, response)


def _origin(url: str) -> str:
    """``scheme://host:port`` of ``url``: where a redirect leads, without its path or query."""
    parsed = urlsplit(url)
    return f"{parsed.scheme}://{parsed.netloc.rpartition('@')[2]}"


class HeaderAuth(AuthBase):
    """Sets one header (``Authorization: Bearer ...`` or ``X-API-Key: ...``) on each request."""

    def __init__(self, header: str, value: str) -> None:
        self.header = header
        self._value = value

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers[self.header] = self._value
        return request

    def __repr__(self) -> str:
        return f"HeaderAuth({self.header!r}, '***')"


class BasicAuth(HTTPBasicAuth):
    """``HTTPBasicAuth`` whose repr hides the password."""

    def __repr__(self) -> str:
        return f"BasicAuth({self.username!r}, '***')"


def auth_for(config: ClientConfig, scheme: str | None = None) -> AuthBase | None:
    """The auth for a request: ``scheme`` from the catalog, else the client's own ``auth``.

    ``None`` when there is nothing to send (no key configured): the server's 401 then says
    what is missing, which beats refusing to try.
    """
    key = config.api_key
    if scheme == "none":
        return None
    if scheme == "admin_bearer":
        key = config.admin_api_key or config.api_key
        scheme = "bearer"
    elif scheme == "api_key_header":
        return HeaderAuth("x-api-key", key) if key else None
    elif scheme is None:
        scheme = config.auth
        if scheme == "basic":
            return BasicAuth(config.username or "", config.password or "")
        if scheme == "header":
            return HeaderAuth(config.auth_header, key) if key else None
    if scheme == "bearer" and key:
        return HeaderAuth("Authorization", f"Bearer {key}")
    return None
