"""Putting credentials on a request, per scheme, without ever printing them.

A catalog entity names its scheme (``bearer``, ``admin_bearer``, ``api_key_header``,
``none``); a route outside the catalog uses the client's ``auth`` setting. The credential
lives in a ``requests`` auth object applied at send time, not in the session's headers, so
``requests`` drops it on a redirect to another host and no repr of the session shows it.
"""

from __future__ import annotations

import requests
from requests.auth import AuthBase, HTTPBasicAuth

from alumio_mistral.http.prototypes import ClientConfig


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
