"""The dashboard's reads on a real SQLite store: bounded text search, the chart's hour cache,
and every query a page makes answered from an index (no full scan per request)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from alumio_mistral.service.dashboard import views
from alumio_mistral.tasks import SqliteTaskStore, TaskOutcome

UTC = timezone.utc


@pytest.fixture
def store(tmp_path):
    with SqliteTaskStore(tmp_path / "tasks.db") as opened:
        yield opened


def test_a_text_search_reads_a_window_of_ids_and_goes_on_below_it(store, monkeypatch) -> None:
    monkeypatch.setattr(views, "TEXT_WINDOW", 5)
    for n in range(20):
        store.add_tasks("in", {"id": n, "name": "needle" if n == 2 else "hay"}, ["out"], str(n))
    page = views.task_page(store, views.TaskFilter(text="needle"))
    assert page["tasks"] == [] and page["searched"] == (16, 20) and page["next_before"] == 16
    pages = 1
    while not page["tasks"]:
        page = views.task_page(store, views.TaskFilter(text="needle", before=page["next_before"]))
        pages += 1
    assert [task["id"] for task in page["tasks"]] == [3] and pages == 4 and page["next_before"] is None
    everything = views.task_page(store, views.TaskFilter())
    assert len(everything["tasks"]) == 20 and everything["searched"] is None


def test_the_chart_reads_the_finished_hours_once_a_minute_and_the_current_hour_always(store) -> None:
    ids = store.add_tasks("in", {"id": 1}, ["out"], "1") + store.add_tasks("in", {"id": 2}, ["out"], "2")
    store.finish_many([TaskOutcome(task.id, "processed") for task in store.claim("out", 2, "w")])
    asked: list[tuple[datetime, datetime | None]] = []
    real = store.finished_per_hour

    def counted(since, until=None):
        asked.append((since, until))
        return real(since, until)

    store.finished_per_hour = counted
    # mid-hour, so that the later looks below stay in the same hour whenever the test runs
    hourly, now = views.HourlyCounts(), datetime.now(UTC).replace(minute=20, second=0, microsecond=0)
    first = hourly.counts(store, now)
    assert sum(first.values()) == len(ids) and len(asked) == 2
    hourly.counts(store, now + timedelta(seconds=30))
    assert len(asked) == 3 and asked[-1][1] is None  # only the current hour again
    hourly.counts(store, now + timedelta(seconds=views.PAST_HOURS_KEPT + 1))
    assert len(asked) == 5


def test_every_query_of_the_pages_uses_an_index(store) -> None:
    for n in range(30):
        store.add_tasks("in", {"id": n}, ["a", "b"], str(n))
    statements: list[str] = []
    db = store._db()
    db.set_trace_callback(statements.append)
    now = datetime.now(UTC)
    views.overview(store, ["a", "b"], {}, [], views.HourlyCounts(), now)
    for chosen in (views.TaskFilter(), views.TaskFilter(status="failed"),
                   views.TaskFilter(outgoing="a", status="new"), views.TaskFilter(outgoing="b"),
                   views.TaskFilter(before=10), views.TaskFilter(text="x")):
        views.task_page(store, chosen)
    db.set_trace_callback(None)
    plans = {}
    for statement in {s for s in statements if s.lstrip().upper().startswith("SELECT")}:
        plans[statement] = " / ".join(row[3] for row in db.execute("EXPLAIN QUERY PLAN " + statement))
    assert plans
    for statement, plan in plans.items():
        assert "TEMP B-TREE" not in plan, f"{statement}: sorts every row it finds: {plan}"
        if re.search(r"SCAN tasks(?! USING)", plan):  # by id, newest first, stopping at the page's end
            assert re.search(r"ORDER BY id DESC LIMIT \d+$", statement), f"{statement}: {plan}"
        elif "SCAN tasks USING COVERING INDEX" in plan:  # the counts per outgoing: one pass of an index
            assert "GROUP BY outgoing, status" in statement, f"{statement}: {plan}"
    assert any("tasks_by_update" in plan for plan in plans.values())
    assert any("tasks_by_status" in plan for plan in plans.values())
    assert any("tasks_by_queue" in plan for plan in plans.values())
