"""A Reconify-shaped tracking endpoint: ``POST /track`` validates and records each event.

Tests and examples read what arrived at ``GET /_sandbox/reconify`` (the keys masked). An event
missing a field of the contract, or whose ``format``/``type`` pair Reconify does not take, is
refused with a 400, as the real service refuses it.
"""

from __future__ import annotations

import threading
from typing import Any

from alumio_mistral.sandbox.wire import HttpError, Reply, Request, error_body, json_reply

TRACK_PATH = "/track"
#: the (format, type) pairs Reconify accepts from these providers
ACCEPTED_KINDS = {("mistral", "chat"), ("cohere", "chat"), ("cohere", "generate")}
_TOP_KEYS = {"reconify", "timestamps", "session", "sessionTimeout", "user", "request", "response"}
_RECONIFY_KEYS = {"format", "type", "version", "appKey", "apiKey"}


def _problem(event: Any) -> str | None:
    """What makes ``event`` unacceptable, or None."""
    if not isinstance(event, dict):
        return "the body is not a JSON object"
    missing = sorted(_TOP_KEYS - event.keys())
    if missing:
        return f"missing {', '.join(missing)}"
    head = event["reconify"]
    if not isinstance(head, dict) or _RECONIFY_KEYS - head.keys():
        return f"reconify needs {', '.join(sorted(_RECONIFY_KEYS))}"
    if not head["appKey"] or not head["apiKey"]:
        return "reconify.appKey and reconify.apiKey must not be empty"
    if (head["format"], head["type"]) not in ACCEPTED_KINDS:
        return f"format {head['format']!r} with type {head['type']!r} is not accepted"
    stamps = event["timestamps"]
    if not isinstance(stamps, dict) or not all(isinstance(stamps.get(k), int) for k in ("request", "response")):
        return "timestamps.request and timestamps.response must be epoch milliseconds"
    return None


class Tracker:
    """The events received, in order, keys masked."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[dict[str, Any]] = []

    def track(self, request: Request) -> Reply:
        try:
            event = request.json()
        except HttpError as error:
            return error.reply()
        problem = _problem(event)
        if problem is not None:
            return json_reply(400, error_body(f"Invalid tracking event: {problem}"))
        masked = {**event, "reconify": {**event["reconify"], "appKey": "***", "apiKey": "***"}}
        with self._lock:
            self.events.append(masked)
        return json_reply(200, {"status": "ok"})

    def received(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.events)
