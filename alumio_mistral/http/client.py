"""The one HTTP client: a pooled session, timeouts always, retries by policy, typed errors.

Everything that talks HTTP goes through :class:`Client`, so the rules hold everywhere: the
official SDK once hung forever without timeouts, a retried upload can create a duplicate
file, and an API key must never reach a log line or an error. The client is safe to share
between threads (the outgoing engine does): the session's pool is thread-safe, the retry
policy travels per request in a context variable, and the rate limit has its own lock.
"""

from __future__ import annotations

import json as jsonlib
import logging
import time
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Tuple
from urllib.parse import quote, unquote, urlencode, urljoin

import requests
from urllib3.exceptions import InvalidHeader
from urllib3.util.retry import Retry

from alumio_mistral import __version__
from alumio_mistral.catalog.entity import Entity
from alumio_mistral.errors import AlumioError
from alumio_mistral.http.auth import CredentialSession, auth_for
from alumio_mistral.http.breaker import BreakerState, CircuitBreaker
from alumio_mistral.http.bodies import decode_body, read_content
from alumio_mistral.http.errors import error_from_response, transport_error
from alumio_mistral.http.prototypes import SANDBOX, ClientConfig, ClientConfigError
from alumio_mistral.http.ratelimit import TokenBucket
from alumio_mistral.http.retry import PolicyAdapter, retry_policy, using_policy
from alumio_mistral.secrets import install_log_redaction, redact, register_secret

if TYPE_CHECKING:
    from alumio_mistral.catalog import Catalog

log = logging.getLogger("alumio_mistral.http")

