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

Events of our own outgoings (``chat_completion.created``, ``model.deleted`` by our own
``models.delete``... see :data:`EMITTED`) are written to the task store's outbox in the
transaction that finishes their task (:func:`emitted_events`); a trigger incoming on such an
event takes them from there (:class:`OutboxEvents`), and acknowledges them only once they are
stored as tasks. A polling trigger that also has an emitted side (``model.deleted``,
``file.deleted``) reads both.

The first poll of a trigger records what exists and fires nothing (``baseline: skip``, the
default); ``baseline: fire`` fires for everything there is (a backfill). The marks live in the
project's storages; the incoming calls :meth:`TriggerSubscriber.stored` once the events are
stored as tasks, and only then is the mark saved, so a crash in between reads again and de-dup
(events have stable ids) keeps doubles out.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol

from alumio_mistral.catalog import Catalog
from alumio_mistral.subscribers.base import Record
from alumio_mistral.subscribers.mistral import MistralSubscriber, SubscriberError
from alumio_mistral.tasks.store import worker_id

#: the final statuses ``batch_job.failed`` and ``fine_tuning_job.failed`` fire for by default
FAILED_STATUSES = ("FAILED", "TIMEOUT_EXCEEDED", "CANCELLED")
FINE_TUNING_FAILED_STATUSES = ("FAILED", "FAILED_VALIDATION", "CANCELLED")
#: the storage key of a trigger's state inside its incoming's namespace
STATE_KEY = "state"


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

    def __init__(self, name: str, statuses: Iterable[str], keep: Callable[[Mapping[str, Any]], bool] | None = None) -> None:
        self.name = name
        self.statuses = tuple(statuses)
        #: which jobs count (``ocr.completed`` watches jobs on the OCR endpoint only)
        self.keep = keep

    def detect(self, items: list[dict[str, Any]], state: Any) -> tuple[list[dict[str, Any]], Any]:
        seen = set(state or ())
        events = []
        #: only the keys of jobs still listed: the state stays as small as the list
        current = []
        for item in items:
            key = f"{item['id']}:{item.get('status')}"
            if item.get("status") not in self.statuses or (self.keep is not None and not self.keep(item)):
                continue
            current.append(key)
            if key not in seen:
                moment = item.get("completed_at") or item.get("modified_at") or item.get("created_at")
                events.append(event(self.name, {**item, "final_status": item.get("status")}, moment, key))
        return events, sorted(current)


#: operation -> the event our own outgoings emit when a call to it succeeds
EMITTED: dict[str, str] = {
    "chat.complete": "chat_completion.created",
    "fim.complete": "fim_completion.created",
    "embeddings.create": "embeddings.generated",
    "agents.complete": "agent_completion.created",
    "conversations.start": "agent_completion.created",
    "conversations.append": "agent_completion.created",
    "conversations.restart": "agent_completion.created",
    "conversations.start_stream": "agent_completion.created",
    "conversations.append_stream": "agent_completion.created",
    "conversations.restart_stream": "agent_completion.created",
    "ocr.process": "ocr.completed",
    "models.delete": "model.deleted",
    "files.delete": "file.deleted",
}
#: the outbox topic of an emitted event
TOPIC_PREFIX = "trigger:"
#: outbox messages taken per poll (what is left waits for the next poll)
OUTBOX_BATCH = 1000


def emits(project: Any, operation: str | None) -> str | None:
    """``operation`` when a call to it fires an event some trigger incoming of ``project`` takes
    (no listener: no outbox message, which nothing would ever take)."""
    name = EMITTED.get(operation or "")
    listening = any(config.subscriber.get("type") == "trigger" and config.subscriber.get("event") == name
                    for config in project.incoming.values())
    return operation if name is not None and listening else None


def emitted_events(operation: str | None, calls: Iterable[tuple[Any, Any]]) -> tuple[tuple[str, Any], ...]:
    """Outbox entries for the successful ``(request, answer)`` calls of ``operation``: the
    event, with the request and the answer (the resource; a delete answers with the id it deleted)."""
    name = EMITTED.get(operation or "")
    if name is None:
        return ()
    now = datetime.now(timezone.utc).timestamp()
    entries = []
    for request, answer in calls:
        resource = dict(answer) if isinstance(answer, Mapping) else {"value": answer}
        # an answer without an id (a stream assembled by hand?) still gets an id of its own
        key = resource.get("id") or f"{now:.6f}"
        entries.append((TOPIC_PREFIX + name, {**event(name, resource, now, key), "request": request, "answer": answer}))
    return tuple(entries)


class Outbox(Protocol):
    def outbox_claim(self, topics: Iterable[str] | None, limit: int, worker: str) -> list[Any]: ...

    def outbox_delivered(self, ids: Iterable[int], worker: str) -> int: ...


class OutboxEvents:
    """The events our own outgoings wrote to the outbox for one trigger, claimed under a lease
    and marked delivered only after they are stored (a crash in between: the lease lapses and
    the next poll claims them again; de-dup on the event id keeps them single)."""

    def __init__(self, event_name: str, worker: str) -> None:
        self.topic = TOPIC_PREFIX + event_name
        self.worker = worker
        self.claimed: list[int] = []

    def events(self, outbox: Outbox) -> list[dict[str, Any]]:
        messages = outbox.outbox_claim([self.topic], OUTBOX_BATCH, self.worker)
        self.claimed = [message.id for message in messages]
        return [message.payload for message in messages]

    def acknowledge(self, outbox: Outbox) -> None:
        if self.claimed:
            outbox.outbox_delivered(self.claimed, self.worker)
        self.claimed = []


