"""File targets: records written at once, fsynced per batch or per task as ``durability`` says."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest

from alumio_mistral.publishers import files
from alumio_mistral.publishers.files import CsvPublisher, JsonlPublisher
from alumio_mistral.publishers.request import PublishError


@pytest.fixture()
def syncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    seen: list[int] = []
    real = os.fsync
    monkeypatch.setattr(files.os, "fsync", lambda fd: (seen.append(fd), real(fd))[1])
    return seen


def test_a_batch_target_syncs_every_batch_and_when_flushed(tmp_path: Path, syncs: list[int]) -> None:
    target = JsonlPublisher(tmp_path / "out.jsonl", durability="batch", batch_size=2)
    for n in range(5):
        target.publish({"n": n})
        # written at once: a killed process loses nothing it published
        assert len((tmp_path / "out.jsonl").read_text().splitlines()) == n + 1
    assert len(syncs) == 2  # after records 2 and 4 (one fsync per task cost ~660 tasks/s)
    target.flush()
    target.flush()  # nothing new: no second fsync
    assert len(syncs) == 3
    target.close()
    assert len(syncs) == 3


def test_a_task_target_syncs_every_record(tmp_path: Path, syncs: list[int]) -> None:
    target = CsvPublisher(tmp_path / "out.csv", durability="task")
    for n in range(3):
        target.publish({"n": n})
    assert len(syncs) == 3
    target.close()
    assert (tmp_path / "out.csv").read_text().splitlines() == ["n", "0", "1", "2"]


def test_close_syncs_what_is_left_and_the_file_opens_again(tmp_path: Path, syncs: list[int]) -> None:
    target = JsonlPublisher(tmp_path / "out.jsonl")
    target.publish({"n": 1})
    target.close()
    assert len(syncs) == 1
    target.publish({"n": 2})  # a publisher used after close reopens its file
    target.close()
    assert (tmp_path / "out.jsonl").read_text().splitlines() == ['{"n":1}', '{"n":2}']


def test_a_dropped_target_closes_its_file(tmp_path: Path) -> None:
    target = JsonlPublisher(tmp_path / "out.jsonl")
    target.publish({"n": 1})
    fd = target._file._fd
    assert fd is not None
    del target
    gc.collect()
    with pytest.raises(OSError):
        os.fstat(fd)


def test_an_unknown_durability_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PublishError, match="unknown durability 'always' \\(one of: batch, task\\)"):
        JsonlPublisher(tmp_path / "out.jsonl", durability="always")


def test_a_dropped_target_syncs_what_it_wrote(tmp_path: Path, syncs: list[int]) -> None:
    target = JsonlPublisher(tmp_path / "out.jsonl")
    target.publish({"n": 1})
    assert syncs == []
    del target
    gc.collect()
    assert len(syncs) == 1


def test_a_project_sets_a_targets_durability_and_batch(tmp_path: Path, syncs: list[int]) -> None:
    from alumio_mistral import engine
    from alumio_mistral.config import load_project

    (tmp_path / "rows.jsonl").write_text("".join(f'{{"id": {n}}}\n' for n in range(5)))
    (tmp_path / "alumio.yaml").write_text(
        "incoming:\n  rows:\n    subscriber: {type: jsonl, path: rows.jsonl}\n"
        "outgoing:\n  out:\n    publisher: {type: jsonl, path: out.jsonl, durability: task}\n"
        "  batched:\n    publisher: {type: csv, path: out.csv, batch_size: 2}\n"
        "routes:\n  - {incoming: rows, outgoing: [out, batched]}\n"
    )
    project = load_project(tmp_path, environ={})
    assert engine.run(project).processed == 10
    gc.collect()
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 5
    assert len(syncs) >= 5 + 2  # a sync per JSONL record, one per two CSV rows


def test_an_unknown_durability_in_a_project_names_the_setting(tmp_path: Path) -> None:
    from alumio_mistral.config import load_project
    from alumio_mistral.errors import AlumioError

    (tmp_path / "alumio.yaml").write_text(
        "outgoing:\n  out:\n    publisher: {type: jsonl, path: out.jsonl, durability: never}\n")
    with pytest.raises(AlumioError, match="outgoing.out.publisher.durability"):
        load_project(tmp_path, environ={})
