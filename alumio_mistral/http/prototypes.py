"""Client prototypes: what a client needs to be told, and the defaults each prototype fills in.

``mistral`` needs only an API key (bearer auth, base URI ``https://api.mistral.ai``);
``generic`` reaches any REST service (a webhook, Cohere...) with no auth, a bearer token, a
named header, or basic auth. Timeouts, retries and the rate limit have safe defaults for both.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

from alumio_mistral.errors import AlumioError
from alumio_mistral.secrets import MASK, is_secret_key, redact_value

Prototype = Literal["mistral", "generic"]
ClientAuth = Literal["bearer", "header", "basic", "none"]

MISTRAL_BASE_URI = "https://api.mistral.ai"
#: the word that stands for "start the embedded sandbox and use its URI"
SANDBOX = "sandbox"
PROTOTYPES = ("mistral", "generic")
AUTH_KINDS = ("bearer", "header", "basic", "none")

_SECRET_FIELDS = frozenset({"api_key", "admin_api_key", "password"})


class ClientConfigError(AlumioError):
    """A client configuration that cannot work (unknown prototype, basic auth without a user...)."""


@dataclass(repr=False)
class ClientConfig:
    """How to reach one service. Only ``base_uri`` (``generic``) and ``api_key`` matter."""

    name: str = "mistral"
    prototype: Prototype = "mistral"
    #: empty means the prototype's default; "sandbox" means the embedded sandbox
    base_uri: str = ""
    api_key: str | None = None
    #: ``auth`` for routes not in the catalog; catalog entities name their own scheme
    auth: ClientAuth = "bearer"
    #: header that carries ``api_key`` when ``auth`` is "header"
    auth_header: str = "X-API-Key"
    username: str | None = None
    password: str | None = None
    #: key for admin routes; the plain ``api_key`` when not given
    admin_api_key: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    max_attempts: int = 5
    backoff_factor: float = 0.5
    backoff_max: float = 30.0
    #: cap on the time one request may take over all its attempts and waits: no retry
    #: starts whose wait would pass it
    max_retry_wait: float = 120.0
    #: requests per second, shared by every thread using the client; None for no limit
    #: (retries of one request are spaced by the backoff, not counted again)
    rate_limit: float | None = None
    description: str = ""
    disabled: bool = False

    def __post_init__(self) -> None:
        where = f"client {self.name!r}"
        if self.prototype not in PROTOTYPES:
            raise ClientConfigError(
                f"{where}: unknown prototype {self.prototype!r} (expected one of {', '.join(PROTOTYPES)})"
            )
        if self.auth not in AUTH_KINDS:
            raise ClientConfigError(
                f"{where}: unknown auth {self.auth!r} (expected one of {', '.join(AUTH_KINDS)})"
            )
        if not self.base_uri:
            if self.prototype == "generic":
                raise ClientConfigError(f"{where}: a generic client needs a base_uri")
            self.base_uri = MISTRAL_BASE_URI
        if self.auth == "basic" and not self.username:
            raise ClientConfigError(f"{where}: basic auth needs a username")
        if self.max_attempts < 1:
            raise ClientConfigError(f"{where}: max_attempts must be at least 1, got {self.max_attempts}")
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            raise ClientConfigError(f"{where}: timeouts must be positive")

    def secrets(self) -> list[str]:
        """Every secret value this configuration holds (keys, password, secret-named headers)."""
        values = [getattr(self, name) for name in sorted(_SECRET_FIELDS)]
        values += [value for key, value in self.headers.items() if is_secret_key(key)]
        return [value for value in values if value]

    def __repr__(self) -> str:
        shown: list[str] = []
        for item in fields(self):
            value: Any = getattr(self, item.name)
            if item.name in _SECRET_FIELDS:
                value = MASK if value else value
            else:
                value = redact_value(value)
            shown.append(f"{item.name}={value!r}")
        return f"ClientConfig({', '.join(shown)})"
