"""The parts of an HTTP request that come from the record, compiled once per outgoing.

Path params, query values and a URI are placeholder templates (``"&{id}"``); the body is the
whole transformed record or the value at a pattern; multipart files come from a local path,
from base64 content in the record, or from text in the record.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from alumio_mistral.errors import AlumioError
from alumio_mistral.publishers.uri import UriTemplate, UriTemplateError
from alumio_mistral.secrets import redact_value
from alumio_mistral.transformers.errors import StepFailure
from alumio_mistral.transformers.patterns import MISSING, Evaluator, compile_pattern, compile_value


class PublishError(AlumioError):
    """A request could not be built from a record (missing file, bad base64, non-object body)."""


@dataclass
class RenderedRequest:
    """One concrete request, ready for the client (and printable for ``--dry-run``)."""

    path_params: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    data: dict[str, str] | None = None
    files: dict[str, tuple[str, bytes]] | None = None
    uri: str | None = None

    def body_for_display(self) -> Any:
        """The body as a person should see it: files by name and size, never their bytes."""
        if self.files is None:
            return self.json
        shown: dict[str, Any] = dict(self.data or {})
        for name, (filename, content) in self.files.items():
            shown[name] = f"<file {filename}, {len(content)} bytes>"
        return shown


@dataclass
class PlannedCall:
    """What would go on the wire: shown by ``--dry-run``, sent by ``publish``."""

    method: str
    url: str
    request: RenderedRequest

    def describe(self) -> dict[str, Any]:
        """Method, URL and body with secrets masked."""
        return redact_value({"method": self.method, "url": self.url, "body": self.request.body_for_display()})


@dataclass(frozen=True)
class _FileSource:
    """Where one multipart field's content comes from."""

    field_name: str
    read: Callable[[Any], bytes]
    filename: Callable[[Any], Any]
    #: the top-level record key the content comes from: not sent again as a form field
    consumes: str | None


class RequestTemplate:
    """Compiled once, rendered for every record; errors name the outgoing's dotted path."""

    def __init__(
        self, spec: Mapping[str, Any], *, root: Path, multipart: bool, has_body: bool, where: str
    ) -> None:
        self._where = where
        self._root = root
        #: the folders record data may pick a file to upload from: the project, plus allow_paths
        self._allowed = [root.resolve(), *((root / folder).resolve() for folder in spec.get("allow_paths") or ())]
        self._path_params = {k: compile_value(v) for k, v in (spec.get("path_params") or {}).items()}
        self._query = {k: compile_value(v) for k, v in (spec.get("query") or {}).items()}
        self.uri_template = self._uri_template(spec.get("uri"))
        self._body = _reader(spec["body"], f"{where}.body") if spec.get("body") else None
        self._files = [self._file_source(name, source) for name, source in (spec.get("files") or {}).items()]
        self._multipart = multipart or bool(self._files)
        self._has_body = has_body

    def _uri_template(self, text: str | None) -> UriTemplate | None:
        if not text:
            return None
        try:
            return UriTemplate(text)
        except UriTemplateError as error:
            raise PublishError(f"{self._where}.uri: {error}") from None

    def _file_source(self, name: str, source: Mapping[str, Any]) -> _FileSource:
        where = f"{self._where}.files.{name}"
        given_name = compile_value(source["filename"]) if source.get("filename") else None
        if "path" in source:
            path_of = compile_value(source["path"])
            return _FileSource(
                name,
                lambda record: self._read_file(path_of(record), where),
                given_name or (lambda record: Path(str(path_of(record))).name),
                _top_level_key(source["path"]),
            )
        if "content_base64" in source:
            content_of = _reader(source["content_base64"], f"{where}.content_base64")
            read: Callable[[Any], bytes] = lambda record: _decode_base64(content_of(record), where)  # noqa: E731
            consumed = _top_level_key(source["content_base64"])
        elif "pattern" in source:
            text_of = _reader(source["pattern"], f"{where}.pattern")
            read = lambda record: _as_bytes(text_of(record))  # noqa: E731
            consumed = _top_level_key(source["pattern"])
        else:
            raise PublishError(f"{where}: give one of path, content_base64 or pattern")
        return _FileSource(name, read, given_name or (lambda record: name), consumed)

    def _read_file(self, path: Any, where: str) -> bytes:
        """The file's bytes; symlinks are followed before the check, so none leads outside."""
        resolved = (self._root / str(path)).resolve()
        if not any(resolved.is_relative_to(folder) for folder in self._allowed):
            folders = ", ".join(str(folder) for folder in self._allowed)
            raise PublishError(
                f"{where}.path: {str(path)!r} is {resolved}, outside the folders files may be read "
                f"from ({folders}); list its folder under the publisher's allow_paths to permit it"
            )
        try:
            return resolved.read_bytes()
        except OSError as error:
            raise PublishError(f"{where}: cannot read {resolved}: {error.strerror}") from error

    def render(self, record: Any) -> RenderedRequest:
        """The request for ``record``; a missing placeholder or pattern raises :class:`PublishError`."""
        try:
            return self._render(record)
        except StepFailure as failure:
            raise PublishError(f"{self._where}: {failure}") from None
        except UriTemplateError as error:
            raise PublishError(f"{self._where}.uri: {error}") from None

    def _render(self, record: Any) -> RenderedRequest:
        rendered = RenderedRequest(
            path_params={k: fill(record) for k, fill in self._path_params.items()},
            query={k: v for k, fill in self._query.items() if (v := fill(record)) is not None},
            uri=self.uri_template.render(record) if self.uri_template else None,
        )
        if not self._has_body:
            return rendered
        body = self._body(record) if self._body else record
        if not self._multipart:
            rendered.json = body
            return rendered
        if body is not None and not isinstance(body, dict):
            raise PublishError(f"{self._where}.body: a multipart body must be an object, got {type(body).__name__}")
        skip = {source.field_name for source in self._files} | {source.consumes for source in self._files}
        rendered.data = {
            key: value if isinstance(value, str) else json.dumps(value)
            for key, value in (body or {}).items()
            if key not in skip and value is not None
        }
        rendered.files = {
            source.field_name: (str(source.filename(record)), source.read(record)) for source in self._files
        }
        return rendered


def _reader(text: str, where: str) -> Evaluator:
    """The value at a pattern; nothing there is an error naming the pattern and where it is set."""
    pattern = compile_pattern(text)

    def read(record: Any) -> Any:
        value = pattern.get(record)
        if value is MISSING:
            raise StepFailure(f"{where}: pattern {text!r} matches nothing", text)
        return value

    return read


def _top_level_key(reference: str) -> str | None:
    """``"content"``, ``"$.content"`` or ``"&{content}"`` name the top-level key ``content``."""
    match = re.fullmatch(r"(?:\$\.)?(\w+)|&\{(\w+)\}", reference.strip())
    return (match.group(1) or match.group(2)) if match else None


def _decode_base64(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise PublishError(f"{where}.content_base64: expected base64 text, got {type(value).__name__}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as error:
        raise PublishError(f"{where}.content_base64: not valid base64 ({error})") from error


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value, ensure_ascii=False).encode("utf-8")
