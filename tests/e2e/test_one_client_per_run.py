"""One named client is one session and one rate limit for the whole run.

A subscriber (a Mistral list), http-enrich steps on both sides and two Mistral publishers all
use client ``mistral`` with ``rate_limit: 5``. If any of them built a client of its own, a
second ``requests.Session`` would appear and the rates would add up; measured on the sandbox's
own counters, the run stays at 5 requests a second while outgoings publish on 4 threads.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from alumio_mistral import engine
from alumio_mistral.config import load_project

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RATE = 5
ENRICH = {"type": "http-enrich", "entity": "models.retrieve", "path_params": {"model_id": "&{id}"}, "to": "card"}


def _project(folder: Path, base_uri: str) -> Path:
    document = {
        "clients": {"mistral": {"base_uri": base_uri, "api_key": "sk-one-session-5555", "rate_limit": RATE}},
        "incoming": {"models": {"subscriber": {"entity": "models.list"}, "identity": "id",
                                "entity_transformers": [ENRICH]}},
        "outgoing": {
            "chat": {
                "publisher": {"entity": "chat.complete", "body": "request"},
                "entity_transformers": [ENRICH, {"type": "set", "path": "request", "value": {
                    "model": "mistral-small-latest", "messages": [{"role": "user", "content": "&{id}"}]}}],
                "concurrency": 4,
            },
            "card": {
                "publisher": {"entity": "models.retrieve", "path_params": {"model_id": "&{id}"}},
                "entity_transformers": [ENRICH],
                "concurrency": 4,
            },
        },
        "routes": [{"incoming": "models", "outgoing": ["chat", "card"]}],
    }
    (folder / "alumio.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    return folder


def _answered(counts: dict[str, int]) -> int:
    return sum(count for key, count in counts.items() if key.startswith("status ") or key == "dropped")


def test_one_session_and_one_rate_limit_across_subscriber_enrich_and_publishers(
    tmp_path: Path, mistral_sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions: list[requests.Session] = []
    sent: list[float] = []
    lock = threading.Lock()
    original_init, original_send = requests.Session.__init__, requests.Session.send

    def counting_init(self: requests.Session, *args: Any, **kwargs: Any) -> None:
        sessions.append(self)
        original_init(self, *args, **kwargs)

    def timed_send(self: requests.Session, request: Any, **kwargs: Any) -> Any:
        with lock:
            sent.append(time.monotonic())
        return original_send(self, request, **kwargs)

    project = load_project(_project(tmp_path, mistral_sandbox.base_uri), environ={})
    before = _answered(mistral_sandbox.requests())
    monkeypatch.setattr(requests.Session, "__init__", counting_init)
    monkeypatch.setattr(requests.Session, "send", timed_send)
    stats = engine.run(project)
    monkeypatch.undo()

    assert stats.failed == 0 and stats.processed == 20, stats
    assert len(sessions) == 1, f"{len(sessions)} sessions for one client"
    served = _answered(mistral_sandbox.requests()) - before
    # 1 list + 10 enrich on reading; per outgoing 10 enrich + 10 publish
    assert served == len(sent) == 1 + 10 + 2 * 20
    span = max(sent) - min(sent)
    rate = (served - 1) / span
    assert rate <= RATE * 1.05, f"{served} requests in {span:.2f}s: {rate:.2f}/s"
