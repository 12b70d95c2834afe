"""Actions: named Mistral publishers with sensible defaults, written ``publisher: {action: NAME}``.

An action is a catalog operation plus the shipped transformer definitions that shape its request
from the record and its answer into a plain result (``transformers/mistral/*.yaml``, each with
saved tests); ``with:`` gives the request definition's parameters. What a YAML pipeline cannot
do is here: ``analyze-image`` reads a local image (inside the publisher's allowed folders, as
file uploads are) into a base64 data URL with its media type, and ``create-embeddings`` sends
long input lists in requests of at most :data:`MAX_EMBEDDING_INPUTS`, numbering every vector
with its input's index. ``batch-results`` polls a batch job to a final status and reads its
result lines as a stream (the batch-job subscriber's own code); ``api-request`` is any catalog
operation, or a method and a path.
"""

from __future__ import annotations

import base64
import mimetypes
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping

from alumio_mistral.catalog import Catalog
from alumio_mistral.durations import DurationError, parse_duration
from alumio_mistral.http import Client
from alumio_mistral.publishers.base import Publisher
from alumio_mistral.publishers.mistral import MistralPublisher
from alumio_mistral.publishers.request import PlannedCall, PublishError, RequestTemplate
from alumio_mistral.subscribers.batch_job import BatchJobSubscriber
from alumio_mistral.subscribers.mistral import SubscriberError
from alumio_mistral.transformers.library import Library
from alumio_mistral.transformers.pipeline import Pipeline, compile_pipeline

#: inputs per embeddings request (the API refuses larger batches)
MAX_EMBEDDING_INPUTS = 128
#: image types a vision model reads, by their first bytes (a file name may lie or be missing)
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF8", "image/gif"),
          (b"RIFF", "image/webp"))


@dataclass(frozen=True)
class Action:
    operation: str
    request: str
    #: the answer definition (``None``: the publisher shapes its answer itself)
    answer: str | None


ACTIONS: dict[str, Action] = {
    "create-chat-completion": Action("chat.complete", "mistral/chat-completion-request", "mistral/chat-answer"),
    "analyze-image": Action("chat.complete", "mistral/analyze-image-request", "mistral/chat-answer"),
    "create-embeddings": Action("embeddings.create", "mistral/embeddings-request", "mistral/embeddings-vectors"),
    "batch-results": Action("batch_jobs.get", "mistral/batch-results-request", None),
}
NAMES = (*ACTIONS, "api-request")


def action_operation(spec: Mapping[str, Any]) -> str | None:
    """The catalog operation an action publisher calls (``None`` for other publishers, and for
    an ``api-request`` by method and uri)."""
    name = spec.get("action") if spec.get("type", "action") == "action" else None
    if name == "api-request":
        return spec.get("entity")
    return ACTIONS[name].operation if name in ACTIONS else None


def parameter_problems(name: str, given: Mapping[str, Any]) -> list[str]:
    """What is wrong with an action's ``with:`` against its shipped request definition (unknown
    or missing parameters), so that ``validate`` says it before any run."""
    if name not in ACTIONS:
        return []
    parameters = _shipped().get(ACTIONS[name].request).parameters
    problems = [f"{name} has no parameter {key!r} (parameters: {', '.join(parameters)})"
                for key in sorted(set(given) - set(parameters))]
    return problems + [f"{name} needs parameter {key!r}" for key, spec in parameters.items()
                       if spec["required"] and key not in given]


@lru_cache(maxsize=1)
def _shipped() -> Library:
    return Library.for_project(None)


def media_type(content: bytes, name: str) -> str:
    """The image's media type from its first bytes, else from its name."""
    for magic, kind in _MAGIC:
        if content.startswith(magic):
            return kind
    guessed = mimetypes.guess_type(name)[0]
    if guessed is None or not guessed.startswith("image/"):
        raise PublishError(f"{name}: not an image (PNG, JPEG, GIF or WebP)")
    return guessed


class LocalImages:
    """Image URLs of a chat request that are local paths become base64 data URLs.

    The bytes are read by a file upload's own reader, so the same allowed-folder check applies
    (the project folder plus ``allow_paths``)."""

    def __init__(self, spec: Mapping[str, Any], root: Path, where: str) -> None:
        self._reader = RequestTemplate({"files": {"image": {"path": "&{path}"}}, "allow_paths": spec.get("allow_paths")},
                                       root=root, multipart=True, has_body=True, where=where)

    def data_url(self, path: str) -> str:
        files = self._reader.render({"path": path}).files or {}
        _, content = files["image"]
        return f"data:{media_type(content, path)};base64,{base64.b64encode(content).decode()}"

    def __call__(self, request: Any) -> Any:
        for message in request.get("messages") or []:
            for chunk in message.get("content") if isinstance(message.get("content"), list) else []:
                if chunk.get("type") != "image_url":
                    continue
                url = chunk["image_url"]["url"] if isinstance(chunk["image_url"], dict) else chunk["image_url"]
                if not str(url).startswith(("http://", "https://", "data:")):
                    chunk["image_url"] = self.data_url(str(url))
        return request


