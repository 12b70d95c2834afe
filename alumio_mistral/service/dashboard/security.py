"""Who may see the dashboard and who may act through it.

On a loopback address only this machine can connect, so no login is asked. Bound anywhere
else, ``serve`` needs a login token from the environment (:data:`TOKEN_VARIABLE`):
:func:`check_bind` refuses to start without one. A request then proves it knows the token by
a bearer header, or by the cookie the login form sets (an HMAC of the token, never the token
itself). Every action is a POST carrying a CSRF token tied to that login, so a page from
another site cannot make a logged-in browser retry or resolve tasks.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from http.cookies import SimpleCookie
from typing import Any, Mapping

from alumio_mistral.errors import AlumioError
from alumio_mistral.secrets import register_secret

#: the environment variable holding the dashboard's login token
TOKEN_VARIABLE = "ALUMIO_DASHBOARD_TOKEN"
#: the cookie a successful login sets
COOKIE = "alumio_dashboard"
#: the form field (and header) that carries the CSRF token of an action
CSRF_FIELD = "csrf"
CSRF_HEADER = "HTTP_X_CSRF_TOKEN"


class BindRefused(AlumioError):
    """``serve`` was asked to listen beyond loopback without a dashboard login token."""


def is_loopback(host: str) -> bool:
    """Does ``host`` only accept connections from this machine?"""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, environ: Mapping[str, str]) -> str | None:
    """The login token ``serve`` must ask for when listening on ``host`` (``None``: none set).

    Raises :class:`BindRefused` for a non-loopback ``host`` without :data:`TOKEN_VARIABLE`:
    the dashboard can retry tasks, so it is never open to a network without a login.
    """
    token = environ.get(TOKEN_VARIABLE) or None
    if token is None and not is_loopback(host):
        raise BindRefused(
            f"serve --host {host}: the dashboard would be open to the network; set {TOKEN_VARIABLE}"
            " to a long random login token, or serve on 127.0.0.1")
    register_secret(token)
    return token


def _hostname(host_header: str) -> str:
    """The host of a ``Host`` header, without its port (``[::1]:8080`` is ``::1``)."""
    if host_header.startswith("["):
        return host_header[1:].partition("]")[0]
    return host_header.rpartition(":")[0] if host_header.count(":") == 1 else host_header


class Guard:
    """Checks the login and the CSRF token of each request (``token`` ``None``: no login)."""

    def __init__(self, token: str | None) -> None:
        self.token = token
        self._key = secrets.token_bytes(32)  # per process: a restart logs everybody out

    def session_of(self, environ: Mapping[str, Any]) -> str | None:
        """The proof of login this request carries (``"open"`` without a token), else ``None``.

        Without a token the request must name a loopback host: a web page whose own name was
        pointed at 127.0.0.1 (DNS rebinding) could otherwise read the pages and act on them.
        """
        if self.token is None:
            return "open" if is_loopback(_hostname(environ.get("HTTP_HOST", ""))) else None
        header = environ.get("HTTP_AUTHORIZATION", "")
        if header.startswith("Bearer ") and hmac.compare_digest(header[7:].strip().encode(), self.token.encode()):
            return "bearer"
        cookie = SimpleCookie(environ.get("HTTP_COOKIE", ""))
        if COOKIE in cookie and hmac.compare_digest(cookie[COOKIE].value, self.login_cookie()):
            return cookie[COOKIE].value
        return None

    def accepts_login(self, offered: str) -> bool:
        return self.token is not None and hmac.compare_digest(offered.encode(), self.token.encode())

    def login_cookie(self) -> str:
        return self._sign(f"login:{self.token}")

    def set_cookie_header(self, secure: bool) -> tuple[str, str]:
        flags = "; Secure" if secure else ""
        return ("Set-Cookie", f"{COOKIE}={self.login_cookie()}; Path=/; HttpOnly; SameSite=Strict{flags}")

    def csrf_token(self, session: str) -> str:
        return self._sign(f"csrf:{session}")

    def csrf_ok(self, session: str, offered: str | None) -> bool:
        return bool(offered) and hmac.compare_digest(offered.encode(), self.csrf_token(session).encode())

    def _sign(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()
