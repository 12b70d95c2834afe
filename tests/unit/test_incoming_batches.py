"""incoming run a page at a time: pages vouched for as a whole, batches written behind the
reading, and counts, failures and connections as if every batch had been written in line."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import responses

from alumio_mistral import fastjson, incoming
from alumio_mistral.subscribers import base
from alumio_mistral.config import load_project
from alumio_mistral.incoming import identities_of, identity_of
from alumio_mistral.runtime import Runtime
from alumio_mistral.subscribers.base import MAX_DEPTH, entity_problem, page_vouched
from alumio_mistral.tasks import SqliteTaskStore
from alumio_mistral.tasks.store import TaskStoreError

BASE = "https://api.test"
CLIENT = f"clients:\n  mistral: {{prototype: mistral, base_uri: '{BASE}', api_key: k, max_attempts: 1}}\n"


def files_project(tmp_path: Path, page_size: int) -> Any:
    (tmp_path / "alumio.yaml").write_text(
        f"incoming:\n  files:\n    subscriber: {{entity: files.list, page_size: {page_size}}}\n" + CLIENT
    )
    return load_project(tmp_path)


def serve_pages(rsps: responses.RequestsMock, bodies: list[str]) -> None:
    """Each body once, in order (a page shorter than the page size is the last one read)."""
    for body in bodies:
        rsps.get(f"{BASE}/v1/files", body=body, content_type="application/json")


EMPTY = '{"data": []}'


def page(*entities: str) -> str:
    return '{"data": [' + ", ".join(entities) + "]}"


class Events:
    """A progress reporter that keeps every count in the order it came."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []

    def add(self, counter: str, amount: int) -> None:
        self.seen.append((counter, amount))


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


# -- a page vouched for as a whole -------------------------------------------------------------


def test_a_clean_page_is_vouched_for_and_every_hostile_value_is_not() -> None:
    clean = b'[{"id": "a", "n": 1.5, "t": "caf\xc3\xa9 \\u00e9 \\"q\\"", "x": [1, {"y": null}]}]'
    assert page_vouched(clean, json.loads(clean))
    mixed = b'[{"a": [1, {"b": [2.5, {"c": 1.0}]}], "s": "x"}, [1, [2, []]], "scalar", 3.5, null]'
    assert page_vouched(mixed, json.loads(mixed))
    for hostile in (b'[{"n": NaN}]', b'[{"n": [-Infinity]}]', b'[{"n": 1e999}]', b'[{"t": "\\ud800"}]',
                    mixed.replace(b'"c": 1.0', b'"c": NaN'), mixed.replace(b"3.5", b"Infinity"),
                    b'[{"t": "\\uDC00"}]', b'[{"t": "\xed\xa0\x80"}]', b'[{"\\ud800": 1}]',
                    f'[{{"d": {deep(MAX_DEPTH)}}}]'.encode()):
        entities = json.loads(hostile)
        assert any(entity_problem(entity) is not None for entity in entities)
        assert not page_vouched(hostile, entities), hostile


def test_the_depth_a_page_vouches_for_is_the_depth_entity_problem_takes() -> None:
    for levels in (MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1):
        body = f"[{deep(levels)}]".encode()
        entities = json.loads(body)
        assert page_vouched(body, entities) is (entity_problem(entities[0]) is None), levels


def test_a_page_orjson_read_is_vouched_for_by_its_brackets_exactly_when_a_walk_would() -> None:
    """With numbers known finite, a page of objects and lists with few enough brackets is
    vouched for without visiting its values; past the bound, or with an entity that is not
    a container (which opens no bracket of its own), the walk decides as before."""
    pages: list[list[Any]] = [
        [{"id": n, "t": "[{"} for n in range(50)],
        [{"d": json.loads(deep(MAX_DEPTH - 3))}],
        [{"d": json.loads(deep(MAX_DEPTH - 1))}],
        [{"d": json.loads(deep(MAX_DEPTH))}],
        [json.loads(deep(MAX_DEPTH))],
        [json.loads(deep(MAX_DEPTH + 1))],
        ["text"] * (MAX_DEPTH + 5) + [json.loads(deep(MAX_DEPTH + 1))],
        [{"a": [1, 2]}] * (MAX_DEPTH + 5),
        [],
    ]
    for entities in pages:
        body = json.dumps({"data": entities, "object": "list"}).encode()
        loaded, finite = fastjson.loads_finite(body)
        assert finite and loaded["data"] == entities
        expected = all(entity_problem(entity) is None for entity in loaded["data"])
        assert page_vouched(body, loaded["data"], finite) is expected, body[:80]


