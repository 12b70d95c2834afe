"""Publish with a method and a URI template: webhooks, other services, or an uncatalogued route.

Whether a request may be sent again after a crash cannot be read from a catalog here, so it
follows HTTP: GET, HEAD, OPTIONS, PUT and DELETE are idempotent; anything else must be
declared ``safe_to_repeat: true`` by the user.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from alumio_mistral.http import Client
from alumio_mistral.http.client import IDEMPOTENT_METHODS
from alumio_mistral.publishers.request import PlannedCall, PublishError, RenderedRequest, RequestTemplate
from alumio_mistral.publishers.responses import read_response
from alumio_mistral.publishers.uri import origin
from alumio_mistral.secrets import redact


class HttpPublisher:
    """Sends one request per record to ``uri`` (relative to the client's base URI, or absolute).

    The request goes only where the configuration points: the final URL must keep the scheme,
    host and port of the template (or of the client's base URI for a relative template).
    """

    kind = "http"

    def __init__(self, spec: Mapping[str, Any], *, client: Client, root: Path, where: str) -> None:
        self._client = client
        self._where = where
        self._method = str(spec.get("method", "POST")).upper()
        self._template = RequestTemplate(
            spec, root=root, multipart=False, has_body=self._method not in {"GET", "HEAD"}, where=where
        )
        self._stream = bool(spec.get("stream", False))
        self.safe_to_repeat = bool(spec.get("safe_to_repeat", self._method in IDEMPOTENT_METHODS))

    def plan(self, record: Any) -> PlannedCall:
        rendered = self._template.render(record)
        self._checked_url(rendered)
        return PlannedCall(self._method, self._client.url_for(rendered.uri or "", query=rendered.query), rendered)

    def publish(self, record: Any) -> Any:
        rendered = self._template.render(record)
        response = self._client.request(
            self._method,
            self._checked_url(rendered),
            params=rendered.query or None,
            json=rendered.json if rendered.files is None else None,
            data=rendered.data,
            files=rendered.files,
            stream=self._stream,
            safe_to_retry=self.safe_to_repeat,
        )
        return read_response(response)

    def _checked_url(self, rendered: RenderedRequest) -> str:
        """The absolute URL to send to, refused when it would reach another scheme, host or port."""
        url = self._client.url_for(rendered.uri or "")
        template = self._template.uri_template
        configured = self._client.url_for(template.prefix if template else "")
        if origin(url) != origin(configured):
            raise PublishError(
                f"{self._where}.uri: the record would send the request to {redact(url)} instead of "
                f"{redact(configured)}; refused"
            )
        return url
