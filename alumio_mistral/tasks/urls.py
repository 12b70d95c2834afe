"""Where a task store lives, as text: an SQLite file path or a PostgreSQL URL.

Kept apart from the PostgreSQL store so that reading a project or a command line never needs
the PostgreSQL driver, which is an optional extra (``alumio-mistral[postgres]``).
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

#: URL schemes that name a PostgreSQL store (``store: {url: ...}``)
POSTGRES_SCHEMES = ("postgresql", "postgres")


def is_postgres_url(text: str) -> bool:
    return urlsplit(str(text)).scheme in POSTGRES_SCHEMES


def redact_url(url: str) -> str:
    """``url`` as it may be shown: its password (if any) masked."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
