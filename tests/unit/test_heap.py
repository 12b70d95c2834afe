"""A run's reading leaves the objects there were before it out of garbage collection, and
gives them back to it afterwards."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from alumio_mistral import heap


@pytest.fixture(autouse=True)
def nothing_frozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_the_objects_before_a_block_are_frozen_during_it_and_not_after() -> None:
    before = object.__new__(type("Before", (), {}))
    with heap.settled():
        assert gc.get_freeze_count() > 0
        assert not any(found is before for found in gc.get_objects())  # the collector skips it
        during = [object()]
        assert any(found is during for found in gc.get_objects())
    assert gc.get_freeze_count() == 0
    assert any(found is before for found in gc.get_objects())


def test_overlapping_blocks_unfreeze_when_the_last_one_ends() -> None:
    entered, leave = threading.Event(), threading.Event()

    def other_run() -> None:
        with heap.settled():
            entered.set()
            leave.wait(10)

    thread = threading.Thread(target=other_run)
    thread.start()
    entered.wait(10)
    with heap.settled():
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() > 0  # the other run still reads
    leave.set()
    thread.join(10)
    assert gc.get_freeze_count() == 0


def test_a_process_that_froze_objects_itself_keeps_them_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    gc.freeze()
    for name in ("freeze", "unfreeze"):
        monkeypatch.setattr(gc, name, lambda name=name: pytest.fail(f"gc.{name}() on a process that froze its own"))
    with heap.settled():
        pass
    assert gc.get_freeze_count() > 0


def test_a_failing_block_unfreezes_too() -> None:
    with pytest.raises(RuntimeError), heap.settled():
        raise RuntimeError("the run failed")
    assert gc.get_freeze_count() == 0


def test_a_runtime_reads_with_the_objects_before_it_frozen(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from alumio_mistral import runtime
    from alumio_mistral.config import load_project

    (tmp_path / "in.jsonl").write_text('{"id": 1}\n')
    (tmp_path / "alumio.yaml").write_text("incoming:\n  items:\n    subscriber: {type: jsonl, path: in.jsonl}\n")
    original, seen = runtime.run_incoming, []

    def spied(*args, **kwargs):
        seen.append(gc.get_freeze_count())
        return original(*args, **kwargs)

    monkeypatch.setattr(runtime, "run_incoming", spied)
    with runtime.Runtime(load_project(tmp_path)) as ready:
        assert ready.read().created == 1
    assert seen[0] > 0 and gc.get_freeze_count() == 0
