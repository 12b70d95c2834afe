"""Files: multipart upload, paged and filtered list, retrieve, download, signed URL, delete."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Any, Mapping
from urllib.parse import parse_qs, urlencode, urlsplit

from alumio_mistral.sandbox.state import Context, Handler, page_of
from alumio_mistral.sandbox.wire import HttpError, Reply, Request, error_body, lookup, not_found, query_error

MAX_EXPIRY_HOURS = 168
_CONTENT_PATH = re.compile(r"/v1/files/([^/]+)/content")
_SAMPLE_TYPES = {"batch": "batch_request", "fine-tune": "instruct", "ocr": "instruct"}


class Files:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.records: dict[str, dict[str, Any]] = {}
        self.contents: dict[str, bytes] = {}
        #: signs the URLs of ``files.get_signed_url`` (new per sandbox: URLs do not outlive it)
        self._secret = secrets.token_bytes(32)

    def handlers(self) -> dict[str, Handler]:
        return {
            "files.upload": self.upload, "files.list": self.list, "files.retrieve": self.retrieve,
            "files.delete": self.delete, "files.download": self.download, "files.get_signed_url": self.signed_url,
        }

    def add(self, filename: str, content: bytes, purpose: str, sample_type: str, source: str = "upload",
            mimetype: str | None = None) -> dict[str, Any]:
        """Store a file (uploads and batch outputs both come through here)."""
        record = {
            "id": self.ctx.uuid(), "object": "file", "bytes": len(content), "created_at": self.ctx.now(),
            "filename": filename, "purpose": purpose, "sample_type": sample_type,
            "num_lines": content.count(b"\n") + (0 if content.endswith(b"\n") or not content else 1),
            "mimetype": mimetype, "source": source, "signature": None, "expires_at": None, "visibility": "workspace",
        }
        with self.ctx.lock:
            self.records[record["id"]] = record
            self.contents[record["id"]] = content
        return record

    def content(self, file_id: str) -> bytes:
        with self.ctx.lock:
            if file_id not in self.contents:
                raise not_found("File", file_id)
            return self.contents[file_id]

    def _record(self, file_id: str) -> dict[str, Any]:
        return lookup(self.records, "File", file_id)

    def upload(self, request: Request) -> Any:
        upload = request.upload()
        # any purpose: the live API takes ones the spec does not list yet (relaxations.py)
        purpose = request.form()[0].get("purpose") or "fine-tune"
        sample_type = _SAMPLE_TYPES.get(purpose, "instruct")
        return self.add(upload.filename, upload.content, purpose, sample_type, mimetype=upload.content_type)

    def list(self, request: Request) -> Any:
        with self.ctx.lock:
            records = list(self.records.values())
        filters = {name: request.arg(name) for name in ("purpose", "sample_type", "source")}
        for name, wanted in filters.items():
            if wanted:
                records = [r for r in records if r[name] in request.query[name]]
        search = request.arg("search")
        if search:
            records = [r for r in records if search.lower() in r["filename"].lower()]
        mimetypes = request.query.get("mimetypes")
        if mimetypes:
            records = [r for r in records if r["mimetype"] in mimetypes]
        return {"object": "list", "data": page_of(records, request), "total": len(records)}

    def retrieve(self, request: Request) -> Any:
        with self.ctx.lock:
            return {**self._record(request.path_params["file_id"]), "deleted": False}

    def delete(self, request: Request) -> Any:
        file_id = request.path_params["file_id"]
        with self.ctx.lock:
            self._record(file_id)
            del self.records[file_id]
            del self.contents[file_id]
        return {"id": file_id, "object": "file", "deleted": True}

    def download(self, request: Request) -> Reply:
        file_id = request.path_params["file_id"]
        with self.ctx.lock:
            record = self._record(file_id)
            data = self.contents[file_id]
        disposition = f'attachment; filename="{record["filename"]}"'
        return Reply(200, data, [("Content-Type", "application/octet-stream"), ("Content-Disposition", disposition)])

    def signed_url(self, request: Request) -> Any:
        """A URL that serves the file without a bearer token until it expires (``expiry`` hours)."""
        file_id = request.path_params["file_id"]
        with self.ctx.lock:
            self._record(file_id)
        hours = request.int_arg("expiry", 24)
        if not 1 <= hours <= MAX_EXPIRY_HOURS:
            raise HttpError(422, query_error("expiry", f"Input should be between 1 and {MAX_EXPIRY_HOURS}"))
        expires = self.ctx.now() + hours * 3600
        host = request.headers.get("host", "127.0.0.1")
        query = urlencode({"expires": expires, "signature": self._signature(file_id, expires)})
        return {"url": f"http://{host}/v1/files/{file_id}/content?{query}"}

    def _signature(self, file_id: str, expires: int) -> str:
        return hmac.new(self._secret, f"{file_id}:{expires}".encode(), hashlib.sha256).hexdigest()

    def signature_problem(self, file_id: str, query: Mapping[str, list[str]]) -> str | None:
        """Why a signed URL's query does not open ``file_id`` (``None`` when it does)."""
        signature, expires = query.get("signature", [""])[0], query.get("expires", [""])[0]
        if not expires.isdigit() or not hmac.compare_digest(signature, self._signature(file_id, int(expires))):
            return f"the signature of this URL does not match file {file_id!r}"
        if self.ctx.now() >= int(expires):
            return f"this signed URL of file {file_id!r} expired at {int(expires)} (unix time)"
        return None

    def fetch(self, url: str) -> bytes | None:
        """The file a signed URL of this sandbox serves; ``None`` for other URLs; 400 when the
        URL has expired or its signature is wrong (what a fetch of it would find)."""
        parts = urlsplit(url)
        found = _CONTENT_PATH.fullmatch(parts.path)
        query = parse_qs(parts.query)
        if found is None or "signature" not in query:
            return None
        problem = self.signature_problem(found.group(1), query)
        if problem is not None:
            raise HttpError(400, error_body(f"Cannot fetch {parts.path}: {problem}"))
        return self.content(found.group(1))
