"""WAL checkpoints on a thread of their own, for the connections that write batches.

SQLite backfills the write-ahead log into the database inside the commit that takes the log
past ``wal_autocheckpoint`` pages: that commit then copies and syncs about 16 MB, 20-50 ms
during which the writer of an incoming run stores nothing and the reading it serves waits
for it. A connection handed to :class:`Checkpointer` leaves that work to a thread of the
store's, which runs a passive checkpoint (it never blocks a writer) once the batches written
since the last one add up to the same amount. Should that thread fall behind, the connection
still checkpoints itself past :data:`FALLBACK_PAGES`.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

from alumio_mistral.tasks.store import TaskStoreError

#: the log pages after which the checkpointer backfills them (SQLite's own default)
CHECKPOINT_PAGES = 1000
#: where a connection handed over checkpoints by itself again, should the checkpointer fall behind
FALLBACK_PAGES = 8 * CHECKPOINT_PAGES

log = logging.getLogger("alumio_mistral.tasks")


class Checkpointer:
    """Runs ``PRAGMA wal_checkpoint(PASSIVE)`` on its own thread, through ``connection()``
    (the store's connection for the calling thread), once enough has been written."""

    def __init__(self, connection: Callable[[], sqlite3.Connection], page_bytes: int, where: str) -> None:
        self._connection = connection
        self._threshold = CHECKPOINT_PAGES * page_bytes
        self._where = where
        self._written = 0
        self._lock = threading.Lock()
        self._thread: ThreadPoolExecutor | None = None
        self._running: Future[None] | None = None
        self._handed = threading.local()

    def hand_over(self, db: sqlite3.Connection) -> None:
        """Leave ``db``'s checkpoints to this checkpointer (once per connection)."""
        if getattr(self._handed, "db", None) is not db:
            db.execute(f"PRAGMA wal_autocheckpoint = {FALLBACK_PAGES}")
            self._handed.db = db

    def wrote(self, size: int) -> None:
        """Count ``size`` bytes committed; start a checkpoint when they add up and none runs."""
        with self._lock:
            self._written += size
            if self._written < self._threshold or (self._running is not None and not self._running.done()):
                return
            self._written = 0
            if self._thread is None:
                self._thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-checkpoint")
            self._running = self._thread.submit(self._checkpoint)

    def close(self) -> None:
        """Wait for a checkpoint that runs, and end the thread."""
        with self._lock:
            thread, self._thread, self._running = self._thread, None, None
        if thread is not None:
            thread.shutdown(wait=True)

    def _checkpoint(self) -> None:
        try:
            self._connection().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except (sqlite3.Error, TaskStoreError) as error:  # the connections' own fallback checkpoints still run
            log.warning("%s: a background checkpoint failed: %s", self._where, error)
