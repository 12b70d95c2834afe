"""Publish to a Mistral operation: JSON, multipart, DELETE with a body, empty and SSE answers.

The catalog decides the method, path, body kind, auth and whether the request is safe to send
again; this module only fills the request from the record and reads the answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from alumio_mistral.catalog.entity import Entity
from alumio_mistral.http import Client
from alumio_mistral.publishers.request import PlannedCall, RenderedRequest, RequestTemplate
from alumio_mistral.publishers.responses import read_response


class MistralPublisher:
    """Sends one request per record to one catalog operation through a Mistral client."""

    kind = "mistral"

    def __init__(self, spec: Mapping[str, Any], *, client: Client, operation: Entity, root: Path, where: str) -> None:
        self._client = client
        self._operation = operation
        self._template = RequestTemplate(
            spec, root=root, multipart=operation.body == "multipart", has_body=operation.body != "none", where=where
        )
        #: explicit ``stream`` in the spec wins; a streaming operation streams, and so does a body
        #: asking for ``"stream": true`` (chat and FIM completions)
        self._stream: bool | None = spec.get("stream", True if operation.streams else None)
        self.safe_to_repeat = bool(spec.get("safe_to_repeat", operation.safe_to_retry))

    def _render(self, record: Any) -> RenderedRequest:
        rendered = self._template.render(record)
        if self._stream and isinstance(rendered.json, dict):
            rendered.json = {**rendered.json, "stream": True}
        return rendered

    def plan(self, record: Any) -> PlannedCall:
        rendered = self._render(record)
        return PlannedCall(
            method=self._operation.method,
            url=self._client.url_for(self._operation, path_params=rendered.path_params, query=rendered.query),
            request=rendered,
        )

    def publish(self, record: Any) -> Any:
        rendered = self._render(record)
        response = self._client.call(
            self._operation,
            path_params=rendered.path_params,
            query=rendered.query or None,
            json=rendered.json if rendered.files is None else None,
            data=rendered.data,
            files=rendered.files,
            stream=self._streams(rendered.json),
        )
        return read_response(response, self._operation)

    def _streams(self, body: Any) -> bool:
        if self._stream is not None:
            return self._stream
        return isinstance(body, dict) and body.get("stream") is True

