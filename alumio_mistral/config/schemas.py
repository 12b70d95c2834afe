"""The shape of a project file, as marshmallow schema declarations.

Only shape lives here (keys, types, allowed values, which keys go together); references between
objects (a route's incoming, a subscriber's client, an entity in the catalog) are checked after
loading by :mod:`alumio_mistral.config.crossref`. Client timeouts and retry numbers have no
defaults here on purpose: ``ClientConfig`` owns them, so they are defined once.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from marshmallow import ValidationError, fields, post_load, pre_load, validates_schema
from marshmallow.validate import Length, OneOf, Regexp

from alumio_mistral.schema import NamedMapping, StrictSchema, TypedNested, bounded_float, bounded_int
from alumio_mistral.batch import limits as batch_limits
from alumio_mistral.http.prototypes import (
    AUTH_KINDS,
    BREAKER_COOL_DOWN_MAX,
    BREAKER_FAILURES_MAX,
    PROTOTYPES,
    credential_problem,
)
from alumio_mistral.publishers.kinds import PUBLISHERS
from alumio_mistral.reconify.event import OPERATION_KINDS
from alumio_mistral.schedule import Schedule, ScheduleError
from alumio_mistral.secrets import register_secret
from alumio_mistral.subscribers.kinds import SUBSCRIBERS
from alumio_mistral.tasks.store import DEDUP_POLICIES, DEFAULT_LEASE_SECONDS, LEASE_BOUNDS
from alumio_mistral.tasks.urls import is_postgres_url

FAILURE_POLICIES = ("retry", "fail")
OUTGOING_MODES = ("direct", "batch")

#: upper bounds of the numeric settings: past them a value is a mistake (or an attack), not a choice
MAX_TIMEOUT = 3600.0
MAX_ATTEMPTS = 100
MAX_CONCURRENCY = 64
MAX_RATE_LIMIT = 10_000.0


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


class ScheduleField(fields.Field):
    """``schedule:``: a duration, a cron expression, or ``{every: 30s}`` / ``{cron: ..., timezone: ...}``."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Schedule:
        try:
            return Schedule.from_config(value)
        except ScheduleError as error:
            raise ValidationError(str(error)) from None


def _pipeline() -> fields.List:
    """A list of transformer steps; the transformers package checks the steps themselves."""
    return fields.List(fields.Raw(), load_default=list)


def _definition(value: Any) -> None:
    """An inline transformer definition: a list of steps, or a mapping with ``steps``."""
    if not isinstance(value, (list, dict)):
        raise ValidationError("expected a list of steps, or a mapping with 'steps'")


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


def _mistral_if_entity(value: Mapping[str, Any]) -> str | None:
    """A subscriber or publisher that names an entity is a Mistral one unless it says otherwise;
    a publisher that names an ``action`` is that action's."""
    if "action" in value:
        return "action"
    return "mistral" if "entity" in value else None


class IncomingSchema(DescribedSchema):
    subscriber = TypedNested(SUBSCRIBERS.schemas, infer=_mistral_if_entity, required=True)
    entity_transformers = _pipeline()
    identity = fields.String(load_default="id", validate=Length(min=1))
    dedup = fields.String(load_default="always", validate=OneOf(DEDUP_POLICIES))
    schedule = ScheduleField(load_default=None, allow_none=True)


class FailureSchema(StrictSchema):
    policy = fields.String(load_default="retry", validate=OneOf(FAILURE_POLICIES))
    attempts = bounded_int(1, MAX_ATTEMPTS, load_default=3)
    backoff = bounded_float(0, MAX_TIMEOUT, load_default=1.0)


#: where an outgoing's ``log:`` sends interactions, and the settings each sink needs
LOG_SINKS: dict[str, tuple[str, ...]] = {"reconify": ("endpoint", "app_key", "api_key"), "jsonl": ("path",),
                                         "http": ("url",)}


