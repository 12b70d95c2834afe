"""One exception hierarchy for every failed HTTP call, whatever shape the error body has.

Mistral answers errors in several shapes (FastAPI validation lists, ``detail`` objects,
OpenAI-style ``object: error`` records, bare ``message`` objects, HTML pages from proxies).
:func:`error_from_response` reads them all into the same fields, so task records and the CLI
show a readable message, the 422 ``loc: msg`` lines, and a short body excerpt. Every text is
redacted, so an API key echoed by a server never reaches a log or a record.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

import requests
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProxyError,
    SSLError,
)

from alumio_mistral.catalog.entity import Entity
from alumio_mistral.errors import AlumioError
from alumio_mistral.secrets import redact

#: how much of a response body an error keeps (task records stay small)
BODY_LIMIT = 2000
#: how much of a non-JSON page goes into the one-line message
EXCERPT_LIMIT = 200

RETIRED_FINE_TUNING = "fine-tuning jobs were retired by Mistral; the route now answers 410 Gone"


class ApiError(AlumioError):
    """A call that did not succeed: the server said no, or could not be reached."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reason: str = "",
        details: list[str] | None = None,
        code: str | None = None,
        body: str = "",
        method: str | None = None,
        url: str | None = None,
        entity: str | None = None,
    ) -> None:
        self.status = status
        self.reason = reason
        self.message = redact(message)
        self.details = [redact(line) for line in details or []]
        self.code = code
        self.body = redact(body[:BODY_LIMIT])
        self.method = method
        self.url = redact(url) if url else url
        self.entity = entity
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = " ".join(part for part in (self.method, self.url) if part)
        if self.entity:
            where = f"{self.entity} ({where})" if where else self.entity
        status = f"HTTP {self.status} {self.reason}".rstrip() if self.status else ""
        head = ": ".join(part for part in (where, status, self.message) if part)
        return "\n".join([head, *(f"  - {line}" for line in self.details)])

    @property
    def server_may_have_acted(self) -> bool:
        """Could the server have carried the request out although no good answer came back?

        Decides what a failed request that is not safe to repeat becomes: ``review`` (a person
        must check) when True, ``failed`` (replayable) when the server cannot have acted: a
        refusal (4xx), a rate limit (429) or "unavailable" (503). Other 5xx answers may come
        after the work was done (a gateway timing out, a crash while answering).
        """
        if self.status is None or self.status < 500:
            return False
        return self.status != 503

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe, redacted record of the failure (kept by tasks)."""
        return {
            "type": type(self).__name__,
            "status": self.status,
            "message": self.message,
            "details": list(self.details),
            "code": self.code,
            "body": self.body,
            "method": self.method,
            "url": self.url,
            "entity": self.entity,
            "server_may_have_acted": self.server_may_have_acted,
        }


class AuthError(ApiError):
    """401/403: the key is missing, wrong, or lacks the right for this route."""


class NotFoundError(ApiError):
    """404: the route or the addressed object does not exist."""


class RequestValidationError(ApiError):
    """400/422: the server rejected the request; ``details`` lists each ``loc: msg``."""


class GoneError(ApiError):
    """410: the route was retired; the message says so plainly."""


class RateLimitedError(ApiError):
    """429 after the retries allowed: ``retry_after`` is the server's last wish in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **fields: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **fields)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "retry_after": self.retry_after}


class ServerError(ApiError):
    """5xx after the retries allowed."""


class TransportError(ApiError):
    """No HTTP answer at all: connection refused, DNS failure, timeout (``status`` is None).

    ``request_sent`` tells the two halves apart: a failure while connecting (refused, DNS,
    connect timeout) left the server untouched; one after the request was written (dropped
    connection, read timeout) may follow work the server did.
    """

    def __init__(self, message: str, *, request_sent: bool = True, **fields: Any) -> None:
        self.request_sent = request_sent
        super().__init__(message, **fields)

    @property
    def server_may_have_acted(self) -> bool:
        return self.request_sent


class CircuitOpenError(ApiError):
    """Not sent: the client's circuit breaker is open after consecutive server failures.

    Nothing left this process, so the request may be replayed once the cool-down is over;
    a publishing run stops claiming tasks for that client and leaves the rest ``new``.
    """

    def __init__(self, message: str, *, retry_in: float = 0.0, **fields: Any) -> None:
        self.retry_in = retry_in
        super().__init__(message, **fields)


class BrokenResponseError(ApiError):
    """A 2xx answer whose body is not what the operation answers: cut short, not JSON, or not
    the shape promised. Never a success; the server did act, so it is never replayed blindly."""

    @property
    def server_may_have_acted(self) -> bool:
        return True


def error_class(status: int) -> type[ApiError]:
    """The exception type for an HTTP status."""
    if status in (401, 403):
        return AuthError
    if status == 404:
        return NotFoundError
    if status in (400, 422):
        return RequestValidationError
    if status == 410:
        return GoneError
    if status == 429:
        return RateLimitedError
    if status >= 500:
        return ServerError
    return ApiError


def error_from_response(
    response: requests.Response,
    entity: Entity | None = None,
    retry_after: float | None = None,
) -> ApiError:
    """Build the typed error for a non-2xx ``response`` (its body is read here)."""
    text = _body_text(response)
    message, details, code = parse_error_body(text, response.headers.get("Content-Type", ""))
    status = response.status_code
    if status == 410:
        message = _gone_message(entity, message)
    fields: dict[str, Any] = dict(
        status=status,
        reason=response.reason or "",
        details=details,
        code=code,
        body=text,
        method=response.request.method if response.request is not None else None,
        url=response.url,
        entity=entity.name if entity is not None else None,
    )
    cls = error_class(status)
    if cls is RateLimitedError:
        return RateLimitedError(message, retry_after=retry_after, **fields)
    return cls(message, **fields)


