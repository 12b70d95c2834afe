"""The sandbox's Cohere emulator against Cohere's own schemas (the shared file): answers valid
for their operation, deterministic, streamed in Cohere's framings, and faulted like the API."""

from __future__ import annotations

import json
from pathlib import Path

import fastjsonschema
import pytest
import requests

pytestmark = pytest.mark.e2e

SCHEMAS = Path(__file__).parents[2].parent / "shared" / "cohere" / "chat-generate.schemas.json"
AUTH = {"Authorization": "Bearer co-key"}
BODIES = {
    "/v1/chat": {"message": "Printer jams"},
    "/v2/chat": {"model": "command-a-03-2025", "messages": [{"role": "user", "content": "Printer jams"}]},
    "/v1/generate": {"prompt": "Printer jams", "max_tokens": 5},
}


def _operation(path: str) -> dict:
    return json.loads(SCHEMAS.read_text())["operations"][path]


@pytest.mark.skipif(not SCHEMAS.exists(), reason="the Cohere schemas file is not beside the project")
@pytest.mark.parametrize("path", list(BODIES))
def test_answers_are_valid_for_cohere_schemas_and_deterministic(mistral_sandbox, path):
    operation = _operation(path)
    fastjsonschema.compile(operation["request"]["content"]["application/json"]["schema"])(BODIES[path])
    answer = requests.post(mistral_sandbox.base_uri + path, json=BODIES[path], headers=AUTH, timeout=5)
    assert answer.status_code == 200, answer.text
    # chat_history items are a oneOf told apart by an OpenAPI discriminator (role), which plain
    # JSON Schema cannot apply: checked by hand, the rest by the schema
    document = answer.json()
    history = document.pop("chat_history", [])
    assert [item["role"] for item in history] == (["USER", "CHATBOT"] if path == "/v1/chat" else [])
    fastjsonschema.compile(operation["responses"]["200"]["content"]["application/json"]["schema"])(document)
    again = requests.post(mistral_sandbox.base_uri + path, json=BODIES[path], headers=AUTH, timeout=5)
    assert again.json() == answer.json()


@pytest.mark.parametrize(("path", "framing"), [("/v1/chat", "application/stream+json"),
                                               ("/v1/generate", "application/stream+json"),
                                               ("/v2/chat", "text/event-stream")])
def test_streams_use_cohere_framings_and_end_with_the_whole_answer(mistral_sandbox, path, framing):
    plain = requests.post(mistral_sandbox.base_uri + path, json=BODIES[path], headers=AUTH, timeout=5).json()
    streamed = requests.post(mistral_sandbox.base_uri + path, json={**BODIES[path], "stream": True}, headers=AUTH,
                             timeout=5)
    assert streamed.headers["Content-Type"].startswith(framing)
    if framing == "text/event-stream":
        events = [json.loads(line[6:]) for line in streamed.text.splitlines() if line.startswith("data: ")]
        text = "".join(e["delta"]["message"]["content"]["text"] for e in events if e["type"] == "content-delta")
        assert events[-1]["type"] == "message-end" and text == plain["message"]["content"][0]["text"]
    else:
        events = [json.loads(line) for line in streamed.text.splitlines()]
        text = "".join(e["text"] for e in events if e["event_type"] == "text-generation")
        assert events[-1]["is_finished"] and events[-1]["event_type"] == "stream-end"
        assert text == (plain["text"] if path == "/v1/chat" else plain["generations"][0]["text"])


def test_missing_fields_and_tokens_are_refused(mistral_sandbox):
    base = mistral_sandbox.base_uri
    assert requests.post(base + "/v1/chat", json=BODIES["/v1/chat"], timeout=5).status_code == 401
    refused = requests.post(base + "/v2/chat", json={"model": "m"}, headers=AUTH, timeout=5)
    assert refused.status_code == 400 and "messages" in refused.json()["message"]


def test_faults_apply_to_cohere_and_to_track(mistral_sandbox_factory):
    sandbox = mistral_sandbox_factory(faults="error=1:503@/v2/chat,/track")
    assert requests.post(sandbox.base_uri + "/v2/chat", json=BODIES["/v2/chat"], headers=AUTH,
                         timeout=5).status_code == 503
    assert requests.post(sandbox.base_uri + "/track", json={}, timeout=5).status_code == 503
    assert requests.post(sandbox.base_uri + "/v1/generate", json=BODIES["/v1/generate"], headers=AUTH,
                         timeout=5).status_code == 200
    assert sandbox.requests()["status 503"] == 2
