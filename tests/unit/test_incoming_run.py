"""run_incoming on real project files: bad rows, de-dup policies, transformers, routes, HTTP."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import responses

from alumio_mistral.config import load_project
from alumio_mistral.errors import AlumioError
from alumio_mistral.incoming import content_hash
from alumio_mistral.runtime import Runtime
from alumio_mistral.tasks import SqliteTaskStore


def project(tmp_path: Path, incoming: str, extra: str = "") -> object:
    (tmp_path / "alumio.yaml").write_text(f"incoming:\n{incoming}\n{extra}")
    return load_project(tmp_path)


def write_jsonl(path: Path, entities: list[object]) -> None:
    path.write_text("".join(json.dumps(entity) + "\n" for entity in entities))


def run(loaded: object, names: list[str] | None = None):
    with SqliteTaskStore(loaded.store.path) as store:
        stats = Runtime(loaded, store=store).read(names)
        return stats, [(task.identity, task.outgoing, task.entity) for task in store.list()]


def test_a_malformed_csv_row_is_reported_and_the_others_become_tasks(tmp_path: Path) -> None:
    (tmp_path / "tickets.csv").write_text("id,subject\n1,a\n2,b,oops\n3,c\n")
    loaded = project(tmp_path, "  tickets:\n    subscriber: {type: csv, path: tickets.csv}")
    stats, tasks = run(loaded)
    assert (stats.read, stats.created, stats.failed, stats.ok) == (3, 2, 1, False)
    assert [identity for identity, _, _ in tasks] == ["1", "3"]
    [failure] = stats.failures
    assert str(failure) == f"incoming tickets: {tmp_path / 'tickets.csv'}:3: expected 2 fields (the header's), got 3"


def test_dedup_new_twice_creates_no_new_tasks(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "in.jsonl", [{"id": n} for n in range(5)])
    loaded = project(tmp_path, "  items:\n    subscriber: {type: jsonl, path: in.jsonl}\n    dedup: new")
    first, _ = run(loaded)
    second, tasks = run(loaded)
    assert (first.created, first.skipped) == (5, 0)
    assert (second.created, second.skipped, second.ok) == (0, 5, True)
    assert len(tasks) == 5


def test_dedup_changed_gives_one_task_for_one_modified_entity(tmp_path: Path) -> None:
    entities = [{"id": n, "name": f"n{n}"} for n in range(4)]
    write_jsonl(tmp_path / "in.jsonl", entities)
    loaded = project(tmp_path, "  items:\n    subscriber: {type: jsonl, path: in.jsonl}\n    dedup: changed")
    run(loaded)
    entities[2] = {"name": "renamed", "id": 2}  # key order alone would not count as a change
    entities[1] = {"name": "n1", "id": 1}
    write_jsonl(tmp_path / "in.jsonl", entities)
    stats, tasks = run(loaded)
    assert (stats.created, stats.skipped) == (1, 3)
    assert tasks[-1] == ("2", None, {"name": "renamed", "id": 2})
    with SqliteTaskStore(loaded.store.path) as store:
        assert store.get("dedup:items", "2") == content_hash({"id": 2, "name": "renamed"})


def test_identity_pattern_and_missing_identity(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "in.jsonl", [{"owner": {"id": "a"}}, {"owner": {}}, {"owner": {"id": 7}}])
    loaded = project(
        tmp_path, "  items:\n    subscriber: {type: jsonl, path: in.jsonl}\n    dedup: new\n    identity: owner.id"
    )
    stats, tasks = run(loaded)
    assert [identity for identity, _, _ in tasks] == ["a", "7"]
    assert stats.failed == 1 and "no identity at 'owner.id'" in stats.failures[0].message
    assert stats.failures[0].origin.endswith("in.jsonl:2")


def test_dedup_always_needs_no_identity(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "in.jsonl", [{"x": 1}, {"x": 1}])
    loaded = project(tmp_path, "  items:\n    subscriber: {type: jsonl, path: in.jsonl}")
    run(loaded)
    stats, tasks = run(loaded)
    assert stats.ok and len(tasks) == 4 and all(identity is None for identity, _, _ in tasks)


def test_transformers_filter_branch_and_fail_per_entity_with_routes(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "in.jsonl", [
        {"id": "o1", "lines": [{"id": "l1"}, {"id": "l2"}]},
        {"id": "o2", "lines": []},
        {"id": "o3", "lines": "not a list"},
        {"id": "drop", "lines": [{"id": "l9"}]},
    ])
    loaded = project(
        tmp_path,
        "  orders:\n    subscriber: {type: jsonl, path: in.jsonl}\n    entity_transformers:\n"
        "      - {type: filter, when: {path: id, equals: drop}}\n      - {type: branches, path: lines}\n",
        "outgoing:\n  a: {publisher: {type: jsonl, path: a.jsonl}}\n  b: {publisher: {type: jsonl, path: b.jsonl}}\n"
        "routes:\n  - {incoming: orders, outgoing: [a, b]}\n",
    )
    stats, tasks = run(loaded)
    assert [(identity, outgoing) for identity, outgoing, _ in tasks] == [
        ("l1", "a"), ("l1", "b"), ("l2", "a"), ("l2", "b"),
    ]
    assert (stats.read, stats.created, stats.skipped, stats.failed) == (4, 4, 2, 1)
    assert stats.failures[0].origin.endswith("in.jsonl:3")


def test_unknown_incoming_name_is_an_error(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "in.jsonl", [])
    loaded = project(tmp_path, "  items:\n    subscriber: {type: jsonl, path: in.jsonl}")
    with pytest.raises(AlumioError, match="no incoming named 'itmes' \\(known: items\\)"):
        run(loaded, ["itmes"])


def test_a_missing_file_fails_that_incoming_and_the_next_one_still_runs(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "in.jsonl", [{"id": 1}])
    loaded = project(
        tmp_path,
        "  gone:\n    subscriber: {type: jsonl, path: missing.jsonl}\n"
        "  items:\n    subscriber: {type: jsonl, path: in.jsonl}",
    )
    stats, tasks = run(loaded)
    assert stats.failed == 1 and "cannot open" in stats.failures[0].message
    assert stats.failures[0].incoming == "gone"
    assert len(tasks) == 1


def test_mistral_subscriber_keeps_pages_read_before_a_server_error(tmp_path: Path) -> None:
    loaded = project(
        tmp_path,
        "  files:\n    subscriber: {entity: files.list, params: {purpose: batch}, page_size: 2}\n    dedup: new",
        "clients:\n  mistral: {prototype: mistral, base_uri: 'https://api.test', api_key: k, max_attempts: 1}\n",
    )
    with responses.RequestsMock() as rsps:
        rsps.get("https://api.test/v1/files", json={"data": [{"id": "f1"}, {"id": "f2"}], "total": 3})
        rsps.get("https://api.test/v1/files", status=500, json={"message": "down"})
        stats, tasks = run(loaded)
    assert [identity for identity, _, _ in tasks] == ["f1", "f2"]
    assert stats.failed == 1 and stats.failures[0].origin == "files.list (reading stopped after 2 entities)"
    assert "page=1" in stats.failures[0].message and "HTTP 500" in stats.failures[0].message


def test_an_invalid_json_line_is_reported_and_the_others_become_tasks(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text('{"id": 1}\n{"id": 2,}\n{"id": 3}\n')
    loaded = project(tmp_path, "  items:\n    subscriber: {type: jsonl, path: in.jsonl}\n    dedup: new")
    stats, tasks = run(loaded)
    assert [identity for identity, _, _ in tasks] == ["1", "3"]
    assert (stats.failed, stats.ok) == (1, False)
    assert stats.failures[0].origin == f"{tmp_path / 'in.jsonl'}:2"
    assert stats.failures[0].message.startswith("invalid JSON")



DISABLED = (
    "outgoing:\n  x: {publisher: {type: stdout}}\n  y: {publisher: {type: stdout}}\n"
    "  z: {publisher: {type: stdout}, disabled: true}\n"
    "routes:\n  - {incoming: items, outgoing: [x]}\n  - {incoming: items, outgoing: [y], disabled: true}\n"
    "  - {incoming: items, outgoing: [z]}\n  - {incoming: parked, outgoing: [x], disabled: true}\n"
)
ROUTED = (
    "  items:\n    subscriber: {type: jsonl, path: in.jsonl}\n"
    "  parked:\n    subscriber: {type: jsonl, path: in.jsonl}\n    dedup: new"
)


def test_disabled_routes_and_outgoings_get_no_tasks(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "in.jsonl", [{"id": 1}, {"id": 2}])
    stats, tasks = run(project(tmp_path, ROUTED, DISABLED), ["items"])
    assert (stats.created, [(identity, outgoing) for identity, outgoing, _ in tasks]) == (2, [("1", "x"), ("2", "x")])


def test_an_incoming_with_every_route_disabled_runs_only_when_named_and_marks_nothing(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "in.jsonl", [{"id": 1}])
    loaded = project(tmp_path, ROUTED, DISABLED)
    stats, tasks = run(loaded)
    assert (stats.read, stats.created, len(tasks)) == (1, 1, 1)  # items only: parked was not read
    named, tasks = run(loaded, ["parked"])
    assert (named.read, named.created, named.skipped, len(tasks)) == (1, 0, 1, 1)
    with SqliteTaskStore(loaded.store.path) as store:
        assert store.namespaces() == {}  # re-enabled later, the entity is still new to it


def test_a_disabled_incoming_runs_only_when_named(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "in.jsonl", [{"id": 1}])
    loaded = project(tmp_path, "  paused:\n    subscriber: {type: jsonl, path: in.jsonl}\n    disabled: true")
    assert run(loaded)[0].read == 0
    assert run(loaded, ["paused"])[0].created == 1


def test_another_run_landing_between_check_and_insert_does_not_duplicate(tmp_path: Path) -> None:
    """The other run commits its task after ours could have checked, just before our write."""
    write_jsonl(tmp_path / "in.jsonl", [{"id": 1}])
    loaded = project(tmp_path, "  items:\n    subscriber: {type: jsonl, path: in.jsonl}\n    dedup: new")

    class Late(SqliteTaskStore):
        def add_many(self, *args, **kwargs):
            with SqliteTaskStore(loaded.store.path) as other:
                assert Runtime(loaded, store=other).read().created == 1
            return super().add_many(*args, **kwargs)

    with Late(loaded.store.path) as store:
        stats = Runtime(loaded, store=store).read()
        assert (stats.created, stats.skipped, len(store.list())) == (0, 1, 1)


@pytest.mark.parametrize("dedup", ["new", "changed"])
def test_two_concurrent_runs_create_one_task_per_entity(tmp_path: Path, dedup: str) -> None:
    write_jsonl(tmp_path / "in.jsonl", [{"id": n} for n in range(150)])
    loaded = project(tmp_path, f"  items:\n    subscriber: {{type: jsonl, path: in.jsonl}}\n    dedup: {dedup}")
    results: list[object] = []
    start = threading.Barrier(2, timeout=10)

    def one_run() -> None:
        with SqliteTaskStore(loaded.store.path) as store:
            start.wait()
            results.append(Runtime(loaded, store=store).read())

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(stats.created for stats in results) == 150
    with SqliteTaskStore(loaded.store.path) as store:
        assert sorted(task.identity for task in store.list()) == sorted(str(n) for n in range(150))
