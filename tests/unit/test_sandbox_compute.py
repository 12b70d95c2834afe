"""Deterministic answers of the stateless endpoints."""

from __future__ import annotations

import base64
import math

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


def test_ocr_splits_pages_on_form_feeds_from_data_urls_and_files() -> None:
    payload = base64.b64encode("# One\fTwo".encode()).decode()
    document = {"type": "document_url", "document_url": f"data:text/markdown;base64,{payload}"}
    answer = compute.ocr({"model": "o", "document": document})
    assert [p["markdown"] for p in answer["pages"]] == ["# One", "Two"]
    assert answer["usage_info"]["pages_processed"] == 2
    from_file = compute.ocr({"document": {"type": "file", "file_id": "f1"}},
                            files=lambda file_id: b"text of " + file_id.encode())
    assert from_file["pages"][0]["markdown"] == "text of f1"


def test_every_batch_endpoint_has_a_compute_function() -> None:
    assert set(compute.BY_ENDPOINT.values()) == set(compute.BY_ENTITY.values())