def test_the_brackets_vouch_for_no_page_the_standard_library_read(monkeypatch: pytest.MonkeyPatch) -> None:
    body = b'{"data": [{"n": 1e999}, {"n": NaN}]}'
    entities, finite = fastjson.loads_finite(body)
    assert not finite and not page_vouched(body, entities["data"], finite)
    flat = b'{"data": [{"n": 1}]}'
    monkeypatch.setattr(base, "_finite_and_shallow", lambda entities: pytest.fail("the values were walked"))
    assert page_vouched(flat, fastjson.loads_finite(flat)[0]["data"], True)


def test_bad_entities_on_a_page_fail_alone_with_the_messages_every_source_gives(tmp_path: Path) -> None:
    bad = ['{"id": "nan", "n": NaN}', '{"id": "lone", "t": "\\ud800"}', '{"id": "deep", "d": ' + deep(MAX_DEPTH) + "}"]
    with responses.RequestsMock() as rsps:
        serve_pages(rsps, [page('{"id": "a"}', *bad, '{"id": "b"}'), page('{"id": "c"}', '{"id": "d"}')])
        loaded = files_project(tmp_path, page_size=5)
        with SqliteTaskStore(loaded.store.path) as store:
            stats = Runtime(loaded, store=store).read()
            stored = [task.entity["id"] for task in store.list()]
    assert stored == ["a", "b", "c", "d"]
    assert (stats.read, stats.created, stats.failed) == (7, 4, 3)
    expected = [entity_problem(json.loads(text)) for text in bad]
    assert [(f.origin, f.message) for f in stats.failures] == [("files.list page 0", m) for m in expected]


# -- batches written behind the reading -------------------------------------------------------


def test_counts_and_failures_come_in_reading_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(incoming, "BATCH_SIZE", 2)
    events = Events()
    with responses.RequestsMock() as rsps:
        serve_pages(rsps, [page('{"id": 1}', '{"id": 2}', '{"id": 3}'),
                           page('{"id": 4}', '{"id": 5, "n": NaN}', '{"id": 6}'),
                           page('{"id": 7}', '{"id": 8}', '{"id": 9}'), EMPTY])
        loaded = files_project(tmp_path, page_size=3)
        with SqliteTaskStore(loaded.store.path) as store:
            stats = Runtime(loaded, store=store).read(progress=events)
            ids = [task.entity["id"] for task in store.list()]
    assert ids == [1, 2, 3, 4, 6, 7, 8, 9]
    assert (stats.read, stats.created, stats.failed) == (9, 8, 1)
    failed_at = events.seen.index(("failed", 1))
    before = events.seen[:failed_at]
    # the four entities read before the bad one are counted, created, before its failure
    assert sum(n for counter, n in before if counter == "created") == 4
    assert sum(n for counter, n in before if counter == "read") == 5


def test_a_batch_the_store_refuses_fails_its_records_and_the_run_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(incoming, "BATCH_SIZE", 2)
    calls = []
    original = SqliteTaskStore.add_many

    def add_many(self: SqliteTaskStore, *args: Any) -> list[int]:
        calls.append(len(args[1]))
        if len(calls) == 2:
            raise TaskStoreError("disk full")
        return original(self, *args)

    monkeypatch.setattr(SqliteTaskStore, "add_many", add_many)
    with responses.RequestsMock() as rsps:
        serve_pages(rsps, [page('{"id": 1}', '{"id": 2}'), page('{"id": 3}', '{"id": 4}'),
                           page('{"id": 5}', '{"id": 6}'), EMPTY])
        loaded = files_project(tmp_path, page_size=2)
        with SqliteTaskStore(loaded.store.path) as store:
            stats = Runtime(loaded, store=store).read()
            ids = [task.entity["id"] for task in store.list()]
    assert calls == [2, 2, 2] and ids == [1, 2, 5, 6]
    assert (stats.read, stats.created, stats.failed) == (6, 4, 2)
    assert [(f.origin, f.message) for f in stats.failures] == [("files.list page 1", "disk full")] * 2