class ActionPublisher:
    """The request definition, then ``finish`` (local images), the operation, the answer definition."""

    kind = "action"

    def __init__(self, inner: MistralPublisher, request: Pipeline, answer: Pipeline,
                 finish: Callable[[Any], Any] = lambda request: request) -> None:
        self._inner = inner
        self._request = request
        self._answer = answer
        self._finish = finish
        self.safe_to_repeat = inner.safe_to_repeat

    def _requests(self, record: Any) -> list[Any]:
        return [self._finish(request) for request in self._request.run(record)]

    def plan(self, record: Any) -> PlannedCall:
        return self._inner.plan(self._requests(record)[0])

    def publish(self, record: Any) -> Any:
        answers = [self._answer.run(self._inner.publish(request)) for request in self._requests(record)]
        merged = [item for outputs in answers for item in outputs]
        return merged[0] if len(merged) == 1 else merged


class EmbeddingsPublisher(ActionPublisher):
    """One input list in requests of at most :data:`MAX_EMBEDDING_INPUTS`; vectors keep their input's index."""

    def _requests(self, record: Any) -> list[Any]:
        [request] = self._request.run(record)
        inputs = request["input"] if isinstance(request["input"], list) else [request["input"]]
        return [{**request, "input": inputs[start:start + MAX_EMBEDDING_INPUTS]}
                for start in range(0, len(inputs), MAX_EMBEDDING_INPUTS)]

    def publish(self, record: Any) -> Any:
        vectors: list[Any] = []
        for request in self._requests(record):
            [answer] = self._answer.run(self._inner.publish(request))
            offset = len(vectors)
            vectors.extend({**vector, "index": offset + number} for number, vector in enumerate(answer["vectors"]))
        return {"vectors": vectors}


#: result lines one ``batch-results`` task keeps (its answer is held in memory and stored)
MAX_RESULT_LINES = 10_000


class BatchResultsPublisher:
    """Polls a batch job to a final status, then answers ``{job, lines}``: one entry per line of
    its output and error files (``custom_id``, ``status_code``, ``body`` or ``error``).

    A ``branches`` response step on ``lines`` makes each line one item for the ``then`` target.
    The files are downloaded as streams and parsed a line at a time (never read whole); the
    parsed lines are the task's answer, so they are held until the task ends, and stored with
    it: a job of more than :data:`MAX_RESULT_LINES` lines fails the task, pointing to the
    ``batch-job`` subscriber, which makes one task per line in flat memory."""

    kind = "action"
    safe_to_repeat = True  # it only reads

    def __init__(self, inner: MistralPublisher, request: Pipeline, client: Client, where: str) -> None:
        self._inner = inner
        self._request = request
        self._client = client
        self._where = where

    def _reader(self, record: Any) -> BatchJobSubscriber:
        [request] = self._request.run(record)
        job_id = request["job_id"]
        if not isinstance(job_id, str) or not job_id:
            raise PublishError(f"{self._where}.with.job_id: no batch job id in the record (got {job_id!r})")
        try:
            every, deadline = parse_duration(request["every"]), parse_duration(request["deadline"])
        except DurationError as error:
            raise PublishError(f"{self._where}.with: {error}") from error
        return BatchJobSubscriber(self._client, job_id, every=every, deadline=deadline, results=True)

    def plan(self, record: Any) -> PlannedCall:
        return self._inner.plan({"job_id": self._reader(record).job_id})

    def publish(self, record: Any) -> Any:
        reader = self._reader(record)
        try:
            job = reader.wait()
        except SubscriberError as error:
            raise PublishError(f"{self._where}: {error}") from error
        lines = []
        for result in reader.result_records(job):
            if result.error is not None:
                raise PublishError(f"{self._where}: {result.origin}: {result.error}")
            if len(lines) == MAX_RESULT_LINES:
                raise PublishError(
                    f"{self._where}: batch job {reader.job_id} has more than {MAX_RESULT_LINES:,} result lines,"
                    " too many to keep in one task: read it with an incoming of type batch-job"
                    " (results: true), which makes one task per line")
            lines.append(result.entity)
        return {"job": job, "lines": lines}


def build_action(spec: Mapping[str, Any], *, client: Client, catalog: Catalog, root: Path, where: str,
                 fallback: Callable[[], Publisher]) -> Publisher:
    """The publisher of ``spec['action']``; ``fallback`` builds the plain request one (``api-request``)."""
    name = spec["action"]
    if name == "api-request":
        return fallback()
    action = ACTIONS[name]
    library = Library.for_project(root)

    def pipeline(definition: str, with_: Mapping[str, Any] | None, part: str) -> Pipeline:
        step: dict[str, Any] = {"use": definition, **({"with": dict(with_)} if with_ else {})}
        return compile_pipeline([step], source=f"action {name}", where=f"{where}.{part}", library=library)

    operation = catalog.get(action.operation)
    if name == "batch-results":
        inner = MistralPublisher({"path_params": {"job_id": "&{job_id}"}}, client=client, operation=operation,
                                 root=root, where=where)
        return BatchResultsPublisher(inner, pipeline(action.request, spec.get("with"), "with"), client, where)
    inner = MistralPublisher({"body": "$", "allow_paths": spec.get("allow_paths")}, client=client,
                             operation=operation, root=root, where=where)
    assert action.answer is not None
    request, answer = pipeline(action.request, spec.get("with"), "with"), pipeline(action.answer, None, "answer")
    if name == "create-embeddings":
        return EmbeddingsPublisher(inner, request, answer)
    finish = LocalImages(spec, root, f"{where}.with.image") if name == "analyze-image" else (lambda request: request)
    return ActionPublisher(inner, request, answer, finish)
