"""The same policies over real loopback sockets: urllib3's own retry loop, refused connections, SSE.

``responses`` replaces the adapter's send, so these tests check that the per-request policy
also reaches urllib3's real ``urlopen`` and that events arrive while the stream is still open.
"""

from __future__ import annotations

import socket
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

from alumio_mistral.http import Client, ClientConfig, ServerError, TransportError
from alumio_mistral.http.sse import iter_events
from test_http_retry import CHAT_COMPLETE, FILES_UPLOAD, KEY, FakeClock, clock

__all__ = ["clock"]  # fixture defined beside the retry tests

Reply = tuple[int, dict[str, str], bytes]


class Script:
    """Replies the server gives in order, the requests it saw, and an SSE hand-shake."""

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.seen: list[str] = []
        self.first_event_read = threading.Event()


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.seen_request()

        def seen_request(self) -> None:
            script.seen.append(f"{self.command} {self.path} {self.headers.get('Authorization')}")
            if self.path == "/v1/stream":
                self.stream_events()
                return
            status, headers, body = script.replies.popleft()
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def stream_events(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.write(b'event: delta\ndata: {"n": 1}\n\n')
            self.wfile.flush()
            # the second event is sent only once the client has read the first
            script.first_event_read.wait(timeout=5)
            self.wfile.write(b'data: {"n": 2}\nid: 7\n\ndata: [DONE]\n\n')

        def log_message(self, *args: object) -> None:
            """Quiet: the test output should show only failures."""

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", script
    httpd.shutdown()
    httpd.server_close()


def client_for(base_uri: str, **settings: object) -> Client:
    return Client(ClientConfig(base_uri=base_uri, api_key=KEY, **settings))  # type: ignore[arg-type]


def test_status_retry_runs_inside_urllib3(server: tuple[str, Script], clock: FakeClock) -> None:
    base, script = server
    script.replies.extend([
        (503, {"Retry-After": "4"}, b"{}"),
        (500, {}, b"{}"),
        (200, {"Content-Type": "application/json"}, b'{"id": "done"}'),
    ])
    with client_for(base, backoff_factor=0.5) as client:
        assert client.call(CHAT_COMPLETE, json={}).json() == {"id": "done"}
    assert clock.sleeps == [4, 1.0]
    assert script.seen == [f"POST /v1/chat/completions Bearer {KEY}"] * 3


def test_upload_gets_one_attempt_after_500(server: tuple[str, Script], clock: FakeClock) -> None:
    base, script = server
    script.replies.extend([(500, {}, b"{}"), (200, {}, b"{}")])
    with client_for(base) as client, pytest.raises(ServerError):
        client.call(FILES_UPLOAD, files={"file": ("a.jsonl", b"{}\n")})
    assert len(script.seen) == 1


def free_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("entity", [CHAT_COMPLETE, FILES_UPLOAD], ids=["chat", "upload"])
def test_refused_connection_is_retried_then_typed(clock: FakeClock, entity: object) -> None:
    client = client_for(f"http://127.0.0.1:{free_port()}", max_attempts=3, backoff_factor=0.5)
    with pytest.raises(TransportError) as caught:
        client.call(entity, json={})  # type: ignore[arg-type]
    # a refused connection never reached the server: retried even for an upload
    assert clock.sleeps == [1.0]
    assert caught.value.status is None and "could not connect" in str(caught.value)
    assert not caught.value.request_sent and not caught.value.server_may_have_acted
    assert KEY not in str(caught.value) + repr(caught.value)


def test_sse_events_arrive_before_the_stream_ends(server: tuple[str, Script]) -> None:
    base, script = server
    with client_for(base) as client:
        response = client.request("POST", "/v1/stream", json={}, stream=True)
        events = iter_events(response)
        first = next(events)
        script.first_event_read.set()
        rest = list(events)
    assert (first.event, first.data, first.id) == ("delta", '{"n": 1}', None)
    assert [(e.event, e.data, e.id) for e in rest] == [("message", '{"n": 2}', "7")]
