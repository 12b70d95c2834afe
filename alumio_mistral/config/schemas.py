"""The shape of a project file, as marshmallow schema declarations.

Only shape lives here (keys, types, allowed values, which keys go together); references between
objects (a route's incoming, a subscriber's client, an entity in the catalog) are checked after
loading by :mod:`alumio_mistral.config.crossref`. Client timeouts and retry numbers have no
defaults here on purpose: ``ClientConfig`` owns them, so they are defined once.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from marshmallow import ValidationError, fields, pre_load, validates_schema
from marshmallow.validate import Length, OneOf, Regexp

from alumio_mistral.schema import NamedMapping, StrictSchema, TypedNested, bounded_float, bounded_int
from alumio_mistral.http.prototypes import (
    AUTH_KINDS,
    BREAKER_COOL_DOWN_MAX,
    BREAKER_FAILURES_MAX,
    PROTOTYPES,
    credential_problem,
)
from alumio_mistral.tasks.store import DEFAULT_LEASE_SECONDS, LEASE_BOUNDS
from alumio_mistral.tasks.urls import is_postgres_url

DEDUP_POLICIES = ("always", "new", "changed")
FAILURE_POLICIES = ("retry", "fail")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")

#: upper bounds of the numeric settings: past them a value is a mistake (or an attack), not a choice
MAX_TIMEOUT = 3600.0
MAX_ATTEMPTS = 100
MAX_CONCURRENCY = 64
MAX_RATE_LIMIT = 10_000.0
MAX_PAGE_SIZE = 10_000
MAX_COUNT = 1_000_000_000


def _base_uri(value: str) -> None:
    if value != "sandbox" and not value.startswith(("http://", "https://")):
        raise ValidationError("expected an http:// or https:// URI, or the word 'sandbox'")


def _credential(*, spaces_allowed: bool = False) -> Callable[[str], None]:
    """A check that a credential can be sent: no line break, control character or character
    outside Latin-1, no space at the ends unless the value is encoded first (basic auth). The
    message names the field, never the value."""

    def check(value: str) -> None:
        problem = credential_problem(value, spaces_allowed=spaces_allowed)
        if problem:
            raise ValidationError(problem)

    return check


def _pipeline() -> fields.List:
    """A list of transformer steps; the transformers package checks the steps themselves."""
    return fields.List(fields.Raw(), load_default=list)


def _definition(value: Any) -> None:
    """An inline transformer definition: a list of steps, or a mapping with ``steps``."""
    if not isinstance(value, (list, dict)):
        raise ValidationError("expected a list of steps, or a mapping with 'steps'")


class _HttpMethod(fields.String):
    """An HTTP method, written in any case and kept upper-case."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        method = super()._deserialize(value, attr, data, **kwargs).upper()
        if method not in HTTP_METHODS:
            raise ValidationError(f"expected one of: {', '.join(HTTP_METHODS)}")
        return method


class DescribedSchema(StrictSchema):
    """Every named object can carry a note for people and be switched off without deleting it."""

    description = fields.String(load_default="")
    disabled = fields.Boolean(load_default=False)


