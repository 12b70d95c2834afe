"""``schedule:`` on incomings and outgoings, and the ``webhook`` subscriber, as ``validate`` sees them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alumio_mistral.config import check_project
from alumio_mistral.incoming import chosen_incomings
from alumio_mistral.schedule import Schedule

HOOK = {"type": "webhook", "path": "/hooks/tickets", "secret": "a-secret-of-sixteen+"}


def problems_of(tmp_path: Path, document: dict) -> list[tuple[str, str]]:
    file = tmp_path / "alumio.json"
    file.write_text(json.dumps(document))
    return [(problem.path, problem.message) for problem in check_project(file, environ={})[1]]


def test_schedules_load_as_intervals_or_cron_in_a_time_zone(tmp_path: Path) -> None:
    file = tmp_path / "alumio.json"
    file.write_text(json.dumps({
        "incoming": {"a": {"subscriber": {"type": "stdin"}, "schedule": "30s"}},
        "outgoing": {"b": {"publisher": {"type": "stdout"},
                           "schedule": {"cron": "0 9 * * 1-5", "timezone": "Europe/Amsterdam"}}},
    }))
    project, problems = check_project(file, environ={})
    assert problems == []
    assert project.incoming["a"].schedule == Schedule(every=30)
    assert project.outgoing["b"].schedule == Schedule(cron="0 9 * * 1-5", timezone="Europe/Amsterdam")


@pytest.mark.parametrize(("schedule", "fragment"), [
    ({"every": "0.1s"}, "shorter than the shortest interval"),
    ({"cron": "0 9 * *"}, "is not a cron expression"),
    ({"cron": "0 9 * * *", "timezone": "Mars/Olympus"}, "unknown time zone"),
    ({"every": "1m", "at": 3}, "unknown schedule key(s): at"),
])
def test_a_bad_schedule_is_reported_at_its_dotted_path(tmp_path: Path, schedule: dict, fragment: str) -> None:
    found = problems_of(tmp_path, {"outgoing": {"b": {"publisher": {"type": "stdout"}, "schedule": schedule}}})
    assert [path for path, _ in found] == ["outgoing.b.schedule"] and fragment in found[0][1]


@pytest.mark.parametrize(("change", "path", "fragment"), [
    ({"path": "/tickets"}, "incoming.a.subscriber.path", "under /hooks/"),
    ({"secret": None}, "incoming.a.subscriber.secret", "needs a `secret`"),
    ({"secret": "short"}, "incoming.a.subscriber.secret", "at least 16"),
    ({"max_bytes": 10**9}, "incoming.a.subscriber.max_bytes", "must be from 1 to"),
])
def test_webhook_settings_are_checked(tmp_path: Path, change: dict, path: str, fragment: str) -> None:
    hook = {key: value for key, value in {**HOOK, **change}.items() if value is not None}
    found = problems_of(tmp_path, {"incoming": {"a": {"subscriber": hook}}})
    assert [where for where, _ in found] == [path] and fragment in found[0][1], found


def test_two_webhooks_cannot_share_a_path(tmp_path: Path) -> None:
    found = problems_of(tmp_path, {"incoming": {"a": {"subscriber": HOOK}, "b": {"subscriber": {**HOOK, "token": "t" * 16}}}})
    assert found == [("incoming.b.subscriber.path", "/hooks/tickets is already the path of incoming 'a'")]


def test_run_reads_every_incoming_but_webhooks_which_serve_is_posted(tmp_path: Path) -> None:
    file = tmp_path / "alumio.json"
    file.write_text(json.dumps({"incoming": {"a": {"subscriber": HOOK}, "b": {"subscriber": {"type": "stdin"}}}}))
    project, problems = check_project(file, environ={})
    assert problems == []
    assert [config.name for config in chosen_incomings(project)] == ["b"]
