"""Subscribers: where an incoming configuration reads its entities from.

:func:`build_subscriber` turns a validated subscriber dict (see the config contract) into an
object whose ``records()`` yields :class:`Record` one at a time.
"""

from __future__ import annotations

from typing import Any

from alumio_mistral.subscribers.base import Record, Subscriber
from alumio_mistral.subscribers.files import DEFAULT_ENCODING, CsvFile, JsonFile, JsonlFile, Stdin
from alumio_mistral.subscribers.mistral import MistralSubscriber, SubscriberError

__all__ = [
    "CsvFile",
    "JsonFile",
    "JsonlFile",
    "MistralSubscriber",
    "Record",
    "Stdin",
    "Subscriber",
    "SubscriberError",
    "build_subscriber",
]

def _mistral(spec: dict[str, Any], project: Any) -> MistralSubscriber:
    from alumio_mistral.http import Client

    client_name = spec.get("client", "mistral")
    config = project.clients.get(client_name)
    if config is None:
        raise SubscriberError(
            f"subscriber: unknown client {client_name!r} (known: {', '.join(sorted(project.clients)) or 'none'})"
        )
    catalog = project.catalog
    entity = catalog.get(spec["entity"])
    client = Client(config, catalog)
    try:
        return MistralSubscriber(
            client,
            entity,
            spec.get("params"),
            page_size=spec.get("page_size"),
            max_pages=spec.get("max_pages"),
            limit=spec.get("limit"),
            pattern=spec.get("pattern"),
            close_client=True,
        )
    except BaseException:
        client.close()
        raise


def build_subscriber(spec: dict[str, Any], project: Any) -> Subscriber:
    """The subscriber for ``spec``; file paths are relative to the project's folder."""
    kind = spec.get("type", "mistral")
    if kind == "mistral":
        return _mistral(spec, project)
    if kind == "stdin":
        return Stdin(spec.get("format", "jsonl"))
    encoding = spec.get("encoding") or DEFAULT_ENCODING
    if kind == "jsonl":
        return JsonlFile(project.root / spec["path"], encoding)
    if kind == "json":
        return JsonFile(project.root / spec["path"], spec.get("pattern"), encoding)
    if kind == "csv":
        return CsvFile(project.root / spec["path"], spec.get("delimiter") or ",", encoding)
    raise SubscriberError(f"subscriber: unknown type {kind!r} (one of: mistral, json, jsonl, csv, stdin)")
