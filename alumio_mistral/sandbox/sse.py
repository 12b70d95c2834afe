"""Server-sent events, as Mistral streams them.

Chat/FIM streams send bare ``data:`` lines ending with ``data: [DONE]``; conversation and
transcription streams name each event (``event: message.output.delta``), repeat that name as the
data's ``type`` (what the SDKs dispatch on) and have no end marker.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator

from alumio_mistral.sandbox.wire import Reply

DONE = object()


def encode(data: Any, event: str | None = None) -> bytes:
    """One event: optional ``event:`` line, ``data:`` line, blank line."""
    payload = "[DONE]" if data is DONE else json.dumps(data, separators=(",", ":"))
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {payload}\n\n".encode()


def _chunks(events: Iterable[tuple[str | None, Any]]) -> Iterator[bytes]:
    for event, data in events:
        yield encode(data, event)


def stream(events: Iterable[tuple[str | None, Any]]) -> Reply:
    """A chunked ``text/event-stream`` reply sending each (event name, data) pair in turn."""
    headers = [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")]
    return Reply(200, _chunks(events), headers)
