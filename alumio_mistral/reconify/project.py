"""A project's interaction sinks, and their delivery running beside a ``run``."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from alumio_mistral.reconify.delivery import DeliveryLoop
from alumio_mistral.reconify.interactions import topic_for
from alumio_mistral.reconify.sinks import Sink, sink_for
from alumio_mistral.tasks.store import TaskStore

#: how long the end of a run waits for the last events to go out (the rest stays queued)
FLUSH_WAIT = 5.0


def project_sinks(project: Any) -> dict[str, Sink]:
    """Outbox topic -> sink, for every outgoing with a ``log:`` (``serve`` passes these to
    :func:`~alumio_mistral.reconify.delivery.deliver_due`)."""
    root = Path(getattr(project, "root", "."))
    return {topic_for(name): sink_for(config.log, root)
            for name, config in project.outgoing.items() if getattr(config, "log", None)}


@contextmanager
def delivering(project: Any, store: TaskStore, flush_wait: float = FLUSH_WAIT) -> Iterator[None]:
    """Deliver the project's logged interactions on a background thread while the block runs,
    then flush for at most ``flush_wait`` seconds: a slow endpoint never holds the flow up."""
    loop = DeliveryLoop(store, project_sinks(project)).start()
    try:
        yield
    finally:
        loop.close(flush_wait)