def transport_error(
    error: requests.RequestException, method: str, url: str, entity: Entity | None = None
) -> TransportError:
    """Wrap a connection failure or timeout; the cause's text is redacted like any other."""
    sent = request_was_sent(error)
    if isinstance(error, requests.Timeout):
        kind = "timed out waiting for the answer" if sent else "timed out connecting"
    else:
        kind = "the connection broke after the request was sent" if sent else "could not connect"
    return TransportError(
        f"{kind}: {_root_cause(error)}",
        request_sent=sent,
        method=method,
        url=url,
        entity=entity.name if entity is not None else None,
    )


#: urllib3 failures that happen before a byte of the request reaches the server
_BEFORE_SENDING = (NewConnectionError, ConnectTimeoutError, NameResolutionError, SSLError, ProxyError)


def request_was_sent(error: BaseException) -> bool:
    """May the request have reached the server before ``error``? True unless it is certain
    that it did not (a failure while connecting): the careful answer for a stateful call."""
    if isinstance(error, (requests.ConnectTimeout, requests.exceptions.SSLError, requests.exceptions.ProxyError)):
        return False
    reason: Any = error.args[0] if error.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return not isinstance(reason, _BEFORE_SENDING)


def _root_cause(error: BaseException) -> str:
    """The innermost reason urllib3 wrapped, without the pool and retry boilerplate."""
    reason = error.args[0] if error.args else error
    reason = getattr(reason, "reason", reason)
    return str(reason)


def _body_text(response: requests.Response) -> str:
    try:
        return response.text
    except (requests.RequestException, UnicodeDecodeError):
        return ""


def _gone_message(entity: Entity | None, server_message: str) -> str:
    if entity is not None and entity.retired:
        if entity.name.startswith("fine_tuning.jobs"):
            return RETIRED_FINE_TUNING
        return f"{entity.name} was retired by Mistral; the route now answers 410 Gone"
    return f"the route is retired (410 Gone): {server_message}" if server_message else (
        "the route is retired (410 Gone)"
    )


def parse_error_body(text: str, content_type: str = "") -> tuple[str, list[str], str | None]:
    """Read any known error body shape into (message, details, code).

    Shapes: ``{"detail": [{loc, msg, type}]}``, ``{"detail": {"message", "error_code"}}``,
    ``{"detail": "..."}``, ``{"object": "error", "message", "type", "code"}`` (whose message
    may itself be one of the other shapes), ``{"message": ...}``, and non-JSON text or HTML.
    """
    stripped = text.strip()
    if not stripped:
        return "", [], None
    try:
        document = json.loads(stripped)
    except ValueError:
        return _excerpt(stripped, content_type), [], None
    return _parse_document(document)


def _parse_document(document: Any) -> tuple[str, list[str], str | None]:
    if isinstance(document, list):
        return "request validation failed", _validation_lines(document), None
    if not isinstance(document, dict):
        return str(document), [], None
    if "detail" in document:
        detail = document["detail"]
        if isinstance(detail, list):
            return "request validation failed", _validation_lines(detail), None
        if isinstance(detail, dict):
            code = detail.get("error_code", detail.get("code"))
            message = detail.get("message") or json.dumps(detail, ensure_ascii=False)
            return str(message), [], _code(code)
        return str(detail), [], None
    if "message" in document:
        message = document["message"]
        code = _code(document.get("code")) or _code(document.get("type"))
        if isinstance(message, (dict, list)):
            inner, details, inner_code = _parse_document(message)
            return inner, details, inner_code or code
        return str(message), [], code
    return json.dumps(document, ensure_ascii=False)[:EXCERPT_LIMIT], [], None


def _validation_lines(items: list[Any]) -> list[str]:
    lines = []
    for item in items:
        if isinstance(item, dict):
            loc = ".".join(str(part) for part in item.get("loc") or ())
            msg = str(item.get("msg", item.get("message", "")))
            lines.append(f"{loc}: {msg}" if loc else msg)
        else:
            lines.append(str(item))
    return lines


def _code(value: Any) -> str | None:
    return None if value is None else str(value)


_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_SCRIPT_STYLE = re.compile(r"<(script|style)[^>]*>.*?</\1>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def _excerpt(text: str, content_type: str) -> str:
    """A short, clean one-line excerpt of a non-JSON body (an HTML page: its title and text)."""
    if "html" in content_type.lower() or _TAG.search(text):
        found = _TITLE.search(text)
        title = _clean(found.group(1)) if found else ""
        body = _clean(_TAG.sub(" ", _SCRIPT_STYLE.sub(" ", _TITLE.sub(" ", text))))
        # error pages usually repeat their title as the heading: say it once
        text = body if not title or body.startswith(title) else f"{title} - {body}"
    else:
        text = _SPACE.sub(" ", text).strip()
    if len(text) > EXCERPT_LIMIT:
        text = text[: EXCERPT_LIMIT - 3].rstrip() + "..."
    return f"non-JSON response: {text}"


def _clean(fragment: str) -> str:
    return _SPACE.sub(" ", html.unescape(fragment)).strip()
