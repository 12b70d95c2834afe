"""The process's objects left out of garbage collection while a run reads.

Reading a page allocates thousands of objects, and every so often Python's collector looks at
every object the process holds, the 40,000 or so of its modules and configuration included:
about a tenth of an incoming run's time. :func:`settled` freezes the objects there are when a
run starts (``gc.freeze``: the collector skips them) and unfreezes them when it ends, so only
what the run made is looked at, and nothing is kept from being collected after it.
"""

from __future__ import annotations

import gc
import threading
from contextlib import contextmanager
from typing import Iterator

_lock = threading.Lock()
#: runs inside :func:`settled` now (in threads of a serving process)
_runs = 0
#: whether the first of them froze (not when the process had frozen objects of its own)
_froze = False


@contextmanager
def settled() -> Iterator[None]:
    """Freeze the objects there are for the block's duration (the first of overlapping blocks
    freezes, the last one out unfreezes). A process that froze objects itself (before forking
    workers, say) keeps its own arrangement: nothing is frozen or unfrozen then."""
    global _runs, _froze
    with _lock:
        if _runs == 0:
            _froze = gc.get_freeze_count() == 0
            if _froze:
                gc.freeze()
        _runs += 1
    try:
        yield
    finally:
        with _lock:
            _runs -= 1
            if _runs == 0 and _froze:
                gc.unfreeze()
                _froze = False