def _fine_tuned(model: Mapping[str, Any]) -> bool:
    return model.get("type") != "base" and model.get("owned_by") != "mistralai"


def _on_ocr(job: Mapping[str, Any]) -> bool:
    return str(job.get("endpoint", "")).rstrip("/") == "/v1/ocr"


#: trigger name -> (list operation, the strategy for the settings, the filters the operation takes)
TRIGGERS: dict[str, tuple[str, Any, tuple[str, ...]]] = {
    "file.uploaded": ("files.list", lambda spec: NewItems("file.uploaded"), ("purpose",)),
    "file.deleted": ("files.list", lambda spec: Disappeared("file.deleted"), ("purpose",)),
    "model.deleted": ("models.list", lambda spec: Disappeared("model.deleted", _fine_tuned), ()),
    "batch_job.created": ("batch_jobs.list", lambda spec: NewItems("batch_job.created"), ("model", "metadata")),
    "batch_job.succeeded": ("batch_jobs.list", lambda spec: Transitions(
        "batch_job.succeeded", spec.get("statuses") or ("SUCCESS",)), ("model", "metadata", "status")),
    "batch_job.failed": ("batch_jobs.list", lambda spec: Transitions(
        "batch_job.failed", spec.get("statuses") or FAILED_STATUSES), ("model", "metadata", "status")),
    "ocr.completed": ("batch_jobs.list", lambda spec: Transitions("ocr.completed", ("SUCCESS",), _on_ocr),
                      ("model", "metadata", "status")),
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


class Polling:
    """The polling side of a trigger: one list read whole, then its strategy against the mark."""

    def __init__(self, strategy: Strategy, reader: MistralSubscriber) -> None:
        self.strategy = strategy
        self.reader = reader
        self._filters = {param.name for param in reader.entity.params}

    def detect(self, state: Any) -> tuple[list[dict[str, Any]], Any]:
        if isinstance(self.strategy, NewItems) and state and "created_after" in self._filters:
            # only what is at or after the mark: the request's parameters from the storage
            # (a second early: whether the server's bound is inclusive or not, the mark's second is read)
            self.reader.query["created_after"] = _iso(state["created_at"] - 1)
        # every page first: a page that fails raises here, before any event or mark
        items = [record.entity for record in self.reader.records() if isinstance(record.entity, dict)]
        return self.strategy.detect(items, state)


class TriggerSubscriber:
    """One poll of one trigger: its polled events and those our own outgoings emitted.

    The incoming gives it the store (:meth:`use_storage`) before reading and calls
    :meth:`stored` once every event read is a task: only then do the mark and the outbox move on.
    """

    def __init__(self, event_name: str, polling: Polling | None, outbox: OutboxEvents | None, *,
                 baseline: str = "skip") -> None:
        self.event_name = event_name
        self.polling = polling
        self.outbox = outbox
        self.baseline = baseline
        self._store: Any = None
        self._namespace = ""
        self._new_state: Any = None

    def use_storage(self, store: Any, namespace: str) -> None:
        """The task store (storages and outbox); the mark lives in the incoming's own ``namespace``."""
        self._store, self._namespace = store, namespace

    def stored(self) -> None:
        """Every event read is stored: save the mark, acknowledge the outbox messages."""
        if self.polling is not None and self._new_state is not None:
            self._store.set(self._namespace, STATE_KEY, self._new_state)
        if self.outbox is not None:
            self.outbox.acknowledge(self._store)

    def records(self) -> Iterator[Record]:
        if self._store is None:
            raise SubscriberError(f"trigger {self.event_name}: no store for its marks (run it from an incoming)")
        events: list[dict[str, Any]] = []
        if self.polling is not None:
            state = self._store.get(self._namespace, STATE_KEY)
            events, self._new_state = self.polling.detect(state)
            if state is None and self.baseline == "skip":
                events = []
        if self.outbox is not None:
            events += self.outbox.events(self._store)
        origin = f"trigger {self.event_name}"
        for entity in events:
            yield Record(entity, origin)


#: every trigger name: the polled ones and those only our own outgoings emit
NAMES = tuple(dict.fromkeys([*TRIGGERS, *EMITTED.values()]))


def build_trigger(spec: Mapping[str, Any], client: Any, catalog: Catalog, where: str) -> TriggerSubscriber:
    name = spec["event"]
    if name not in NAMES:
        raise SubscriberError(f"{where}.event: unknown trigger {name!r} (one of: {', '.join(NAMES)})")
    polling = None
    if name in TRIGGERS:
        operation, make_strategy, filters = TRIGGERS[name]
        strategy = make_strategy(spec)
        query = query_for(operation, spec, filters)
        if isinstance(strategy, Transitions) and "status" in filters:
            query.setdefault("status", list(strategy.statuses))  # only the jobs that can fire are read
        polling = Polling(strategy, MistralSubscriber(client, catalog.get(operation), query,
                                                      page_size=spec.get("page_size")))
    outbox = OutboxEvents(name, worker_id(f"trigger-{name}")) if name in EMITTED.values() else None
    return TriggerSubscriber(name, polling, outbox, baseline=spec.get("baseline", "skip"))