class LogSchema(StrictSchema):
    """``log:`` of an outgoing: every chat or generate call kept as an interaction (Reconify's shape)."""

    to = fields.String(required=True, validate=OneOf(tuple(LOG_SINKS)))
    endpoint = fields.String()
    app_key = fields.String()
    api_key = fields.String()
    path = fields.String()
    url = fields.String()
    headers = fields.Dict(keys=fields.String(), values=fields.String())
    user = fields.Dict(keys=fields.String(validate=OneOf(
        ("userId", "isAuthenticated", "firstName", "lastName", "email", "phone", "gender"))))
    session = fields.String()
    session_timeout = bounded_int(1, 24 * 60, load_default=10)
    timeout = bounded_float(0, 300, above_low=True, load_default=10.0)

    @validates_schema
    def _sink_settings(self, data: Mapping[str, Any], **kwargs: Any) -> None:
        missing = [name for name in LOG_SINKS.get(data.get("to", ""), ()) if not data.get(name)]
        if missing:
            raise ValidationError({name: [f"required when to is {data['to']}"] for name in missing})

    @post_load
    def _mask_keys(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """The keys are secrets from the moment they are read, whatever variable they came from."""
        for value in (data.get("app_key"), data.get("api_key"), *(data.get("headers") or {}).values()):
            register_secret(value)
        return data


class BatchSchema(StrictSchema):
    """``batch:`` of an outgoing in ``mode: batch``: how tasks are grouped into Batch API jobs."""

    #: requests per job (a larger claim is split)
    max_requests = bounded_int(1, batch_limits.MAX_FILE_REQUESTS, load_default=batch_limits.MAX_INLINE_REQUESTS)
    #: bytes of one job's JSONL input; a single line over it fails its task alone
    max_bytes = bounded_int(1, batch_limits.MAX_FILE_BYTES, load_default=100 * 1024 * 1024)
    #: seconds one run polls its jobs; still running then, they are resumed by the next run
    max_wait = bounded_float(0, batch_limits.MAX_WAIT, load_default=3600.0)
    #: seconds between two polls of a job
    poll_interval = bounded_float(0, MAX_TIMEOUT, load_default=10.0)
    timeout_hours = bounded_int(*batch_limits.TIMEOUT_HOURS, load_default=batch_limits.DEFAULT_TIMEOUT_HOURS)
    metadata = fields.Dict(
        keys=fields.String(validate=Length(1, batch_limits.METADATA_KEY_LENGTH)),
        values=fields.String(validate=Length(1, batch_limits.METADATA_VALUE_LENGTH)), load_default=dict,
    )
    #: jobs of fewer requests than this go inline (no file upload)
    inline_below = bounded_int(0, batch_limits.MAX_INLINE_REQUESTS + 1, load_default=0)


class OutgoingSchema(DescribedSchema):
    publisher = TypedNested(PUBLISHERS.schemas, infer=_mistral_if_entity, required=True)
    entity_transformers = _pipeline()
    response_transformers = _pipeline()
    then = TypedNested(PUBLISHERS.schemas, infer=_mistral_if_entity, load_default=None, allow_none=True)
    failure = fields.Nested(FailureSchema, load_default=lambda: FailureSchema().load({}))
    concurrency = bounded_int(1, MAX_CONCURRENCY, load_default=1)
    #: ``direct``: one request per task; ``batch``: Batch API jobs (a batchable operation only)
    mode = fields.String(load_default="direct", validate=OneOf(OUTGOING_MODES))
    batch = fields.Nested(BatchSchema, load_default=lambda: BatchSchema().load({}))
    schedule = ScheduleField(load_default=None, allow_none=True)
    log = fields.Nested(LogSchema, load_default=None, allow_none=True)

    @validates_schema
    def _loggable(self, data: Mapping[str, Any], **kwargs: Any) -> None:
        """``log:`` only where the call is an interaction Reconify knows (a chat or a generate)."""
        entity = (data.get("publisher") or {}).get("entity")
        if data.get("log") and entity not in OPERATION_KINDS:
            raise ValidationError({"log": [f"{entity or 'this publisher'} is not a chat or generate operation;"
                                           f" log: takes {', '.join(sorted(OPERATION_KINDS))}"]})


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
