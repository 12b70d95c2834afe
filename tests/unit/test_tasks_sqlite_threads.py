"""Closing the SQLite store while another thread is inside a statement on its own connection
(the outbox delivery thread still waiting on a slow endpoint when a run ends) must not pull
that connection from under it: with ``check_same_thread`` off, that crashed the process."""

from __future__ import annotations

import threading
from pathlib import Path

from alumio_mistral.tasks import SqliteTaskStore


def test_close_leaves_a_live_threads_connection_open_and_closes_it_once_the_thread_ends(tmp_path: Path) -> None:
    store = SqliteTaskStore(tmp_path / "tasks.db")
    store.add_tasks("in", {"n": 1}, ["out"], "1")
    opened, closed, done = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, object] = {}

    def worker() -> None:
        seen["connection"] = store._db()
        opened.set()
        closed.wait(10)
        # the statement this thread was in the middle of: its connection is still there
        seen["still_open"] = seen["connection"].execute("SELECT count(*) FROM tasks").fetchone()[0]
        seen["after"] = store.counts()  # its next use opens a new connection
        done.set()

    thread = threading.Thread(target=worker)
    thread.start()
    opened.wait(10)
    store.close()
    closed.set()
    done.wait(10)
    thread.join(10)
    assert seen["still_open"] == 1 and seen["after"]["new"] == 1
    store.close()  # the thread has ended: now its connections are closed
    assert not any(db is seen["connection"] for _thread, db in store._connections)
