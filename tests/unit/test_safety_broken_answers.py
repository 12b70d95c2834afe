"""A 2xx answer whose body is broken is an error, never a success.

Cut short (the connection lost while the body arrives, or a well-framed body ending early),
not JSON where the operation answers JSON, JSON of another shape, or an event stream ending
before its last event: each is a BrokenResponseError naming the entity, method, URL, status
and a short excerpt, raised inside the publisher's ``publish`` (so the outgoing engine sees
it), and the ``call`` command exits non-zero on it.
"""

from __future__ import annotations

import http.client
import io
import json
import socket
import threading
from types import SimpleNamespace
from typing import Iterator

import pytest
import responses
from click.testing import CliRunner

from alumio_mistral.catalog import Catalog
from alumio_mistral.cli import main
from alumio_mistral.http import Client, ClientConfig
from alumio_mistral.http.errors import BrokenResponseError
from alumio_mistral.publishers import build_publisher
from test_publishers_mistral import BASE, KEY, clients, project

__all__ = ["clients", "project"]  # fixtures defined beside the publisher tests

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def _publisher(project, clients, entity: str, **spec):
    return build_publisher({"type": "mistral", "entity": entity, **spec}, project, clients)


@responses.activate
@pytest.mark.parametrize(
    ("body", "content_type", "problem"),
    [
        ("<html><body>upstream error</body></html>", "text/html",
         r"not JSON or is cut short \(upstream error\) where chat.complete answers JSON"),
        ('{"id": "cmpl-1", "choices": [{"mess', "application/json", r'not JSON .*\{"id": "cmpl-1"'),
        ("", "application/json", "an empty body where chat.complete answers JSON"),
        ('"done"', "application/json", "a JSON string where chat.complete answers a JSON object"),
        ("[1, 2]", "application/json", "a JSON array where chat.complete answers a JSON object"),
    ],
)
def test_a_2xx_body_that_is_not_the_json_the_operation_answers_is_an_error(project, clients, body, content_type, problem):
    # on the old code each of these was returned as the task's result (text, None or garbage)
    responses.post(f"{BASE}/v1/chat/completions", body=body, content_type=content_type)
    with pytest.raises(BrokenResponseError, match=problem) as caught:
        _publisher(project, clients, "chat.complete").publish(CHAT)
    error = caught.value
    assert (error.entity, error.method, error.status) == ("chat.complete", "POST", 200)
    assert error.url == f"{BASE}/v1/chat/completions"
    assert error.body == body and error.server_may_have_acted
    assert str(error).startswith("chat.complete (POST http://mistral.test/v1/chat/completions): HTTP 200 OK: broken answer")


@responses.activate
def test_answers_the_operation_promises_still_decode(project, clients):
    responses.get(f"{BASE}/v1/files", json={"data": [], "total": 0})
    responses.delete(f"{BASE}/v1/conversations/c1", status=204)
    responses.get(f"{BASE}/v1/files/f1/content", body=b"\x00raw", content_type="application/octet-stream")
    assert _publisher(project, clients, "files.list").publish({}) == {"data": [], "total": 0}
    delete = _publisher(project, clients, "conversations.delete", path_params={"conversation_id": "c1"})
    assert delete.publish({}) is None
    download = _publisher(project, clients, "files.download", path_params={"file_id": "f1"})
    assert download.publish({})["content_base64"] == "AHJhdw=="


@responses.activate
def test_the_generic_http_publisher_trusts_the_content_type(project, clients):
    responses.post("http://hook.test/json", body="{nope", content_type="application/json")
    responses.post("http://hook.test/problem", body="{nope", content_type="application/problem+json")
    responses.post("http://hook.test/text", body="accepted", content_type="text/plain")
    for uri in ("/json", "/problem"):
        with pytest.raises(BrokenResponseError, match="not JSON .*where the server answers JSON"):
            build_publisher({"type": "http", "client": "hook", "uri": uri}, project, clients).publish({"a": 1})
    assert build_publisher({"type": "http", "client": "hook", "uri": "/text"}, project, clients).publish({}) == "accepted"


class _CutRaw(io.RawIOBase):
    """A body whose connection is lost after its first bytes."""

    def __init__(self, first: bytes) -> None:
        self._first = first

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        if not self._first:
            raise http.client.IncompleteRead(b"", 100)
        size = min(len(buffer), len(self._first))
        buffer[:size], self._first = self._first[:size], self._first[size:]
        return size


@responses.activate
@pytest.mark.parametrize("stream", [False, True])
def test_a_body_that_cannot_be_read_to_its_end_is_broken_inside_publish(project, clients, stream):
    responses.post("http://hook.test/items", body=io.BufferedReader(_CutRaw(b'{"id": "it')),  # type: ignore[arg-type]
                   content_type="application/json")
    publisher = build_publisher({"type": "http", "client": "hook", "uri": "/items", "stream": stream}, project, clients)
    with pytest.raises(BrokenResponseError, match="HTTP 200 OK: broken answer: the body was cut off") as caught:
        publisher.publish({"name": "x"})
    assert caught.value.status == 200 and caught.value.server_may_have_acted


