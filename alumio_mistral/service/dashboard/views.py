"""What each page shows, read from the store and the project: plain values for the templates.

Every read is bounded: counts come from grouped queries on the ``(outgoing, status, id)``
index, the chart from a range of the ``updated_at`` index, task lists from one keyset page.
Whatever could hold a secret (entities, requests, errors, configuration) goes through
:func:`~alumio_mistral.secrets.redact_value` before a template sees it.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping, Sequence

import yaml

from alumio_mistral.config import check_project
from alumio_mistral.schedule import Schedule
from alumio_mistral.secrets import redact, redact_value
from alumio_mistral.service.dashboard.chart import HOURS, chart
from alumio_mistral.tasks.store import PAGE_SIZE, STATUSES, Task, TaskStore

UTC = timezone.utc
#: shown in place of an outgoing for the tasks of an incoming without routes
NO_ROUTE = "(no route)"
#: how long the chart's finished hours are kept before they are read again, in seconds
PAST_HOURS_KEPT = 60
#: how many task ids one page of a text search reads, newest first (a bound on its cost)
TEXT_WINDOW = 50_000
#: keys shown per storage namespace on the schedules page (de-dup marks: only their number)
STORAGE_KEYS_SHOWN = 20


@dataclass(frozen=True)
class Section:
    """One panel of the overview that another part of the program fills.

    ``read`` returns rows (label, value) to show, or is ``None`` while that part does not
    report yet: the panel then says so. Open batch jobs and the logging outbox plug in here.
    """

    title: str
    read: Callable[[], Mapping[str, Any]] | None = None


def pretty(value: Any) -> str:
    """A redacted, indented JSON text of ``value`` for a ``<pre>``."""
    return json.dumps(redact_value(value), ensure_ascii=False, indent=2, default=str)


def overview(store: TaskStore, outgoings: Sequence[str], breakers: Mapping[str, str],
             sections: Sequence[Section], hourly: HourlyCounts, now: datetime) -> dict[str, Any]:
    counts = store.counts_by_outgoing()
    names = list(outgoings) + sorted({name or NO_ROUTE for name, _ in counts if (name or NO_ROUTE) not in outgoings})
    table = {name: {status: 0 for status in STATUSES} for name in names}
    for (name, status), count in counts.items():
        table[name or NO_ROUTE][status] = count
    panels = [(section.title, None if section.read is None else section.read()) for section in sections]
    return {"table": table, "statuses": STATUSES,
            "totals": {status: sum(row[status] for row in table.values()) for status in STATUSES},
            "chart": chart(hourly.counts(store, now), now),
            "breakers": dict(sorted(breakers.items())), "panels": panels}


class HourlyCounts:
    """The chart's counts: the current hour read at every request, the finished hours of the
    day kept for :data:`PAST_HOURS_KEPT` seconds (a retry moves a task out of its old hour, so
    they do change, but rarely), so a page polled every few seconds reads one hour, not 24."""

    def __init__(self) -> None:
        self._past: dict[tuple[str, str], int] = {}
        self._past_key: tuple[datetime, datetime] | None = None
        self._read_at = datetime.min.replace(tzinfo=UTC)
        self._lock = threading.Lock()

    def counts(self, store: TaskStore, now: datetime) -> dict[tuple[str, str], int]:
        current = now.replace(minute=0, second=0, microsecond=0)
        since = current - timedelta(hours=HOURS - 1)
        with self._lock:
            if self._past_key != (since, current) or (now - self._read_at).total_seconds() > PAST_HOURS_KEPT:
                self._past = store.finished_per_hour(since, until=current)
                self._past_key, self._read_at = (since, current), now
            past = dict(self._past)
        return {**past, **store.finished_per_hour(current)}


@dataclass(frozen=True)
class TaskFilter:
    """The tasks page's query: every field optional, ``before`` the keyset of the next page."""

    status: str | None = None
    incoming: str | None = None
    outgoing: str | None = None
    text: str | None = None
    before: int | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> TaskFilter:
        before = query.get("before", "")
        status = query.get("status") or None
        return cls(status=status if status in STATUSES else None, incoming=query.get("incoming") or None,
                   outgoing=query.get("outgoing") or None, text=query.get("q") or None,
                   before=int(before) if before.isdigit() else None)

    def query(self, **changes: Any) -> dict[str, Any]:
        """The query string fields of this filter with ``changes`` (for links)."""
        fields = {"status": self.status, "incoming": self.incoming, "outgoing": self.outgoing,
                  "q": self.text, "before": self.before, **changes}
        return {key: value for key, value in fields.items() if value not in (None, "")}


