"""The WSGI application of ``serve``: webhook incomings, ``/healthz``, ``/metrics`` and the dashboard.

Routing is a dictionary: a webhook's path is configuration, known at start, so there is no
pattern matching on data. A webhook answers 2xx only after its entities are durably stored
as tasks (``ingest`` returns after the store's commit); anything else is a 4xx or 5xx with a
reason, and the sender may post again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from alumio_mistral.errors import AlumioError
from alumio_mistral.webhooks import WebhookRefused, WebhookSpec, entities_in

if TYPE_CHECKING:
    from alumio_mistral.service.dashboard import Dashboard

log = logging.getLogger("alumio_mistral.serve")

StartResponse = Callable[..., Any]
#: ``ingest(entities)`` stores every entity as tasks in one transaction and says what it did
Ingest = Callable[[list[Any]], Mapping[str, Any]]


@dataclass(frozen=True)
class Hook:
    """One webhook incoming: where it listens, who may post, and where its entities go."""

    incoming: str
    spec: WebhookSpec
    ingest: Ingest


class ServiceApp:
    """Answers the routes of ``serve``; every other path is 404."""

    def __init__(
        self,
        hooks: Iterable[Hook] = (),
        *,
        health: Callable[[], tuple[bool, Mapping[str, Any]]],
        metrics: Callable[[], tuple[bytes, str]],
        dashboard: Dashboard | None = None,
    ) -> None:
        self.hooks = {hook.spec.path: hook for hook in hooks}
        #: answers ``/`` and its own paths (see :data:`~alumio_mistral.service.dashboard.app.PREFIXES`)
        self.dashboard = dashboard
        self._health = health
        self._metrics = metrics

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO") or "/", environ.get("REQUEST_METHOD", "GET")
        if path in self.hooks:
            if method != "POST":
                return _json(start_response, 405, {"error": "webhooks take POST"}, [("Allow", "POST")])
            return self._webhook(self.hooks[path], environ, start_response)
        if path == "/healthz" and method in ("GET", "HEAD"):
            ok, details = self._health()
            return _json(start_response, 200 if ok else 503, {"ok": ok, **details})
        if path == "/metrics" and method in ("GET", "HEAD"):
            body, content_type = self._metrics()
            start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
            return [body]
        if self.dashboard is not None and self.dashboard.handles(path):
            return self.dashboard(environ, start_response)
        return _json(start_response, 404, {"error": f"no route {path}"})

    def _webhook(self, hook: Hook, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        remote = environ.get("REMOTE_ADDR", "?")
        try:
            hook.spec.check_size(_content_length(environ))
            body = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
            hook.spec.authenticate(_headers(environ), body)
            entities = entities_in(body, environ.get("CONTENT_TYPE", ""))
            outcome = hook.ingest(entities)
        except WebhookRefused as refused:
            log.warning("webhook %s (incoming %s) refused a post from %s: %s",
                        hook.spec.path, hook.incoming, remote, refused)
            return _json(start_response, refused.status, {"error": refused.reason})
        except AlumioError as error:  # the store could not take them: nothing was kept
            log.error("webhook %s (incoming %s) could not store a post: %s", hook.spec.path, hook.incoming, error)
            return _json(start_response, 503, {"error": f"not stored, post again later: {error}"})
        return _json(start_response, 200, {"incoming": hook.incoming, **outcome})


def _content_length(environ: Mapping[str, Any]) -> int | None:
    try:
        return int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None


def _headers(environ: Mapping[str, Any]) -> dict[str, str]:
    """Request headers by their HTTP names (WSGI keeps them as ``HTTP_X_NAME``)."""
    found = {key[5:].replace("_", "-"): value for key, value in environ.items() if key.startswith("HTTP_")}
    if "CONTENT_TYPE" in environ:
        found["Content-Type"] = environ["CONTENT_TYPE"]
    return found


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 411: "Length Required", 413: "Content Too Large",
            415: "Unsupported Media Type", 422: "Unprocessable Content", 503: "Service Unavailable"}


def _json(start_response: StartResponse, status: int, document: Any,
          extra: list[tuple[str, str]] | None = None) -> list[bytes]:
    body = json.dumps(document, ensure_ascii=False, default=str).encode()
    start_response(f"{status} {_REASONS.get(status, '')}".rstrip(),
                   [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *(extra or [])])
    return [body]