USER_AGENT = f"alumio-mistral/{__version__}"
#: methods that change nothing when repeated: retried like reads outside the catalog
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: connections kept per host: the highest outgoing ``concurrency`` (MAX_CONCURRENCY in the
#: config), so no worker's connection is discarded and reopened ("pool is full"); a pool opens
#: connections only as they are needed
POOL_SIZE = 64

#: a scalar, a list (sent as repeated keys) or, for a JSON-style param, any JSON value
QueryValue = Any
#: transport failures that mean the server is down or not answering: the breaker counts them
#: (an invalid URL or header is a local mistake and says nothing about the server)
_NO_ANSWER = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


class ParameterError(AlumioError):
    """A call that cannot be built: a path parameter missing for the entity's template."""


#: see :attr:`Client.observers`
Observer = Callable[[str, Optional[int], float, Tuple[Optional[int], ...]], None]


class Client:
    """A configured connection to one service (Mistral, the sandbox, or any REST API)."""

    def __init__(self, config: ClientConfig, catalog: Catalog | None = None) -> None:
        self.config = config
        self._catalog = catalog
        for secret in config.secrets():
            register_secret(secret)
        install_log_redaction()
        if config.base_uri == SANDBOX:
            raise ClientConfigError(
                f"client {config.name!r}: base URI 'sandbox' must be resolved to the running sandbox's "
                "address first (the runtime's client pool does it)"
            )
        self._limiter = TokenBucket(config.rate_limit) if config.rate_limit else None
        self._breaker = CircuitBreaker(
            config.name, failures=config.breaker_failures, cool_down=config.breaker_cool_down
        )
        self._session = CredentialSession(config)
        self._session.headers["User-Agent"] = USER_AGENT
        self._session.headers.update(config.headers)
        adapter = PolicyAdapter(pool_connections=POOL_SIZE, pool_maxsize=POOL_SIZE)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        #: called after every request as ``(client, status or None, seconds, retried statuses)``:
        #: ``serve`` counts requests, retries and 429s with it; an observer must not raise
        self.observers: list[Observer] = []

    # -- properties -------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def breaker_state(self) -> BreakerState:
        """``closed``, ``open`` (keeping every call back) or ``half-open`` (a trial may go)."""
        return self._breaker.state

    @property
    def base_uri(self) -> str:
        return self.config.base_uri

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            from alumio_mistral.catalog import Catalog

            self._catalog = Catalog.default()
        return self._catalog

    def __repr__(self) -> str:
        return (f"Client(name={self.name!r}, prototype={self.config.prototype!r}, "
                f"base_uri={redact(self.config.base_uri)!r})")

    # -- building requests -------------------------------------------------------------------

    def entity(self, target: Entity | str) -> Entity:
        return target if isinstance(target, Entity) else self.catalog.get(target)

    def url_for(
        self,
        target: Entity | str,
        *,
        path_params: Mapping[str, Any] | None = None,
        query: Mapping[str, QueryValue] | None = None,
    ) -> str:
        """The full URL of a call: an entity (path template filled in) or a path/URL string."""
        if isinstance(target, Entity):
            url = self._join(fill_path(target, path_params or {}))
            pairs = encode_query(target, query or {})
        else:
            url = self._join(target)
            pairs = encode_query(None, query or {})
        return f"{url}?{urlencode(pairs)}" if pairs else url

    def _join(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return urljoin(self.base_uri.rstrip("/") + "/", path_or_url.lstrip("/"))

    # -- sending -----------------------------------------------------------------------------

    def call(
        self,
        entity: Entity | str,
        *,
        path_params: Mapping[str, Any] | None = None,
        query: Mapping[str, QueryValue] | None = None,
        json: Any = None,
        files: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        stream: bool | None = None,
    ) -> requests.Response:
        """Call a catalog entity; non-2xx raises the typed error (a 410 on a retired route says so).

        ``stream`` defaults to the entity's own (SSE) flag; a streamed response is returned
        unread, for :func:`alumio_mistral.http.sse.iter_events`. A JSON body for a streaming
        entity gets ``"stream": true`` unless it says otherwise.
        """
        target = self.entity(entity)
        stream = target.streams if stream is None else stream
        if target.streams and isinstance(json, dict) and "stream" not in json:
            # a stream variant shares its path with the plain one; the body flag picks it
            json = {**json, "stream": True}
        request_headers = dict(headers or {})
        if stream and (target.streams or target.extra.get("sse_optional")):
            request_headers.setdefault("Accept", "text/event-stream")
        return self._send(
            target.method,
            self._join(fill_path(target, path_params or {})),
            entity=target,
            auth_scheme=target.auth,
            safe_to_retry=target.safe_to_retry,
            params=encode_query(target, query or {}),
            json=json,
            data=data,
            files=files,
            headers=request_headers,
            stream=stream,
        )

    def call_json(self, entity: Entity | str, **kwargs: Any) -> Any:
        """:meth:`call`, then the answer decoded as the operation documents it: a 2xx whose body
        is cut short or is not JSON of the operation's shape raises :class:`BrokenResponseError`
        (an :class:`ApiError`, so callers report it like any failed call) rather than a
        ``ValueError`` from deep inside ``requests``."""
        target = self.entity(entity)
        return decode_body(self.call(target, **kwargs), target)

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, QueryValue] | None = None,
        json: Any = None,
        data: Any = None,
        files: Any = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        safe_to_retry: bool | None = None,
    ) -> requests.Response:
        """Call any path (relative to the base URI) or absolute URL with the client's own auth.

        Without ``safe_to_retry``, idempotent methods are retried like reads and the rest
        only where the server cannot have processed them.
        """
        method = method.upper()
        return self._send(
            method,
            self._join(path_or_url),
            entity=None,
            auth_scheme=None,
            safe_to_retry=method in IDEMPOTENT_METHODS if safe_to_retry is None else safe_to_retry,
            params=encode_query(None, params or {}),
            json=json,
            data=data,
            files=files,
            headers=dict(headers or {}),
            stream=stream,
        )

    def _send(
        self,
        method: str,
        url: str,
        *,
        entity: Entity | None,
        auth_scheme: str | None,
        safe_to_retry: bool,
        params: list[tuple[str, str]],
        json: Any,
        data: Any,
        files: Any,
        headers: dict[str, str],
        stream: bool,
    ) -> requests.Response:
        config = self.config
        self._breaker.before_call(method=method, url=url, entity=entity.name if entity is not None else None)
        if self._limiter is not None:
            self._limiter.acquire()
        policy = retry_policy(
            safe_to_retry=safe_to_retry,
            max_attempts=config.max_attempts,
            backoff_factor=config.backoff_factor,
            backoff_max=config.backoff_max,
            max_retry_wait=config.max_retry_wait,
            before_retry=None if self._limiter is None else self._limiter.acquire,
        )
        started = time.monotonic()
        try:
            with using_policy(policy):
                response = self._session.request(
                    method,
                    url,
                    params=params or None,
                    json=json,
                    data=data,
                    files=files,
                    headers=headers or None,
                    auth=auth_for(config, auth_scheme),
                    timeout=(config.connect_timeout, config.read_timeout),
                    stream=True,  # the body is read below, where a broken one is known with its status
                )
        except requests.RequestException as error:
            log.debug("%s %s failed: %s", method, url, error)
            self._observe(None, started, ())
            if isinstance(error, _NO_ANSWER):
                self._breaker.failed()
            else:
                self._breaker.abandoned()
            raise transport_error(error, method, url, entity) from None
        except BaseException:
            self._breaker.abandoned()
            raise
        log.debug(
            "%s %s -> %s in %.0f ms", method, response.url, response.status_code,
            (time.monotonic() - started) * 1000,
        )
        self._observe(response.status_code, started, _retried(response))
        if response.status_code >= 500:
            self._breaker.failed()
        else:
            self._breaker.succeeded()
        if response.status_code >= 400:
            try:
                raise error_from_response(response, entity, _retry_after(policy, response))
            finally:
                response.close()
        if not stream:
            read_content(response, entity)
        return response

    def _observe(self, status: int | None, started: float, retried: tuple[int | None, ...]) -> None:
        elapsed = time.monotonic() - started
        for observer in self.observers:
            observer(self.config.name, status, elapsed, retried)

    # -- lifetime ----------------------------------------------------------------------------

    def close(self) -> None:
        """Release the pooled connections."""
        self._session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _retried(response: requests.Response) -> tuple[int | None, ...]:
    """The statuses of the attempts urllib3 retried before this answer (None: no answer)."""
    retries = getattr(response.raw, "retries", None)
    return tuple(attempt.status for attempt in getattr(retries, "history", None) or ())


