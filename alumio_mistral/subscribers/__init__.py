"""Subscribers: where an incoming configuration reads its entities from.

:func:`build_subscriber` turns a validated subscriber dict into an object whose ``records()``
yields :class:`Record` one at a time; the kinds and their settings are in :data:`SUBSCRIBERS`.
"""

from __future__ import annotations

from typing import Any, Mapping

from alumio_mistral.kinds import Wiring
from alumio_mistral.subscribers.base import Record, Subscriber
from alumio_mistral.subscribers.files import CsvFile, JsonFile, JsonlFile, Stdin
from alumio_mistral.subscribers.kinds import SUBSCRIBERS
from alumio_mistral.subscribers.mistral import MistralSubscriber, SubscriberError

__all__ = [
    "CsvFile",
    "JsonFile",
    "JsonlFile",
    "MistralSubscriber",
    "Record",
    "SUBSCRIBERS",
    "Stdin",
    "Subscriber",
    "SubscriberError",
    "build_subscriber",
]

def build_subscriber(
    spec: Mapping[str, Any], project: Any, clients: Mapping[str, Any], *, where: str = "subscriber"
) -> Subscriber:
    """The subscriber a validated subscriber dict describes (a Mistral one when it names no
    type); ``clients`` are the process's shared clients, file paths are relative to the project."""
    return SUBSCRIBERS.build({"type": "mistral", **spec}, Wiring(project.root, project.catalog, clients), where)
