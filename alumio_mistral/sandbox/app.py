"""The sandbox WSGI application: catalog routing, auth, validation, state, faults, counters.

Every catalog operation answers: stateful families and deterministic compute functions
handle the ones users build flows with; any other operation answers with an instance of its
response schema. Parameters and bodies are validated against the derived schemas before any
handler runs (so invalid input never reaches state), unless validation is turned off.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable

from waitress.channel import ClientDisconnected

from alumio_mistral.catalog import Catalog
from alumio_mistral.catalog.entity import Entity
from alumio_mistral.sandbox import compute, sse
from alumio_mistral.sandbox.cohere import PATHS as COHERE_PATHS
from alumio_mistral.sandbox.cohere import CohereEmulator
from alumio_mistral.sandbox.reconify import TRACK_PATH, Tracker
from alumio_mistral.sandbox.clock import Clock
from alumio_mistral.sandbox.faults import Decision, Faults
from alumio_mistral.sandbox.responses import Builder, wav_bytes
from alumio_mistral.sandbox.state import Context, Handler
from alumio_mistral.sandbox.state.agents import Agents
from alumio_mistral.sandbox.state.batch import Batches
from alumio_mistral.sandbox.state.conversations import Conversations
from alumio_mistral.sandbox.state.files import Files
from alumio_mistral.sandbox.state.fine_tuning import FineTuningJobs
from alumio_mistral.sandbox.state.libraries import Libraries
from alumio_mistral.sandbox.state.models import Models
from alumio_mistral.sandbox.state.registry import Registry
from alumio_mistral.sandbox.state.transcriptions import Transcriptions
from alumio_mistral.sandbox.state.workflows import Workflows
from alumio_mistral.sandbox.validation import Schemas, json_type, key_of
from alumio_mistral.sandbox.wire import (
    JSON_TYPE,
    HttpError,
    Reply,
    Request,
    error_body,
    json_reply,
    missing,
    status_line,
    wrong_type,
)

StartResponse = Callable[..., Any]
#: the sandbox's own routes live outside the Mistral namespace
CONTROL_PREFIX = "/_sandbox/"
_ROUTE_CACHE_SIZE = 4096


class DroppedConnection(ClientDisconnected):
    """Raised to make waitress close the connection without writing an answer."""


class SandboxApp:
    """One emulated Mistral API with its own state (not shared between apps)."""

    def __init__(self, *, seed: int = 0, faults: Faults | str | None = None, spec_path: str | Path | None = None,
                 catalog: Catalog | None = None, clock: Clock | None = None,
                 batch_step: float | None = None, validate: bool = True) -> None:
        self.catalog = catalog or Catalog.load(spec_path)
        #: seconds per batch job step; ``None`` moves jobs one step per poll
        self.batch_step = batch_step
        self.seed = seed
        self.faults = faults if isinstance(faults, Faults) else Faults.parse(faults)
        self.clock = clock or Clock()
        #: the derived schemas (shipped, or extended by ``spec_path``), read on first use
        self.spec_path = spec_path
        #: False: only the JSON types of the body and its top-level fields are checked
        self.validate = validate
        # a newer spec is read now, so that a broken one stops the start, not a later request
        self._schemas: Schemas | None = Schemas.for_spec(spec_path) if spec_path else None
        self._builder: Builder | None = None
        self._streams = {(e.method, e.path): e for e in self.catalog if e.streams}
        self._routes: dict[tuple[str, str], tuple[Entity, dict[str, str]] | None] = {}
        self._counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()
        self._examples: dict[str, Any] = {}
        self._body_kinds: dict[str, set[str]] = {}
        self.reset()

    def reset(self) -> None:
        """Forget all state and counters (base models come back)."""
        self.ctx = Context(self.seed, self.clock)
        self.files = Files(self.ctx)
        agents = Agents(self.ctx)
        families = [Models(self.ctx), self.files, Batches(self.ctx, self.files, self.answer, self.batch_step), agents,
                    Conversations(self.ctx, agents), Libraries(self.ctx), Transcriptions(self.ctx, self.files),
                    Workflows(self.ctx), Registry(self.ctx, "prompts", "Prompt", ("title", "description")),
                    Registry(self.ctx, "skills", "Skill"), FineTuningJobs(self.ctx)]
        self.handlers: dict[str, Handler] = {name: self._compute(name) for name in compute.BY_ENTITY}
        for family in families:
            self.handlers.update(family.handlers())
        self.tracker = Tracker()
        self.cohere = CohereEmulator()
        with self._counts_lock:
            self._counts.clear()

    def counts(self) -> dict[str, int]:
        """Requests received: per ``"METHOD /route/template"``, per entity name, per ``"status NNN"``
        (``"dropped"`` for connections closed without an answer)."""
        with self._counts_lock:
            return dict(self._counts)

    # -- WSGI ---------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request = Request.from_environ(environ)
        if request.path.startswith(CONTROL_PREFIX):
            reply = self._control(request)
        elif request.path == TRACK_PATH and request.method == "POST":
            reply = self._beside(request, "reconify.track", self.tracker.track)
        elif request.path in COHERE_PATHS and request.method == "POST":
            reply = self._beside(request, COHERE_PATHS[request.path], self.cohere.handle)
        else:
            reply = self._serve(request)
        body = reply.body
        if isinstance(body, bytes):
            start_response(status_line(reply.status), [*reply.headers, ("Content-Length", str(len(body)))])
            return [body]
        start_response(status_line(reply.status), reply.headers)
        return body

    def _control(self, request: Request) -> Reply:
        if request.path == CONTROL_PREFIX + "requests" and request.method == "GET":
            return json_reply(200, self.counts())
        if request.path == CONTROL_PREFIX + "reconify" and request.method == "GET":
            return json_reply(200, self.tracker.received())
        if request.path == CONTROL_PREFIX + "reset" and request.method == "POST":
            self.reset()
            return json_reply(200, {"reset": True})
        message = f"No sandbox control route {request.method} {request.path}"
        return json_reply(404, error_body(message, "not_found_error"))

    def _route(self, method: str, path: str) -> tuple[Entity, dict[str, str]] | None:
        key = (method, path)
        if key not in self._routes:
            if len(self._routes) >= _ROUTE_CACHE_SIZE:
                self._routes.clear()
            self._routes[key] = self.catalog.match(method, path)
        return self._routes[key]

    def _count(self, *keys: str) -> None:
        with self._counts_lock:
            for key in keys:
                self._counts[key] += 1

    def _serve(self, request: Request) -> Reply:
        found = self._route(request.method, request.path)
        if found is None:
            reply = json_reply(404, error_body(f"No route {request.method} {request.path}", "not_found_error"))
            self._count(f"status {reply.status}")
            return reply
        entity, params = found
        request.path_params = params
        decision = self.faults.decide(request.path, entity.name, self.clock, self.seed) if self.faults else None
        try:
            entity = self._variant(entity, request)
            reply = self._faulted(decision) or self._authorized(entity, request) or self._dispatch(entity, request)
        except HttpError as error:
            reply = error.reply()
        if reply.status >= 400:
            reply = self._documented_error(entity, reply)
        if decision is not None:
            reply = _damage(reply, decision)
        if decision is not None and decision.drop:
            # processed, but the client never hears of it: what retry-safety tests need
            self._count(f"{entity.method} {entity.path}", entity.name, "dropped")
            raise DroppedConnection(request.path)
        self._count(f"{entity.method} {entity.path}", entity.name, f"status {reply.status}")
        return reply

    def _beside(self, request: Request, name: str, handle: Callable[[Request], Reply]) -> Reply:
        """A route served beside the Mistral API (Reconify's /track, the Cohere emulator),
        with the same fault injection and counters."""
        decision = self.faults.decide(request.path, name, self.clock, self.seed) if self.faults else None
        reply = self._faulted(decision) or handle(request)
        if decision is not None:
            reply = _damage(reply, decision)
        if decision is not None and decision.drop:
            self._count(f"POST {request.path}", name, "dropped")
            raise DroppedConnection(request.path)
        self._count(f"POST {request.path}", name, f"status {reply.status}")
        return reply

    def _variant(self, entity: Entity, request: Request) -> Entity:
        """The stream variant of ``entity`` when the body asks to stream (they share a path)."""
        stream = self._streams.get((entity.method, entity.path))
        if stream is None or stream is entity:
            return entity
        body = request.json() if entity.body == "json" else None
        return stream if _asks_stream(request, body) else entity

    def _faulted(self, decision: Decision | None) -> Reply | None:
        if decision is None:
            return None
        if decision.delay:
            self.clock.sleep(decision.delay)
        if decision.retry_after is not None:
            message = f"Rate limit exceeded (sandbox fault); retry after {decision.retry_after} s"
            return json_reply(429, error_body(message, "rate_limited"), [("Retry-After", str(decision.retry_after))])
        if decision.status is not None:
            return json_reply(decision.status, error_body(f"Injected sandbox fault {decision.status}", "server_error"))
        return None

    def _authorized(self, entity: Entity, request: Request) -> Reply | None:
        """401 in Mistral's error shape when the credentials the entity needs are missing
        (a signed file URL needs none: 403 once it has expired or when its signature is wrong)."""
        if entity.name == "files.download" and "signature" in request.query:
            problem = self.files.signature_problem(request.path_params["file_id"], request.query)
            return json_reply(403, error_body(f"Forbidden: {problem}", "forbidden")) if problem else None
        if entity.auth in ("bearer", "admin_bearer"):
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return None
            need = "an 'Authorization: Bearer <api key>' header"
        elif entity.auth == "api_key_header":
            if request.headers.get("x-api-key"):
                return None
            need = "an 'x-api-key' header"
        else:
            return None
        return json_reply(401, error_body(f"Unauthorized: {entity.name} needs {need}", "authentication_error"))

    def _dispatch(self, entity: Entity, request: Request) -> Reply:
        if entity.retired:
            message = f"{entity.name} ({entity.method} {entity.path}) was retired by Mistral and answers 410 Gone"
            return json_reply(410, error_body(message, "gone"))
        self._check(entity, request)
        handler = self.handlers.get(entity.name)
        if handler is None:
            return self._generic(entity, request)
        result = handler(request)
        if isinstance(result, Reply):
            return result
        status = entity.success_codes[0] if entity.success_codes else 200
        response = self.schemas.operation(entity).get("response", {})
        if status != 204 and "schema" in response:
            result = self.builder.complete(key_of(entity), response["schema"], result)
        return json_reply(status, result)

    @property
    def schemas(self) -> Schemas:
        """The derived schemas this sandbox validates with and builds answers from (read on first use)."""
        if self._schemas is None:
            self._schemas = Schemas.for_spec(self.spec_path) if self.spec_path else Schemas.shipped()
        return self._schemas

    @property
    def builder(self) -> Builder:
        if self._builder is None:
            self._builder = Builder(self.schemas, self.seed)
        return self._builder

    def _check(self, entity: Entity, request: Request) -> None:
        """422 for parameters or a body the operation does not take, before any handler (or state) sees them.

        A JSON body of the wrong kind (a list or a string where an object is due), or with top-level
        fields of the wrong JSON type, is refused even with validation off: no handler has to guard
        against it, and nothing of the wrong type is ever stored.
        """
        body = request.json() if entity.body == "json" else None
        if body is None and entity.body == "json" and entity.body_required:
            raise missing("body")
        if body is not None:
            kinds = self._body_kinds.get(entity.name)
            if kinds is None:
                facts = self.schemas.operation(entity).get("body")
                kinds = self._body_kinds[entity.name] = self.schemas.kinds(facts["schema"]) if facts else set()
            found = json_type(body)
            if kinds and found not in kinds and not (found == "integer" and "number" in kinds):
                raise wrong_type(["body"], kinds)
        if not self.validate:
            problems = self.schemas.field_type_problems(entity, body) if body is not None else []
            if problems:
                raise HttpError(422, {"detail": problems})
            return
        problems = self.schemas.param_problems(entity, request)
        if body is not None or entity.body == "multipart":
            problems += self.schemas.body_problems(entity, request)
        if problems:
            raise HttpError(422, {"detail": problems})

    def _documented_error(self, entity: Entity, reply: Reply) -> Reply:
        """An error answer in the shape the operation documents for its status, when that differs
        from the usual ones (some API families wrap errors as ``{"detail": {"message": ...}}``)."""
        validator = self.schemas.validator(entity, str(reply.status))
        if validator is None or not isinstance(reply.body, bytes):
            return reply
        body = json.loads(reply.body)
        if validator.is_valid(body):
            return reply
        schema = self.schemas.operation(entity)["errors"][str(reply.status)]
        shaped = self.builder.error(schema, _message_of(body), f"{key_of(entity)} {reply.status}")
        if not validator.is_valid(shaped):
            return reply
        headers = [(name, value) for name, value in reply.headers if name.lower() != "content-type"]
        return json_reply(reply.status, shaped, headers)

    def _generic(self, entity: Entity, request: Request) -> Reply:
        """The answer of an operation without a handler, built from its response schema once.

        A stream answers one event built from its event schema; a binary answer is bytes of its
        documented media type.
        """
        response = self.schemas.operation(entity).get("response") or {}
        status = int(response.get("status") or (entity.success_codes[0] if entity.success_codes else 200))
        media = response.get("media")
        events = response.get("schema") if entity.streams else None
        if events is None and "events" in response and _asks_stream(request, request.json() if entity.body == "json" else None):
            events = response["events"]
        key = key_of(entity)
        if events is not None:
            if key + " events" not in self._examples:
                self._examples[key + " events"] = [self.builder.stream_event(events, key)]
            return sse.stream(self._examples[key + " events"])
        if status == 204 or media is None:
            return Reply(status, b"")
        if media != JSON_TYPE:
            data = wav_bytes() if media.startswith("audio/") else b"sandbox"
            return Reply(status, data, [("Content-Type", media)])
        if key not in self._examples:
            self._examples[key] = json_reply(status, self.builder.build(response.get("schema"), key)).body
        return Reply(status, self._examples[key], [("Content-Type", JSON_TYPE)])

    def _compute(self, name: str) -> Handler:
        """A handler for a stateless endpoint (SSE chunks then ``[DONE]`` when the body asks to stream)."""
        function = compute.BY_ENTITY[name]

        def handle(request: Request) -> Any:
            body = request.json()
            body = body if isinstance(body, dict) else {}
            answer = function(body, self.files)
            if body.get("stream") and "choices" in answer:
                events = [(None, chunk) for chunk in compute.stream_chunks(answer)]
                return sse.stream([*events, (None, sse.DONE)])
            return answer

        return handle

    def answer(self, endpoint: str, body: dict[str, Any]) -> tuple[int, Any]:
        """What ``POST endpoint`` answers for ``body`` (used by batch jobs; no faults, not counted)."""
        found = self._route("POST", endpoint)
        if found is None:
            return 404, error_body(f"No route POST {endpoint}", "not_found_error")
        request = Request("POST", endpoint, {}, {"content-type": "application/json"},
                          json.dumps({k: v for k, v in body.items() if k != "stream"}).encode(), path_params=found[1])
        try:
            reply = self._dispatch(found[0], request)
        except HttpError as error:
            reply = error.reply()
        data = reply.body if isinstance(reply.body, bytes) else b"".join(reply.body)
        return reply.status, json.loads(data) if data else None


def _asks_stream(request: Request, body: Any) -> bool:
    """Stream variants share their path: the body's ``stream`` flag (JSON or form) decides."""
    if isinstance(body, dict):
        return bool(body.get("stream"))
    if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return request.form()[0].get("stream", "").lower() in ("true", "1")
    return False


def _message_of(body: Any) -> str:
    """The text of one of the sandbox's error bodies (Mistral's error shape or a 422 ``detail`` list)."""
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    if isinstance(body, dict) and isinstance(body.get("detail"), list):
        return "; ".join(f"{'.'.join(map(str, item.get('loc', [])))}: {item.get('msg', '')}" for item in body["detail"])
    return json.dumps(body)


def _damage(reply: Reply, decision: Decision) -> Reply:
    """Apply the body faults: half a body (still well-framed HTTP) or a body that is not JSON."""
    if not (decision.truncate or decision.garbage) or reply.status >= 400:
        return reply
    data = reply.body if isinstance(reply.body, bytes) else b"".join(reply.body)
    headers = [(k, v) for k, v in reply.headers if k.lower() != "content-type"]
    if decision.garbage:
        return Reply(reply.status, b"<html><body>sandbox: upstream error</body></html>",
                     [("Content-Type", "text/html"), *headers])
    return Reply(reply.status, data[: len(data) // 2], reply.headers)
