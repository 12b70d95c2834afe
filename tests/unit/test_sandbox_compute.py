"""Deterministic answers of the stateless endpoints."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import jsonschema
import pytest

from alumio_mistral.sandbox import compute

CHAT = {"model": "m",
        "messages": [{"role": "system", "content": "Be kind"}, {"role": "user", "content": "Hello there"}]}


def test_chat_answers_are_reproducible_and_count_tokens() -> None:
    first, again = compute.chat(CHAT), compute.chat(dict(CHAT))
    assert first == again
    assert first["usage"]["prompt_tokens"] == 4
    content = first["choices"][0]["message"]["content"]
    assert content.endswith("Hello there") and first["usage"]["completion_tokens"] == len(content.split())
    other = compute.chat({**CHAT, "messages": [{"role": "user", "content": "Bye"}]})
    assert other["id"] != first["id"]


def test_json_response_format_gives_json_content() -> None:
    answer = compute.chat({**CHAT, "response_format": {"type": "json_object"}})
    assert answer["choices"][0]["message"]["content"].startswith("{")


WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "additionalProperties": False, "required": ["city", "days"],
    "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1, "maximum": 7}}}}}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}


@pytest.mark.parametrize("choice", ["any", "required", {"type": "function", "function": {"name": "get_weather"}}])
def test_a_forced_tool_choice_answers_a_call_with_arguments_valid_for_the_function(choice: Any) -> None:
    answer = compute.chat({**CHAT, "tools": [WEATHER, TIME], "tool_choice": choice})
    choice_out = answer["choices"][0]
    assert choice_out["finish_reason"] == "tool_calls" and choice_out["message"]["content"] == ""
    (call,) = choice_out["message"]["tool_calls"]
    assert call["type"] == "function" and call["function"]["name"] == "get_weather" and len(call["id"]) == 9
    arguments = json.loads(call["function"]["arguments"])
    jsonschema.validate(arguments, WEATHER["function"]["parameters"])
    assert answer["usage"]["completion_tokens"] == len(call["function"]["arguments"].split())


def test_naming_a_function_calls_it_with_auto_choice_and_none_or_no_mention_answers_text() -> None:
    asks = {**CHAT, "tools": [WEATHER, TIME], "messages": [{"role": "user", "content": "Please run get_time now"}]}
    assert compute.chat(asks)["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_time"
    assert compute.chat({**asks, "tool_choice": "none"})["choices"][0]["message"]["tool_calls"] is None
    assert compute.chat({**CHAT, "tools": [WEATHER]})["choices"][0]["finish_reason"] == "stop"


def test_a_tool_result_gets_a_normal_answer_even_when_the_choice_forces_a_call() -> None:
    messages = [*CHAT["messages"],
                {"role": "assistant", "content": "", "tool_calls": [{"id": "abcdefghi", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "abcdefghi", "name": "get_weather", "content": "sunny"}]
    answer = compute.chat({**CHAT, "messages": messages, "tools": [WEATHER], "tool_choice": "any"})
    assert answer["choices"][0]["finish_reason"] == "stop" and answer["choices"][0]["message"]["content"]


def test_a_streamed_tool_call_comes_whole_in_one_chunk_and_ends_with_tool_calls() -> None:
    answer = compute.chat({**CHAT, "tools": [WEATHER], "tool_choice": "any"})
    chunks = list(compute.stream_chunks(answer))
    calls = [c["choices"][0]["delta"]["tool_calls"] for c in chunks if c["choices"][0]["delta"].get("tool_calls")]
    assert calls == [answer["choices"][0]["message"]["tool_calls"]]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_a_json_schema_response_format_answers_a_document_valid_against_that_schema() -> None:
    schema = {"type": "object", "required": ["name", "authors"], "additionalProperties": False,
              "properties": {"name": {"type": "string"}, "authors": {"type": "array", "items": {"type": "string"}}}}
    body = {**CHAT, "response_format": {"type": "json_schema", "json_schema": {"name": "book", "schema": schema}}}
    content = compute.chat(body)["choices"][0]["message"]["content"]
    jsonschema.validate(json.loads(content), schema)
    assert compute.chat(dict(body))["choices"][0]["message"]["content"] == content


def test_max_tokens_cuts_the_answer_counts_what_was_sent_and_says_length() -> None:
    answer = compute.chat({**CHAT, "max_tokens": 3})
    content = answer["choices"][0]["message"]["content"]
    assert len(content.split()) == 3 and answer["usage"]["completion_tokens"] == 3
    assert answer["choices"][0]["finish_reason"] == "length"
    assert compute.chat({**CHAT, "max_tokens": 500})["choices"][0]["finish_reason"] == "stop"
    assert compute.fim({"prompt": "def f(", "max_tokens": 1})["choices"][0]["finish_reason"] == "length"


def test_stream_chunks_rebuild_the_answer_with_usage_last() -> None:
    answer = compute.chat(CHAT)
    chunks = list(compute.stream_chunks(answer))
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text == answer["choices"][0]["message"]["content"]
    assert chunks[-1]["usage"] == answer["usage"] and chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_embeddings_are_unit_vectors_of_the_asked_size() -> None:
    answer = compute.embeddings({"model": "e", "input": ["a", "b", "a"], "output_dimension": 8})
    vectors = [d["embedding"] for d in answer["data"]]
    assert [len(v) for v in vectors] == [8, 8, 8]
    assert vectors[0] == vectors[2] != vectors[1]
    assert math.isclose(sum(v * v for v in vectors[0]), 1.0, abs_tol=1e-4)
    assert len(compute.embeddings({"input": "x"})["data"][0]["embedding"]) == compute.EMBEDDING_SIZE


def test_moderation_flags_trigger_words_only() -> None:
    results = compute.moderate({"input": ["I will attack you", "nice weather"]})["results"]
    assert results[0]["categories"]["violence_and_threats"] is True
    assert not any(results[1]["categories"].values())
    conversations = [[{"role": "user", "content": "my password is x"}], [{"role": "user", "content": "hi"}]]
    chat = compute.moderate_chat({"input": conversations})
    assert [r["categories"]["pii"] for r in chat["results"]] == [True, False]


def test_classification_scores_sum_to_one() -> None:
    scores = compute.classify({"input": "text"})["results"][0]["label"]["scores"]
    assert math.isclose(scores["positive"] + scores["negative"], 1.0)


class _Files:
    """Stands in for the sandbox's file store."""

    def content(self, file_id: str) -> bytes:
        return b"text of " + file_id.encode()

    def fetch(self, url: str) -> bytes | None:
        return b"fetched " + url.encode() if url.startswith("http://sandbox/") else None


def test_ocr_splits_pages_on_form_feeds_from_data_urls_and_files() -> None:
    payload = base64.b64encode("# One\fTwo".encode()).decode()
    document = {"type": "document_url", "document_url": f"data:text/markdown;base64,{payload}"}
    answer = compute.ocr({"model": "o", "document": document})
    assert [p["markdown"] for p in answer["pages"]] == ["# One", "Two"]
    assert answer["usage_info"]["pages_processed"] == 2
    from_file = compute.ocr({"document": {"type": "file", "file_id": "f1"}},
                            files=_Files())
    assert from_file["pages"][0]["markdown"] == "text of f1"


def test_every_batch_endpoint_has_a_compute_function() -> None:
    assert set(compute.BY_ENDPOINT.values()) == set(compute.BY_ENTITY.values())
