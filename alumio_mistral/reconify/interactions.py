"""An outgoing's ``log:``: which calls it logs, as whom, and the outbox topic its events go to."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from alumio_mistral.errors import AlumioError
from alumio_mistral.reconify.event import OPERATION_KINDS, build_event
from alumio_mistral.secrets import redact_value
from alumio_mistral.transformers.patterns import compile_value

#: outbox topics of interaction logs start with this, then the outgoing's name
TOPIC_PREFIX = "interactions:"


def topic_for(outgoing: str) -> str:
    return TOPIC_PREFIX + outgoing


def now_ms() -> int:
    """Epoch milliseconds (wall clock: what Reconify shows)."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class Call:
    """One provider call as it happened: what was sent, what came back (or the error), when."""

    request: Any
    response: Any
    started_ms: int
    ended_ms: int


@dataclass
class InteractionLog:
    """The compiled ``log:`` of one outgoing: events for its calls, user and session from the entity."""

    outgoing: str
    kind: tuple[str, str]
    config: Mapping[str, Any]
    _user: Any = field(init=False, repr=False)
    _session: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._user = compile_value(dict(self.config.get("user") or {}))
        self._session = compile_value(self.config.get("session") or "")

    @classmethod
    def for_outgoing(cls, outgoing: str, operation: str | None, config: Mapping[str, Any]) -> InteractionLog:
        """Refuses, naming the outgoing, an operation that is not a chat or a generate."""
        kind = OPERATION_KINDS.get(operation or "")
        if kind is None:
            raise AlumioError(
                f"outgoing.{outgoing}.log: operation {operation!r} is not an interaction to log"
                f" (one of: {', '.join(sorted(OPERATION_KINDS))})"
            )
        return cls(outgoing, kind, config)

    @property
    def topic(self) -> str:
        return topic_for(self.outgoing)

    def entries(self, entity: Any, calls: list[Call]) -> tuple[tuple[str, Any], ...]:
        """One outbox entry per call; the keys of the sink are never part of it."""
        if not calls:
            return ()
        user, session = self._user(entity), self._session(entity)
        return tuple(
            (self.topic, redact_value(build_event(
                self.kind, call.request, call.response, call.started_ms, call.ended_ms,
                session=str(session), session_timeout=int(self.config.get("session_timeout", 10)), user=user,
            )))
            for call in calls
        )
