"""What the connector knows about one Mistral API operation.

These are derived facts (never prose) produced by :mod:`alumio_mistral.catalog.generate`
from an OpenAPI spec file and committed as ``catalog.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

ParamLocation = Literal["path", "query", "header"]
#: how a query value is put on the wire: as is, an array as repeated keys, or JSON-encoded
ParamStyle = Literal["plain", "repeat", "json"]
BodyKind = Literal["json", "multipart", "none"]
AuthScheme = Literal["bearer", "admin_bearer", "api_key_header", "none"]


@dataclass(frozen=True)
class Param:
    name: str
    location: ParamLocation
    required: bool = False
    style: ParamStyle = "plain"


@dataclass(frozen=True)
class Pagination:
    """How a list operation pages, chosen by data (see ``alumio_mistral.paginators``).

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
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def path_params(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if p.location == "path")

    @property
    def query_params(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if p.location == "query")
