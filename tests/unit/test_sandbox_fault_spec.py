"""The fault spec grammar and the per-request decisions it makes."""

from __future__ import annotations

import pytest

from alumio_mistral.sandbox import Faults, FaultSpecError, ManualClock


def test_parse_reads_every_kind_with_patterns_and_seed() -> None:
    faults = Faults.parse("rate_limit=20/s@/v1/chat/*; error=0.1:503@embeddings.*,models.list;latency=50ms;"
                          "drop=1%;truncate=0.05;garbage=0;seed=7")
    kinds = [(c.kind, c.patterns) for c in faults.clauses]
    assert kinds == [("rate_limit", ("/v1/chat/*",)), ("error", ("embeddings.*", "models.list")), ("latency", ()),
                     ("drop", ()), ("truncate", ()), ("garbage", ())]
    rate, error, latency, drop = faults.clauses[:4]
    assert (rate.limit, error.share, error.status, latency.seconds, drop.share) == (20, 0.1, 503, 0.05, 0.01)
    assert faults.seed == 7
    assert not Faults.parse("") and not Faults.parse(None)


@pytest.mark.parametrize("text, message", [
    ("bogus=1", "unknown fault 'bogus'"),
    ("error", "expected NAME=VALUE"),
    ("error=2", "between 0 and 1"),
    ("error=x:500", "'x' is not a share"),
    ("rate_limit=20/min", "per second"),
    ("rate_limit=0/s", "at least 1/s"),
    ("latency=fast", "like 50ms"),
    ("seed=abc", "not a whole number"),
])
def test_parse_errors_name_the_clause_and_the_problem(text: str, message: str) -> None:
    with pytest.raises(FaultSpecError) as raised:
        Faults.parse(text)
    assert message in str(raised.value) and repr(text.strip()) in str(raised.value)


def test_rate_limit_uses_one_second_windows_and_tells_when_to_retry() -> None:
    clock = ManualClock(start=100.25)
    faults = Faults.parse("rate_limit=2/s@chat.*")
    decide = lambda: faults.decide("/v1/chat/completions", "chat.complete", clock, 0)  # noqa: E731
    assert [decide().status for _ in range(3)] == [None, None, 429]
    assert decide().retry_after == 1
    assert faults.decide("/v1/models", "models.list", clock, 0).status is None
    clock.advance(0.75)
    assert decide().status is None


def test_draws_are_deterministic_by_seed_and_share() -> None:
    def run(seed: int) -> list[bool]:
        faults = Faults.parse("drop=0.5")
        return [faults.decide("/x", None, ManualClock(), seed).drop for _ in range(200)]

    assert run(1) == run(1) != run(2)
    assert 70 < sum(run(1)) < 130


def test_latency_adds_up_and_first_error_wins() -> None:
    faults = Faults.parse("latency=10ms;latency=0.5s;error=1:503;error=1:500")
    decision = faults.decide("/v1/models", "models.list", ManualClock(), 0)
    assert decision.delay == pytest.approx(0.51)
    assert decision.status == 503


def test_latency_with_a_share_delays_only_that_share_of_requests() -> None:
    faults = Faults.parse("latency=0.3:2s;seed=3")
    assert (faults.clauses[0].share, faults.clauses[0].seconds) == (0.3, 2.0)
    delays = [faults.decide("/v1/files", "files.upload", ManualClock(), 0).delay for _ in range(300)]
    assert set(delays) == {0.0, 2.0} and 60 < delays.count(2.0) < 120
    with pytest.raises(FaultSpecError, match="is not a share"):
        Faults.parse("latency=x:2s")
