"""Run until a signal, then wind down within a grace period: what ``serve`` and ``worker`` share.

The first SIGTERM or SIGINT sets a stop event: the scheduler starts nothing more and publish
passes claim nothing more (a task is claimed only when a thread is free for it, so nothing is
held that has not started); the work in flight gets ``grace`` seconds to finish. A second
signal leaves at once. Nothing is lost either way: a task whose request was in flight keeps
its lease until it lapses, and the next start resumes it (or holds it for review when its
request was not safe to repeat), as after any crash.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from typing import Any, Callable

log = logging.getLogger("alumio_mistral.serve")

#: exit codes: wound down in time / work still running when the grace period ended, or a
#: second signal (its leases lapse and the next start resumes it)
EXIT_CLEAN, EXIT_UNFINISHED = 0, 1
#: how often the main thread looks at the stop event (signal handlers run between its waits)
POLL = 0.2

#: ``start(stop)`` begins the work in background threads and returns ``finish(grace)``, which
#: waits up to ``grace`` seconds for it to end and says whether it did
Start = Callable[[threading.Event], Callable[[float], bool]]


def run_until_signal(start: Start, *, grace: float, what: str, close: Callable[[], None]) -> int:
    """Run ``start``'s work until SIGTERM/SIGINT (or until the work sets the stop event itself),
    then give it ``grace`` seconds; ``close`` releases what the work used once it ended.

    Returns 0; when work is still running after the grace period the process leaves at once
    with 1 (threads still sending would otherwise keep it alive)."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        if stop.is_set():
            print(f"{what}: second {signal.Signals(signum).name}: leaving now; work in flight resumes"
                  " when its leases lapse", file=sys.stderr, flush=True)
            os._exit(EXIT_UNFINISHED)
        print(f"{what}: {signal.Signals(signum).name}: claiming nothing more; finishing the work in"
              f" flight (up to {grace:g}s; signal again to leave at once)", file=sys.stderr, flush=True)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        finish = start(stop)
        while not stop.wait(POLL):
            pass
        if finish(grace):
            close()
            print(f"{what}: stopped", file=sys.stderr, flush=True)
            return EXIT_CLEAN
        print(f"{what}: work still running after {grace:g}s: leaving it; its leases lapse and the next"
              " start resumes it", file=sys.stderr, flush=True)
        os._exit(EXIT_UNFINISHED)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
