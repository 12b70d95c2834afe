"""A file target written a batch at a time: one write per batch, synced before its tasks are
recorded, and after a crash a batch that reached the file is finished, not written again."""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
from pathlib import Path

import pytest
import yaml

from alumio_mistral.config import load_project
from alumio_mistral.outgoing import Outgoing
from alumio_mistral.publishers import files
from alumio_mistral.publishers.files import CsvPublisher, JsonlPublisher, PendingWrite, landed
from alumio_mistral.runtime import ClientPool
from alumio_mistral.tasks import SqliteTaskStore


@pytest.fixture
def store(tmp_path: Path, clock):
    with SqliteTaskStore(tmp_path / "tasks.db", clock=clock) as opened:
        yield opened


def _outgoing(tmp_path: Path, store: SqliteTaskStore, publisher: dict) -> Outgoing:
    document = {
        "incoming": {"items": {"subscriber": {"type": "jsonl", "path": "items.jsonl"}}},
        "outgoing": {"out": {"publisher": publisher}},
        "routes": [{"incoming": "items", "outgoing": "out"}],
        "store": {"lease": 30},
    }
    (tmp_path / "items.jsonl").write_text("")
    (tmp_path / "alumio.yaml").write_text(yaml.safe_dump(document))
    project = load_project(tmp_path, environ={})
    return Outgoing(project, project.outgoing["out"], ClientPool(project.clients, project.catalog), store=store)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# -- the target ----------------------------------------------------------------------------------


def test_a_held_target_writes_nothing_until_flushed_then_one_write(tmp_path: Path, monkeypatch) -> None:
    writes: list[int] = []
    real = os.write
    monkeypatch.setattr(files.os, "write", lambda fd, data: (writes.append(len(data)), real(fd, data))[1])
    target = JsonlPublisher(tmp_path / "out.jsonl", batch_size=10)
    target.hold_until_flushed()
    for n in range(5):
        target.publish({"n": n})
    assert not (tmp_path / "out.jsonl").exists() or (tmp_path / "out.jsonl").read_bytes() == b""
    seen: list[PendingWrite] = []
    target.flush(seen.append)
    data = (tmp_path / "out.jsonl").read_bytes()
    assert len(writes) == 1 and [record["n"] for record in _lines(tmp_path / "out.jsonl")] == [0, 1, 2, 3, 4]
    assert seen == [PendingWrite(str(tmp_path / "out.jsonl"), 0, len(data), hashlib.sha256(data).hexdigest())]
    assert landed(seen[0])
    target.publish({"n": 5})
    target.close()
    assert len(_lines(tmp_path / "out.jsonl")) == 6


def test_a_held_target_keeps_memory_bounded_when_nobody_flushes(tmp_path: Path) -> None:
    target = JsonlPublisher(tmp_path / "out.jsonl", batch_size=2)
    target.hold_until_flushed()
    for n in range(4):
        target.publish({"n": n})
    assert len(_lines(tmp_path / "out.jsonl")) == 4  # written at 2 x batch_size
    target.close()


def test_a_held_csv_target_writes_its_header_once_when_the_batch_lands_in_an_empty_file(tmp_path: Path) -> None:
    target = CsvPublisher(tmp_path / "out.csv")
    target.hold_until_flushed()
    target.publish({"a": 1, "b": "x"})
    target.publish({"a": 2, "b": "y"})
    target.flush()
    target.publish({"a": 3, "b": "z"})
    target.close()
    assert (tmp_path / "out.csv").read_text().splitlines() == ["a,b", "1,x", "2,y", "3,z"]


