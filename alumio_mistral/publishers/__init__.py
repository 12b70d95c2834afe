"""Publishers: where an outgoing sends each transformed entity.

Every publisher has the same small surface, so the outgoing worker never cares which it holds:
``plan(entity)`` (the request that would be made, for ``--dry-run``), ``publish(entity)`` (do
it; returns the decoded answer or ``None``) and ``safe_to_repeat`` (may a request that was
perhaps sent before a crash be sent again?).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Protocol

from alumio_mistral.catalog import Catalog
from alumio_mistral.http import Client
from alumio_mistral.publishers.files import CsvPublisher, JsonArrayPublisher, JsonlPublisher
from alumio_mistral.publishers.http import HttpPublisher
from alumio_mistral.publishers.mistral import MistralPublisher
from alumio_mistral.publishers.request import PlannedCall, PublishError
from alumio_mistral.publishers.stdout import StdoutPublisher

__all__ = ["PlannedCall", "PublishError", "Publisher", "build_publisher"]


class Publisher(Protocol):
    kind: str
    safe_to_repeat: bool

    def plan(self, entity: Any) -> PlannedCall: ...

    def publish(self, entity: Any) -> Any: ...


def build_publisher(
    spec: Mapping[str, Any],
    project: Any,
    clients: Mapping[str, Client],
    *,
    catalog: Catalog | None = None,
    where: str = "publisher",
) -> Publisher:
    """The publisher a validated publisher dict describes; paths are relative to the project."""
    root: Path = project.root
    kind = spec.get("type", "mistral")
    if kind in {"jsonl", "csv", "json"}:
        if not spec.get("path"):
            raise PublishError(f"{where}.path: a {kind} publisher needs a path")
        path = (root / spec["path"]).resolve()
        if kind == "jsonl":
            return JsonlPublisher(path)
        if kind == "json":
            return JsonArrayPublisher(path)
        return CsvPublisher(path, spec.get("fields"), spec.get("delimiter", ","))
    if kind == "stdout":
        return StdoutPublisher()
    if kind not in {"mistral", "http"}:
        raise PublishError(f"{where}.type: unknown publisher type {kind!r}")
    client_name = spec.get("client", "mistral")
    if client_name not in clients:
        raise PublishError(f"{where}.client: no client named {client_name!r}")
    client = clients[client_name]
    if kind == "mistral" and spec.get("entity"):
        entity = (catalog or project.catalog).get(spec["entity"])
        return MistralPublisher(spec, client=client, entity=entity, root=root, where=where)
    if not spec.get("uri"):
        raise PublishError(f"{where}: give an entity, or a method and a uri")
    return HttpPublisher(spec, client=client, root=root, where=where)
