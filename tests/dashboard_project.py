"""A project for the dashboard's tests: entities published to the sandbox, some failing, and
the dashboard served over loopback by the application ``serve`` runs (its Service's app: the
webhooks, /healthz, /metrics and the dashboard) on a BackgroundServer."""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import yaml

from alumio_mistral import engine
from alumio_mistral.config import load_project
from alumio_mistral.runtime import Runtime
from alumio_mistral.service.serve import Service
from alumio_mistral.wsgi_server import BackgroundServer

#: the project's API key: no page may show it
KEY = "sk-dashboard-test-key-9f3b2c"
#: one in ten chat completions answered 400 (seeded, so every run fails the same tasks)
FAULTS = "error=0.1:400@chat.*;seed=11"


def write_project(folder: Path, base_uri: str, count: int) -> Path:
    """``count`` entities, routed to a chat completion each; a failure fails the task."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "items.jsonl").write_text("".join(json.dumps({"id": f"item-{n:03d}", "text": f"hello {n}"}) + "\n"
                                                for n in range(count)))
    document = {
        "clients": {"mistral": {"base_uri": base_uri, "api_key": "${MISTRAL_API_KEY}", "max_attempts": 1}},
        "incoming": {"items": {"subscriber": {"type": "jsonl", "path": "items.jsonl"}, "identity": "id"}},
        "outgoing": {"chat": {
            "publisher": {"entity": "chat.complete", "body": "request"},
            "failure": {"policy": "fail"},
            "entity_transformers": [{"type": "set", "path": "request", "value": {
                "model": "mistral-small-latest", "messages": [{"role": "user", "content": "&{text}"}]}}]}},
        "routes": [{"incoming": "items", "outgoing": "chat"}],
    }
    (folder / "alumio.yaml").write_text(yaml.safe_dump(document))
    return folder


def run_project(folder: Path) -> None:
    engine.run(load_project(folder, environ={"MISTRAL_API_KEY": KEY}))


@contextmanager
def served(folder: Path, token: str | None = None,
           poll_seconds: float = 3.0) -> Iterator[tuple[BackgroundServer, Runtime]]:
    """The dashboard of the project in ``folder`` on a free loopback port."""
    with Runtime(load_project(folder, environ={"MISTRAL_API_KEY": KEY})) as runtime:
        service = Service(runtime, threading.Event(), token, poll_seconds=poll_seconds)
        server = BackgroundServer(service.app, ident="dashboard-test").start()
        try:
            yield server, runtime
        finally:
            server.stop()