def _sse(*lines: str) -> bytes:
    return "".join(lines).encode()


@responses.activate
@pytest.mark.parametrize(
    "body",
    [
        _sse('event: conversation.response.started\n'
             'data: {"type": "conversation.response.started", "conversation_id": "c"}\n\n',
             'event: message.output.delta\ndata: {"type": "message.output.delta", "content": "Bon"}\n\n'),
        _sse('event: conversation.response.started\ndata: {"type": "conversation.response.started"}\n\n',
             'event: message.output.delta\ndata: {"type": "message.output.de'),
    ],
)
def test_a_conversation_stream_cut_before_its_end_is_broken(project, clients, body):
    # a 200 stream for a stateful call: the conversation exists, the task must not look done
    responses.post(f"{BASE}/v1/conversations", body=body, content_type="text/event-stream")
    with pytest.raises(BrokenResponseError, match="event stream ended") as caught:
        _publisher(project, clients, "conversations.start_stream").publish({"inputs": "hi", "model": "m"})
    assert caught.value.entity == "conversations.start_stream" and caught.value.server_may_have_acted


@responses.activate
def test_a_chat_stream_without_done_is_broken(project, clients):
    chunk = {"choices": [{"delta": {"content": "Hel"}}]}
    responses.post(f"{BASE}/v1/chat/completions", body=_sse(f"data: {json.dumps(chunk)}\n\n"),
                   content_type="text/event-stream")
    with pytest.raises(BrokenResponseError, match=r"ended before its last event \(\[DONE\]"):
        _publisher(project, clients, "chat.complete").publish({**CHAT, "stream": True})


# -- over a real socket: a Content-Length the server never delivers --------------------------


@pytest.fixture
def cut_server() -> Iterator[tuple[str, list[bytes]]]:
    """A loopback server answering each connection with the next prepared bytes, then closing it."""
    replies: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connection.settimeout(5)
            with connection:
                connection.recv(65536)
                if replies:
                    connection.sendall(replies.pop(0))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", replies
    stop.set()
    listener.close()
    thread.join(timeout=5)


def test_a_body_shorter_than_its_content_length_is_broken_not_a_lost_connection(cut_server):
    # on the old code this was a TransportError without a status: the 200 was never known
    base, replies = cut_server
    replies.append(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                   b'{"id": "file-1", "obj')
    with Client(ClientConfig(name="mistral", base_uri=base, api_key=KEY, max_attempts=1)) as client:
        with pytest.raises(BrokenResponseError) as caught:
            client.call("files.upload", files={"file": ("a.jsonl", b"{}\n")}, data={"purpose": "batch"})
    error = caught.value
    assert (error.entity, error.method, error.status) == ("files.upload", "POST", 200)
    assert "the body was cut off" in error.message and error.server_may_have_acted


def test_a_chunked_event_stream_cut_midway_is_broken(cut_server, tmp_path):
    base, replies = cut_server
    replies.append(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"2a\r\nevent: conversation.response.started\ndata: {}\n\n\r\n"
                   b"40\r\nevent: message.output.delta\ndata: {\"con")
    client = Client(ClientConfig(name="mistral", base_uri=base, api_key=KEY, max_attempts=1))
    project = SimpleNamespace(root=tmp_path, transformers={}, catalog=Catalog.default())
    with client, pytest.raises(BrokenResponseError, match="the event stream was cut off") as caught:
        build_publisher({"entity": "conversations.start_stream"}, project, {"mistral": client}).publish({"inputs": "x"})
    assert caught.value.status == 200 and caught.value.server_may_have_acted


# -- the call command ------------------------------------------------------------------------


@responses.activate
def test_call_exits_non_zero_on_a_broken_2xx(monkeypatch):
    monkeypatch.setenv("MISTRAL_API_KEY", KEY)
    monkeypatch.setenv("MISTRAL_BASE_URI", BASE)
    responses.post(f"{BASE}/v1/chat/completions", body="<html>gateway</html>", content_type="text/html")
    runner = CliRunner()
    result = runner.invoke(main, ["call", "chat.complete", "--data", json.dumps(CHAT)])
    assert result.exit_code == 1
    assert "HTTP 200 OK: broken answer" in result.stderr and "Traceback" not in result.output + result.stderr
    assert "gateway" in result.stderr and KEY not in result.output + result.stderr
    result = runner.invoke(main, ["call", "chat.complete", "--data", json.dumps(CHAT), "--json"])
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "BrokenResponseError" and error["status"] == 200 and error["server_may_have_acted"]
