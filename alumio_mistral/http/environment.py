"""The environment's proxy and CA bundle settings, read once per client for its own origin.

``requests`` reads them for every request it sends: each call looks every proxy variable up,
iterating over the whole of ``os.environ`` twice (a tenth of a subscriber's time per page). A
client talks to its own origin nearly always, so the settings for that origin are read once,
when the client is made, and honoured as ``requests`` honours them (``HTTPS_PROXY`` and the
others, ``NO_PROXY`` for the base URI's host, ``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE``). A
URL of another origin (a download link, a redirect) is looked up per request, as before. A
change to the environment reaches the clients made after it.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.sessions import merge_setting
from requests.utils import get_environ_proxies


def origin(url: str) -> tuple[str, str | None, int | None]:
    """Scheme, host and port of ``url`` (lower case), to tell a client's own URLs from others."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    return parts.scheme.lower(), parts.hostname, port


class HomeEnvironmentSession(requests.Session):
    """A session that reads the environment's settings for its ``home`` URI once."""

    def __init__(self, home: str) -> None:
        super().__init__()
        self._home = origin(home)
        self._home_proxies = get_environ_proxies(home) if self.trust_env else {}
        self._home_ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")

    def merge_environment_settings(
        self, url: str, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> dict[str, Any]:
        if not self.trust_env or proxies or origin(url) != self._home:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is True or verify is None:
            verify = self._home_ca_bundle or verify
        return {
            "proxies": merge_setting(dict(self._home_proxies), self.proxies),
            "stream": merge_setting(stream, self.stream),
            "verify": merge_setting(verify, self.verify),
            "cert": merge_setting(cert, self.cert),
        }
