"""Fault injection: rate limits, error answers, latency, dropped connections, broken bodies.

Grammar of a fault spec (clauses separated by ``;``, each optionally limited to routes by
``@PATTERN``, a glob matched against the request path or the entity name, ``,`` between globs)::

    seed=7                    seed of the random draws (default: the sandbox seed)
    rate_limit=20/s           more than 20 requests in one second -> 429 with Retry-After
    error=0.1:503             10% of requests answer 503 (status defaults to 500)
    latency=50ms              every request waits 50 ms (also "0.2s")
    latency=0.3:2s            30% of requests wait 2 s (longer than a client's read timeout)
    drop=0.01                 1% of connections close without an answer, after the request
                              was handled (the server acted; the client cannot know)
    truncate=0.05             5% of answers have their body cut in half
    garbage=0.05              5% of answers have a body that is not JSON

Example: ``rate_limit=20/s@/v1/chat/*;error=0.1:500@embeddings.*;latency=50ms;seed=7``.
Draws are deterministic: the n-th request a clause sees gets the same draw for the same seed.
"""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from alumio_mistral.errors import AlumioError
from alumio_mistral.sandbox.clock import Clock

KINDS = ("rate_limit", "error", "latency", "drop", "truncate", "garbage")


class FaultSpecError(AlumioError):
    """A fault spec string that does not follow the grammar."""


@dataclass
class Clause:
    kind: str
    patterns: tuple[str, ...] = ()
    share: float = 1.0
    status: int = 500
    limit: int = 0
    seconds: float = 0.0
    seen: int = 0
    window: int = -1
    in_window: int = 0

    def applies(self, path: str, entity: str | None) -> bool:
        if not self.patterns:
            return True
        return any(fnmatchcase(path, p) or (entity is not None and fnmatchcase(entity, p)) for p in self.patterns)


@dataclass
class Decision:
    """What to do to one request: answer with an error, delay, drop, or damage the body."""

    status: int | None = None
    retry_after: int | None = None
    delay: float = 0.0
    drop: bool = False
    truncate: bool = False
    garbage: bool = False


@dataclass
class Faults:
    clauses: list[Clause] = field(default_factory=list)
    seed: int | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    @classmethod
    def parse(cls, text: str | None) -> "Faults":
        """Parse a fault spec (see the module docstring); raises :class:`FaultSpecError`."""
        faults = cls()
        for raw in (text or "").split(";"):
            raw = raw.strip()
            if raw:
                faults._add(raw)
        return faults

    def _add(self, raw: str) -> None:
        name, sep, rest = raw.partition("=")
        name = name.strip()
        if not sep:
            raise FaultSpecError(f"fault clause {raw!r}: expected NAME=VALUE")
        if name == "seed":
            self.seed = _number(raw, rest, int)
            return
        if name not in KINDS:
            raise FaultSpecError(f"fault clause {raw!r}: unknown fault {name!r} (known: seed, {', '.join(KINDS)})")
        value, _, pattern = rest.partition("@")
        clause = Clause(name, tuple(p.strip() for p in pattern.split(",") if p.strip()))
        value = value.strip()
        if name == "rate_limit":
            count, _, unit = value.partition("/")
            if unit not in ("s", ""):
                raise FaultSpecError(f"fault clause {raw!r}: rate limits are per second, write N/s")
            clause.limit = _number(raw, count, int)
            if clause.limit < 1:
                raise FaultSpecError(f"fault clause {raw!r}: the rate limit must be at least 1/s")
        elif name == "latency":
            share, _, duration = value.rpartition(":")
            clause.share = _share(raw, share) if share else 1.0
            clause.seconds = _duration(raw, duration)
        elif name == "error":
            share, _, status = value.partition(":")
            clause.share = _share(raw, share)
            clause.status = _number(raw, status, int) if status else 500
        else:
            clause.share = _share(raw, value)
        self.clauses.append(clause)

    def __bool__(self) -> bool:
        return bool(self.clauses)

    def decide(self, path: str, entity: str | None, clock: Clock, default_seed: int) -> Decision:
        """The faults for one request, advancing each matching clause's counters."""
        decision = Decision()
        seed = self.seed if self.seed is not None else default_seed
        with self._lock:
            for index, clause in enumerate(self.clauses):
                if not clause.applies(path, entity):
                    continue
                clause.seen += 1
                if clause.kind == "rate_limit":
                    self._rate(clause, clock, decision)
                elif _draw(seed, index, clause.seen) < clause.share:
                    self._apply(clause, decision)
        return decision

    @staticmethod
    def _apply(clause: Clause, decision: Decision) -> None:
        """Add one drawn clause to the decision: delays add up, the first error status wins."""
        if clause.kind == "latency":
            decision.delay += clause.seconds
        elif clause.kind == "error":
            if decision.status is None:
                decision.status = clause.status
        else:
            setattr(decision, clause.kind, True)

    @staticmethod
    def _rate(clause: Clause, clock: Clock, decision: Decision) -> None:
        """Fixed one-second windows: the first ``limit`` requests of a window pass."""
        now = clock.time()
        window = math.floor(now)
        if window != clause.window:
            clause.window, clause.in_window = window, 0
        if clause.in_window >= clause.limit:
            decision.status = 429
            decision.retry_after = max(1, math.ceil(window + 1 - now))
            return
        clause.in_window += 1


def _draw(seed: int, index: int, count: int) -> float:
    digest = hashlib.sha256(f"{seed}:{index}:{count}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _number(raw: str, text: str, kind: type) -> int:
    try:
        return int(kind(text.strip()))
    except ValueError:
        raise FaultSpecError(f"fault clause {raw!r}: {text.strip()!r} is not a whole number") from None


def _share(raw: str, text: str) -> float:
    try:
        share = float(text.strip().rstrip("%")) / (100 if text.strip().endswith("%") else 1)
    except ValueError:
        raise FaultSpecError(f"fault clause {raw!r}: {text.strip()!r} is not a share (0.1 or 10%)") from None
    if not 0 <= share <= 1:
        raise FaultSpecError(f"fault clause {raw!r}: a share is between 0 and 1")
    return share


def _duration(raw: str, text: str) -> float:
    for suffix, scale in (("ms", 0.001), ("s", 1.0)):
        if text.endswith(suffix):
            try:
                return float(text[: -len(suffix)]) * scale
            except ValueError:
                break
    raise FaultSpecError(f"fault clause {raw!r}: a duration is like 50ms or 0.2s")
