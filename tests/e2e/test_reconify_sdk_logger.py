"""``Logger`` around the real SDKs, pointed at the sandbox: the ``mistralai`` client and both
``cohere`` clients, none of them patched, each call one Reconify event at ``/track``."""

from __future__ import annotations

import time

import pytest
import requests

from alumio_mistral.reconify import Logger

mistralai = pytest.importorskip("mistralai.client", reason="the mistralai SDK is in the test extra")
cohere = pytest.importorskip("cohere", reason="the cohere SDK is in the test extra")

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("offline_sdk_env")]

USER = {"userId": "u-7", "email": "ann@example.com"}


def _events(sandbox, count: int) -> list[dict]:
    deadline = time.monotonic() + 5
    while True:
        events = requests.get(sandbox.base_uri + "/_sandbox/reconify", timeout=5).json()
        if len(events) >= count or time.monotonic() > deadline:
            return events
        time.sleep(0.05)


@pytest.fixture
def logger(mistral_sandbox, tmp_path):
    with Logger({"to": "reconify", "endpoint": mistral_sandbox.base_uri + "/track", "app_key": "app-key-sdk-1",
                 "api_key": "api-key-sdk-2"}, outbox=tmp_path / "outbox.db", interval=0.05) as made:
        yield made


def test_a_mistralai_chat_is_logged_without_patching_the_sdk(mistral_sandbox, logger):
    from mistralai.client import Mistral

    original = Mistral.__dict__.copy()
    with Mistral(api_key="sandbox-key", server_url=mistral_sandbox.base_uri, timeout_ms=10_000) as sdk:
        logged = logger.wrap(sdk, user=USER, session="s1")
        answer = logged.chat.complete(model="mistral-small-latest", messages=[{"role": "user", "content": "Hi"}])
        assert logged.models is sdk.models  # the rest passes through
    assert Mistral.__dict__.keys() == original.keys() and type(sdk.chat).complete is type(sdk.chat).__dict__["complete"]
    [event] = _events(mistral_sandbox, 1)
    assert (event["reconify"]["format"], event["reconify"]["type"]) == ("mistral", "chat")
    assert event["user"] == USER and event["session"] == "s1"
    assert event["request"]["messages"] == [{"role": "user", "content": "Hi"}]
    assert event["response"]["choices"][0]["message"]["content"] == answer.choices[0].message.content
    assert event["timestamps"]["request"] <= event["timestamps"]["response"]


def test_a_mistralai_stream_is_logged_once_with_its_assembled_answer(mistral_sandbox, logger):
    from mistralai.client import Mistral

    with Mistral(api_key="sandbox-key", server_url=mistral_sandbox.base_uri, timeout_ms=10_000) as sdk:
        logged = logger.wrap(sdk, session="s2")
        with logged.chat.stream(model="mistral-small-latest", messages=[{"role": "user", "content": "Hi"}]) as stream:
            text = "".join(event.data.choices[0].delta.content or "" for event in stream)
    [event] = _events(mistral_sandbox, 1)
    assert event["reconify"]["type"] == "chat" and event["session"] == "s2"
    assert event["response"]["output"] == text and text
    assert event["timestamps"]["request"] <= event["timestamps"]["response"]


def test_cohere_chat_v1_v2_and_generate_are_logged(mistral_sandbox, logger):
    v1 = cohere.Client(api_key="co-key", base_url=mistral_sandbox.base_uri, timeout=10)
    v2 = cohere.ClientV2(api_key="co-key", base_url=mistral_sandbox.base_uri, timeout=10)
    chat = logger.wrap(v1, user=USER, session="a").chat(message="Printer jams", model="command-r")
    generated = logger.wrap(v1, session="b").generate(prompt="Say hi", max_tokens=5)
    chat_v2 = logger.wrap(v2, session="c").chat(model="command-a-03-2025",
                                                  messages=[{"role": "user", "content": "Hello"}])
    events = sorted(_events(mistral_sandbox, 3), key=lambda e: e["session"])
    assert [(e["reconify"]["format"], e["reconify"]["type"], e["session"]) for e in events] == [
        ("cohere", "chat", "a"), ("cohere", "generate", "b"), ("cohere", "chat", "c")]
    assert events[0]["response"]["text"] == chat.text and events[0]["user"] == USER
    assert events[1]["response"]["generations"][0]["text"] == generated.generations[0].text
    assert events[2]["response"]["message"]["content"][0]["text"] == chat_v2.message.content[0].text
    assert events[2]["request"]["messages"] == [{"role": "user", "content": "Hello"}]


def test_a_failed_call_is_logged_with_its_error_and_raised(mistral_sandbox, logger):
    nowhere = cohere.Client(api_key="co-key", base_url="http://127.0.0.1:9", timeout=2)  # nobody listens
    with pytest.raises(Exception) as raised:
        logger.wrap(nowhere, session="x").generate(prompt="Say hi")
    [event] = _events(mistral_sandbox, 1)
    assert event["reconify"]["type"] == "generate" and event["request"] == {"prompt": "Say hi"}
    assert event["response"]["type"] == type(raised.value).__name__


def test_events_wait_in_the_outbox_while_the_endpoint_is_down(tmp_path):
    with Logger({"to": "reconify", "endpoint": "http://127.0.0.1:9/track", "app_key": "app-key-sdk-1",
                 "api_key": "api-key-sdk-2"}, outbox=tmp_path / "o.db", interval=0.05, flush_wait=0.5) as logger:
        logger.log_chat({"messages": []}, {"choices": []}, time.time(), time.time(), session="s")
        started = time.monotonic()
    assert time.monotonic() - started < 3
    with Logger({"to": "jsonl", "path": str(tmp_path / "events.jsonl")}, outbox=tmp_path / "o.db") as again:
        assert again.store.outbox_counts()["interactions:sdk"]["pending"] == 1