class ClientSchema(DescribedSchema):
    prototype = fields.String(load_default="mistral", validate=OneOf(PROTOTYPES))
    base_uri = fields.String(validate=_base_uri)
    api_key = fields.String(validate=_credential())
    admin_api_key = fields.String(validate=_credential())
    auth = fields.String(validate=OneOf(AUTH_KINDS))
    auth_header = fields.String()
    username = fields.String(validate=_credential(spaces_allowed=True))
    password = fields.String(validate=_credential(spaces_allowed=True))
    headers = fields.Dict(keys=fields.String(), values=fields.String(validate=_credential()))
    connect_timeout = bounded_float(0, MAX_TIMEOUT, above_low=True)
    read_timeout = bounded_float(0, MAX_TIMEOUT, above_low=True)
    max_attempts = bounded_int(1, MAX_ATTEMPTS)
    backoff_factor = bounded_float(0, MAX_TIMEOUT)
    backoff_max = bounded_float(0, MAX_TIMEOUT)
    max_retry_wait = bounded_float(0, MAX_TIMEOUT)
    rate_limit = bounded_float(0, MAX_RATE_LIMIT, above_low=True, allow_none=True)
    breaker_failures = bounded_int(0, BREAKER_FAILURES_MAX)
    breaker_cool_down = bounded_float(0, BREAKER_COOL_DOWN_MAX, above_low=True)
    follow_cross_host_redirects = fields.Boolean()

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _auth_needs(self, data: Mapping[str, Any], original_data: Mapping[str, Any], **kwargs: Any) -> None:
        """Each auth scheme needs its own credentials; a mistral client always uses bearer.

        Reads the keys as written, so a value that failed its own check is not also "missing".
        """
        given = original_data
        if not isinstance(given, Mapping):
            return  # the schema itself reports "expected a mapping"
        errors: dict[str, str] = {}
        generic = given.get("prototype") == "generic"
        auth = given.get("auth")
        if not generic and auth not in (None, "bearer"):
            errors["auth"] = "a mistral client always uses bearer auth"
        if generic and "base_uri" not in given:
            errors["base_uri"] = "missing; a generic client needs a base URI"
        if generic and auth in ("bearer", "header") and "api_key" not in given:
            errors["api_key"] = f"missing; auth {auth!r} needs an api_key"
        if auth == "basic" and "username" not in given:
            errors["username"] = "missing; auth 'basic' needs a username"
        if errors:
            raise ValidationError(errors)


class _TypedSchema(StrictSchema):
    type = fields.String(required=True)


class MistralSubscriberSchema(_TypedSchema):
    client = fields.String(load_default="mistral")
    entity = fields.String(required=True)
    params = fields.Dict(keys=fields.String(), load_default=dict)
    page_size = bounded_int(1, MAX_PAGE_SIZE)
    max_pages = bounded_int(1, MAX_COUNT)
    limit = bounded_int(1, MAX_COUNT)
    pattern = fields.String()


class _FileSchema(_TypedSchema):
    path = fields.String(required=True, validate=Length(min=1))


def _text_encoding(value: str) -> None:
    try:
        b"\n".decode(value, "ignore")  # LookupError: unknown, or not a text codec (base64)
    except (LookupError, ValueError):  # ValueError: a NUL in the name
        raise ValidationError(f"unknown text encoding {value!r} (e.g. utf-8, utf-8-sig, utf-16, latin-1)") from None


class _FileSourceSchema(_FileSchema):
    """A file subscriber: its bytes are decoded with ``encoding`` (default UTF-8)."""

    encoding = fields.String(validate=_text_encoding)


class JsonSubscriberSchema(_FileSourceSchema):
    pattern = fields.String()


class CsvSubscriberSchema(_FileSourceSchema):
    delimiter = fields.String(load_default=",", validate=Length(equal=1))


class StdinSubscriberSchema(_TypedSchema):
    format = fields.String(load_default="jsonl", validate=OneOf(("jsonl", "json")))


SUBSCRIBERS: dict[str, type[StrictSchema]] = {
    "mistral": MistralSubscriberSchema,
    "json": JsonSubscriberSchema,
    "jsonl": _FileSourceSchema,
    "csv": CsvSubscriberSchema,
    "stdin": StdinSubscriberSchema,
}


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


class _RequestSchema(_TypedSchema):
    """What the mistral and http publishers share: a client, placeholders and a body pattern."""

    client = fields.String(load_default="mistral")
    method = _HttpMethod()
    uri = fields.String()
    path_params = fields.Dict(keys=fields.String())
    query = fields.Dict(keys=fields.String())
    body = fields.String()
    stream = fields.Boolean()
    safe_to_repeat = fields.Boolean()


class MistralPublisherSchema(_RequestSchema):
    entity = fields.String()
    files = NamedMapping(fields.Nested(FilePartSchema))
    #: folders (relative to the project) beyond the project folder that files may come from
    allow_paths = fields.List(fields.String())

    @validates_schema
    def _entity_or_uri(self, data: Mapping[str, Any], **kwargs: Any) -> None:
        if "entity" in data and ("method" in data or "uri" in data):
            raise ValidationError("give an entity, or a method and a uri, not both")
        if "entity" not in data and not ("method" in data and "uri" in data):
            raise ValidationError({"entity": ["missing; give an entity, or a method and a uri"]})


class HttpPublisherSchema(_RequestSchema):
    method = _HttpMethod(load_default="POST")
    uri = fields.String(required=True)


