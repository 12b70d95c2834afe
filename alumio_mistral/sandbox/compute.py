"""Deterministic answers of the stateless endpoints (chat, FIM, embeddings, moderation, OCR...).

Every answer is a pure function of the request body, so the same request always gets the same
body: batch jobs reuse these functions and their output lines equal the live endpoints' answers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
from typing import Any, Callable, Iterator

#: ``created`` of every computed answer (fixed so answers are reproducible)
CREATED = 1767225600
EMBEDDING_SIZE = 1024
MODERATION_CATEGORIES = (
    "sexual", "hate_and_discrimination", "violence_and_threats", "dangerous_and_criminal_content",
    "selfharm", "health", "financial", "law", "pii",
)
#: words that push a moderation category over the flag threshold, for realistic tests
_TRIGGERS = {
    "violence_and_threats": ("kill", "attack", "hurt", "weapon"),
    "hate_and_discrimination": ("hate",),
    "selfharm": ("suicide", "self-harm"),
    "financial": ("invest", "stock", "crypto"),
    "health": ("doctor", "symptom", "medicine"),
    "pii": ("password", "ssn", "credit card"),
}

FileReader = Callable[[str], bytes]


def digest(value: Any) -> str:
    """A stable hex digest of a JSON-able value."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def tokens(text: str) -> int:
    """A rough token count: whitespace-separated words (enough for usage figures)."""
    return len(text.split())


