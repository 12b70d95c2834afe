"""The kinds of subscriber: each ``type``'s settings and how to build it.

The project schema validates a subscriber with the schema registered for its ``type``; the
runtime builds it with the registered factory. File paths are relative to the project folder.
"""

from __future__ import annotations

from typing import Any, Mapping

from marshmallow import ValidationError, fields, validates_schema
from marshmallow.validate import Length, OneOf, Regexp

from alumio_mistral.kinds import Registry, Wiring
from alumio_mistral.schema import MAX_COUNT, MAX_PAGE_SIZE, HttpMethod, TypedSchema, bounded_int
from alumio_mistral.durations import DurationError, parse_duration
from alumio_mistral.subscribers.base import Subscriber
from alumio_mistral.subscribers.batch_job import BatchJobSubscriber
from alumio_mistral.subscribers.files import DEFAULT_ENCODING, CsvFile, JsonFile, JsonlFile, Stdin
from alumio_mistral.subscribers.mistral import MistralSubscriber, SubscriberError
from alumio_mistral.subscribers.params import ParamsFromPipeline
from alumio_mistral.subscribers.triggers import NAMES as TRIGGERS, build_trigger
from alumio_mistral.transformers.library import Library
from alumio_mistral.webhooks import DEFAULT_MAX_BYTES, DEFAULT_SIGNATURE_HEADER

SUBSCRIBERS: Registry[Subscriber] = Registry("subscriber", SubscriberError)


class MistralSubscriberSchema(TypedSchema):
    client = fields.String(load_default="mistral")
    entity = fields.String(required=True)
    #: checked against the entity's operation (config/crossref.py): "Delete Model" is a DELETE
    method = HttpMethod()
    params = fields.Dict(keys=fields.String(), load_default=dict)
    page_size = bounded_int(1, MAX_PAGE_SIZE)
    max_pages = bounded_int(1, MAX_COUNT)
    limit = bounded_int(1, MAX_COUNT)
    pattern = fields.String()
    #: a pipeline over {params, now, now_seconds} with the storages at hand; its ``params`` are sent
    params_transformers = fields.List(fields.Dict(), validate=Length(min=1))


def _text_encoding(value: str) -> None:
    try:
        b"\n".decode(value, "ignore")  # LookupError: unknown, or not a text codec (base64)
    except (LookupError, ValueError):  # ValueError: a NUL in the name
        raise ValidationError(f"unknown text encoding {value!r} (e.g. utf-8, utf-8-sig, utf-16, latin-1)") from None


class FileSourceSchema(TypedSchema):
    """A file subscriber: its bytes are decoded with ``encoding`` (default UTF-8)."""

    path = fields.String(required=True, validate=Length(min=1))
    encoding = fields.String(validate=_text_encoding)


class JsonSubscriberSchema(FileSourceSchema):
    pattern = fields.String()


class CsvSubscriberSchema(FileSourceSchema):
    delimiter = fields.String(load_default=",", validate=Length(equal=1))


class StdinSubscriberSchema(TypedSchema):
    format = fields.String(load_default="jsonl", validate=OneOf(("jsonl", "json")))


#: the largest body a webhook may accept: events, not bulk files (those are file incomings)
MAX_WEBHOOK_BYTES = 64 * 1024 * 1024


class WebhookSubscriberSchema(TypedSchema):
    """A webhook incoming: ``serve`` listens on ``path``; a post must carry the HMAC-SHA256
    ``signature_header`` of ``secret`` or the bearer ``token`` (one of them is required)."""

    #: under /hooks/, so a webhook never shadows /healthz, /metrics or the pages of ``serve``
    path = fields.String(required=True, validate=Regexp(
        r"/hooks/[A-Za-z0-9._~/-]+\Z", error="expected a path under /hooks/, like /hooks/tickets"))
    secret = fields.String(validate=Length(min=16, error="a shared secret has at least {min} characters"))
    token = fields.String(validate=Length(min=16, error="a bearer token has at least {min} characters"))
    signature_header = fields.String(load_default=DEFAULT_SIGNATURE_HEADER,
                                     validate=Regexp(r"[A-Za-z0-9-]+\Z", error="expected an HTTP header name"))
    max_bytes = bounded_int(1, MAX_WEBHOOK_BYTES, load_default=DEFAULT_MAX_BYTES)

    @validates_schema
    def _a_proof(self, data: Mapping[str, Any], **_: Any) -> None:
        if not data.get("secret") and not data.get("token"):
            raise ValidationError("a webhook needs a `secret` (signed posts) or a `token` (bearer), or both", "secret")


