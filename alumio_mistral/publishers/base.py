"""What every publisher is: the one small surface the outgoing worker relies on."""

from __future__ import annotations

from typing import Any, Protocol

from alumio_mistral.publishers.request import PlannedCall


class Publisher(Protocol):
    """``plan`` shows the request (``--dry-run``), ``publish`` makes it and returns the decoded
    answer or ``None``, ``safe_to_repeat`` says whether a request perhaps sent before a crash
    may be sent again."""

    kind: str
    safe_to_repeat: bool

    def plan(self, record: Any) -> PlannedCall: ...

    def publish(self, record: Any) -> Any: ...
