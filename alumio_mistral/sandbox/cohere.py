"""A small Cohere emulator: ``POST /v1/chat``, ``POST /v2/chat`` and ``POST /v1/generate``.

Deterministic answers (the same request gets the same text and ids), billed units counted in
words, and Cohere's two stream framings: JSON lines (``application/stream+json``) for v1 chat
and generate, server-sent events for v2 chat. Requests are checked against the required fields
derived from Cohere's spec (:mod:`alumio_mistral.catalog.cohere`); a missing or wrong bearer
token is a 401, as on the real API.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any, Callable, Iterator

from alumio_mistral.catalog.cohere import NAMES, cohere_entities
from alumio_mistral.sandbox.sse import stream as sse_stream
from alumio_mistral.sandbox.wire import HttpError, Reply, Request, json_reply

#: Cohere's routes the emulator serves, and the entity name faults are decided by
PATHS: dict[str, str] = NAMES
_WORDS = ("steady", "ticket", "answer", "printer", "queue", "customer", "reply", "solved", "check", "next")


def _digest(body: dict[str, Any]) -> bytes:
    """The seed of an answer: the request without ``stream``, so streaming does not change it."""
    return hashlib.sha256(json.dumps({k: v for k, v in body.items() if k != "stream"}, sort_keys=True).encode()).digest()


def _id(seed: bytes, salt: str) -> str:
    return str(uuid.UUID(bytes=hashlib.sha256(seed + salt.encode()).digest()[:16], version=4))


def _text(seed: bytes, max_tokens: Any) -> str:
    count = min(int(max_tokens) if isinstance(max_tokens, int) and max_tokens > 0 else 8, 8)
    return " ".join(_WORDS[byte % len(_WORDS)] for byte in seed[:count]).capitalize() + "."


def _units(prompt: str, text: str) -> dict[str, int]:
    return {"input_tokens": len(prompt.split()), "output_tokens": len(text.split())}


def _error(status: int, message: str) -> Reply:
    return json_reply(status, {"message": message})


def _json_lines(events: list[dict[str, Any]]) -> Reply:
    lines = (json.dumps(event, separators=(",", ":")).encode() + b"\n" for event in events)
    return Reply(200, lines, [("Content-Type", "application/stream+json")])


class CohereEmulator:
    """Serves the three operations; stateless."""

    def handle(self, request: Request) -> Reply:
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("bearer ") or not auth[7:].strip():
            return _error(401, "invalid api token")
        try:
            body = request.json()
        except HttpError:
            return _error(400, "invalid request: the body is not JSON")
        name = PATHS[request.path]
        if not isinstance(body, dict):
            return _error(400, "invalid request: the body must be a JSON object")
        missing = [field for field in cohere_entities()[name].extra["required"] if field not in body]
        if missing:
            return _error(400, f"invalid request: {', '.join(missing)} must be specified")
        answer: Callable[[dict[str, Any]], Reply] = getattr(self, "_" + name.split(".", 1)[1])
        return answer(body)

    def _chat(self, body: dict[str, Any]) -> Reply:
        seed = _digest(body)
        text = _text(seed, body.get("max_tokens"))
        message = str(body["message"])
        history = [*body.get("chat_history", []), {"role": "USER", "message": message},
                   {"role": "CHATBOT", "message": text}]
        response = {"response_id": _id(seed, "response"), "text": text, "generation_id": _id(seed, "generation"),
                    "chat_history": history, "finish_reason": "COMPLETE",
                    "meta": {"api_version": {"version": "1"}, "billed_units": _units(message, text)}}
        if not body.get("stream"):
            return json_reply(200, response)
        return _json_lines([
            {"is_finished": False, "event_type": "stream-start", "generation_id": response["generation_id"]},
            *({"is_finished": False, "event_type": "text-generation", "text": piece} for piece in _pieces(text)),
            {"is_finished": True, "event_type": "stream-end", "finish_reason": "COMPLETE", "response": response},
        ])

    def _generate(self, body: dict[str, Any]) -> Reply:
        seed = _digest(body)
        text = _text(seed, body.get("max_tokens"))
        prompt = str(body["prompt"])
        response = {"id": _id(seed, "generate"), "prompt": prompt,
                    "generations": [{"id": _id(seed, "generation"), "text": text, "finish_reason": "COMPLETE"}],
                    "meta": {"api_version": {"version": "1"}, "billed_units": _units(prompt, text)}}
        if not body.get("stream"):
            return json_reply(200, response)
        return _json_lines([
            *({"is_finished": False, "event_type": "text-generation", "text": piece, "index": 0}
              for piece in _pieces(text)),
            {"is_finished": True, "event_type": "stream-end", "finish_reason": "COMPLETE", "response": response},
        ])

    def _chat_v2(self, body: dict[str, Any]) -> Reply:
        seed = _digest(body)
        text = _text(seed, body.get("max_tokens"))
        said = " ".join(str(m.get("content", "")) for m in body["messages"] if isinstance(m, dict))
        units = _units(said, text)
        usage = {"billed_units": units, "tokens": units}
        response_id = _id(seed, "chat")
        if not body.get("stream"):
            return json_reply(200, {"id": response_id, "finish_reason": "COMPLETE", "usage": usage,
                                    "message": {"role": "assistant", "content": [{"type": "text", "text": text}]}})
        return sse_stream(_v2_events(response_id, text, usage))


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [word if n == 0 else " " + word for n, word in enumerate(words)]


def _v2_events(response_id: str, text: str, usage: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    yield "message-start", {"type": "message-start", "id": response_id,
                            "delta": {"message": {"role": "assistant", "content": []}}}
    yield "content-start", {"type": "content-start", "index": 0,
                            "delta": {"message": {"content": {"type": "text", "text": ""}}}}
    for piece in _pieces(text):
        yield "content-delta", {"type": "content-delta", "index": 0,
                                "delta": {"message": {"content": {"text": piece}}}}
    yield "content-end", {"type": "content-end", "index": 0}
    yield "message-end", {"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": usage}}
