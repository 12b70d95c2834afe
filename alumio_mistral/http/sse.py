"""Reading a Server-Sent Events response event by event, as the bytes arrive.

The parsing (field lines, multi-line ``data``, events split across network chunks) is
``sseclient-py``'s, fed with the response's raw chunks as they come in; this module adds
what the Mistral streams need on top: a plain record type and the end at ``data: [DONE]``.
"""

from __future__ import annotations

from typing import Iterator, NamedTuple

import requests
from sseclient import SSEClient
from urllib3.exceptions import HTTPError

from alumio_mistral.http.errors import TransportError

#: the marker completion streams send instead of a last event
DONE = "[DONE]"


class ServerSentEvent(NamedTuple):
    event: str
    data: str
    id: str | None = None


def iter_events(response: requests.Response) -> Iterator[ServerSentEvent]:
    """Yield each event of a streamed response; stop at ``[DONE]`` or the end of the body."""
    for event in SSEClient(_arrived_chunks(response)).events():
        if event.data.strip() == DONE:
            return
        yield ServerSentEvent(event=event.event, data=event.data, id=event.id)


def _arrived_chunks(response: requests.Response) -> Iterator[bytes]:
    """The body in pieces as the socket delivers them (``read1``), decompressed.

    ``iter_content`` would block until a fixed-size buffer fills (or, for a body with no
    chunked encoding, until the end), holding back events that already arrived. A stream
    cut off midway raises :class:`TransportError`, like any other lost connection.
    """
    try:
        while chunk := response.raw.read1(decode_content=True):
            yield chunk
    except (HTTPError, OSError) as error:
        request = response.request
        raise TransportError(
            f"the event stream was cut off: {error}",
            method=request.method if request is not None else None,
            url=response.url,
        ) from None
