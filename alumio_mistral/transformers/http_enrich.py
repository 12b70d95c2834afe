"""HTTP enrich: call a catalog entity through a client and put the response at a pattern.

Unlike a publisher, it keeps the entity and adds to it, so a pipeline can look something up
(a model card, a file's metadata) and go on.

In a dry run (``TransformContext.dry_run``) nothing is sent: the step writes the request it
would have sent at ``to`` instead, secrets masked, as ``{"dry_run": true, "method", "url",
"body"}`` (``pick`` is not applied: there is no answer to pick from). The preview then shows
where the call would go, and later steps still run (on that record, not on a real answer).
"""

from __future__ import annotations

from typing import Any

from marshmallow import fields

from alumio_mistral.errors import AlumioError
from alumio_mistral.secrets import redact_value
from alumio_mistral.transformers.errors import StepFailure, TransformConfigError
from alumio_mistral.transformers.patterns import MISSING, Pattern, to_text
from alumio_mistral.transformers.registry import (
    Compiler,
    StepParams,
    PatternField,
    Transformer,
    ValueField,
    read,
    register,
)


@register
class HttpEnrich(Transformer):
    """Call ``entity`` (a catalog name such as ``models.retrieve``) on client ``client`` with
    ``path_params``/``query``/``json`` (placeholders filled from the entity); write the JSON
    response (or the part at ``pick``) at ``to``; in a dry run, the unsent request instead."""

    type_name = "http-enrich"
    example = {"type": "http-enrich", "entity": "models.retrieve", "path_params": {"model_id": "&{model}"}, "to": "model_info"}

    class Params(StepParams):
        client = fields.String(load_default="mistral")
        entity = fields.String(required=True)
        path_params = fields.Dict(keys=fields.String(), values=ValueField(), load_default=dict)
        query = fields.Dict(keys=fields.String(), values=ValueField(), load_default=dict)
        body = ValueField(data_key="json")
        to = PatternField(required=True)
        pick = PatternField()

    def __init__(self, params: dict[str, Any], compiler: Compiler, where: str) -> None:
        super().__init__(params, compiler, where)
        context = compiler.context
        if context.catalog is not None:
            try:
                context.catalog.get(params["entity"])
            except AlumioError as error:
                raise TransformConfigError.one(compiler.source, f"{where}.entity", str(error)) from None
        if context.clients is not None and params["client"] not in context.clients:
            known = ", ".join(sorted(context.clients)) or "none"
            raise TransformConfigError.one(
                compiler.source, f"{where}.client", f"no client named {params['client']!r} (clients: {known})"
            )
        self.clients = context.clients
        self.dry_run = context.dry_run
        self.to: Pattern = params["to"]
        self.pick: Pattern | None = params.get("pick")

    def apply(self, entity: Any) -> Any:
        if self.clients is None or self.params["client"] not in self.clients:
            raise StepFailure(f"no client {self.params['client']!r} available here")
        client = self.clients[self.params["client"]]
        path_params = {name: to_text(value(entity)) for name, value in self.params["path_params"].items()}
        query = {name: value(entity) for name, value in self.params["query"].items()} or None
        body = self.params.get("body")
        json_body = body(entity) if body is not None else None
        if self.dry_run:
            target = client.entity(self.params["entity"])
            unsent = {
                "dry_run": True,
                "method": target.method,
                "url": client.url_for(target, path_params=path_params, query=query),
                "body": json_body,
            }
            return self.to.set(entity, redact_value(unsent))
        # decoded as the operation answers: a broken 2xx is a BrokenResponseError naming it
        data = client.call_json(self.params["entity"], path_params=path_params, query=query, json=json_body)
        if self.pick is not None:
            data = read(self.pick, data)
            if data is MISSING:
                raise StepFailure(
                    f"the response of {self.params['entity']} has nothing at {self.pick.text!r}", self.pick.text
                )
        return self.to.set(entity, data)
