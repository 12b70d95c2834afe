"""The kinds of publisher: each ``type``'s settings and how to build it.

The project schema validates a publisher (and a ``then`` target) with the schema registered for
its ``type``; the runtime builds it with the registered factory. Request publishers take their
client from the process's shared clients; file targets write under the project folder.
"""

from __future__ import annotations

from typing import Any, Mapping

from marshmallow import ValidationError, fields, validates_schema
from marshmallow.validate import Length, OneOf

from alumio_mistral.http import Client
from alumio_mistral.kinds import Registry, Wiring
from alumio_mistral.publishers.actions import NAMES as ACTION_NAMES, build_action, parameter_problems
from alumio_mistral.publishers.base import Publisher
from alumio_mistral.publishers.files import (
    DEFAULT_BATCH_SIZE,
    DURABILITIES,
    CsvPublisher,
    JsonArrayPublisher,
    JsonlPublisher,
)
from alumio_mistral.publishers.http import HttpPublisher
from alumio_mistral.publishers.mistral import MistralPublisher
from alumio_mistral.publishers.request import PublishError
from alumio_mistral.publishers.stdout import StdoutPublisher
from alumio_mistral.schema import HttpMethod, NamedMapping, StrictSchema, TypedSchema, bounded_int

PUBLISHERS: Registry[Publisher] = Registry("publisher", PublishError)


class FilePartSchema(StrictSchema):
    """One multipart file: from a local path, base64 content, or a pattern into the entity."""

    path = fields.String()
    content_base64 = fields.String()
    pattern = fields.String()
    filename = fields.String()

    @validates_schema
    def _one_source(self, data: Mapping[str, Any], **kwargs: Any) -> None:
        given = [key for key in ("path", "content_base64", "pattern") if key in data]
        if len(given) != 1:
            raise ValidationError(f"give exactly one of path, content_base64, pattern (got {len(given)})")


class RequestSchema(TypedSchema):
    """What the mistral and http publishers share: a client, placeholders and a body pattern."""

    client = fields.String(load_default="mistral")
    method = HttpMethod()
    uri = fields.String()
    path_params = fields.Dict(keys=fields.String())
    query = fields.Dict(keys=fields.String())
    body = fields.String()
    stream = fields.Boolean()
    safe_to_repeat = fields.Boolean()


class MistralPublisherSchema(RequestSchema):
    entity = fields.String()
    files = NamedMapping(fields.Nested(FilePartSchema))
    #: folders (relative to the project) beyond the project folder that files may come from
    allow_paths = fields.List(fields.String())

    @validates_schema
    def _entity_or_uri(self, data: Mapping[str, Any], **kwargs: Any) -> None:
        # a method beside an entity is a check of it (config/crossref.py), not a route of its own
        if "entity" in data and "uri" in data:
            raise ValidationError("give an entity (and optionally its method), or a method and a uri, not both")
        if "entity" not in data and not ("method" in data and "uri" in data):
            raise ValidationError({"entity": ["missing; give an entity, or a method and a uri"]})


class ActionPublisherSchema(RequestSchema):
    """``publisher: {action: NAME, with: {...}}`` (see :mod:`alumio_mistral.publishers.actions`):
    ``api-request`` takes an entity, or a method and a uri, like a mistral publisher."""

    action = fields.String(required=True, validate=OneOf(ACTION_NAMES))
    parameters = fields.Dict(keys=fields.String(), data_key="with", attribute="with")
    entity = fields.String()
    files = NamedMapping(fields.Nested(FilePartSchema))
    allow_paths = fields.List(fields.String())

    @validates_schema
    def _request_of_its_own(self, data: Mapping[str, Any], **kwargs: Any) -> None:
        if data["action"] == "api-request":
            MistralPublisherSchema._entity_or_uri(self, data)  # type: ignore[arg-type]
        elif "entity" in data or "uri" in data:
            raise ValidationError(f"the {data['action']} action chooses its operation; give `with:` parameters instead")
        problems = parameter_problems(data["action"], data.get("with") or {})
        if problems:
            raise ValidationError(problems, "with")

class HttpPublisherSchema(RequestSchema):
    method = HttpMethod(load_default="POST")
    uri = fields.String(required=True)


class FileTargetSchema(TypedSchema):
    path = fields.String(required=True, validate=Length(min=1))


class AppendTargetSchema(FileTargetSchema):
    """JSONL and CSV targets: when their records are fsynced (see publishers/files.py)."""

    durability = fields.String(validate=OneOf(DURABILITIES))  # default: batch
    batch_size = bounded_int(1, 100_000)  # default: DEFAULT_BATCH_SIZE records


class CsvPublisherSchema(AppendTargetSchema):
    columns = fields.List(fields.String(), data_key="fields", attribute="fields", validate=Length(min=1))
    delimiter = fields.String(validate=Length(equal=1))


def _client(spec: Mapping[str, Any], wiring: Wiring, where: str) -> Client:
    name = spec.get("client", "mistral")
    if name not in wiring.clients:
        raise PublishError(f"{where}.client: no client named {name!r}")
    return wiring.clients[name]


def _request(spec: Mapping[str, Any], wiring: Wiring, where: str) -> Publisher:
    """A catalog entity through a Mistral client, or a method and a uri (an uncatalogued route)."""
    client = _client(spec, wiring, where)
    if spec.get("type", "mistral") == "mistral" and spec.get("entity"):
        return MistralPublisher(spec, client=client, operation=wiring.catalog.get(spec["entity"]),
                                root=wiring.root, where=where)
    if not spec.get("uri"):
        raise PublishError(f"{where}: give an entity, or a method and a uri")
    return HttpPublisher(spec, client=client, root=wiring.root, where=where)


def _file_path(spec: Mapping[str, Any], wiring: Wiring, where: str) -> Any:
    if not spec.get("path"):
        raise PublishError(f"{where}.path: a {spec['type']} publisher needs a path")
    return (wiring.root / spec["path"]).resolve()


PUBLISHERS.register("mistral", MistralPublisherSchema, _request)
PUBLISHERS.register("http", HttpPublisherSchema, _request)
PUBLISHERS.register("jsonl", AppendTargetSchema, lambda spec, wiring, where: JsonlPublisher(
    _file_path(spec, wiring, where), spec.get("durability", "batch"), spec.get("batch_size", DEFAULT_BATCH_SIZE)))
PUBLISHERS.register("json", FileTargetSchema, lambda spec, wiring, where: JsonArrayPublisher(
    _file_path(spec, wiring, where)))
PUBLISHERS.register("csv", CsvPublisherSchema, lambda spec, wiring, where: CsvPublisher(
    _file_path(spec, wiring, where), spec.get("fields"), spec.get("delimiter", ","),
    spec.get("durability", "batch"), spec.get("batch_size", DEFAULT_BATCH_SIZE)))
PUBLISHERS.register("stdout", TypedSchema, lambda spec, wiring, where: StdoutPublisher())
PUBLISHERS.register("action", ActionPublisherSchema, lambda spec, wiring, where: build_action(
    spec, client=_client(spec, wiring, where), catalog=wiring.catalog, root=wiring.root, where=where,
    fallback=lambda: _request({**spec, "type": "mistral"}, wiring, where)))