def text_of(content: Any) -> str:
    """The text of a message content (a string or a list of chunks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(chunk.get("text", "")) for chunk in content if isinstance(chunk, dict))
    return ""


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _answer_text(messages: list[Any], response_format: Any) -> str:
    last_user = next(
        (text_of(m.get("content")) for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "user"),
        "",
    )
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind in ("json_object", "json_schema"):
        return json.dumps({"answer": f"sandbox answer {digest(messages)[:8]}", "input": last_user[:200]})
    return f"Sandbox answer {digest(messages)[:8]} to: {last_user[:200]}"


def _completion(body: dict[str, Any], content: str, prompt_tokens: int, prefix: str) -> dict[str, Any]:
    return {
        "id": f"{prefix}-{digest(body)[:24]}",
        "object": "chat.completion",
        "model": str(body.get("model") or "mistral-small-latest"),
        "created": CREATED,
        "usage": _usage(prompt_tokens, tokens(content)),
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content, "tool_calls": None},
             "finish_reason": "stop"}
        ],
    }


def chat(body: dict[str, Any], files: FileReader | None = None) -> dict[str, Any]:
    messages = body.get("messages") or []
    prompt = sum(tokens(text_of(m.get("content"))) for m in messages if isinstance(m, dict))
    return _completion(body, _answer_text(messages, body.get("response_format")), prompt, "cmpl")


def agent_chat(body: dict[str, Any], files: FileReader | None = None) -> dict[str, Any]:
    answer = chat(body)
    answer["model"] = f"agent:{body.get('agent_id', '')}"
    return answer


def fim(body: dict[str, Any], files: FileReader | None = None) -> dict[str, Any]:
    prompt = str(body.get("prompt") or "")
    suffix = str(body.get("suffix") or "")
    content = f"# sandbox completion {digest([prompt, suffix])[:8]}\n"
    return _completion(body, content, tokens(prompt) + tokens(suffix), "fim")


def stream_chunks(answer: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The completion chunks of a streamed chat/FIM answer (word by word, usage on the last)."""
    content = answer["choices"][0]["message"]["content"]
    words = content.split(" ")
    base = {"id": answer["id"], "object": "chat.completion.chunk", "created": answer["created"],
            "model": answer["model"]}
    yield {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
    for index, word in enumerate(words):
        piece = word if index == 0 else " " + word
        yield {**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
    last = [{"index": 0, "delta": {"content": ""}, "finish_reason": "stop"}]
    yield {**base, "choices": last, "usage": answer["usage"]}


def _inputs(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v if isinstance(v, str) else json.dumps(v, sort_keys=True) for v in value]
    return []


def vector(text: str, size: int = EMBEDDING_SIZE) -> list[float]:
    """A unit vector seeded by the text: equal texts give equal vectors."""
    rng = random.Random(hashlib.sha256(text.encode()).digest())
    values = [rng.gauss(0.0, 1.0) for _ in range(size)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]


def embeddings(body: dict[str, Any], files: FileReader | None = None) -> dict[str, Any]:
    texts = _inputs(body.get("input"))
    size = body.get("output_dimension") or EMBEDDING_SIZE
    return {
        "id": f"embd-{digest(body)[:24]}",
        "object": "list",
        "model": str(body.get("model") or "mistral-embed"),
        "usage": _usage(sum(tokens(t) for t in texts), 0),
        "data": [{"object": "embedding", "embedding": vector(t, int(size)), "index": i} for i, t in enumerate(texts)],
    }


def _scores(text: str) -> dict[str, float]:
    lowered = text.lower()
    scores = {}
    for category in MODERATION_CATEGORIES:
        base = int(hashlib.sha256((category + text).encode()).hexdigest()[:4], 16) / 0xFFFF * 0.1
        hit = any(word in lowered for word in _TRIGGERS.get(category, ()))
        scores[category] = round(0.9 + base if hit else base, 6)
    return scores


def _moderation(texts: list[str], body: dict[str, Any]) -> dict[str, Any]:
    results = []
    for text in texts:
        scores = _scores(text)
        results.append({"categories": {k: v >= 0.5 for k, v in scores.items()}, "category_scores": scores})
    model = str(body.get("model") or "mistral-moderation-latest")
    return {"id": f"mod-{digest(body)[:24]}", "model": model, "results": results}


def moderate(body: dict[str, Any], files: FileReader | None = None) -> dict[str, Any]:
    return _moderation(_inputs(body.get("input")), body)


def _conversation_texts(value: Any) -> list[str]:
    """One text per conversation: ``input`` is a conversation or a list of conversations."""
    if isinstance(value, list) and value and isinstance(value[0], list):
        return [" ".join(text_of(m.get("content")) for m in conv if isinstance(m, dict)) for conv in value]
    if isinstance(value, list):
        return [" ".join(text_of(m.get("content")) for m in value if isinstance(m, dict))]
    if isinstance(value, dict):
        return _conversation_texts(value.get("messages", []))
    return _inputs(value)


def moderate_chat(body: dict[str, Any], files: FileReader | None = None) -> dict[str, Any]:
    return _moderation(_conversation_texts(body.get("input")), body)


def _classification(texts: list[str], body: dict[str, Any]) -> dict[str, Any]:
    results = []
    for text in texts:
        share = int(hashlib.sha256(text.encode()).hexdigest()[:4], 16) / 0xFFFF
        results.append({"label": {"scores": {"positive": round(share, 6), "negative": round(1 - share, 6)}}})
    model = str(body.get("model") or "sandbox-classifier")
    return {"id": f"cls-{digest(body)[:24]}", "model": model, "results": results}


def classify(body: dict[str, Any], files: FileReader | None = None) -> dict[str, Any]:
    return _classification(_inputs(body.get("input")), body)


def classify_chat(body: dict[str, Any], files: FileReader | None = None) -> dict[str, Any]:
    return _classification(_conversation_texts(body.get("input")), body)


def _document_text(document: Any, files: FileReader | None) -> str:
    """Text of an OCR document: a data: URL, an uploaded file, or a placeholder for remote URLs."""
    if not isinstance(document, dict):
        return ""
    if document.get("type") == "file" and files is not None:
        return files(str(document.get("file_id"))).decode("utf-8", "replace")
    url = str(document.get("document_url") or document.get("image_url") or "")
    if isinstance(document.get("image_url"), dict):
        url = str(document["image_url"].get("url", ""))
    if url.startswith("data:") and "," in url:
        header, payload = url.split(",", 1)
        raw = base64.b64decode(payload) if header.endswith(";base64") else payload.encode()
        return raw.decode("utf-8", "replace")
    return f"# {document.get('document_name') or url}\n"


def ocr(body: dict[str, Any], files: FileReader | None = None) -> dict[str, Any]:
    """Pages of a text or markdown document: form feeds separate pages."""
    text = _document_text(body.get("document"), files)
    pages = text.split("\f")
    return {
        "pages": [
            {"index": i, "markdown": page, "images": [], "dimensions": {"dpi": 200, "height": 2200, "width": 1700}}
            for i, page in enumerate(pages)
        ],
        "model": str(body.get("model") or "mistral-ocr-latest"),
        "document_annotation": None,
        "usage_info": {"pages_processed": len(pages), "doc_size_bytes": len(text.encode())},
    }


#: entity name -> compute function
BY_ENTITY: dict[str, Callable[[dict[str, Any], FileReader | None], dict[str, Any]]] = {
    "chat.complete": chat,
    "fim.complete": fim,
    "agents.complete": agent_chat,
    "embeddings.create": embeddings,
    "classifiers.moderate": moderate,
    "classifiers.moderate_chat": moderate_chat,
    "classifiers.classify": classify,
    "classifiers.classify_chat": classify_chat,
    "ocr.process": ocr,
}

#: batch ``endpoint`` value -> compute function
BY_ENDPOINT: dict[str, Callable[[dict[str, Any], FileReader | None], dict[str, Any]]] = {
    "/v1/chat/completions": chat,
    "/v1/fim/completions": fim,
    "/v1/agents/completions": agent_chat,
    "/v1/embeddings": embeddings,
    "/v1/moderations": moderate,
    "/v1/chat/moderations": moderate_chat,
    "/v1/classifications": classify,
    "/v1/chat/classifications": classify_chat,
    "/v1/ocr": ocr,
}
