"""What every subscriber yields: one entity at a time, with where it came from.

A source that cannot parse one row (a CSV row with the wrong field count, a JSONL line that
is not JSON) yields a :class:`Record` carrying the error instead of raising, so that the run
records it with file and line and goes on with the other rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Protocol


@dataclass(frozen=True)
class Record:
    entity: Any
    #: where the entity came from: "tickets.csv:12", "files.list page 3"
    origin: str
    #: why this row could not be read (``entity`` is then ``None``)
    error: str | None = None


class Subscriber(Protocol):
    def records(self) -> Iterator[Record]:
        """Read the source lazily, one record at a time."""
