"""Copy one task store into another (SQLite to PostgreSQL and back), exactly.

Every task keeps its id, status, attempts, claim, lease, result, error, resolution and
times, so a project moves to another store and carries on where it was: a task leased when
copied is still leased (and recovered when its lease lapses), a review task still waits for
a person. Storage values (de-dup marks, high-water marks) are copied key by key. The target
must be empty: ids are kept, so they must not meet ids already there. The schedule log is not
copied: a scheduled job simply runs at its next tick.
"""

from __future__ import annotations

from dataclasses import dataclass

from alumio_mistral.tasks.store import TaskStore, TaskStoreError

#: tasks read and written per transaction
PAGE = 1000


@dataclass
class CopyStats:
    tasks: int = 0
    values: int = 0


def copy_store(source: TaskStore, target: TaskStore, page: int = PAGE) -> CopyStats:
    """Copy every task and storage value of ``source`` into the empty ``target``."""
    if sum(target.counts().values()) or target.namespaces():
        raise TaskStoreError(f"{target!r} already holds tasks or storage values; copy into an empty store")
    stats, after = CopyStats(), 0
    while tasks := source.list(limit=page, after=after):
        target.import_tasks(tasks)
        stats.tasks += len(tasks)
        after = tasks[-1].id
    for namespace in source.namespaces():
        for key, value in source.items(namespace):
            target.set(namespace, key, value)
            stats.values += 1
    return stats
