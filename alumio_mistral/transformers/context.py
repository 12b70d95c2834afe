"""What transformers may reach outside the entity: storages, HTTP clients and the catalog."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Protocol


class StorageAccess(Protocol):
    """Key/value storages that outlive a run (the task store implements this)."""

    def get(self, namespace: str, key: str) -> Any | None: ...

    def set(self, namespace: str, key: str, value: Any) -> None: ...


@dataclass(frozen=True)
class TransformContext:
    """Handed to steps at compile time; None members mean "not available here" (checked at use)."""

    storages: StorageAccess | None = None
    clients: Mapping[str, Any] | None = None
    catalog: Any | None = None
    #: send nothing (``run --dry-run``): a step that would call a service records the request
    #: it would have sent instead
    dry_run: bool = False


class MemoryStorages:
    """Storages held in a dict: for previews (nothing reaches the project's store) and tests."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], Any] = {}

    def get(self, namespace: str, key: str) -> Any | None:
        return self.values.get((namespace, key))

    def set(self, namespace: str, key: str, value: Any) -> None:
        self.values[(namespace, key)] = value
