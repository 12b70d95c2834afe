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
import re
from typing import Any, Callable, Iterator, Protocol

from alumio_mistral.sandbox.fake_json import fake

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



class FileStore(Protocol):
    """The sandbox's files, as the stateless endpoints read them."""

    def content(self, file_id: str) -> bytes:
        """The bytes of an uploaded file (404 when unknown)."""

    def fetch(self, url: str) -> bytes | None:
        """The bytes a sandbox URL serves (a signed file URL), ``None`` for any other URL."""


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


def _last_user_text(messages: list[Any]) -> str:
    return next(
        (text_of(m.get("content")) for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "user"),
        "",
    )


def _answer_text(messages: list[Any], response_format: Any) -> str:
    """The assistant's text: a JSON document when ``response_format`` asks for one."""
    last_user = _last_user_text(messages)
    seed = digest(messages)
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return json.dumps(fake(schema if isinstance(schema, dict) else {"type": "object"}, seed))
    if kind == "json_object":
        return json.dumps({"answer": f"sandbox answer {seed[:8]}", "input": last_user[:200]})
    return f"Sandbox answer {seed[:8]} to: {last_user[:200]}"


def _functions(tools: Any) -> list[dict[str, Any]]:
    """The function definitions of a ``tools`` list (entries that are not functions are skipped)."""
    if not isinstance(tools, list):
        return []
    functions = [tool.get("function") for tool in tools if isinstance(tool, dict)]
    return [f for f in functions if isinstance(f, dict) and isinstance(f.get("name"), str)]


def called_function(body: dict[str, Any]) -> dict[str, Any] | None:
    """The function the answer calls, or ``None`` for a plain answer.

    Only a user turn is answered with a call (a ``tool`` result gets a normal answer, so client
    loops end). A ``tool_choice`` naming a function picks it; otherwise a function the user's
    message names; otherwise the first function when the choice is ``any`` or ``required``.
    """
    functions = _functions(body.get("tools"))
    messages = body.get("messages") if isinstance(body.get("messages"), list) else []
    last = messages[-1] if messages else None
    choice = body.get("tool_choice") or "auto"
    if not functions or choice == "none" or not isinstance(last, dict) or last.get("role") != "user":
        return None
    if isinstance(choice, dict):
        wanted = choice.get("function", {}).get("name") if isinstance(choice.get("function"), dict) else None
        return next((f for f in functions if f["name"] == wanted), None)
    said = text_of(last.get("content"))
    named = next((f for f in functions if re.search(rf"(?<![\w.]){re.escape(f['name'])}(?![\w])", said)), None)
    if named is not None:
        return named
    return functions[0] if choice in ("any", "required") else None


def tool_call(function: dict[str, Any], seed: str) -> dict[str, Any]:
    """A call of ``function`` with arguments valid against its ``parameters`` schema."""
    parameters = function.get("parameters")
    arguments = fake(parameters if isinstance(parameters, dict) else {"type": "object"}, seed)
    return {
        "id": digest([function["name"], seed])[:9], "type": "function", "index": 0,
        "function": {"name": function["name"],
                     "arguments": json.dumps(arguments if isinstance(arguments, dict) else {})},
    }


def bounded(text: str, max_tokens: Any) -> tuple[str, str]:
    """``text`` cut to ``max_tokens`` tokens, and the finish reason (``length`` when it was cut)."""
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 0:
        return text, "stop"
    words = list(re.finditer(r"\S+", text))
    if len(words) <= max_tokens:
        return text, "stop"
    return (text[: words[max_tokens - 1].end()] if max_tokens else ""), "length"


def _completion(body: dict[str, Any], message: dict[str, Any], finish_reason: str, prompt_tokens: int,
                completion_tokens: int, prefix: str) -> dict[str, Any]:
    return {
        "id": f"{prefix}-{digest(body)[:24]}",
        "object": "chat.completion",
        "model": str(body.get("model") or "mistral-small-latest"),
        "created": CREATED,
        "usage": _usage(prompt_tokens, completion_tokens),
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish_reason}],
    }


def _text_completion(body: dict[str, Any], text: str, prompt_tokens: int, prefix: str) -> dict[str, Any]:
    """A completion answering ``text``, cut to the body's ``max_tokens``."""
    content, finish_reason = bounded(text, body.get("max_tokens"))
    message = {"content": content, "tool_calls": None}
    return _completion(body, message, finish_reason, prompt_tokens, tokens(content), prefix)


