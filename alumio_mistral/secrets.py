"""Keeping secrets (API keys, passwords) out of logs, errors, task records and output.

Every client registers the secrets it is built with; every text that may leave the process
(an error message, a response body echoed in an error, a log line) passes through
:func:`redact`. Registered values are masked wherever they appear; common shapes of secrets
(``Bearer <token>``, ``api_key=...``) are masked even when nobody registered them, because a
server may echo a key we never saw (for example from another client's configuration).
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

MASK = "***"

#: shorter values are not registered: masking a short word like "test" everywhere would mangle
#: every message (real keys are far longer; short passwords still go masked as "Basic ***")
_MIN_SECRET_LENGTH = 8

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None

_SHAPES = re.compile(
    r"(?P<userinfo>://[^/\s:@]+:)[^/\s@]+(?=@)"
    r"|(?P<bearer>\b(?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]+"
    r"|(?P<assign>\b(?:[\w-]*(?:api[_-]?key|apikey|secret|password|passwd)[\w-]*"
    r"|authorization|(?:access_|auth_|refresh_)?token)"
    r"[\"']?\s*[:=]\s*[\"']?(?:(?:Bearer|Basic)\s+)?)(?!\*\*\*)[^\s\"'&,;}]+",
    re.IGNORECASE,
)

_SECRET_KEY_NAMES = re.compile(
    r"api[_-]?key|apikey|authorization|password|passwd|secret|token", re.IGNORECASE
)
#: keys that look like secrets by name but are harmless numbers or markers
_HARMLESS_KEYS = re.compile(r"(?:max|total|prompt|completion|num)_?tokens?$|tokens?_", re.I)


def register_secret(value: str | None) -> None:
    """Remember ``value`` so that :func:`redact` masks it from now on."""
    global _pattern
    if not value or len(value) < _MIN_SECRET_LENGTH:
        return
    with _lock:
        if value in _secrets:
            return
        _secrets.add(value)
        # longest first, so a secret that contains another is masked whole
        ordered = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(secret) for secret in ordered))


def redact(text: str) -> str:
    """Return ``text`` with registered secrets and secret-shaped values replaced by ``***``."""
    if not text:
        return text
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    return _SHAPES.sub(_mask_shape, text)


def _mask_shape(match: re.Match[str]) -> str:
    prefix = match.group("userinfo") or match.group("bearer") or match.group("assign")
    return prefix + MASK


def is_secret_key(key: str) -> bool:
    """True for mapping keys whose values are secrets by name (``api_key``, ``Authorization``)."""
    return bool(_SECRET_KEY_NAMES.search(key)) and not _HARMLESS_KEYS.search(key)


def redact_value(value: Any) -> Any:
    """Deep copy of ``value`` with secrets masked in strings and under secret-named keys."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {
            key: (MASK if isinstance(key, str) and is_secret_key(key) and item else redact_value(item))
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(item) for item in value)
    return value


#: logger trees whose records may mention a request: ours and the HTTP stack's
LOGGER_ROOTS = frozenset({"alumio_mistral", "urllib3", "requests", "sseclient"})

_factory_installed = False


def install_log_redaction() -> None:
    """Mask secrets in every log record of :data:`LOGGER_ROOTS` and their children (idempotent).

    Why a record factory rather than a ``logging.Filter``: a filter on a logger sees only
    records logged on that very logger, not on its children (``alumio_mistral.engine``,
    ``urllib3.connectionpool``), and handlers belong to the application. The factory wraps
    the one already set, so other libraries' factories keep working. The message is
    formatted once here (``msg % args``) and the args dropped, so every handler prints the
    masked text.
    """
    global _factory_installed
    with _lock:
        if _factory_installed:
            return
        previous = logging.getLogRecordFactory()

        def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            if record.name.split(".", 1)[0] in LOGGER_ROOTS:
                record.msg = redact(record.getMessage())
                record.args = None
            return record

        logging.setLogRecordFactory(redacting_factory)
        _factory_installed = True
