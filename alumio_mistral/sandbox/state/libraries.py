"""Libraries and their documents: create, list, upload, processing status, text, delete.

A document's processing moves one step per status poll (in_progress -> done), like batch jobs.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from alumio_mistral.sandbox.state import Context, Handler, page_of, token_page
from alumio_mistral.sandbox.wire import Request, absent, lookup

SANDBOX_USER = "00000000-0000-4000-8000-000000000001"


def _pagination(total: int, request: Request, size: int) -> dict[str, Any]:
    page = request.int_arg("page", 0)
    pages = math.ceil(total / size) if size else 0
    return {"total_items": total, "total_pages": pages, "current_page": page, "page_size": size,
            "has_more": page + 1 < pages}


class Libraries:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.records: dict[str, dict[str, Any]] = {}
        self.documents: dict[str, dict[str, dict[str, Any]]] = {}
        self.texts: dict[str, str] = {}

    def handlers(self) -> dict[str, Handler]:
        return {
            "libraries.create": self.create, "libraries.list": self.list, "libraries.get": self.get,
            "libraries.update": self.update, "libraries.replace": self.update, "libraries.delete": self.delete,
            "libraries.documents.list": self.list_documents, "libraries.documents.upload": self.upload,
            "libraries.documents.get": self.get_document, "libraries.documents.delete": self.delete_document,
            "libraries.documents.status": self.status, "libraries.documents.update": self.update_document,
            "libraries.documents.replace": self.update_document, "libraries.documents.get_text_content": self.text,
        }

    def _library(self, library_id: str) -> dict[str, Any]:
        return lookup(self.records, "Library", library_id)

    def _document(self, request: Request) -> dict[str, Any]:
        self._library(request.path_params["library_id"])
        document_id = request.path_params["document_id"]
        return lookup(self.documents[request.path_params["library_id"]], "Document", document_id)

    def create(self, request: Request) -> Any:
        body = request.json() or {}
        if not body.get("name"):
            raise absent(body.get("name"), "body", "name")
        now = self.ctx.iso_now()
        record = {
            "id": self.ctx.uuid(), "name": body["name"], "created_at": now, "updated_at": now,
            "owner_id": SANDBOX_USER, "owner_type": body.get("owner_type") or "User", "total_size": 0,
            "nb_documents": 0, "chunk_size": body.get("chunk_size"), "emoji": None,
            "description": body.get("description"), "generated_description": None,
            "explicit_user_members_count": 0, "explicit_workspace_members_count": 0, "org_sharing_role": None,
            "generated_name": None,
        }
        with self.ctx.lock:
            self.records[record["id"]] = record
            self.documents[record["id"]] = {}
        return record

    def list(self, request: Request) -> Any:
        with self.ctx.lock:
            records = list(self.records.values())
        search = request.arg("search")
        if search:
            records = [r for r in records if search.lower() in r["name"].lower()]
        size = max(1, request.int_arg("page_size", 100))
        page, next_token = token_page(records, request, default_size=size)
        return {"pagination": _pagination(len(records), request, size), "data": page, "next_page_token": next_token}

    def get(self, request: Request) -> Any:
        with self.ctx.lock:
            return self._library(request.path_params["library_id"])

    def update(self, request: Request) -> Any:
        body = request.json() or {}
        with self.ctx.lock:
            record = self._library(request.path_params["library_id"])
            record.update({k: body[k] for k in ("name", "description") if k in body})
            record["updated_at"] = self.ctx.iso_now()
            return record

    def delete(self, request: Request) -> Any:
        library_id = request.path_params["library_id"]
        with self.ctx.lock:
            record = self._library(library_id)
            for document_id in self.documents.pop(library_id):
                self.texts.pop(document_id, None)
            del self.records[library_id]
        return record

    def upload(self, request: Request) -> Any:
        upload = request.upload()
        library_id = request.path_params["library_id"]
        now = self.ctx.iso_now()
        text = upload.content.decode("utf-8", "replace")
        document = {
            "id": self.ctx.uuid(), "library_id": library_id, "hash": hashlib.md5(upload.content).hexdigest(),
            "mime_type": upload.content_type, "extension": upload.filename.rsplit(".", 1)[-1] if "." in upload.filename
            else None, "size": len(upload.content), "name": upload.filename, "summary": None, "created_at": now,
            "last_processed_at": None, "number_of_pages": text.count("\f") + 1, "process_status": "in_progress",
            "uploaded_by_id": SANDBOX_USER, "uploaded_by_type": "User", "tokens_processing_main_content": None,
            "tokens_processing_summary": None, "url": None, "attributes": None, "expires_at": None,
            "processing_status": "Running", "tokens_processing_total": 0,
        }
        with self.ctx.lock:
            library = self._library(library_id)
            self.documents[library_id][document["id"]] = document
            self.texts[document["id"]] = text
            library["nb_documents"] += 1
            library["total_size"] += len(upload.content)
        return document

    def list_documents(self, request: Request) -> Any:
        with self.ctx.lock:
            self._library(request.path_params["library_id"])
            documents = list(self.documents[request.path_params["library_id"]].values())
        search = request.arg("search")
        if search:
            documents = [d for d in documents if search.lower() in d["name"].lower()]
        size = max(1, request.int_arg("page_size", 100))
        return {"pagination": _pagination(len(documents), request, size), "data": page_of(documents, request)}

    def get_document(self, request: Request) -> Any:
        with self.ctx.lock:
            return self._document(request)

    def status(self, request: Request) -> Any:
        """The processing status, finishing the processing on the first poll after the upload."""
        with self.ctx.lock:
            document = self._document(request)
            answer = {"document_id": document["id"], "process_status": document["process_status"],
                      "processing_status": document["processing_status"]}
            if document["process_status"] == "in_progress":
                words = len(self.texts[document["id"]].split())
                document.update(process_status="done", processing_status="Completed",
                                last_processed_at=self.ctx.iso_now(), tokens_processing_main_content=words,
                                tokens_processing_total=words)
            return answer

    def update_document(self, request: Request) -> Any:
        body = request.json() or {}
        with self.ctx.lock:
            document = self._document(request)
            document.update({k: body[k] for k in ("name", "attributes", "expires_at") if k in body})
            return document

    def text(self, request: Request) -> Any:
        with self.ctx.lock:
            return {"text": self.texts[self._document(request)["id"]]}

    def delete_document(self, request: Request) -> Any:
        library_id = request.path_params["library_id"]
        with self.ctx.lock:
            document = self._document(request)
            del self.documents[library_id][document["id"]]
            self.texts.pop(document["id"], None)
            library = self.records[library_id]
            library["nb_documents"] -= 1
            library["total_size"] -= document["size"] or 0
        return None
