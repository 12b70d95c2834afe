"""Where logged interactions go: Reconify, a JSONL file, or any HTTP endpoint.

A sink sends one stored event and says how a failure should be treated:
:class:`TransientDelivery` (429, 5xx, no answer: try again later) or
:class:`PermanentDelivery` (another 4xx: keep the event, stop trying).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Protocol

import requests

from alumio_mistral.errors import AlumioError
from alumio_mistral.http.prototypes import SANDBOX
from alumio_mistral.publishers.files import JsonlPublisher
from alumio_mistral.publishers.request import PublishError
from alumio_mistral.reconify.event import with_keys
from alumio_mistral.secrets import redact, register_secret

#: the default bound on one delivery: connect and read, seconds
DEFAULT_TIMEOUT = 10.0


class DeliveryError(AlumioError):
    """One event could not be delivered (the message never holds a key)."""


class TransientDelivery(DeliveryError):
    """Worth another try later: 429, 5xx, a timeout or a refused connection."""


class PermanentDelivery(DeliveryError):
    """The endpoint refused the event for good (a 4xx other than 429): kept and listed."""


class Sink(Protocol):
    def send(self, event: Mapping[str, Any]) -> None:
        """Deliver one stored event, or raise a :class:`DeliveryError`."""


class HttpSink:
    """POSTs each event as JSON, with a bounded timeout; ``headers`` may carry credentials."""

    def __init__(self, url: str, headers: Mapping[str, str] | None = None, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = url
        self._headers = dict(headers or {})
        for value in self._headers.values():
            register_secret(value)
        self._timeout = timeout
        self._session = requests.Session()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def body(self, event: Mapping[str, Any]) -> Mapping[str, Any]:
        return event

    def send(self, event: Mapping[str, Any]) -> None:
        try:
            answer = self._session.post(self.url, json=self.body(event), headers=self._headers,
                                        timeout=self._timeout, allow_redirects=False)
        except requests.RequestException as error:
            raise TransientDelivery(f"{self.url}: {type(error).__name__}: {redact(str(error))}") from None
        if answer.status_code < 300:
            return
        detail = f"{self.url}: HTTP {answer.status_code}: {redact(answer.text[:200])}"
        if answer.status_code == 429 or answer.status_code >= 500:
            raise TransientDelivery(detail)
        raise PermanentDelivery(detail)


class ReconifySink(HttpSink):
    """Reconify's REST contract: the app key and API key go into the body, at delivery only."""

    def __init__(self, endpoint: str, app_key: str, api_key: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__(endpoint, timeout=timeout)
        register_secret(app_key)
        register_secret(api_key)
        self._keys = (app_key, api_key)

    def body(self, event: Mapping[str, Any]) -> Mapping[str, Any]:
        return with_keys(event, *self._keys)


class JsonlSink:
    """Appends each event (without keys) as one line of a JSONL file, as a JSONL target appends
    a record: one ``write`` per line under ``flock``, so lines of other processes never mix
    with it, a line a killed writer left unfinished cut off first, a file rotated away made anew."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file = JsonlPublisher(self.path)

    def __repr__(self) -> str:
        return f"JsonlSink({str(self.path)!r})"

    def send(self, event: Mapping[str, Any]) -> None:
        try:
            self._file.publish(event)
        except PublishError as error:  # a full disk: the message names the file
            raise TransientDelivery(str(error)) from None
        except OSError as error:
            raise TransientDelivery(f"{self.path}: {error.strerror or error}") from None


def sink_for(config: Mapping[str, Any], root: Path) -> Sink:
    """The sink a ``log:`` configuration names (paths relative to the project folder); the
    endpoint ``sandbox`` is the tracking endpoint of the embedded sandbox, started on first use."""
    timeout = float(config.get("timeout", DEFAULT_TIMEOUT))
    if config["to"] == "reconify":
        endpoint = config["endpoint"]
        if endpoint == SANDBOX:
            from alumio_mistral.sandbox import (
                embedded_base_uri,  # only a sandbox project starts it
            )

            endpoint = embedded_base_uri() + "/track"
        return ReconifySink(endpoint, config["app_key"], config["api_key"], timeout)
    if config["to"] == "http":
        return HttpSink(config["url"], config.get("headers"), timeout)
    return JsonlSink(root / config["path"])
