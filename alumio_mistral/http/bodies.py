"""Decoding a response body: JSON, text, raw bytes, nothing, or events; a broken one is an error.

One reading for everything above the client (the ``call`` command prints the result, the
publishers keep it in a task), so a download or an event stream is recognised the same way
wherever it arrives, and so is a broken answer: a 2xx whose body was cut short, is not JSON
where the operation answers JSON, or is JSON of another shape than the operation answers.
That is a :class:`BrokenResponseError`, never a value: recording garbage as a success would
lose the entity, and the server may well have acted on the request.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import requests
from urllib3.exceptions import HTTPError

from alumio_mistral.catalog.entity import Entity
from alumio_mistral.http.broken import broken_response
from alumio_mistral.http.errors import parse_error_body
from alumio_mistral.http.sse import ServerSentEvent, iter_events

#: content types whose body is kept as bytes (file downloads), never decoded as text
BINARY_TYPES = ("application/octet-stream", "image/", "audio/", "video/", "application/pdf", "application/zip")
#: statuses whose answer has no body by definition
NO_CONTENT = (204, 205)
_SHAPES = {"object": dict, "array": list}


def is_event_stream(response: requests.Response) -> bool:
    return response.headers.get("Content-Type", "").startswith("text/event-stream")


def read_content(response: requests.Response, entity: Entity | None = None) -> bytes:
    """The whole body; one that cannot be read to its end (connection lost or timed out midway,
    broken chunking or compression) is a :class:`BrokenResponseError` carrying the status.

    Read in one piece and kept where ``response.content`` finds it: ``requests`` reads it 10 KB
    at a time and joins the pieces, which cost a tenth of a page's time and held the body twice.
    """
    try:
        if response._content is False and response.raw is not None:
            response._content = response.raw.read(decode_content=True) or b""
            response._content_consumed = True
        return response.content
    except (requests.RequestException, HTTPError, OSError) as error:
        raise broken_response(response, entity, f"the body was cut off while reading it ({error})") from None


def decode_body(response: requests.Response, entity: Entity | None = None) -> Any:
    """JSON, text, raw bytes for binary types, or ``None`` for 204 and empty bodies.

    With the ``entity`` called, its catalog facts decide: an operation answering JSON must
    get JSON of its shape. Without one, a body the server itself labels JSON must parse.
    Not for event streams: read those with :func:`decoded_events` as they arrive.
    """
    content = read_content(response, entity)
    if response.status_code in NO_CONTENT:
        return None
    content_type = response.headers.get("Content-Type", "")
    shape = entity.response_json if entity is not None else None
    if shape is None and not content:
        return None
    if shape is None and content_type.startswith(BINARY_TYPES):
        return content
    try:
        document = json.loads(content)
    except ValueError:
        if shape is None and not _labelled_json(content_type):
            return response.text
        answers = entity.name if entity is not None and shape is not None else "the server"
        raise broken_response(
            response, entity, f"{_not_json(content, content_type)} where {answers} answers JSON",
            content.decode("utf-8", "replace"),
        ) from None
    expected = _SHAPES.get(shape or "any")
    if expected is not None and not isinstance(document, expected):
        raise broken_response(
            response, entity, f"a JSON {_json_type(document)} where {entity.name if entity else 'the operation'} "
            f"answers a JSON {shape}", content.decode("utf-8", "replace"),
        )
    return document


def _labelled_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _not_json(content: bytes, content_type: str) -> str:
    """What arrived instead of JSON, with a short clean excerpt (an HTML page by its text)."""
    if not content.strip():
        return "an empty body"
    excerpt = parse_error_body(content.decode("utf-8", "replace"), content_type)[0]
    return f"a body that is not JSON or is cut short ({excerpt.removeprefix('non-JSON response: ')})"


def _json_type(document: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(document), "number")


def json_or_text(text: str) -> Any:
    """The JSON value a text holds, or the text itself when it is not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def decoded_events(response: requests.Response, entity: Entity | None = None) -> Iterator[tuple[ServerSentEvent, Any]]:
    """Each event with its ``data`` decoded (JSON or text), as it arrives; the stream stops at
    ``[DONE]`` and the connection is always released, even when the reader stops early.

    A stream cut off midway is a :class:`BrokenResponseError`; so is one of Mistral's POST
    streams (completions, conversations, transcriptions, speech) that ends without its last
    event, since each of them closes with one (see :func:`alumio_mistral.http.sse.iter_events`).
    """
    try:
        for event in iter_events(response, must_end=_closes_with_an_end_event(entity), entity=entity):
            yield event, json_or_text(event.data)
    finally:
        response.close()


def _closes_with_an_end_event(entity: Entity | None) -> bool:
    """Mistral's POST streams end with ``[DONE]`` or a ``*.done`` event; the GET log and event
    streams of workflows may stop anywhere."""
    return entity is not None and entity.method == "POST"