def fill_path(entity: Entity, values: Mapping[str, Any]) -> str:
    """The entity's path template with each ``{param}`` quoted as exactly one path segment.

    A missing value, or one that could address another route, is a :class:`ParameterError`
    raised before anything is sent (see :func:`check_segment`).
    """
    names = [param.name for param in entity.path_params]
    missing = [name for name in names if values.get(name) in (None, "")]
    if missing:
        raise ParameterError(
            f"{entity.name}: missing path parameter(s) {', '.join(missing)} "
            f"for {entity.method} {entity.path}"
        )
    path = entity.path
    for name in names:
        problem = check_segment(str(values[name]))
        if problem:
            raise ParameterError(
                f"{entity.name}: path parameter {name} {problem}; refused before sending "
                f"{entity.method} {entity.path}"
            )
        path = path.replace("{" + name + "}", quote(str(values[name]), safe=""))
    return path


#: how many rounds of percent-decoding a value is checked through (``%252e`` is ``%2e`` is ``.``)
DECODING_ROUNDS = 4


def check_segment(value: str) -> str | None:
    """Why ``value`` cannot be one path segment, or None when it can.

    Quoting leaves ``.`` and ``..`` as they are and the HTTP stack collapses them
    (``DELETE /v1/libraries/L/documents/..`` reaches ``/v1/libraries/L``); a server or proxy
    that decodes the path before routing reads ``%2e`` as ``.`` and ``%2F`` as ``/`` (the
    sandbox does). So a value that is empty, a dot segment, or holds a slash after any round
    of decoding is refused: the URL keeps exactly the template's segments.
    """
    decoded = value
    for _ in range(DECODING_ROUNDS + 1):
        if decoded in ("", ".", ".."):
            shown = repr(value) if decoded == value else f"{value!r} ({decoded!r} once decoded)"
            return f"is {shown}, which would address another route"
        if "/" in decoded or "\\" in decoded:
            return f"{value[:80]!r} holds a slash, which would split it into several path segments"
        further = unquote(decoded)
        if further == decoded:
            return None
        decoded = further
    return f"{value[:80]!r} is percent-encoded more than {DECODING_ROUNDS} times over"


def encode_query(entity: Entity | None, query: Mapping[str, QueryValue]) -> list[tuple[str, str]]:
    """Query pairs by each param's style: arrays as repeated keys, JSON params JSON-encoded.

    A string for a JSON param is taken as already encoded (as typed on the command line).
    Booleans become ``true``/``false`` (what the API expects, not Python's ``True``); None
    values are left out; names the entity does not declare are sent as given.
    """
    styles = {param.name: param.style for param in entity.query_params} if entity else {}
    pairs: list[tuple[str, str]] = []
    for name, value in query.items():
        if value is None:
            continue
        if styles.get(name) == "json" and not isinstance(value, str):
            pairs.append((name, jsonlib.dumps(value, separators=(",", ":"))))
        elif isinstance(value, (list, tuple)):
            pairs.extend((name, _scalar(item)) for item in value)
        else:
            pairs.append((name, _scalar(value)))
    return pairs


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _retry_after(policy: Retry, response: requests.Response) -> float | None:
    """The server's ``Retry-After`` in seconds (either form), or None if absent or unreadable."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return float(policy.parse_retry_after(value))
    except InvalidHeader:
        return None
