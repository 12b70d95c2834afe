"""Publishers: where an outgoing sends each transformed record.

Every publisher has the same small surface (:class:`Publisher`), so the outgoing worker never
cares which it holds; the kinds and their settings are in :data:`PUBLISHERS`.
"""

from __future__ import annotations

from typing import Any, Mapping

from alumio_mistral.http import Client
from alumio_mistral.kinds import Wiring
from alumio_mistral.publishers.base import Publisher
from alumio_mistral.publishers.kinds import PUBLISHERS
from alumio_mistral.publishers.request import PlannedCall, PublishError

__all__ = ["PUBLISHERS", "PlannedCall", "PublishError", "Publisher", "build_publisher"]


def build_publisher(
    spec: Mapping[str, Any],
    project: Any,
    clients: Mapping[str, Client],
    *,
    where: str = "publisher",
) -> Publisher:
    """The publisher a validated publisher dict describes (a Mistral one when it names no type);
    ``clients`` are the process's shared clients, file paths are relative to the project."""
    wiring = Wiring(project.root, project.catalog, clients)
    return PUBLISHERS.build({"type": "mistral", **spec}, wiring, where)
