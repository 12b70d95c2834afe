"""HTTP request and reply values for the sandbox, over plain WSGI.

Plain WSGI keeps each request cheap (no framework routing or middleware): the sandbox must
answer well over a thousand small requests per second so it is never what a benchmark measures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any, Iterable, Mapping, TypeVar
from urllib.parse import parse_qs

V = TypeVar("V")

JSON_TYPE = "application/json"

_STATUS_TEXT = {
    200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Bad Request",
    401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    409: "Conflict", 410: "Gone", 422: "Unprocessable Entity", 429: "Too Many Requests",
    500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
}


def status_line(code: int) -> str:
    return f"{code} {_STATUS_TEXT.get(code, 'Status')}"


@dataclass
class Upload:
    """One file part of a multipart body."""

    filename: str
    content: bytes
    content_type: str


@dataclass
class Request:
    """What a handler needs from one HTTP request, parsed lazily."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    path_params: dict[str, str] = field(default_factory=dict)
    _json: Any = None
    _form: tuple[dict[str, str], dict[str, Upload]] | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, Any]) -> "Request":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {
            key[5:].replace("_", "-").lower(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        query_string = environ.get("QUERY_STRING", "")
        return cls(
            method=environ["REQUEST_METHOD"].upper(),
            path=environ.get("PATH_INFO") or "/",
            query=parse_qs(query_string, keep_blank_values=True) if query_string else {},
            headers=headers,
            body=body,
        )

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter ``name``."""
        values = self.query.get(name)
        return values[0] if values else default

    def int_arg(self, name: str, default: int) -> int:
        value = self.arg(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise HttpError(422, query_error(name, f"Input should be a valid integer, got {value!r}"))

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def json(self) -> Any:
        """The JSON body (``None`` when there is none); 422 ``json_invalid`` (as the API) when it does not parse."""
        if self._json is None and self.body and self.content_type != "multipart/form-data":
            try:
                self._json = json.loads(self.body)
            except ValueError as error:
                message = f"Request body is not valid JSON: {error}"
                raise HttpError(422, {"detail": [{"loc": ["body"], "msg": message, "type": "json_invalid"}]}) from None
        return self._json

    def form(self) -> tuple[dict[str, str], dict[str, Upload]]:
        """Fields and files of a form body: multipart (stdlib email parser: no extra dependency) or
        URL-encoded (what the SDKs send for a form without a file part; the API takes both)."""
        if self._form is None:
            fields: dict[str, str] = {}
            files: dict[str, Upload] = {}
            if self.content_type == "application/x-www-form-urlencoded":
                pairs = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
                fields = {name: values[-1] for name, values in pairs.items()}
            elif self.content_type == "multipart/form-data":
                head = f"Content-Type: {self.headers['content-type']}\r\n\r\n".encode()
                message = BytesParser(policy=HTTP).parsebytes(head + self.body)
                for part in message.iter_parts():
                    name = part.get_param("name", header="content-disposition")
                    payload = part.get_payload(decode=True) or b""
                    filename = part.get_filename()
                    if filename is not None:
                        files[str(name)] = Upload(filename, payload, part.get_content_type())
                    else:
                        fields[str(name)] = payload.decode("utf-8", "replace")
            self._form = (fields, files)
        return self._form


    def upload(self, name: str = "file") -> Upload:
        """The file part ``name`` of a multipart body; 422 when it is absent."""
        found = self.form()[1].get(name)
        if found is None:
            raise missing("body", name)
        return found


@dataclass
class Reply:
    """A status, headers and a body (bytes or an iterable of chunks for streams)."""

    status: int
    body: bytes | Iterable[bytes] = b""
    headers: list[tuple[str, str]] = field(default_factory=list)


class HttpError(Exception):
    """Raised by handlers to answer with an error status and body."""

    def __init__(self, status: int, body: Any, headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or []

    def reply(self) -> Reply:
        return json_reply(self.status, self.body, self.headers)


def json_reply(status: int, value: Any, headers: list[tuple[str, str]] | None = None) -> Reply:
    if status == 204:
        return Reply(204, b"", list(headers or []))
    data = json.dumps(value, separators=(",", ":")).encode()
    return Reply(status, data, [("Content-Type", JSON_TYPE), *(headers or [])])


def error_body(message: str, kind: str = "invalid_request_error", code: str | None = None) -> dict[str, Any]:
    """Mistral's error shape for every non-validation error."""
    return {"object": "error", "message": message, "type": kind, "param": None, "code": code}


def missing(*loc: str) -> HttpError:
    """422 for a required field that is absent (``missing("body", "model")``)."""
    return HttpError(422, {"detail": [{"loc": list(loc), "msg": "Field required", "type": "missing"}]})


#: what a client must send instead, and pydantic's error type for it, per JSON type
_EXPECTED = {
    "object": ("Input should be a valid dictionary or object to extract fields from", "model_attributes_type"),
    "array": ("Input should be a valid list", "list_type"),
    "string": ("Input should be a valid string", "string_type"),
}


def wrong_type(loc: list[Any], kinds: set[str]) -> HttpError:
    """422 for a value of the wrong JSON type (``kinds``: the types it may have)."""
    message, kind = next((_EXPECTED[k] for k in ("object", "array", "string") if k in kinds),
                         (f"Input should be of type {' or '.join(sorted(kinds))}", "type_error"))
    return HttpError(422, {"detail": [{"loc": loc, "msg": message, "type": kind}]})


def absent(value: Any, *loc: str) -> HttpError:
    """422 for a required value a handler cannot use: ``""`` and ``[]`` are values (too short),
    not missing fields; anything else falsy is ``Field required``."""
    if value == "":
        return HttpError(422, {"detail": [{"loc": list(loc), "msg": "String should have at least 1 character",
                                           "type": "string_too_short"}]})
    if value == []:
        return HttpError(422, {"detail": [{"loc": list(loc), "msg": "List should have at least 1 item",
                                           "type": "too_short"}]})
    return missing(*loc)


def query_error(name: str, message: str) -> dict[str, Any]:
    return {"detail": [{"loc": ["query", name], "msg": message, "type": "value_error"}]}


def not_found(kind: str, identifier: str) -> HttpError:
    return HttpError(404, error_body(f"{kind} {identifier!r} not found", "not_found_error"))


def lookup(records: Mapping[str, V], kind: str, identifier: str) -> V:
    """``records[identifier]``, or the API's 404 naming ``kind`` (every state family's lookup)."""
    record = records.get(identifier)
    if record is None:
        raise not_found(kind, identifier)
    return record
