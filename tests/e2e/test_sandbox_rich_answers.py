"""The sandbox's richer answers (tool calls, structured outputs, function-call entries, event
streams, transcriptions, workflow results) are valid against the spec's response schemas."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from alumio_mistral.http.sse import iter_events
from alumio_mistral.sandbox import Sandbox

pytestmark = pytest.mark.e2e
BEARER = {"Authorization": "Bearer sandbox-key"}
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}}}}
USER = [{"role": "user", "content": "Weather in Paris?"}]
BOOK = {"type": "json_schema", "json_schema": {"name": "book", "schema": {
    "type": "object", "required": ["title"], "properties": {"title": {"type": "string"}}}}}
#: (entity, method, path, JSON body or multipart fields)
CASES: list[tuple[str, str, str, Any]] = [
    ("chat.complete", "POST", "/v1/chat/completions",
     {"model": "m", "messages": USER, "tools": [WEATHER], "tool_choice": "any"}),
    ("chat.complete", "POST", "/v1/chat/completions", {"model": "m", "messages": USER, "response_format": BOOK}),
    ("chat.complete", "POST", "/v1/chat/completions", {"model": "m", "messages": USER, "max_tokens": 1}),
    ("chat.complete", "POST", "/v1/chat/completions",
     {"model": "m", "messages": USER, "tools": [WEATHER], "tool_choice": "any", "stream": True}),
    ("conversations.start", "POST", "/v1/conversations",
     {"model": "m", "inputs": "Weather?", "tools": [WEATHER], "completion_args": {"tool_choice": "any"}}),
    ("conversations.start_stream", "POST", "/v1/conversations",
     {"model": "m", "inputs": "Weather?", "tools": [WEATHER], "completion_args": {"tool_choice": "any"},
      "stream": True}),
    ("conversations.start_stream", "POST", "/v1/conversations", {"model": "m", "inputs": "Hi", "stream": True}),
    ("audio.transcriptions.complete", "POST", "/v1/audio/transcriptions",
     {"model": (None, "v"), "file": ("a.wav", b"Hello there. Bye.")}),
    ("audio.transcriptions.complete_stream", "POST", "/v1/audio/transcriptions",
     {"model": (None, "v"), "file": ("a.wav", b"Hello there. Bye."), "stream": (None, "true")}),
    ("workflows.execute", "POST", "/v1/workflows/echo/execute", {"input": {"a": 1}, "wait_for_result": True}),
    ("prompts.create", "POST", "/v2/prompts", {"name": "p", "definition": {"content": "Hi"}}),
    ("skills.create", "POST", "/v2/skills", {"name": "s", "definition": {"body": "Say hi"}}),
]


@pytest.mark.parametrize("name, method, path, body", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_the_answer_matches_the_response_schema(mistral_sandbox: Sandbox, name: str, method: str, path: str,
                                                body: Any) -> None:
    multipart = name.startswith("audio.")
    answer = requests.request(method, mistral_sandbox.base_uri + path, headers=BEARER, timeout=5,
                              **({"files": body} if multipart else {"json": body}))
    assert answer.status_code == 200, answer.text
    entity = mistral_sandbox.app.catalog.get(name)
    schemas = mistral_sandbox.app.schemas
    if not answer.headers["Content-Type"].startswith("text/event-stream"):
        problems = schemas.validator(entity, "response").problems(answer.json(), [])
        assert problems == [], f"{name}: {problems[:3]}"
        return
    validator = schemas.validator(entity, "events")
    for event in iter_events(answer):
        if event.data == "[DONE]":
            continue
        data = json.loads(event.data)
        assert event.event is None or data.get("type") == event.event, "named events repeat their name as type"
        wrapped = {"event": event.event, "data": data} if event.event else {"data": data}
        assert validator.problems(wrapped, []) == [], f"{name} event {wrapped}"