def task_page(store: TaskStore, chosen: TaskFilter) -> dict[str, Any]:
    """One page of tasks. A text search reads at most :data:`TEXT_WINDOW` ids per page (no
    index answers "contains"), and says which ids it searched; "older" searches on below them."""
    upper, floor = chosen.before, None
    if chosen.text:
        newest = store.page(limit=1)
        upper = chosen.before or (newest[0].id + 1 if newest else 1)
        floor = max(upper - 1 - TEXT_WINDOW, 0)
    found = store.page(status=chosen.status, incoming=chosen.incoming, outgoing=chosen.outgoing,
                       text=chosen.text, before=upper, after=floor, limit=PAGE_SIZE + 1)
    shown = found[:PAGE_SIZE]
    next_before = shown[-1].id if len(found) > PAGE_SIZE else (floor + 1 if floor else None)
    searched = None if floor is None or upper is None else (floor + 1, upper - 1)
    return {"tasks": [row(task) for task in shown], "filter": chosen, "next_before": next_before,
            "searched": searched}


def row(task: Task) -> dict[str, Any]:
    """One line of the tasks table."""
    error = task.last_error or {}
    return {"id": task.id, "incoming": task.incoming, "outgoing": task.outgoing or NO_ROUTE,
            "identity": redact(task.identity or ""), "status": task.status, "attempts": task.attempts,
            "updated_at": task.updated_at,
            "error": redact(f"{error.get('type', 'error')}: {error.get('message', '')}") if error else ""}


def task_detail(task: Task, requests: Callable[[Task], list[dict[str, Any]]]) -> dict[str, Any]:
    try:
        sent = pretty(requests(task))
    except Exception as error:  # the task failed in its transformers, say why instead of the request
        sent = redact(f"could not rebuild the request: {type(error).__name__}: {error}")
    return {"task": row(task), "entity": pretty(task.entity), "result": pretty(task.result),
            "error": pretty(task.last_error) if task.last_error else None,
            "resolution": pretty(task.resolution) if task.resolution else None,
            "created_at": task.created_at, "claimed_by": task.claimed_by, "request": sent}


def schedules(store: Any, planned: Mapping[str, Schedule], now: datetime) -> dict[str, Any]:
    runs = store.schedule_runs(limit=200)
    last = {}
    for run in runs:  # newest first: the first of each job is its last run
        last.setdefault(run.job, run)
    jobs = []
    for name in sorted(set(planned) | set(last)):
        run, schedule = last.get(name), planned.get(name)
        jobs.append({"name": name, "schedule": schedule.describe() if schedule else "(not scheduled here)",
                     "next": schedule.next_tick(now).isoformat(timespec="seconds") if schedule else "",
                     "last": run, "duration": None if run is None or run.duration is None else f"{run.duration:.2f} s",
                     "summary": "" if run is None else redact(json.dumps(run.summary, default=str)),
                     "error": "" if run is None or not run.error else redact(run.error)})
    storages = [(namespace, count, [] if namespace.startswith("dedup:") else [
        (redact(key), redact(json.dumps(redact_value(value), default=str)))
        for _, (key, value) in zip(range(STORAGE_KEYS_SHOWN), store.items(namespace))])
        for namespace, count in store.namespaces().items()]
    return {"jobs": jobs, "runs": runs[:50], "storages": storages}


def project_view(path: Any) -> dict[str, Any]:
    """The project file as loaded (secrets masked) and every problem ``validate`` would report."""
    with open(path, encoding="utf-8") as file:
        source = yaml.safe_load(file)
    _, problems = check_project(path, lenient=True)
    shown = yaml.safe_dump(redact_value(source), sort_keys=False, allow_unicode=True)
    return {"path": str(path), "config": redact(shown),
            "problems": [str(problem) for problem in problems]}