def chat(body: dict[str, Any], files: FileStore | None = None) -> dict[str, Any]:
    """A chat completion: a tool call when the tools and choice ask for one, else text or JSON."""
    messages = body.get("messages") if isinstance(body.get("messages"), list) else []
    prompt = sum(tokens(text_of(m.get("content"))) for m in messages if isinstance(m, dict))
    function = called_function(body)
    if function is not None:
        call = tool_call(function, digest(messages))
        message = {"content": "", "tool_calls": [call]}
        return _completion(body, message, "tool_calls", prompt, tokens(call["function"]["arguments"]), "cmpl")
    return _text_completion(body, _answer_text(messages, body.get("response_format")), prompt, "cmpl")


def agent_chat(body: dict[str, Any], files: FileStore | None = None) -> dict[str, Any]:
    answer = chat(body)
    answer["model"] = f"agent:{body.get('agent_id', '')}"
    return answer


def fim(body: dict[str, Any], files: FileStore | None = None) -> dict[str, Any]:
    prompt = str(body.get("prompt") or "")
    suffix = str(body.get("suffix") or "")
    content = f"# sandbox completion {digest([prompt, suffix])[:8]}\n"
    return _text_completion(body, content, tokens(prompt) + tokens(suffix), "fim")


def stream_chunks(answer: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The completion chunks of a streamed chat/FIM answer: word by word (a tool call in one
    chunk), the finish reason and usage on the last."""
    choice = answer["choices"][0]
    message = choice["message"]
    base = {"id": answer["id"], "object": "chat.completion.chunk", "created": answer["created"],
            "model": answer["model"]}

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}

    yield chunk({"role": "assistant", "content": ""})
    if message.get("tool_calls"):
        yield chunk({"content": "", "tool_calls": message["tool_calls"]})
    elif message["content"]:
        for index, word in enumerate(message["content"].split(" ")):
            yield chunk({"content": word if index == 0 else " " + word})
    yield {**chunk({"content": ""}, choice["finish_reason"]), "usage": answer["usage"]}


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


def embeddings(body: dict[str, Any], files: FileStore | None = None) -> dict[str, Any]:
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


def moderate(body: dict[str, Any], files: FileStore | None = None) -> dict[str, Any]:
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


def moderate_chat(body: dict[str, Any], files: FileStore | None = None) -> dict[str, Any]:
    return _moderation(_conversation_texts(body.get("input")), body)


def _classification(texts: list[str], body: dict[str, Any]) -> dict[str, Any]:
    results = []
    for text in texts:
        share = int(hashlib.sha256(text.encode()).hexdigest()[:4], 16) / 0xFFFF
        results.append({"label": {"scores": {"positive": round(share, 6), "negative": round(1 - share, 6)}}})
    model = str(body.get("model") or "sandbox-classifier")
    return {"id": f"cls-{digest(body)[:24]}", "model": model, "results": results}


def classify(body: dict[str, Any], files: FileStore | None = None) -> dict[str, Any]:
    return _classification(_inputs(body.get("input")), body)


def classify_chat(body: dict[str, Any], files: FileStore | None = None) -> dict[str, Any]:
    return _classification(_conversation_texts(body.get("input")), body)


def _document_text(document: Any, files: FileStore | None) -> str:
    """Text of an OCR document: an uploaded file, a data: URL, the sandbox's own signed URL, or a
    placeholder for other remote URLs."""
    if not isinstance(document, dict):
        return ""
    if document.get("type") == "file" and files is not None:
        return files.content(str(document.get("file_id"))).decode("utf-8", "replace")
    url = str(document.get("document_url") or document.get("image_url") or "")
    if isinstance(document.get("image_url"), dict):
        url = str(document["image_url"].get("url", ""))
    if url.startswith("data:") and "," in url:
        header, payload = url.split(",", 1)
        raw = base64.b64decode(payload) if header.endswith(";base64") else payload.encode()
        return raw.decode("utf-8", "replace")
    fetched = files.fetch(url) if files is not None else None
    if fetched is not None:
        return fetched.decode("utf-8", "replace")
    return f"# {document.get('document_name') or url}\n"


def ocr(body: dict[str, Any], files: FileStore | None = None) -> dict[str, Any]:
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
BY_ENTITY: dict[str, Callable[[dict[str, Any], FileStore | None], dict[str, Any]]] = {
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
BY_ENDPOINT: dict[str, Callable[[dict[str, Any], FileStore | None], dict[str, Any]]] = {
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
