"""Webhook incomings: who may post, how big, and what a posted body holds.

Automation platforms call us with JSON. Before a single byte becomes a task the request must
prove it comes from someone holding the shared secret: an HMAC-SHA256 signature of the raw
body in a header (hex, optionally prefixed ``sha256=`` as GitHub and others send it), or a
bearer token. Comparisons are constant-time. The body is read only up to a size limit, and
must be one JSON object or a list of them: each becomes one entity.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, Mapping

from alumio_mistral.errors import AlumioError

DEFAULT_SIGNATURE_HEADER = "X-Signature-256"
#: a webhook delivers events, not bulk files
DEFAULT_MAX_BYTES = 1024 * 1024
#: a list longer than this is a bulk load: use a file incoming
MAX_ENTITIES = 10_000


class WebhookRefused(AlumioError):
    """A posted request that becomes no task; ``status`` is the HTTP answer (401, 413, 415, 400)."""

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(f"{status}: {reason}")


@dataclass(frozen=True)
class WebhookSpec:
    """A webhook subscriber's settings, as validated from the project file."""

    path: str
    secret: str | None = None
    token: str | None = None
    signature_header: str = DEFAULT_SIGNATURE_HEADER
    max_bytes: int = DEFAULT_MAX_BYTES

    @classmethod
    def from_config(cls, spec: Mapping[str, Any]) -> WebhookSpec:
        return cls(
            path=str(spec["path"]),
            secret=spec.get("secret"),
            token=spec.get("token"),
            signature_header=spec.get("signature_header", DEFAULT_SIGNATURE_HEADER),
            max_bytes=int(spec.get("max_bytes", DEFAULT_MAX_BYTES)),
        )

    def __repr__(self) -> str:  # the secret and token never reach a log line
        return f"WebhookSpec(path={self.path!r}, signed={self.secret is not None}, token={self.token is not None})"

    def check_size(self, length: int | None) -> None:
        """Refuse before reading when the declared length is over the limit (or missing)."""
        if length is None:
            raise WebhookRefused(411, "a Content-Length is required")
        if length > self.max_bytes:
            raise WebhookRefused(413, f"the body is {length} bytes; the limit is {self.max_bytes}")

    def authenticate(self, headers: Mapping[str, str], body: bytes) -> None:
        """Pass, or raise 401 saying which proof was missing or wrong (never the expected value)."""
        if self.secret is not None:
            given = _header(headers, self.signature_header)
            if not given:
                raise WebhookRefused(401, f"missing signature header {self.signature_header}")
            expected = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(given.strip().removeprefix("sha256=").lower(), expected):
                raise WebhookRefused(401, f"bad signature in {self.signature_header}")
        if self.token is not None:
            scheme, _, given = (_header(headers, "Authorization") or "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self.token.encode()):
                raise WebhookRefused(401, "missing or wrong bearer token")


def sign(secret: str, body: bytes) -> str:
    """The signature header value a sender computes (``sha256=<hex>``): for tests and docs."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def entities_in(body: bytes, content_type: str) -> list[Any]:
    """The entities a posted body holds: one JSON object, or a list of objects."""
    if content_type and not content_type.split(";")[0].strip().lower().endswith(("/json", "+json")):
        raise WebhookRefused(415, f"send application/json, not {content_type}")
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise WebhookRefused(400, f"the body is not JSON: {error}") from None
    items = document if isinstance(document, list) else [document]
    if len(items) > MAX_ENTITIES:
        raise WebhookRefused(413, f"{len(items)} entities in one post; the limit is {MAX_ENTITIES}")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            where = f"item {index}" if isinstance(document, list) else "the body"
            raise WebhookRefused(400, f"{where} is a {type(item).__name__}, not a JSON object")
    return items


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)