def test_an_unfinished_last_line_is_cut_off_before_the_next_write(tmp_path: Path, caplog) -> None:
    """A writer killed in the middle of its write left half a record: the next write would glue
    its first record to it, making one line no reader can parse."""
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"n": 0}\n{"n": 1}\n{"n": 2, "te')
    target = JsonlPublisher(path)
    with caplog.at_level(logging.WARNING, logger="alumio_mistral.publishers.files"):
        target.publish({"n": 3})
    target.close()
    assert [record["n"] for record in _lines(path)] == [0, 1, 3]
    assert "cut off an unfinished last record of 12 bytes" in caplog.text


def test_a_file_of_one_unfinished_line_is_emptied(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"n": 0, "te')
    target = JsonlPublisher(path)
    target.publish({"n": 1})
    target.close()
    assert _lines(path) == [{"n": 1}]


def _csv_rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_a_csv_cell_holding_a_carriage_return_stays_one_cell(tmp_path: Path) -> None:
    """Written with a ``\n`` line terminator, the csv module left such a cell unquoted, and a
    reader took its carriage return for the end of the row: one record became two rows."""
    target = CsvPublisher(tmp_path / "out.csv")
    target.publish({"text": "first\rsecond", "n": 1})
    target.publish({"text": "a\r\nb", "n": 2})
    target.close()
    assert _csv_rows(tmp_path / "out.csv") == [["text", "n"], ["first\rsecond", "1"], ["a\r\nb", "2"]]
    assert (tmp_path / "out.csv").read_bytes().endswith(b'"a\r\nb",2\n')


@pytest.mark.parametrize("torn", [
    b'3,"a line\n',  # cut just after a line break inside a quoted cell: the file ends in a line break
    b'3,"a line\nand half of the next',  # cut further on: its last line break is inside the cell
])
def test_an_unfinished_csv_record_is_cut_off_whole_even_inside_a_quoted_cell(
    tmp_path: Path, caplog, torn: bytes
) -> None:
    """Cutting back to the last line break left the start of a quoted cell, whose open quote
    swallowed every row written after it."""
    path = tmp_path / "out.csv"
    path.write_bytes(b'n,text\n1,"two\nlines"\n2,"say ""hi""\n"\n' + torn)
    target = CsvPublisher(path)
    with caplog.at_level(logging.WARNING, logger="alumio_mistral.publishers.files"):
        target.publish({"n": 4, "text": "after"})
    target.close()
    assert _csv_rows(path) == [["n", "text"], ["1", "two\nlines"], ["2", 'say "hi"\n'], ["4", "after"]]
    assert f"cut off an unfinished last record of {len(torn)} bytes" in caplog.text


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1 << 20])
def test_where_the_whole_csv_records_end_does_not_depend_on_the_chunks_read(
    tmp_path: Path, monkeypatch, chunk: int
) -> None:
    monkeypatch.setattr(files, "_CHUNK", chunk)
    whole = b'a,b\n"x\n""y""\n",1\n"",2\n3,"\n"\n'
    path = tmp_path / "out.csv"
    for tail, end in [(b"", len(whole)), (b'4,"\n\n', len(whole)), (b'5,""\n', len(whole) + 5), (b'6,"x""\n', len(whole))]:
        path.write_bytes(whole + tail)
        with path.open("rb") as handle:
            assert files.csv_records_end(handle.fileno(), 0, len(whole + tail)) == end, tail
            assert files.csv_records_end(handle.fileno(), len(whole), len(whole + tail)) == end, tail


def test_a_whole_file_is_read_once_not_before_every_write(tmp_path: Path, monkeypatch) -> None:
    """A CSV file is read from the start to find its last whole record; after its own write an
    appender knows where that is, and reads only what another writer added since."""
    path = tmp_path / "out.csv"
    path.write_bytes(b"n\n" + b"".join(b"%d\n" % n for n in range(1000)))
    read: list[int] = []
    real = os.pread
    monkeypatch.setattr(files.os, "pread", lambda fd, size, offset: (read.append(size), real(fd, size, offset))[1])
    target = CsvPublisher(path)
    target.publish({"n": 1000})
    assert sum(read) >= path.stat().st_size - len(b"1000\n")  # the whole file, and its header checked
    read.clear()
    target.publish({"n": 1001})
    assert read == []
    with path.open("ab") as other:  # another process appends a row
        other.write(b"1002\n")
    target.publish({"n": 1003})
    assert sum(read) == len(b"1002\n")
    target.close()
    assert [row[0] for row in _csv_rows(path)][-4:] == ["1000", "1001", "1002", "1003"]


