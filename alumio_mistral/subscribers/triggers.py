"""Trigger subscribers: "something happened on Mistral" as event entities, by polling.

Each trigger name picks one small detection strategy (:data:`TRIGGERS`):

- :class:`NewItems` (``file.uploaded``, ``batch_job.created``, ``fine_tuning_job.created``):
  a high-water mark of the newest ``created_at`` plus the ids seen at that very second, because
  timestamps are coarse: two items of one second both fire, none fires twice.
- :class:`Disappeared` (``file.deleted``, ``model.deleted``): a snapshot diff of ids, reading
  every page first; a page that fails raises before any event, so a partial read never looks
  like a deletion.
- :class:`Transitions` (``batch_job.succeeded``/``.failed``, ``fine_tuning_job.succeeded``/
  ``.failed``): each ``id:status`` seen in a final status fires once.

The first poll of a trigger records what exists and fires nothing (``baseline: skip``, the
default); ``baseline: fire`` fires for everything there is (a backfill). The marks live in the
project's storages; the subscriber only proposes them (:meth:`TriggerSubscriber.pending_marks`)
and the incoming writes them once the events are stored as tasks, so a crash in between reads
again and de-dup (events have stable ids) keeps doubles out.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator, Mapping, Protocol

from alumio_mistral.catalog import Catalog
from alumio_mistral.subscribers.base import Record
from alumio_mistral.subscribers.mistral import MistralSubscriber, SubscriberError

#: the final statuses ``batch_job.failed`` and ``fine_tuning_job.failed`` fire for by default
FAILED_STATUSES = ("FAILED", "TIMEOUT_EXCEEDED", "CANCELLED")
FINE_TUNING_FAILED_STATUSES = ("FAILED", "FAILED_VALIDATION", "CANCELLED")
#: the storage key of a trigger's state inside its incoming's namespace
STATE_KEY = "state"


class Storages(Protocol):
    def get(self, namespace: str, key: str) -> Any: ...


def _iso(moment: Any) -> str:
    """An event time as ISO 8601 UTC, from epoch seconds (Mistral's ``created_at``) or text."""
    if isinstance(moment, (int, float)):
        return datetime.fromtimestamp(moment, timezone.utc).isoformat().replace("+00:00", "Z")
    return str(moment) if moment is not None else datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def _seconds(moment: Any) -> float:
    """``created_at`` as epoch seconds, whether the API gave a number or ISO text."""
    if isinstance(moment, (int, float)):
        return float(moment)
    if isinstance(moment, str):
        return datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp()
    return 0.0


def event(name: str, resource: Mapping[str, Any], occurred_at: Any, key: str | None = None) -> dict[str, Any]:
    """The entity of one event; its ``id`` is stable, so de-dup on ``id`` keeps a re-read out."""
    return {"event": name, "occurred_at": _iso(occurred_at), "id": f"{name}:{key or resource.get('id')}",
            "resource": dict(resource)}


class Strategy(Protocol):
    def detect(self, items: list[dict[str, Any]], state: Any) -> tuple[list[dict[str, Any]], Any]:
        """The events in ``items`` given the saved ``state`` (``None`` on the first poll: then
        every item is new), and the state to save once they are stored (never ``None``)."""


class NewItems:
    """Items created after the mark: newest ``created_at`` and the ids seen at that second."""

    def __init__(self, name: str, created: str = "created_at") -> None:
        self.name = name
        self.created = created

    def detect(self, items: list[dict[str, Any]], state: Any) -> tuple[list[dict[str, Any]], Any]:
        newest = float(state["created_at"]) if state else 0.0
        at_newest = set(state["ids"]) if state else set()
        events = []
        for item in sorted(items, key=lambda item: _seconds(item.get(self.created))):
            moment = _seconds(item.get(self.created))
            if state and (moment < newest or (moment == newest and item["id"] in at_newest)):
                continue
            events.append(event(self.name, item, item.get(self.created)))
        mark_time = max([newest, *(_seconds(item.get(self.created)) for item in items)])
        ids = at_newest if mark_time == newest else set()
        ids |= {item["id"] for item in items if _seconds(item.get(self.created)) == mark_time}
        # saved even when nothing exists yet: an empty baseline is a baseline all the same
        return events, {"created_at": mark_time, "ids": sorted(ids)}


class Disappeared:
    """Ids in the last snapshot and not in this one; the event carries the resource last seen."""

    def __init__(self, name: str, keep: Any = None) -> None:
        self.name = name
        #: which items count (``model.deleted`` watches fine-tuned models only)
        self.keep = keep

    def detect(self, items: list[dict[str, Any]], state: Any) -> tuple[list[dict[str, Any]], Any]:
        current = {item["id"]: item for item in items if self.keep is None or self.keep(item)}
        now = datetime.now(timezone.utc).timestamp()
        events = [event(self.name, resource, now) for ident, resource in (state or {}).items() if ident not in current]
        return events, current


class Transitions:
    """Jobs in one of ``statuses``, each ``id:status`` once; the event carries the final status."""

    def __init__(self, name: str, statuses: Iterable[str]) -> None:
        self.name = name
        self.statuses = tuple(statuses)

    def detect(self, items: list[dict[str, Any]], state: Any) -> tuple[list[dict[str, Any]], Any]:
        seen = set(state or ())
        events = []
        #: only the keys of jobs still listed: the state stays as small as the list
        current = []
        for item in items:
            key = f"{item['id']}:{item.get('status')}"
            if item.get("status") not in self.statuses:
                continue
            current.append(key)
            if key not in seen:
                moment = item.get("completed_at") or item.get("modified_at") or item.get("created_at")
                events.append(event(self.name, {**item, "final_status": item.get("status")}, moment, key))
        return events, sorted(current)


def _fine_tuned(model: Mapping[str, Any]) -> bool:
    return model.get("type") != "base" and model.get("owned_by") != "mistralai"


#: trigger name -> (list operation, the strategy for the settings, the filters the operation takes)
TRIGGERS: dict[str, tuple[str, Any, tuple[str, ...]]] = {
    "file.uploaded": ("files.list", lambda spec: NewItems("file.uploaded"), ("purpose",)),
    "file.deleted": ("files.list", lambda spec: Disappeared("file.deleted"), ("purpose",)),
    "model.deleted": ("models.list", lambda spec: Disappeared("model.deleted", _fine_tuned), ()),
    "batch_job.created": ("batch_jobs.list", lambda spec: NewItems("batch_job.created"), ("model", "metadata")),
    "batch_job.succeeded": ("batch_jobs.list", lambda spec: Transitions(
        "batch_job.succeeded", spec.get("statuses") or ("SUCCESS",)), ("model", "metadata")),
    "batch_job.failed": ("batch_jobs.list", lambda spec: Transitions(
        "batch_job.failed", spec.get("statuses") or FAILED_STATUSES), ("model", "metadata")),
    "fine_tuning_job.created": ("fine_tuning.jobs.list", lambda spec: NewItems("fine_tuning_job.created"),
                                ("model",)),
    "fine_tuning_job.succeeded": ("fine_tuning.jobs.list", lambda spec: Transitions(
        "fine_tuning_job.succeeded", spec.get("statuses") or ("SUCCESS",)), ("model",)),
    "fine_tuning_job.failed": ("fine_tuning.jobs.list", lambda spec: Transitions(
        "fine_tuning_job.failed", spec.get("statuses") or FINE_TUNING_FAILED_STATUSES), ("model",)),
}


def query_for(operation: str, spec: Mapping[str, Any], filters: tuple[str, ...]) -> dict[str, Any]:
    """The list request's parameters: the trigger's filters the operation takes, then ``params``."""
    query: dict[str, Any] = {name: spec[name] for name in filters if spec.get(name) is not None}
    if "metadata" in query and not isinstance(query["metadata"], str):
        query["metadata"] = json.dumps(query["metadata"], separators=(",", ":"))
    if operation == "batch_jobs.list":
        query.setdefault("order_by", "-created")
    return {**query, **(spec.get("params") or {})}


class TriggerSubscriber:
    """One poll of one trigger: reads the whole list, then yields its events.

    The incoming gives it its storages (:meth:`use_storage`) before reading and writes
    :meth:`pending_marks` after the events are stored.
    """

    def __init__(self, event_name: str, strategy: Strategy, reader: MistralSubscriber, *, baseline: str = "skip") -> None:
        self.event_name = event_name
        self.strategy = strategy
        self.reader = reader
        self.baseline = baseline
        self._storages: Storages | None = None
        self._namespace = ""
        self._pending: list[tuple[str, str, Any]] = []
        self._filters = {param.name for param in reader.entity.params}

    def use_storage(self, storages: Storages, namespace: str) -> None:
        """Where this trigger's marks live (its incoming's own namespace)."""
        self._storages, self._namespace = storages, namespace

    def pending_marks(self) -> list[tuple[str, str, Any]]:
        """``(namespace, key, value)`` writes to make once the events read are stored."""
        return list(self._pending)

    def records(self) -> Iterator[Record]:
        if self._storages is None:
            raise SubscriberError(f"trigger {self.event_name}: no storage for its marks (run it from an incoming)")
        state = self._storages.get(self._namespace, STATE_KEY)
        if isinstance(self.strategy, NewItems) and state and "created_after" in self._filters:
            # only what is at or after the mark: the request's parameters from the storage
            # (a second early: whether the server's bound is inclusive or not, the mark's second is read)
            self.reader.query["created_after"] = _iso(state["created_at"] - 1)
        # every page first: a page that fails raises here, before any event or mark
        items = [record.entity for record in self.reader.records() if isinstance(record.entity, dict)]
        events, new_state = self.strategy.detect(items, state)
        if state is None and self.baseline == "skip":
            events = []
        self._pending = [(self._namespace, STATE_KEY, new_state)]
        origin = f"trigger {self.event_name} ({self.reader.entity.name})"
        for entity in events:
            yield Record(entity, origin)


def build_trigger(spec: Mapping[str, Any], client: Any, catalog: Catalog, where: str) -> TriggerSubscriber:
    name = spec["event"]
    if name not in TRIGGERS:
        raise SubscriberError(f"{where}.event: unknown trigger {name!r} (one of: {', '.join(TRIGGERS)})")
    operation, strategy, filters = TRIGGERS[name]
    reader = MistralSubscriber(client, catalog.get(operation), query_for(operation, spec, filters),
                               page_size=spec.get("page_size"))
    return TriggerSubscriber(name, strategy(spec), reader, baseline=spec.get("baseline", "skip"))
