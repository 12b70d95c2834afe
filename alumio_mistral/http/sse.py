"""Reading a Server-Sent Events response event by event, as the bytes arrive.

The parsing (field lines, multi-line ``data``, events split across network chunks) is
``sseclient-py``'s, fed with the response's raw chunks as they come in; this module adds
what the Mistral streams need on top: a plain record type, the end at ``data: [DONE]``, and
telling a stream that ended from one that was cut short.

A stream cut short is a :class:`~alumio_mistral.http.errors.BrokenResponseError`, not a
transport error: the answer began with a 2xx status, so the server took the request and may
have acted on it (a conversation started, an entry appended).
"""

from __future__ import annotations

import json
from typing import Iterator, NamedTuple

import requests
from sseclient import SSEClient
from urllib3.exceptions import HTTPError

from alumio_mistral.catalog.entity import Entity
from alumio_mistral.http.broken import broken_response

#: the marker completion streams send instead of a last event
DONE = "[DONE]"
#: the last event of the Mistral streams that name their events (conversations, audio), and of
#: Cohere's v2 chat stream
END_EVENTS = frozenset(
    {"conversation.response.done", "conversation.response.error", "transcription.done", "speech.audio.done",
     "message-end"}
)
#: what the bytes of a stream end with when its last event is complete
_EVENT_ENDS = (b"\n\n", b"\r\r", b"\r\n\r\n")


class ServerSentEvent(NamedTuple):
    event: str
    data: str
    id: str | None = None


def iter_events(
    response: requests.Response, *, must_end: bool = False, entity: Entity | None = None
) -> Iterator[ServerSentEvent]:
    """Yield each event of a streamed response; stop at ``[DONE]`` or the end of the body.

    A body lost midway or ending inside an event raises :class:`BrokenResponseError`; so does,
    with ``must_end``, a stream that ends without ``[DONE]`` or one of :data:`END_EVENTS`.
    """
    body = _ArrivingBody(response, entity)
    last: ServerSentEvent | None = None
    for event in SSEClient(body).events():
        if body.ended_inside_an_event:
            raise broken_response(response, entity, "the event stream ended inside an event", event.data)
        if event.data.strip() == DONE:
            return
        last = ServerSentEvent(event=event.event, data=event.data, id=event.id)
        yield last
    if body.ended_inside_an_event:  # a last piece with no data field: nothing was dispatched
        raise broken_response(response, entity, "the event stream ended inside an event")
    if must_end and not _is_an_end(last):
        raise broken_response(
            response, entity, "the event stream ended before its last event ([DONE] or a *.done event)",
            last.data if last else "",
        )


def _is_an_end(event: ServerSentEvent | None) -> bool:
    """Is this one of :data:`END_EVENTS`, by its name or by the ``type`` its data carries?"""
    if event is None:
        return False
    if event.event in END_EVENTS:
        return True
    try:
        data = json.loads(event.data)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("type") in END_EVENTS


class _ArrivingBody:
    """The body in pieces as the socket delivers them (``read1``), decompressed.

    ``iter_content`` would block until a fixed-size buffer fills (or, for a body with no
    chunked encoding, until the end), holding back events that already arrived. The last
    bytes are kept to tell a clean end from one inside an event.
    """

    def __init__(self, response: requests.Response, entity: Entity | None) -> None:
        self._response = response
        self._entity = entity
        self._tail = b""
        self._finished = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            while chunk := self._response.raw.read1(decode_content=True):
                self._tail = (self._tail + chunk)[-4:]
                yield chunk
        except (HTTPError, OSError) as error:
            raise broken_response(self._response, self._entity, f"the event stream was cut off: {error}") from None
        self._finished = True

    @property
    def ended_inside_an_event(self) -> bool:
        """Did the body end (cleanly, as far as HTTP goes) in the middle of an event?"""
        return self._finished and bool(self._tail.strip()) and not self._tail.endswith(_EVENT_ENDS)
