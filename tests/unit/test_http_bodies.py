"""Body decoding shared by the `call` command and the publishers: by content type, streams event by event."""

from __future__ import annotations

import pytest
import requests
import responses

from alumio_mistral.http.bodies import decode_body, decoded_events, is_event_stream

URL = "https://api.example.test/thing"


def _get(**kwargs: object) -> requests.Response:
    responses.get(URL, **kwargs)  # type: ignore[arg-type]
    return requests.get(URL, stream=True)


@responses.activate
@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"json": {"id": "m1"}}, {"id": "m1"}),
        ({"body": "plain words", "content_type": "text/plain"}, "plain words"),
        ({"body": b"\x00\x01", "content_type": "application/zip"}, b"\x00\x01"),
        ({"body": b"\xff\xd8", "content_type": "image/jpeg"}, b"\xff\xd8"),
        ({"body": b"", "content_type": "application/json"}, None),
        ({"status": 204}, None),
    ],
)
def test_decode_body_by_content_type(kwargs: dict[str, object], expected: object) -> None:
    assert decode_body(_get(**kwargs)) == expected


@responses.activate
def test_events_are_decoded_and_the_connection_released_when_the_reader_stops() -> None:
    response = _get(body=b'data: {"n": 1}\n\ndata: keep-alive\n\ndata: [DONE]\n\n', content_type="text/event-stream")
    assert is_event_stream(response)
    closed: list[bool] = []
    response.close = lambda: closed.append(True)  # type: ignore[method-assign]
    events = decoded_events(response)
    event, data = next(events)
    assert (event.data, data) == ('{"n": 1}', {"n": 1})
    events.close()
    assert closed == [True]
    assert [data for _, data in decoded_events(_get(body=b"data: x\n\n", content_type="text/event-stream"))] == ["x"]