def test_landed_tells_a_whole_batch_from_a_missing_torn_or_different_one(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    batch = b'{"n": 1}\n{"n": 2}\n'
    path.write_bytes(b'{"n": 0}\n' + batch)
    whole = PendingWrite(str(path), 9, len(batch), hashlib.sha256(batch).hexdigest())
    assert landed(whole)
    path.write_bytes(b'{"n": 0}\n' + batch[:12])
    assert not landed(whole)
    path.write_bytes(b'{"n": 0}\n' + batch.replace(b"2", b"3"))
    assert not landed(whole)
    path.unlink()
    assert not landed(whole)


# -- the publish loop ----------------------------------------------------------------------------


def test_tasks_are_recorded_only_after_their_batch_is_written_and_synced(tmp_path, store, monkeypatch) -> None:
    outgoing = _outgoing(tmp_path, store, {"type": "jsonl", "path": "out.jsonl", "batch_size": 3})
    for n in range(7):
        store.add_tasks("items", {"n": n}, ["out"], str(n))
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(files.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    recorded: list[tuple[int, int, int]] = []
    real_finish = store.finish_many

    def finish_many(outcomes):
        recorded.append((len(outcomes), len(_lines(tmp_path / "out.jsonl")), len(synced)))
        return real_finish(outcomes)

    monkeypatch.setattr(store, "finish_many", finish_many)
    stats = outgoing.publish(store)
    assert stats.processed == 7
    # three batches: 3, 3 and the last 1, each recorded after its lines were written and synced
    assert recorded == [(3, 3, 1), (3, 6, 2), (1, 7, 3)]
    assert store.namespaces().get(outgoing.written_namespace) is None  # no mark left behind


def test_a_batch_that_cannot_be_written_fails_its_tasks_naming_the_file(tmp_path, store, monkeypatch) -> None:
    """A folder where the file goes: each task of the batch fails with the reason, none is left
    processing, and nothing is kept back to be written later (the pass used to crash on close)."""
    outgoing = _outgoing(tmp_path, store, {"type": "jsonl", "path": "out.jsonl", "batch_size": 3})
    (tmp_path / "out.jsonl").mkdir()
    for n in range(4):
        store.add_tasks("items", {"n": n}, ["out"], str(n))
    stats = outgoing.publish(store)
    assert (stats.processed, stats.failed) == (0, 4)
    assert [failure["type"] for failure in stats.failures] == ["IsADirectoryError"] * 4
    assert "out.jsonl" in stats.failures[0]["message"]
    assert {(task.status, task.last_error["type"]) for task in store.list()} == {("failed", "IsADirectoryError")}
    (tmp_path / "out.jsonl").rmdir()
    store.requeue(None, ["failed"])
    assert outgoing.publish(store).processed == 4
    assert [line["n"] for line in _lines(tmp_path / "out.jsonl")] == [0, 1, 2, 3]


def test_a_batch_a_dead_run_wrote_whole_is_finished_not_written_again(tmp_path, store, clock) -> None:
    outgoing = _outgoing(tmp_path, store, {"type": "jsonl", "path": "out.jsonl", "batch_size": 3})
    ids = [store.add_tasks("items", {"n": n}, ["out"], str(n))[0] for n in range(3)]

    def die(_outcomes):
        raise SystemExit("killed after the write, before the tasks were recorded")

    real_finish = store.finish_many
    store.finish_many = die  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        outgoing.publish(store)
    store.finish_many = real_finish  # type: ignore[method-assign]
    assert len(_lines(tmp_path / "out.jsonl")) == 3
    assert [store.get(task_id).status for task_id in ids] == ["processing"] * 3
    assert outgoing.publish(store).processed == 0  # their leases are live: left alone
    clock.now += 31
    stats = outgoing.publish(store)
    assert [store.get(task_id).status for task_id in ids] == ["processed"] * 3
    assert (stats.processed, stats.resumed) == (3, 0)
    assert [record["n"] for record in _lines(tmp_path / "out.jsonl")] == [0, 1, 2]  # not written twice
    assert store.namespaces().get(outgoing.written_namespace) is None


def test_a_batch_that_never_reached_the_file_is_written_again(tmp_path, store, clock, monkeypatch) -> None:
    outgoing = _outgoing(tmp_path, store, {"type": "jsonl", "path": "out.jsonl", "batch_size": 3})
    ids = [store.add_tasks("items", {"n": n}, ["out"], str(n))[0] for n in range(3)]

    def die(_fd, _data):
        raise SystemExit("killed between the mark and the write")

    monkeypatch.setattr(files.os, "write", die)
    with pytest.raises(SystemExit):
        outgoing.publish(store)
    monkeypatch.undo()
    outgoing.publisher._file._pending.clear()  # type: ignore[attr-defined]  # the dead process's memory is gone
    clock.now += 31
    stats = outgoing.publish(store)
    assert (stats.processed, stats.resumed) == (3, 3)
    assert [store.get(task_id).status for task_id in ids] == ["processed"] * 3
    assert [record["n"] for record in _lines(tmp_path / "out.jsonl")] == [0, 1, 2]


def test_a_file_rotated_away_between_passes_is_not_written_to_again(tmp_path, store) -> None:
    """``serve`` keeps one outgoing for hours: a target held open across passes would keep
    writing to the file a log rotation moved away."""
    outgoing = _outgoing(tmp_path, store, {"type": "jsonl", "path": "out.jsonl"})
    store.add_tasks("items", {"n": 0}, ["out"], "0")
    assert outgoing.publish(store).processed == 1
    (tmp_path / "out.jsonl").rename(tmp_path / "out.jsonl.1")
    store.add_tasks("items", {"n": 1}, ["out"], "1")
    assert outgoing.publish(store).processed == 1
    assert _lines(tmp_path / "out.jsonl.1") == [{"n": 0}] and _lines(tmp_path / "out.jsonl") == [{"n": 1}]


def test_a_lease_that_lapses_while_a_pass_recovers_does_not_repeat_a_batch_that_landed(
    tmp_path, store, clock
) -> None:
    """A pass leaves the mark of a batch whose tasks still hold a live lease (their run may be
    writing it); if the lease lapses a moment later, in the same pass, those tasks must not be
    resumed and written again before a pass has looked at the mark."""
    outgoing = _outgoing(tmp_path, store, {"type": "jsonl", "path": "out.jsonl", "batch_size": 3})
    ids = [store.add_tasks("items", {"n": n}, ["out"], str(n))[0] for n in range(3)]

    def die(_outcomes):
        raise SystemExit("killed after the write, before the tasks were recorded")

    real_finish, real_leased = store.finish_many, store.leased
    store.finish_many = die  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        outgoing.publish(store)
    store.finish_many = real_finish  # type: ignore[method-assign]

    def leased_then_lapsed(name):
        found = real_leased(name)
        clock.now += 31  # the dead run's leases lapse right after they were seen live
        return found

    store.leased = leased_then_lapsed  # type: ignore[method-assign]
    outgoing.publish(store)
    store.leased = real_leased  # type: ignore[method-assign]
    assert [record["n"] for record in _lines(tmp_path / "out.jsonl")] == [0, 1, 2]  # not written twice
    assert outgoing.publish(store).processed == 3  # the next pass finishes them from the mark
    assert [store.get(task_id).status for task_id in ids] == ["processed"] * 3
    assert [record["n"] for record in _lines(tmp_path / "out.jsonl")] == [0, 1, 2]
