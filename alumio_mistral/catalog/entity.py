"""What the connector knows about one Mistral API operation.

These are derived facts (never prose) produced by :mod:`alumio_mistral.catalog.generate`
from an OpenAPI spec file and committed as ``catalog.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

ParamLocation = Literal["path", "query", "header"]
#: how a query value is put on the wire: as is, an array as repeated keys, or JSON-encoded
ParamStyle = Literal["plain", "repeat", "json"]
BodyKind = Literal["json", "multipart", "none"]
AuthScheme = Literal["bearer", "admin_bearer", "api_key_header", "none"]
#: the JSON a successful answer holds: an object, an array, or any JSON value
JsonShape = Literal["object", "array", "any"]


@dataclass(frozen=True)
class Param:
    name: str
    location: ParamLocation
    required: bool = False
    style: ParamStyle = "plain"


@dataclass(frozen=True)
class Pagination:
    """How a list operation pages, chosen by data (see ``alumio_mistral.subscribers.paginators``).

    ``style`` is one of ``page_total``, ``page_array``, ``page_has_more``, ``page_next``,
    ``token``, ``offset``. The other fields name request params and response patterns
    (jsonpath) that the style uses; unused ones are ``None``.
    """

    style: str
    page_param: str | None = None
    size_param: str | None = None
    first_page: int = 0
    token_param: str | None = None
    next_token: str | None = None
    offset_param: str | None = None
    total: str | None = None
    has_more: str | None = None
    next: str | None = None


@dataclass(frozen=True)
class Entity:
    """One operation, addressed by a stable name such as ``files.list``."""

    name: str
    operation_id: str
    method: str
    path: str
    params: tuple[Param, ...] = ()
    #: the spec's ``summary`` ("Delete Model"): the title a platform user picks an operation by
    title: str = ""
    body: BodyKind = "none"
    body_required: bool = False
    streams: bool = False
    success_codes: tuple[int, ...] = (200,)
    auth: AuthScheme = "bearer"
    #: True for reads and stateless compute POSTs: retried on any retryable failure.
    #: False for requests that create or change state: retried only where the server
    #: cannot have processed them (connect failure, 429, 503).
    safe_to_retry: bool = True
    pagination: Pagination | None = None
    #: jsonpath to the list of entities in a response, ``None`` for a single object
    items: str | None = None
    retired: bool = False
    group: str = ""
    request_schema: str | None = None
    response_schema: str | None = None
    #: the JSON a 2xx answer with a body holds; ``None`` when the operation answers no JSON
    #: (nothing, a download, or only an event stream). A body that is not that is broken.
    response_json: JsonShape | None = None
    #: other derived facts: ``fragment`` (the Speakeasy path fragment, e.g. ``"stream"`` for a
    #: stream variant sharing its path with the plain operation) and ``sse_optional`` (True when
    #: the operation answers JSON, or SSE if the request body asks for a stream)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def path_params(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if p.location == "path")

    @property
    def query_params(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if p.location == "query")

    @property
    def paginated(self) -> bool:
        return self.pagination is not None

    def renamed(self, name: str) -> Entity:
        """The same operation under another name (and the group that name implies)."""
        return replace(self, name=name, group=name.rsplit(".", 1)[0])

    def to_dict(self) -> dict[str, Any]:
        """All fields as JSON-ready values (the shape of ``catalog.json`` and ``entities --json``)."""
        return {
            "name": self.name,
            "operation_id": self.operation_id,
            "title": self.title,
            "method": self.method,
            "path": self.path,
            "params": [asdict(param) for param in self.params],
            "body": self.body,
            "body_required": self.body_required,
            "streams": self.streams,
            "success_codes": list(self.success_codes),
            "auth": self.auth,
            "safe_to_retry": self.safe_to_retry,
            "pagination": asdict(self.pagination) if self.pagination else None,
            "items": self.items,
            "retired": self.retired,
            "group": self.group,
            "request_schema": self.request_schema,
            "response_schema": self.response_schema,
            "response_json": self.response_json,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Entity:
        """The inverse of :meth:`to_dict`."""
        fields = dict(data)
        fields["params"] = tuple(Param(**param) for param in fields.get("params", ()))
        fields["success_codes"] = tuple(fields.get("success_codes", (200,)))
        if fields.get("pagination") is not None:
            fields["pagination"] = Pagination(**fields["pagination"])
        fields["extra"] = dict(fields.get("extra") or {})
        return cls(**fields)
