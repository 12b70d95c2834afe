"""The circuit breaker: open after N consecutive server failures, keep calls back, one trial.

Before it, an endpoint answering 500 to everything cost every task its full retry budget:
20 tasks to ``chat.complete`` (``max_attempts: 5``, ``failure.attempts: 3``) made 300 requests,
15 per task (measured with the breaker off, which is how every client sent before it).
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest
import requests
import responses
import yaml

from alumio_mistral import engine
from alumio_mistral.catalog.entity import Entity
from alumio_mistral.config import load_project
from alumio_mistral.http import Client, ClientConfig, ClientConfigError
from alumio_mistral.http.breaker import CircuitBreaker
from alumio_mistral.http.errors import CircuitOpenError, ServerError, TransportError

BASE = "http://down.test"
KEY = "sk-breaker-key-424242"
MODELS = Entity(name="models.list", operation_id="x", method="GET", path="/v1/models")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _breaker(clock: Clock, failures: int = 3, cool_down: float = 30.0) -> CircuitBreaker:
    return CircuitBreaker("mistral", failures=failures, cool_down=cool_down, clock=clock)


def test_opens_after_n_consecutive_failures_and_keeps_calls_back_with_a_clear_message() -> None:
    clock = Clock()
    breaker = _breaker(clock, failures=5)
    for _ in range(4):
        breaker.before_call()
        breaker.failed()
    assert breaker.state == "closed"
    breaker.failed()
    assert breaker.state == "open"
    clock.now += 0.4
    with pytest.raises(CircuitOpenError) as caught:
        breaker.before_call(method="GET", url="http://x/v1/models", entity="models.list")
    error = caught.value
    assert error.message == "client 'mistral': 5 consecutive server failures; not sending for 30 s (circuit open)"
    assert error.retry_in == pytest.approx(29.6)
    assert (error.method, error.entity, error.server_may_have_acted) == ("GET", "models.list", False)


def test_logs_once_when_it_opens_and_once_when_it_closes(caplog: pytest.LogCaptureFixture) -> None:
    """Before: every failure past the threshold logged again ("6 consecutive...", "7 ...")."""
    caplog.set_level(logging.DEBUG, logger="alumio_mistral.http")
    clock = Clock()
    breaker = _breaker(clock, failures=5)
    for _ in range(8):  # calls already in flight when it opened fail too
        breaker.failed()
    clock.now += 31
    breaker.before_call()
    breaker.failed()  # the trial fails: open again, nothing new to say
    clock.now += 31
    breaker.before_call()
    breaker.succeeded()
    breaker.succeeded()
    lines = [(record.levelname, record.getMessage()) for record in caplog.records if record.levelno >= logging.INFO]
    assert lines == [
        ("WARNING", "client 'mistral': 5 consecutive server failures; circuit open, not sending for 30 s"),
        ("INFO", "client 'mistral': the server answers again; circuit closed"),
    ]


def test_an_answer_that_is_not_a_server_failure_resets_the_count() -> None:
    breaker = _breaker(Clock())
    breaker.failed()
    breaker.failed()
    breaker.succeeded()  # a 2xx, 4xx or 429: the server is up
    breaker.failed()
    breaker.failed()
    assert breaker.state == "closed"


def test_half_open_lets_one_trial_through_whose_success_closes() -> None:
    clock = Clock()
    breaker = _breaker(clock)
    for _ in range(3):
        breaker.failed()
    clock.now += 30
    assert breaker.state == "half-open"
    breaker.before_call()  # the trial
    with pytest.raises(CircuitOpenError, match="half-open"):
        breaker.before_call()
    breaker.succeeded()
    assert breaker.state == "closed"
    breaker.before_call()


def test_a_failed_trial_opens_again_for_a_full_cool_down() -> None:
    clock = Clock()
    breaker = _breaker(clock)
    for _ in range(3):
        breaker.failed()
    clock.now += 31
    breaker.before_call()
    breaker.failed()
    assert breaker.state == "open"
    clock.now += 29
    with pytest.raises(CircuitOpenError):
        breaker.before_call()


def test_a_trial_ended_by_a_local_error_passes_the_turn_on() -> None:
    clock = Clock()
    breaker = _breaker(clock)
    for _ in range(3):
        breaker.failed()
    clock.now += 30
    breaker.before_call()
    breaker.abandoned()
    breaker.before_call()  # not stuck half-open


def test_zero_failures_turns_the_breaker_off() -> None:
    breaker = _breaker(Clock(), failures=0)
    for _ in range(100):
        breaker.failed()
    breaker.before_call()
    assert breaker.state == "closed"


def test_threads_in_half_open_get_exactly_one_trial() -> None:
    clock = Clock()
    breaker = _breaker(clock)
    for _ in range(3):
        breaker.failed()
    clock.now += 30
    passed: list[int] = []
    start = threading.Barrier(16)

    def attempt(index: int) -> None:
        start.wait()
        try:
            breaker.before_call()
        except CircuitOpenError:
            return
        passed.append(index)

    threads = [threading.Thread(target=attempt, args=(index,)) for index in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(passed) == 1


# -- through the client -----------------------------------------------------------------------


def _client(**settings: object) -> Client:
    return Client(ClientConfig(name="mistral", base_uri=BASE, api_key=KEY, backoff_factor=0, **settings))  # type: ignore[arg-type]


@responses.activate
def test_the_client_stops_touching_the_network_once_open() -> None:
    responses.get(f"{BASE}/v1/models", status=500, json={"message": "down"})
    client = _client(max_attempts=2, breaker_failures=3)
    for _ in range(3):
        with pytest.raises(ServerError):
            client.call(MODELS)
    assert len(responses.calls) == 6 and client.breaker_state == "open"
    for _ in range(10):
        with pytest.raises(CircuitOpenError) as caught:
            client.call(MODELS)
    assert len(responses.calls) == 6
    assert "client 'mistral': 3 consecutive server failures; not sending for" in str(caught.value)
    assert caught.value.entity == "models.list" and KEY not in str(caught.value)


@responses.activate
def test_client_errors_and_rate_limits_are_not_server_failures() -> None:
    responses.get(f"{BASE}/v1/models", status=404, json={"detail": "no"})
    responses.get(f"{BASE}/v1/limited", status=429, json={"message": "slow down"})
    client = _client(max_attempts=1, breaker_failures=2)
    for _ in range(5):
        with pytest.raises(Exception):
            client.call(MODELS)
        with pytest.raises(Exception):
            client.request("GET", "/v1/limited")
    assert client.breaker_state == "closed"


@responses.activate
def test_no_answer_at_all_counts_as_a_server_failure() -> None:
    responses.get(f"{BASE}/v1/models", body=requests.ConnectionError("refused"))
    client = _client(max_attempts=1, breaker_failures=2)
    for _ in range(2):
        with pytest.raises(TransportError):
            client.call(MODELS)
    with pytest.raises(CircuitOpenError):
        client.call(MODELS)


@pytest.mark.parametrize("settings", [{"breaker_failures": -1}, {"breaker_failures": 1001},
                                      {"breaker_cool_down": 0}, {"breaker_cool_down": 86400}])
def test_settings_have_bounded_ranges(settings: dict[str, float]) -> None:
    with pytest.raises(ClientConfigError, match="breaker_"):
        ClientConfig(**settings)  # type: ignore[arg-type]


# -- through a run ----------------------------------------------------------------------------


def _run_against_a_dead_endpoint(tmp_path: Path, breaker_failures: int | None) -> int:
    """Requests made by a run of 20 chat tasks against an endpoint answering 500 to everything."""
    tmp_path.mkdir()
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"id": n, "text": f"t{n}"}) + "\n" for n in range(20)))
    client: dict[str, object] = {"base_uri": BASE, "api_key": KEY, "backoff_factor": 0, "max_attempts": 5}
    if breaker_failures is not None:
        client["breaker_failures"] = breaker_failures
    (tmp_path / "alumio.yaml").write_text(yaml.safe_dump({
        "clients": {"mistral": client},
        "incoming": {"rows": {"subscriber": {"type": "jsonl", "path": "in.jsonl"}}},
        "outgoing": {"chat": {
            "publisher": {"entity": "chat.complete"},
            "entity_transformers": [{"type": "set", "path": "model", "value": "m"}],
            "failure": {"policy": "retry", "attempts": 3, "backoff": 0},
        }},
        "routes": [{"incoming": "rows", "outgoing": "chat"}],
    }))
    with responses.RequestsMock() as mock:
        mock.post(f"{BASE}/v1/chat/completions", status=500, json={"message": "down"})
        stats = engine.run(load_project(tmp_path, environ={}))
        assert stats.created == 20 and stats.processed == 0 and stats.failed >= 1
        return len(mock.calls)


def test_a_run_against_a_dead_endpoint_stops_after_n_times_max_attempts_requests(tmp_path: Path) -> None:
    assert _run_against_a_dead_endpoint(tmp_path / "before", breaker_failures=0) == 300
    assert _run_against_a_dead_endpoint(tmp_path / "now", breaker_failures=None) <= 5 * 5
