"""Client prototypes: what a client needs to be told, and the defaults each prototype fills in.

``mistral`` needs only an API key (bearer auth, base URI ``https://api.mistral.ai``), and so
does ``cohere`` (bearer auth, base URI ``https://api.cohere.com``, its chat and generate
operations in :mod:`alumio_mistral.catalog.cohere`);
``generic`` reaches any REST service (a webhook...) with no auth, a bearer token, a
named header, or basic auth. Timeouts, retries, the rate limit and the circuit breaker have safe
defaults for both.

Credentials stay with the host they were configured for: a redirect to another scheme, host
or port is refused for a client that holds any (a typed error, nothing sent there), unless
``follow_cross_host_redirects`` is set; then it is followed with every credential header
dropped (the auth header, ``X-API-Key``, the configured ``auth_header``, secret-named
``headers`` and cookies). Credentials are checked when the configuration is built: a line
break, another control character, surrounding spaces or a character outside Latin-1 (a
typographic quote) cannot travel in an HTTP header, and the error names the client and field,
never the value.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal, Mapping

from alumio_mistral.errors import AlumioError
from alumio_mistral.secrets import MASK, is_secret_key, redact_value

Prototype = Literal["mistral", "cohere", "generic"]
ClientAuth = Literal["bearer", "header", "basic", "none"]

MISTRAL_BASE_URI = "https://api.mistral.ai"
COHERE_BASE_URI = "https://api.cohere.com"
#: the word that stands for "start the embedded sandbox and use its URI"
SANDBOX = "sandbox"
#: the key a sandbox client sends (the sandbox takes any key; this one reads plainly in logs)
SANDBOX_KEY = "sandbox-key"
PROTOTYPES = ("mistral", "cohere", "generic")
AUTH_KINDS = ("bearer", "header", "basic", "none")

_SECRET_FIELDS = frozenset({"api_key", "admin_api_key", "password"})
#: credentials that travel as they are in a header (username and password go base64-encoded)
_HEADER_CREDENTIALS = ("api_key", "admin_api_key")
#: bounds of the breaker settings: a run must neither give up after a blip nor wait an hour
BREAKER_FAILURES_MAX = 1000
BREAKER_COOL_DOWN_MAX = 3600.0


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
    #: consecutive server failures (5xx or no answer, after retries) that open the circuit
    #: breaker; 0 turns it off
    breaker_failures: int = 5
    #: seconds the open breaker keeps every call back before one trial call may go
    breaker_cool_down: float = 30.0
    #: follow a redirect to another scheme, host or port (credentials dropped) instead of
    #: refusing it; a client without credentials always follows
    follow_cross_host_redirects: bool = False
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
            self.base_uri = COHERE_BASE_URI if self.prototype == "cohere" else MISTRAL_BASE_URI
        if self.auth == "basic" and not self.username:
            raise ClientConfigError(f"{where}: basic auth needs a username")
        if self.max_attempts < 1:
            raise ClientConfigError(f"{where}: max_attempts must be at least 1, got {self.max_attempts}")
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            raise ClientConfigError(f"{where}: timeouts must be positive")
        if not 0 <= self.breaker_failures <= BREAKER_FAILURES_MAX:
            raise ClientConfigError(
                f"{where}: breaker_failures must be 0 (off) to {BREAKER_FAILURES_MAX}, got {self.breaker_failures}"
            )
        if not 0 < self.breaker_cool_down <= BREAKER_COOL_DOWN_MAX:
            raise ClientConfigError(
                f"{where}: breaker_cool_down must be above 0 and at most {BREAKER_COOL_DOWN_MAX:g} s,"
                f" got {self.breaker_cool_down}"
            )
        self._check_credentials()

    def _check_credentials(self) -> None:
        """Refuse a credential that cannot be sent, naming the field and never the value."""
        checks = [(name, getattr(self, name), False) for name in _HEADER_CREDENTIALS]
        checks += [(name, getattr(self, name), True) for name in ("username", "password")]
        checks += [(f"headers.{key}", value, False) for key, value in self.headers.items()]
        for dotted, value, spaces_allowed in checks:
            problem = credential_problem(value, spaces_allowed=spaces_allowed) if isinstance(value, str) else None
            if problem:
                raise ClientConfigError(f"clients.{self.name}.{dotted}: {problem}")

    @property
    def has_credentials(self) -> bool:
        """Does this client send anything that proves who it is?"""
        return bool(self.secrets() or (self.auth == "basic" and self.username))

    def credential_headers(self) -> frozenset[str]:
        """Lower-case names of the headers that may carry this client's credentials."""
        names = {"authorization", "x-api-key", "cookie", self.auth_header.lower()}
        return frozenset(names | {key.lower() for key in self.headers if is_secret_key(key)})

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


_REFUSED_NOT_TRIMMED = (
    "; remove it where the value is set (refused rather than trimmed: a value changed on its way"
    " in may not be the credential you meant)"
)
def key_from_environment(env: Mapping[str, str], client: str = "mistral") -> str | None:
    """``MISTRAL_API_KEY`` from ``env`` (None when unset or empty), checked like any credential.

    Checked here rather than in :class:`ClientConfig`, so that the message names the variable:
    the project file may not mention a key at all.
    """
    key = env.get("MISTRAL_API_KEY") or None
    problem = credential_problem(key) if key else None
    if problem:
        raise ClientConfigError(f"clients.{client}.api_key (from MISTRAL_API_KEY): {problem}")
    return key


#: quotes and dashes a word processor puts in place of the plain ones
_TYPOGRAPHIC = frozenset("\u2018\u2019\u201a\u201c\u201d\u201e\u2013\u2014")


def credential_problem(value: str, *, spaces_allowed: bool = False) -> str | None:
    """Why ``value`` cannot be sent as a credential, or None. Never quotes the value.

    ``requests`` and ``http.client`` would refuse it later with a traceback that prints the
    header, key included; said here, the message can name the field instead. Spaces at the
    ends are allowed only where the value is encoded first (a basic-auth password).
    """
    if "\n" in value or "\r" in value:
        return "contains a line break (a trailing newline from a file?)" + _REFUSED_NOT_TRIMMED
    if not spaces_allowed and value != value.strip():
        return "starts or ends with a space" + _REFUSED_NOT_TRIMMED
    for position, char in enumerate(value, 1):
        code = ord(char)
        if code < 0x20 or code == 0x7F:
            return f"character {position} is a control character (U+{code:04X})" + _REFUSED_NOT_TRIMMED
        if code > 0xFF:
            hint = " (a typographic character pasted from a document?)" if char in _TYPOGRAPHIC else ""
            return (
                f"character {position} is {char} (U+{code:04X}), which an HTTP header cannot carry{hint};"
                " retype it as plain text"
            )
    return None