def test_reading_goes_on_while_writes_stall_up_to_the_batches_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that stalls (a WAL checkpoint) holds the reading back only once
    ``WRITES_AHEAD`` batches wait for the writer; then every batch is stored and counted in order."""
    monkeypatch.setattr(incoming, "BATCH_SIZE", 2)
    release = threading.Event()
    original = SqliteTaskStore.add_many

    def stalled(self: SqliteTaskStore, *args: Any) -> list[int]:
        release.wait(30)
        return original(self, *args)

    monkeypatch.setattr(SqliteTaskStore, "add_many", stalled)
    events = Events()
    with responses.RequestsMock() as rsps:
        serve_pages(rsps, [page(f'{{"id": {2 * n}}}', f'{{"id": {2 * n + 1}}}') for n in range(8)] + [EMPTY])
        loaded = files_project(tmp_path, page_size=2)
        with SqliteTaskStore(loaded.store.path) as store:
            done: list[Any] = []
            reader = threading.Thread(target=lambda: done.append(Runtime(loaded, store=store).read(progress=events)))
            reader.start()
            fetched = -1
            while fetched != len(rsps.calls):  # until the reading waits
                fetched = len(rsps.calls)
                time.sleep(0.3)
            assert fetched == incoming.WRITES_AHEAD + 1  # the batches waiting, and the one it fills
            assert not [counter for counter, _n in events.seen if counter == "created"]
            release.set()
            reader.join(30)
            ids = [task.entity["id"] for task in store.list()]
    assert ids == list(range(16)) and done[0].created == 16
    created = [n for counter, n in events.seen if counter == "created"]
    assert created == [2] * 8


def test_runs_leave_no_connection_of_their_writers_open(tmp_path: Path) -> None:
    """Each run writes from a thread of its own; a store that serves for days sees a run a
    minute, and each ended writer's connection must not stay open until the store closes."""
    def open_handles(path: Path) -> int:
        found = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                found += os.readlink(f"/proc/self/fd/{fd}") == str(path)
            except OSError:
                pass
        return found

    loaded = files_project(tmp_path, page_size=2)
    with SqliteTaskStore(loaded.store.path) as store, responses.RequestsMock() as rsps:
        for _run in range(5):
            serve_pages(rsps, [page('{"id": 1}', '{"id": 2}'), EMPTY])
            assert Runtime(loaded, store=store).read().created == 2
        # this thread's, the last writer's, and one SQLite keeps open for reuse after a close
        # while other connections of the process hold locks on the file (POSIX locks are per process)
        assert open_handles(store.path) <= 3
        assert store.counts()["new"] == 10


# -- identities of a page at once --------------------------------------------------------------


@pytest.mark.parametrize("pattern", ["id", "$.id", "meta.key", "$.items[*].id"])
def test_identities_of_a_page_are_the_identity_of_each_entity(pattern: str) -> None:
    entities: list[Any] = [{"id": "a"}, {"id": 7}, {"id": {"b": 1, "a": [2]}}, {"id": None}, {}, {"id": "é"},
                           {"meta": {"key": 3}}, {"items": [{"id": "x"}]}, "text", [1], 5]
    assert identities_of(entities, pattern) == [identity_of(entity, pattern) for entity in entities]
    dicts_only = [entity for entity in entities if isinstance(entity, dict)]
    assert identities_of(dicts_only, pattern) == [identity_of(entity, pattern) for entity in dicts_only]
