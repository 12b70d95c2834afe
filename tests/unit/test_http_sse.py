"""Server-Sent Events: fields, multi-line data, events split across network reads, [DONE]."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import responses
from urllib3.exceptions import ProtocolError

from alumio_mistral.http.errors import BrokenResponseError
from alumio_mistral.http.sse import ServerSentEvent, iter_events
from test_http_retry import CHAT_COMPLETE, CHAT_URL, make_client

STREAM = (
    b": keep-alive comment\n\n"
    b"event: conversation.response.started\ndata: {\"a\": 1}\n\n"
    b"data: line one\r\ndata: line two\r\n\r\n"
    b"id: 42\ndata:no-space\n\n"
    + "data: {\"text\": \"d\u00e9j\u00e0 vu\"}\n\n".encode()
    + b"data: [DONE]\n\n"
    b"data: after done\n\n"
)
EXPECTED = [
    ServerSentEvent("conversation.response.started", '{"a": 1}', None),
    ServerSentEvent("message", "line one\nline two", None),
    ServerSentEvent("message", "no-space", "42"),
    ServerSentEvent("message", '{"text": "d\u00e9j\u00e0 vu"}', None),
]


class PiecewiseRaw:
    """A raw body that hands out fixed-size pieces, as a slow network would."""

    def __init__(self, body: bytes, size: int) -> None:
        self._pieces = [body[i:i + size] for i in range(0, len(body), size)]

    def read1(self, decode_content: bool = True) -> bytes:
        if self._pieces:
            return self._pieces.pop(0)
        if self.cut_off:
            raise ProtocolError("Connection broken: IncompleteRead(0 bytes read)")
        return b""

    cut_off = False


@pytest.mark.parametrize("size", [1, 3, 7, 64, 4096])
def test_events_survive_any_split(size: int) -> None:
    response = SimpleNamespace(raw=PiecewiseRaw(STREAM, size))
    assert list(iter_events(response)) == EXPECTED  # type: ignore[arg-type]


@responses.activate
def test_streamed_call_reads_events() -> None:
    responses.post(CHAT_URL, body=STREAM, content_type="text/event-stream")
    response = make_client().call(CHAT_COMPLETE, json={"stream": True}, stream=True)
    assert list(iter_events(response)) == EXPECTED


def _response(raw: PiecewiseRaw) -> SimpleNamespace:
    return SimpleNamespace(raw=raw, request=None, url="http://x.test/s", status_code=200, reason="OK")


def test_a_stream_cut_off_midway_is_a_broken_answer_the_server_may_have_acted_on() -> None:
    raw = PiecewiseRaw(b'data: {"n": 1}\n\ndata: {"n"', 8)
    raw.cut_off = True
    events = iter_events(_response(raw))  # type: ignore[arg-type]
    assert next(events).data == '{"n": 1}'
    cut = "HTTP 200 OK: broken answer: the event stream was cut off: .*IncompleteRead"
    with pytest.raises(BrokenResponseError, match=cut) as caught:
        next(events)
    assert caught.value.server_may_have_acted


@pytest.mark.parametrize("size", [1, 5, 64])
def test_a_stream_ending_inside_an_event_is_broken_before_the_partial_event_is_seen(size: int) -> None:
    events = iter_events(_response(PiecewiseRaw(b'data: {"n": 1}\n\ndata: {"n": 2, "te', size)))  # type: ignore[arg-type]
    assert next(events).data == '{"n": 1}'
    with pytest.raises(BrokenResponseError, match="ended inside an event"):
        next(events)


@pytest.mark.parametrize(
    ("body", "complete"),
    [
        (b'data: {"n": 1}\n\ndata: [DONE]\n\n', True),
        (b'event: conversation.response.done\ndata: {}\n\n', True),
        (b'data: {"type": "conversation.response.done"}\n\n', True),
        (b'data: {"type": "transcription.done"}\r\n\r\n', True),
        (b'data: {"n": 1}\n\n', False),
        (b'event: message.output.delta\ndata: {"type": "message.output.delta"}\n\n', False),
        (b"", False),
    ],
)
def test_a_stream_that_must_end_needs_its_last_event(body: bytes, complete: bool) -> None:
    list(iter_events(_response(PiecewiseRaw(body, 4))))  # type: ignore[arg-type] # without must_end: fine
    events = iter_events(_response(PiecewiseRaw(body, 4)), must_end=True)  # type: ignore[arg-type]
    if complete:
        list(events)
    else:
        with pytest.raises(BrokenResponseError, match="ended before its last event"):
            list(events)