def _webhook(spec: Mapping[str, Any], wiring: Wiring, where: str) -> Subscriber:
    """Nothing to read: a webhook's entities are posted to ``serve``, which stores them itself."""
    raise SubscriberError(f"{where}: a webhook incoming is fed by `serve` (posts to {spec['path']}), not read")


class TriggerSubscriberSchema(TypedSchema):
    """A trigger: one poll of a Mistral event (see :mod:`alumio_mistral.subscribers.triggers`)."""

    event = fields.String(required=True, validate=OneOf(tuple(TRIGGERS)))
    client = fields.String(load_default="mistral")
    baseline = fields.String(load_default="skip", validate=OneOf(("skip", "fire")))
    model = fields.String()
    purpose = fields.String()
    metadata = fields.Dict(keys=fields.String())
    statuses = fields.List(fields.String(), validate=Length(min=1))
    params = fields.Dict(keys=fields.String(), load_default=dict)
    page_size = bounded_int(1, MAX_PAGE_SIZE)


def _duration(value: Any) -> None:
    try:
        parse_duration(value)
    except DurationError as error:
        raise ValidationError(str(error)) from None


class BatchJobSubscriberSchema(TypedSchema):
    """One batch job polled to a final status, then its result lines (``results: true``)."""

    job_id = fields.String(required=True, validate=Length(min=1))
    client = fields.String(load_default="mistral")
    until = fields.String(load_default="terminal", validate=OneOf(("terminal",)))
    every = fields.Raw(load_default="10s", validate=_duration)
    deadline = fields.Raw(load_default="24h", validate=_duration)
    results = fields.Boolean(load_default=False)


def _client(spec: Mapping[str, Any], wiring: Wiring, where: str) -> Any:
    client_name = spec.get("client", "mistral")
    if client_name not in wiring.clients:
        raise SubscriberError(
            f"{where}.client: unknown client {client_name!r} (known: {', '.join(sorted(wiring.clients)) or 'none'})"
        )
    return wiring.clients[client_name]


def _mistral(spec: Mapping[str, Any], wiring: Wiring, where: str) -> Subscriber:
    def reader(params: Mapping[str, Any] | None) -> MistralSubscriber:
        return MistralSubscriber(
            _client(spec, wiring, where),
            wiring.catalog.get(spec["entity"]),
            params,
            page_size=spec.get("page_size"),
            max_pages=spec.get("max_pages"),
            limit=spec.get("limit"),
            pattern=spec.get("pattern"),
        )

    if spec.get("params_transformers"):
        return ParamsFromPipeline(spec["params_transformers"], spec.get("params") or {},
                                  Library.for_project(wiring.root), f"{where}.params_transformers", reader)
    return reader(spec.get("params"))


def _encoding(spec: Mapping[str, Any]) -> str:
    return spec.get("encoding") or DEFAULT_ENCODING


SUBSCRIBERS.register("mistral", MistralSubscriberSchema, _mistral)
SUBSCRIBERS.register("json", JsonSubscriberSchema, lambda spec, wiring, where: JsonFile(
    wiring.root / spec["path"], spec.get("pattern"), _encoding(spec)))
SUBSCRIBERS.register("jsonl", FileSourceSchema, lambda spec, wiring, where: JsonlFile(
    wiring.root / spec["path"], _encoding(spec)))
SUBSCRIBERS.register("csv", CsvSubscriberSchema, lambda spec, wiring, where: CsvFile(
    wiring.root / spec["path"], spec.get("delimiter") or ",", _encoding(spec)))
SUBSCRIBERS.register("stdin", StdinSubscriberSchema, lambda spec, wiring, where: Stdin(spec.get("format", "jsonl")))
SUBSCRIBERS.register("webhook", WebhookSubscriberSchema, _webhook)
SUBSCRIBERS.register("trigger", TriggerSubscriberSchema, lambda spec, wiring, where: build_trigger(
    spec, _client(spec, wiring, where), wiring.catalog, where))
SUBSCRIBERS.register("batch-job", BatchJobSubscriberSchema, lambda spec, wiring, where: BatchJobSubscriber(
    _client(spec, wiring, where), spec["job_id"], every=parse_duration(spec["every"]),
    deadline=parse_duration(spec["deadline"]), results=spec["results"]))
