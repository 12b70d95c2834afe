"""Did an uncertain send land? Looking on the server for the effect of a request in ``review``.

A request that is not safe to repeat (an upload, a create, a delete) and whose answer never
came (a crash, a dropped connection, a 500) leaves its task in ``review``. Where the API lets
us look, ``tasks reconcile`` finds out: before the request left, the outgoing recorded the facts
to look for (:func:`facts`, kept in the task's review record as ``look``), and the lookup of its
operation reads the server. One small class per way of looking, chosen by :func:`lookup_for`;
an operation without one stays in ``review`` for a person.

Not finding the effect proves nothing while the server may still be working on the request:
our client gives up on an answer (a read timeout) long before a slow server gives up on the
work. So "absent" is only said once the send is older than a settle window
(:func:`settle_seconds`); until then the verdict is "unknown", with when to look again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, Mapping, Protocol

from alumio_mistral.catalog import Catalog
from alumio_mistral.http import Client, ClientConfig
from alumio_mistral.http.errors import NotFoundError
from alumio_mistral.publishers import PlannedCall
from alumio_mistral.secrets import MASK
from alumio_mistral.subscribers.mistral import MistralSubscriber

#: verdicts: the send took effect / it certainly did not / no way to tell
LANDED, ABSENT, UNKNOWN = "landed", "absent", "unknown"
#: how far a server's clock may run behind ours when matching "created since the send"
CLOCK_SLACK = timedelta(minutes=10)
#: list pages read at most while looking (a lookup is a check, not a crawl)
MAX_PAGES = 20
#: how long a server may go on working on a request after our client stopped waiting for it
SERVER_GRACE = 60.0


@dataclass(frozen=True)
class Finding:
    """What looking found: a verdict, a sentence for people, and the object when it landed."""

    verdict: str
    note: str
    found: Any = None


class Lookup(Protocol):
    """How to find the effect of one operation's request on the server."""

    def facts(self, planned: PlannedCall) -> dict[str, Any] | None:
        """What to record before sending (``None``: nothing to look for with)."""

    def look(self, client: Client, facts: Mapping[str, Any], since: datetime | None) -> Finding:
        """Read the server and decide."""


class FileByNameAndSize:
    """``files.upload``: a file of that name, size in bytes and purpose, created since the send."""

    def facts(self, planned: PlannedCall) -> dict[str, Any] | None:
        files = planned.request.files or {}
        if not files:
            return None
        filename, content = next(iter(files.values()))
        return {"filename": filename, "bytes": len(content), "purpose": (planned.request.data or {}).get("purpose")}

    def look(self, client: Client, facts: Mapping[str, Any], since: datetime | None) -> Finding:
        query = {"search": facts["filename"], **({"purpose": facts["purpose"]} if facts.get("purpose") else {})}
        matches = [item for item in _listed(client, "files.list", query)
                   if item.get("filename") == facts["filename"] and item.get("bytes") == facts["bytes"]
                   and _created_since(item, since)]
        return _one(matches, f"file {facts['filename']!r} of {facts['bytes']} bytes")


class BatchJobByFields:
    """``batch_jobs.create``: a job with the same metadata, model, endpoint and input files,
    created since the send (metadata is what tells two jobs on the same files apart)."""

    FIELDS = ("metadata", "model", "agent_id", "endpoint", "input_files")

    def facts(self, planned: PlannedCall) -> dict[str, Any] | None:
        body = planned.request.json if isinstance(planned.request.json, dict) else {}
        chosen = {name: body[name] for name in self.FIELDS if body.get(name) is not None}
        return chosen if chosen.get("metadata") or chosen.get("input_files") else None

    def look(self, client: Client, facts: Mapping[str, Any], since: datetime | None) -> Finding:
        query: dict[str, Any] = {"model": facts["model"]} if facts.get("model") else {}
        if since is not None:
            query["created_after"] = since.isoformat()
        wanted = {name: facts[name] for name in self.FIELDS if name in facts}
        matches = [job for job in _listed(client, "batch_jobs.list", query)
                   if all(job.get(name) == value for name, value in wanted.items()) and _created_since(job, since)]
        return _one(matches, f"batch job with {json.dumps(wanted, sort_keys=True)}")


@dataclass(frozen=True)
class GoneAfterDelete:
    """``X.delete``: ask ``X.get`` for the object; gone means the delete landed (or was not
    needed), still there means it did not and may be sent again."""

    getter: str

    def facts(self, planned: PlannedCall) -> dict[str, Any] | None:
        return {"path_params": dict(planned.request.path_params)}

    def look(self, client: Client, facts: Mapping[str, Any], since: datetime | None) -> Finding:
        params = facts["path_params"]
        try:
            client.call(self.getter, path_params=params)
        except NotFoundError:
            return Finding(LANDED, f"{self.getter} answers 404: the object is gone", {"deleted": True, **params})
        return Finding(ABSENT, f"{self.getter} still finds the object: the delete did not land")


