"""In-memory state of one sandbox, one module per entity family.

Each family exposes ``handlers()``: entity name -> function(Request) returning a JSON value
(answered with the entity's success code) or a :class:`~alumio_mistral.sandbox.wire.Reply`.
"""

from __future__ import annotations

import random
import threading
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Sequence, TypeVar

from alumio_mistral.sandbox.clock import Clock
from alumio_mistral.sandbox.wire import HttpError, Request, query_error

Handler = Callable[[Request], Any]
T = TypeVar("T")


class Context:
    """What every family shares: seeded ids, the clock and one lock for all state changes."""

    def __init__(self, seed: int, clock: Clock) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self._rng = random.Random(seed)

    def uuid(self) -> str:
        """A new id, deterministic for a given seed and call order."""
        with self.lock:
            return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def now(self) -> int:
        return int(self.clock.time())

    def iso_now(self) -> str:
        return datetime.fromtimestamp(self.clock.time(), timezone.utc).isoformat().replace("+00:00", "Z")


def page_of(items: Sequence[T], request: Request, first_page: int = 0, default_size: int = 100) -> list[T]:
    """The slice a ``page``/``page_size`` request asks for (pages counted from ``first_page``)."""
    page = request.int_arg("page", first_page) - first_page
    size = max(1, request.int_arg("page_size", default_size))
    start = max(0, page) * size
    return list(items[start : start + size])


def created_after(request: Request) -> float | None:
    """The ``created_after`` query of a job list as epoch seconds (``None`` when absent)."""
    after = request.arg("created_after")
    if not after:
        return None
    try:
        return datetime.fromisoformat(after.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise HttpError(422, query_error("created_after", f"Input should be a valid datetime, got {after!r}"))


def token_page(items: Sequence[T], request: Request, default_size: int = 100, *, token_name: str = "page_token",
               size_name: str = "page_size") -> tuple[list[T], str | None]:
    """A page by opaque token (the offset, as text; query ``token_name``); the next token or ``None``."""
    token = request.arg(token_name) or "0"
    start = int(token) if token.isdigit() else 0
    size = max(1, request.int_arg(size_name, default_size))
    chunk = list(items[start : start + size])
    return chunk, (str(start + size) if start + size < len(items) else None)
