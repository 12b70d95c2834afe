"""Keeping secrets (API keys, passwords) out of logs, errors, task records and output.

Every client registers the secrets it is built with; every text that may leave the process
(an error message, a response body echoed in an error, a log line) passes through
:func:`redact`. Registered values are masked wherever they appear; common shapes of secrets
(``Bearer <token>``, ``api_key=...``) are masked even when nobody registered them, because a
server may echo a key we never saw (for example from another client's configuration).
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"

#: a registered value this long is masked wherever it appears, even inside a word
_MIN_SECRET_LENGTH = 8
#: a shorter one (a short basic password) only where it stands alone between delimiters, and
#: one shorter still only as a whole text: masking a short word like "test" inside every
#: message would mangle them all, and real keys are far longer
_MIN_TOKEN_LENGTH = 4
#: what may stand on either side of a short secret standing alone
_TOKEN_EDGE = r"\s\"'`=:&?#,;.!|/@()<>\[\]{}"

_lock = threading.Lock()
_secrets: set[str] = set()
_tokens: set[str] = set()
_exact: set[str] = set()
#: the pattern of every registered value, with the values it looks for (one object, replaced
#: whole: a reader in another thread sees both of one moment)
_registered: tuple[re.Pattern[str], tuple[str, ...]] | None = None

_SHAPES = re.compile(
    r"(?P<userinfo>://[^/\s:@]+:)[^/\s@]+(?=@)"
    r"|(?P<bearer>\b(?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]+"
    r"|(?P<assign>\b(?:[\w-]*(?:api[_-]?key|apikey|secret|password|passwd)[\w-]*"
    r"|authorization|(?:access_|auth_|refresh_)?token)"
    r"[\"']?\s*[:=]\s*[\"']?(?:(?:Bearer|Basic)\s+)?)(?!\*\*\*)[^\s\"'&,;}]+",
    re.IGNORECASE,
)

#: the words that start a ``bearer`` shape of :data:`_SHAPES`, the only one without ``:`` or ``=``
_AUTH_SCHEME = re.compile(r"bearer|basic", re.IGNORECASE).search

_SECRET_KEY_NAMES = re.compile(
    r"(?:api|app|access|private)[_-]?key|apikey|authorization|password|passwd|secret|token", re.IGNORECASE
)
#: keys that look like secrets by name but are harmless numbers or markers
_HARMLESS_KEYS = re.compile(r"(?:max|total|prompt|completion|num)_?tokens?$|tokens?_", re.I)
_SECRET_VARIABLE_NAMES = re.compile(r"_(?:KEY|TOKEN|SECRET)$|PASSWORD|PASSWD", re.IGNORECASE)


def register_secret(value: str | None) -> None:
    """Remember ``value`` so that :func:`redact` masks it from now on, URL-encoded forms too.

    The encoded forms are what a query string carries (``?sig=a%2Bb``); how much of a short
    value is masked is said at :data:`_MIN_TOKEN_LENGTH`.
    """
    global _registered
    if not value:
        return
    with _lock:
        added = False
        for form in {value, quote(value, safe=""), quote_plus(value)}:
            kind = _secrets if len(form) >= _MIN_SECRET_LENGTH else (
                _tokens if len(form) >= _MIN_TOKEN_LENGTH else _exact)
            added = added or form not in kind
            kind.add(form)
        if not added or not (_secrets or _tokens):
            return
        # longest first, so a secret that contains another is masked whole
        alternatives = [re.escape(secret) for secret in sorted(_secrets, key=len, reverse=True)]
        if _tokens:
            words = "|".join(re.escape(token) for token in sorted(_tokens, key=len, reverse=True))
            alternatives.append(f"(?<![^{_TOKEN_EDGE}])(?:{words})(?![^{_TOKEN_EDGE}])")
        _registered = (re.compile("|".join(alternatives)), (*_secrets, *_tokens))


def redact(text: str) -> str:
    """Return ``text`` with registered secrets and secret-shaped values replaced by ``***``.

    Every string of every recorded answer passes here, and most hold no secret: a look for the
    registered values and for what each shape needs (``:`` or ``=``, or a Bearer or Basic
    word), with ``in`` in C, spares them both patterns.
    """
    if not text:
        return text
    if text in _exact:
        return MASK
    registered = _registered
    if registered is not None and any(value in text for value in registered[1]):
        text = registered[0].sub(MASK, text)
    if ":" not in text and "=" not in text and _AUTH_SCHEME(text) is None:
        return text
    return _SHAPES.sub(_mask_shape, text)


def _mask_shape(match: re.Match[str]) -> str:
    prefix = match.group("userinfo") or match.group("bearer") or match.group("assign")
    return prefix + MASK


@functools.lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    """True for mapping keys whose values are secrets by name (``api_key``, ``Authorization``)."""
    return bool(_SECRET_KEY_NAMES.search(key)) and not _HARMLESS_KEYS.search(key)


def is_secret_variable(name: str) -> bool:
    """True for environment variables whose values are secrets by name (``*_KEY``, ``*_TOKEN``,
    ``*_SECRET``, ``*PASSWORD*``), besides every name :func:`is_secret_key` accepts."""
    return bool(_SECRET_VARIABLE_NAMES.search(name)) or is_secret_key(name)


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