class CsvPublisherSchema(_FileSchema):
    columns = fields.List(fields.String(), data_key="fields", attribute="fields", validate=Length(min=1))
    delimiter = fields.String(validate=Length(equal=1))


PUBLISHERS: dict[str, type[StrictSchema]] = {
    "mistral": MistralPublisherSchema,
    "http": HttpPublisherSchema,
    "jsonl": _FileSchema,
    "json": _FileSchema,
    "csv": CsvPublisherSchema,
    "stdout": _TypedSchema,
}


def _mistral_if_entity(value: Mapping[str, Any]) -> str | None:
    """A subscriber or publisher that names an entity is a Mistral one unless it says otherwise."""
    return "mistral" if "entity" in value else None


class IncomingSchema(DescribedSchema):
    subscriber = TypedNested(SUBSCRIBERS, infer=_mistral_if_entity, required=True)
    entity_transformers = _pipeline()
    identity = fields.String(load_default="id", validate=Length(min=1))
    dedup = fields.String(load_default="always", validate=OneOf(DEDUP_POLICIES))


class FailureSchema(StrictSchema):
    policy = fields.String(load_default="retry", validate=OneOf(FAILURE_POLICIES))
    attempts = bounded_int(1, MAX_ATTEMPTS, load_default=3)
    backoff = bounded_float(0, MAX_TIMEOUT, load_default=1.0)


class OutgoingSchema(DescribedSchema):
    publisher = TypedNested(PUBLISHERS, infer=_mistral_if_entity, required=True)
    entity_transformers = _pipeline()
    response_transformers = _pipeline()
    then = TypedNested(PUBLISHERS, infer=_mistral_if_entity, load_default=None, allow_none=True)
    failure = fields.Nested(FailureSchema, load_default=lambda: FailureSchema().load({}))
    concurrency = bounded_int(1, MAX_CONCURRENCY, load_default=1)


class RouteSchema(DescribedSchema):
    incoming = fields.String(required=True)
    outgoing = fields.List(fields.String(), required=True, validate=Length(min=1))

    @pre_load
    def _one_outgoing(self, data: Any, **kwargs: Any) -> Any:
        """``outgoing: name`` is short for ``outgoing: [name]``."""
        if isinstance(data, dict) and isinstance(data.get("outgoing"), str):
            return {**data, "outgoing": [data["outgoing"]]}
        return data


def _store_url(value: str) -> None:
    if not is_postgres_url(value):
        raise ValidationError("expected a postgresql:// URL, e.g. postgresql://user@host/database")


class StoreSchema(StrictSchema):
    #: an SQLite file (default .alumio/tasks.db)
    path = fields.String(load_default=None, validate=Length(min=1))
    #: a PostgreSQL database that workers on many machines share (the password from ${VAR}, PG*
    #: variables or .pgpass); ``schema``: a schema of that database of this project's own
    url = fields.String(load_default=None, validate=_store_url)
    schema = fields.String(load_default=None, validate=Regexp(
        r"[a-z_][a-z0-9_]{0,54}\Z", error="expected lower-case letters, digits and _ (at most 55)"))
    #: seconds a claimed task stays leased without renewal (a crashed worker's tasks resume after it)
    lease = bounded_float(*LEASE_BOUNDS, load_default=DEFAULT_LEASE_SECONDS)

    @validates_schema
    def _one_place(self, data: Mapping[str, Any], **_: Any) -> None:
        if data.get("url") and data.get("path"):
            raise ValidationError("a store is a path (SQLite) or a url (PostgreSQL), not both", "url")
        if data.get("schema") and not data.get("url"):
            raise ValidationError("schema is a PostgreSQL setting: give url too", "schema")


class ProjectSchema(StrictSchema):
    description = fields.String(load_default="")
    clients = NamedMapping(fields.Nested(ClientSchema))
    incoming = NamedMapping(fields.Nested(IncomingSchema))
    outgoing = NamedMapping(fields.Nested(OutgoingSchema))
    routes = fields.List(fields.Nested(RouteSchema), load_default=list)
    transformers = NamedMapping(fields.Raw(validate=_definition))
    store = fields.Nested(StoreSchema, load_default=None)
    #: a newer Mistral spec file (relative to the project) extending the committed catalog
    spec = fields.String(load_default=None)
