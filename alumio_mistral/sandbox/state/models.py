"""Models: a fixed set of base models plus fine-tuned ones that can be renamed, archived, deleted."""

from __future__ import annotations

from typing import Any

from alumio_mistral.sandbox.state import Context, Handler
from alumio_mistral.sandbox.wire import HttpError, Request, error_body, not_found

#: (id, max context, capabilities that are true)
BASE_MODELS: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("mistral-large-latest", 131072, ("completion_chat", "function_calling", "vision")),
    ("mistral-medium-latest", 131072, ("completion_chat", "function_calling", "vision")),
    ("mistral-small-latest", 131072, ("completion_chat", "function_calling", "fine_tuning")),
    ("codestral-latest", 262144, ("completion_chat", "completion_fim", "function_calling")),
    ("mistral-embed", 8192, ()),
    ("mistral-moderation-latest", 8192, ("moderation",)),
    ("mistral-ocr-latest", 16384, ("ocr",)),
)
FINE_TUNED_ROOTS = ("mistral-small-latest", "codestral-latest", "mistral-small-latest")
#: the models exist before any sandbox starts (2026-01-01T00:00:00Z), so that two sandboxes
#: with the same seed list identical models and a `dedup: changed` mirror sees no change
MODELS_CREATED = 1767225600


def _capabilities(enabled: tuple[str, ...]) -> dict[str, bool]:
    names = ("completion_chat", "function_calling", "completion_fim", "fine_tuning", "vision", "ocr",
             "classification", "moderation")
    return {name: name in enabled for name in names}


class Models:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        created = MODELS_CREATED
        self.base: dict[str, dict[str, Any]] = {
            model_id: {
                "id": model_id, "object": "model", "created": created, "owned_by": "mistralai",
                "capabilities": _capabilities(caps), "name": model_id, "description": None,
                "max_context_length": context, "aliases": [], "deprecation": None,
                "default_model_temperature": 0.3, "type": "base",
            }
            for model_id, context, caps in BASE_MODELS
        }
        self.tuned: dict[str, dict[str, Any]] = {}
        for index, root in enumerate(FINE_TUNED_ROOTS):
            suffix = ctx.uuid()[:8]
            model_id = f"ft:{root}:{suffix}:20260101:{index:04d}"
            self.tuned[model_id] = {
                "id": model_id, "object": "model", "created": created, "owned_by": "sandbox-org",
                "workspace_id": ctx.uuid(), "root": root, "root_version": "1", "archived": False,
                "name": None, "description": None, "capabilities": {"completion_chat": True, "completion_fim": False,
                "function_calling": False, "fine_tuning": False, "classification": False},
                "max_context_length": 32768, "aliases": [], "job": ctx.uuid(), "model_type": "completion",
            }

    def handlers(self) -> dict[str, Handler]:
        return {
            "models.list": self.list, "models.retrieve": self.retrieve, "models.delete": self.delete,
            "models.update": self.update, "models.archive": self.archive, "models.unarchive": self.unarchive,
        }

    def _card(self, model: dict[str, Any]) -> dict[str, Any]:
        """A fine-tuned model as ``/v1/models`` shows it (``job`` and ``root`` plus type ``fine-tuned``)."""
        card = {key: model[key] for key in ("id", "object", "created", "owned_by", "name", "description",
                                             "max_context_length", "aliases", "root", "job", "archived")}
        return {**card, "capabilities": model["capabilities"], "type": "fine-tuned", "deprecation": None}

    def _tuned(self, model_id: str) -> dict[str, Any]:
        if model_id in self.base:
            raise HttpError(403, error_body(f"Model {model_id!r} is a base model and cannot be changed", "forbidden"))
        if model_id not in self.tuned:
            raise not_found("Model", model_id)
        return self.tuned[model_id]

    def list(self, request: Request) -> Any:
        with self.ctx.lock:
            cards = list(self.base.values()) + [self._card(m) for m in self.tuned.values()]
        wanted = request.arg("model")
        if wanted:
            cards = [card for card in cards if card["id"] == wanted]
        return {"object": "list", "data": cards}

    def retrieve(self, request: Request) -> Any:
        model_id = request.path_params["model_id"]
        with self.ctx.lock:
            if model_id in self.base:
                return self.base[model_id]
            return self._card(self._tuned(model_id))

    def delete(self, request: Request) -> Any:
        model_id = request.path_params["model_id"]
        with self.ctx.lock:
            self._tuned(model_id)
            del self.tuned[model_id]
        return {"id": model_id, "object": "model", "deleted": True}

    def update(self, request: Request) -> Any:
        body = request.json() or {}
        with self.ctx.lock:
            model = self._tuned(request.path_params["model_id"])
            for key in ("name", "description"):
                if key in body:
                    model[key] = body[key]
            return dict(model)

    def _set_archived(self, request: Request, archived: bool) -> Any:
        with self.ctx.lock:
            model = self._tuned(request.path_params["model_id"])
            model["archived"] = archived
        return {"id": model["id"], "object": "model", "archived": archived}

    def archive(self, request: Request) -> Any:
        return self._set_archived(request, True)

    def unarchive(self, request: Request) -> Any:
        return self._set_archived(request, False)
