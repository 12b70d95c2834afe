"""Decoding a response body by its content type: JSON, text, raw bytes, nothing, or events.

One reading for everything above the client (the ``call`` command prints the result, the
publishers keep it in a task), so a download or an event stream is recognised the same way
wherever it arrives.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import requests

from alumio_mistral.http.sse import ServerSentEvent, iter_events

#: content types whose body is kept as bytes (file downloads), never decoded as text
BINARY_TYPES = ("application/octet-stream", "image/", "audio/", "video/", "application/pdf", "application/zip")


def is_event_stream(response: requests.Response) -> bool:
    return response.headers.get("Content-Type", "").startswith("text/event-stream")


def decode_body(response: requests.Response) -> Any:
    """JSON, text, raw bytes for binary types, or ``None`` for 204 and empty bodies.

    Not for event streams: read those with :func:`decoded_events` as they arrive.
    """
    if response.status_code == 204 or not response.content:
        return None
    if response.headers.get("Content-Type", "").startswith(BINARY_TYPES):
        return response.content
    try:
        return response.json()
    except ValueError:
        return response.text


def json_or_text(text: str) -> Any:
    """The JSON value a text holds, or the text itself when it is not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def decoded_events(response: requests.Response) -> Iterator[tuple[ServerSentEvent, Any]]:
    """Each event with its ``data`` decoded (JSON or text), as it arrives; the stream stops at
    ``[DONE]`` and the connection is always released, even when the reader stops early."""
    try:
        for event in iter_events(response):
            yield event, json_or_text(event.data)
    finally:
        response.close()
