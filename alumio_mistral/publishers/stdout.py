"""Publish to standard output, one JSON document per line (for pipes and quick looks)."""

from __future__ import annotations

import sys
import threading
from typing import Any

from alumio_mistral.publishers.files import to_json
from alumio_mistral.publishers.request import PlannedCall, RenderedRequest

_lock = threading.Lock()


class StdoutPublisher:
    """Prints each record as a JSON line; lines from parallel workers never interleave."""

    kind = "stdout"
    safe_to_repeat = True

    def plan(self, record: Any) -> PlannedCall:
        return PlannedCall("WRITE stdout", "-", RenderedRequest(json=record))

    def publish(self, record: Any) -> None:
        line = to_json(record) + "\n"
        with _lock:
            sys.stdout.write(line)
            sys.stdout.flush()