#: operations with a dedicated way of looking; deletes are found by :func:`lookup_for`
LOOKUPS: dict[str, Lookup] = {
    "files.upload": FileByNameAndSize(),
    "batch_jobs.create": BatchJobByFields(),
}


def lookup_for(operation: str, catalog: Catalog) -> Lookup | None:
    """The way to look for ``operation``'s effect: the table, else for ``X.delete`` the
    ``X.get`` or ``X.retrieve`` of the same object; ``None`` when there is no way."""
    if operation in LOOKUPS:
        return LOOKUPS[operation]
    if not operation.endswith(".delete") or operation not in catalog:
        return None
    params = {param.name for param in catalog.get(operation).path_params}
    base = operation[: -len("delete")]
    for getter in (base + "get", base + "retrieve"):
        if getter in catalog and {param.name for param in catalog.get(getter).path_params} == params:
            return GoneAfterDelete(getter)
    return None


def facts(operation: str, lookup: Lookup, planned: PlannedCall, client: str) -> dict[str, Any] | None:
    """What to record before sending ``planned`` (through ``client``) so that :func:`look`
    can find it later with ``lookup`` (:func:`lookup_for` ``operation``)."""
    found = lookup.facts(planned)
    if found is None:
        return None
    return {"operation": operation, "client": client,
            "sent_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), **found}


def settle_seconds(config: ClientConfig) -> float:
    """How long after a send "not found" may mean "never landed", for a client so configured:
    its longest try at one request (each attempt's timeouts and the waits between them, within
    ``max_retry_wait``) and :data:`SERVER_GRACE` for the server to finish what it was handed."""
    one_attempt = config.connect_timeout + config.read_timeout
    trying = config.max_attempts * one_attempt + (config.max_attempts - 1) * config.backoff_max
    return min(trying, config.max_retry_wait + one_attempt) + SERVER_GRACE


def look(recorded: Mapping[str, Any] | None, clients: Mapping[str, Client], catalog: Catalog, *,
         settle: float | None = None, now: datetime | None = None) -> Finding:
    """Decide from the facts a review record keeps (its ``look``) whether the send landed.

    ``settle``: seconds after the send before "not found" is taken for "absent" (by default
    :func:`settle_seconds` of the send's client); ``now`` is for tests.
    """
    if not recorded:
        return Finding(UNKNOWN, "nothing was recorded to look for this request with (its operation has no lookup)")
    if MASK in json.dumps(recorded):
        # a masked fact matches nothing on the server: "absent" would be a guess that sends twice
        return Finding(UNKNOWN, "the facts to look with held a secret, masked in the task's record; check by hand")
    operation = str(recorded.get("operation"))
    lookup = lookup_for(operation, catalog)
    if lookup is None:
        return Finding(UNKNOWN, f"{operation}: no way to look for this operation's effect")
    client = str(recorded.get("client", "mistral"))
    if client not in clients:
        return Finding(UNKNOWN, f"no client named {client!r} in the project any more")
    sent_at = recorded.get("sent_at")
    sent = datetime.fromisoformat(sent_at) if isinstance(sent_at, str) else None
    finding = lookup.look(clients[client], recorded, None if sent is None else sent - CLOCK_SLACK)
    if finding.verdict != ABSENT:
        return finding
    if sent is None:
        return Finding(UNKNOWN, "not found, but the time of the send was not recorded: the server may still be"
                                " working on it; check by hand")
    window = settle_seconds(clients[client].config) if settle is None else settle
    settled = sent + timedelta(seconds=window)
    if (now or datetime.now(timezone.utc)) < settled:
        return Finding(UNKNOWN, f"not found yet, but the request left at {sent_at} and the server may still be"
                                f" working on it; look again after {settled.isoformat(timespec='seconds')}")
    return finding


def _listed(client: Client, operation: str, query: Mapping[str, Any]) -> Iterator[Any]:
    subscriber = MistralSubscriber(client, client.entity(operation), dict(query), max_pages=MAX_PAGES)
    for record in subscriber.records():
        yield record.entity


def _created_since(item: Mapping[str, Any], since: datetime | None) -> bool:
    """Was ``item`` created after ``since``? Epoch seconds or ISO text; unknown counts as yes."""
    created = item.get("created_at")
    if since is None or created is None:
        return True
    if isinstance(created, (int, float)):
        return created >= since.timestamp()
    try:
        moment = datetime.fromisoformat(str(created).replace("Z", "+00:00"))
    except ValueError:
        return True
    return moment >= since


def _one(matches: list[Any], what: str) -> Finding:
    if len(matches) == 1:
        return Finding(LANDED, f"found the {what}", matches[0])
    if not matches:
        return Finding(ABSENT, f"no {what} on the server: the send did not land")
    ids = ", ".join(str(match.get("id")) for match in matches[:5])
    return Finding(UNKNOWN, f"{len(matches)} candidates for the {what} ({ids}); a person must choose")
