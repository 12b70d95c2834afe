"""Turn an HTTP response into the value an outgoing keeps: JSON, text, nothing, or a stream.

Streams (``text/event-stream``) are read event by event as they arrive and folded into one
result, so a flow can use ``stream: true`` chat or the conversation ``*_stream`` operations
like any other request: ``{"output": <assembled text>, "events": [...], "final": <last
event carrying usage, or None>}`` (plus ``conversation_id`` when the stream names one).
"""

from __future__ import annotations

import base64
import json
from typing import Any, Iterable, Iterator

import requests

from alumio_mistral.catalog.entity import Entity
from alumio_mistral.http.bodies import decode_body, decoded_events, is_event_stream
from alumio_mistral.http.broken import broken_response

#: the content type of a stream of JSON lines (Cohere v1 chat and generate)
JSON_LINES = "application/stream+json"


def read_response(response: requests.Response, entity: Entity | None = None) -> Any:
    """Decode a successful response; 204 and empty bodies give ``None``.

    Read whole here, inside the publisher's ``publish``, so a body that breaks while arriving
    (or is not what ``entity`` answers) fails the task as a
    :class:`~alumio_mistral.http.errors.BrokenResponseError` instead of becoming its result.
    """
    if is_event_stream(response):
        return assemble_stream(data for event, data in decoded_events(response, entity) if event.data)
    if response.headers.get("Content-Type", "").startswith(JSON_LINES):
        return assemble_stream(json_lines(response, entity))
    body = decode_body(response, entity)
    if isinstance(body, bytes):
        # a task result is JSON: binary content (a file download) travels as base64
        content_type = response.headers.get("Content-Type", "")
        return {"content_type": content_type, "content_base64": base64.b64encode(body).decode("ascii")}
    return body


def assemble_stream(payloads: Iterable[Any]) -> dict[str, Any]:
    """Fold chat/FIM completion chunks or conversation events into one result."""
    parts: list[str] = []
    events: list[Any] = []
    final: Any = None
    conversation_id: str | None = None
    for payload in payloads:
        events.append(payload)
        if not isinstance(payload, dict):
            continue
        parts.extend(_text_of(payload))
        if payload.get("usage") or payload.get("event_type") == "stream-end" or payload.get("type") == "message-end":
            final = payload
        conversation_id = payload.get("conversation_id") or conversation_id
    result: dict[str, Any] = {"output": "".join(parts), "events": events, "final": final}
    if conversation_id:
        result["conversation_id"] = conversation_id
    return result


def _text_of(payload: dict[str, Any]) -> list[str]:
    """The text a single event adds to the output (first choice only for completions)."""
    if payload.get("type") == "message.output.delta":
        return _content_text(payload.get("content"))
    if payload.get("event_type") == "text-generation":  # Cohere v1 chat and generate
        return _content_text(payload.get("text"))
    if payload.get("type") == "content-delta":  # Cohere v2 chat
        return _content_text(((payload.get("delta") or {}).get("message") or {}).get("content"))
    choices = payload.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        delta = choices[0].get("delta") or {}
        return _content_text(delta.get("content")) if isinstance(delta, dict) else []
    return []


def json_lines(response: requests.Response, entity: Entity | None = None) -> Iterator[Any]:
    """The events of a JSON-lines stream (Cohere's ``application/stream+json``), as they arrive."""
    finished = False
    try:
        for line in response.iter_lines():
            if line.strip():
                event = json.loads(line)
                finished = isinstance(event, dict) and event.get("is_finished") is True
                yield event
    except ValueError as error:
        raise broken_response(response, entity, f"a stream line is not JSON: {error}") from None
    except (requests.RequestException, OSError) as error:
        raise broken_response(response, entity, f"the stream was cut off: {error}") from None
    finally:
        response.close()
    if not finished:
        raise broken_response(response, entity, "the stream ended before its last event (is_finished)")


def _content_text(content: Any) -> list[str]:
    """Content is a string or a list of chunks of which the ``text`` ones count."""
    if isinstance(content, str):
        return [content]
    if isinstance(content, dict):
        content = [content]
    if isinstance(content, list):
        return [c["text"] for c in content if isinstance(c, dict) and isinstance(c.get("text"), str)]
    return []
