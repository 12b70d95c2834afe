"""Versioned registries (prompts and skills): create, list, get, update, delete, and their versions.

Both ``/v2`` families have one shape: a named record whose ``definition`` is versioned, with
aliases naming versions (an alias points to one version at a time) and camelCase fields. A new
version equal to the latest one is not stored again (``deduplicated: true``), as the API does.
"""

from __future__ import annotations

from typing import Any

from alumio_mistral.sandbox.state import Context, Handler, token_page
from alumio_mistral.sandbox.wire import HttpError, Request, lookup, missing, not_found

SHARING_SCOPES = ("sharing_scope_unspecified", "private", "workspace")


class Registry:
    """One registry family: ``prompts`` (with ``title`` and ``description``) or ``skills``."""

    def __init__(self, ctx: Context, family: str, kind: str, extra_fields: tuple[str, ...] = ()) -> None:
        self.ctx = ctx
        self.family = family
        self.kind = kind
        #: top-level fields besides the shared ones (set at creation, changed by ``update``)
        self.extra_fields = extra_fields
        self.id_param = f"{kind.lower()}_id"
        self.records: dict[str, dict[str, Any]] = {}

    def handlers(self) -> dict[str, Handler]:
        names = ("create", "list", "get", "update", "delete", "list_versions", "create_version", "get_version",
                 "update_version")
        return {f"{self.family}.{name}": getattr(self, name) for name in names}

    # -- records and views --------------------------------------------------------------------

    def _record(self, request: Request) -> dict[str, Any]:
        return lookup(self.records, self.kind, request.path_params[self.id_param])

    def _version(self, record: dict[str, Any], number: Any = None, alias: str | None = None) -> dict[str, Any]:
        """Version ``number`` (or the one ``alias`` names, or the latest) of a record; 404 when absent."""
        versions = record["versions"]
        if alias:
            found = next((v for v in versions if alias in v["aliases"]), None)
            if found is None:
                raise not_found(f"Alias of {self.kind.lower()} {record['id']!r}", alias)
            return found
        if number in (None, ""):
            return versions[-1]
        try:
            return versions[int(number) - 1]
        except (ValueError, IndexError):
            raise not_found(f"Version of {self.kind.lower()} {record['id']!r}", str(number))

    def _view(self, record: dict[str, Any], version: dict[str, Any]) -> dict[str, Any]:
        view = {"id": record["id"], "name": record["name"], "definition": version["definition"],
                "version": version["version"], "notes": version["notes"], "aliases": list(version["aliases"]),
                "sharingScope": record["sharingScope"], "createdAt": record["createdAt"],
                "updatedAt": record["updatedAt"], "latestVersion": len(record["versions"])}
        view.update({name: record[name] for name in self.extra_fields})
        return view

    def _add_version(self, record: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        definition = body.get("definition")
        if not isinstance(definition, dict):
            raise missing("body", "definition")
        version = {"version": len(record["versions"]) + 1, "definition": definition,
                   "notes": body.get("notes") or "", "aliases": [], "createdAt": self.ctx.iso_now()}
        record["versions"].append(version)
        self._alias(record, version, body.get("aliases") or [])
        record["updatedAt"] = version["createdAt"]
        return version

    @staticmethod
    def _alias(record: dict[str, Any], version: dict[str, Any], aliases: list[Any]) -> None:
        """Point ``aliases`` at ``version`` (taking them from any other version)."""
        names = [str(alias) for alias in aliases]
        for other in record["versions"]:
            other["aliases"] = [a for a in other["aliases"] if a not in names]
        version["aliases"] = [*version["aliases"], *names]

    # -- handlers -----------------------------------------------------------------------------

    def create(self, request: Request) -> Any:
        body = _object(request)
        if not body.get("name"):
            raise missing("body", "name")
        now = self.ctx.iso_now()
        record: dict[str, Any] = {"id": self.ctx.uuid(), "name": str(body["name"]), "createdAt": now,
                                  "updatedAt": now, "versions": [],
                                  "sharingScope": _scope(body.get("sharingScope"), "private")}
        record.update({name: body.get(name) or "" for name in self.extra_fields})
        with self.ctx.lock:
            version = self._add_version(record, body)
            self.records[record["id"]] = record
            return self._view(record, version)

    def list(self, request: Request) -> Any:
        alias = request.arg("alias")
        with self.ctx.lock:
            records = [r for r in self.records.values()
                       if not alias or any(alias in v["aliases"] for v in r["versions"])]
            views = [self._view(r, self._version(r, alias=alias)) for r in records]
        page, next_token = token_page(views, request, token_name="pageToken", size_name="pageSize")
        return {"data": page, "nextPageToken": next_token or ""}

    def get(self, request: Request) -> Any:
        with self.ctx.lock:
            record = self._record(request)
            return self._view(record, self._version(record, request.arg("version"), request.arg("alias")))

    def update(self, request: Request) -> Any:
        body = _object(request)
        with self.ctx.lock:
            record = self._record(request)
            for name in self.extra_fields:
                if body.get(name) is not None:
                    record[name] = body[name]
            if body.get("sharingScope") is not None:
                record["sharingScope"] = _scope(body["sharingScope"], record["sharingScope"])
            record["updatedAt"] = self.ctx.iso_now()
            return self._view(record, self._version(record))

    def delete(self, request: Request) -> Any:
        with self.ctx.lock:
            del self.records[self._record(request)["id"]]
        return {}

    def list_versions(self, request: Request) -> Any:
        with self.ctx.lock:
            record = self._record(request)
            return {"data": [dict(v, aliases=list(v["aliases"])) for v in reversed(record["versions"])]}

    def create_version(self, request: Request) -> Any:
        body = _object(request)
        with self.ctx.lock:
            record = self._record(request)
            latest = record["versions"][-1]
            if body.get("definition") == latest["definition"]:
                self._alias(record, latest, body.get("aliases") or [])
                return {"version": latest["version"], "deduplicated": True}
            return {"version": self._add_version(record, body)["version"], "deduplicated": False}

    def get_version(self, request: Request) -> Any:
        with self.ctx.lock:
            record = self._record(request)
            return self._view(record, self._version(record, request.path_params["version"]))

    def update_version(self, request: Request) -> Any:
        body = _object(request)
        with self.ctx.lock:
            record = self._record(request)
            version = self._version(record, request.path_params["version"])
            if body.get("notes") is not None:
                version["notes"] = body["notes"]
            aliases = body.get("aliases")
            if isinstance(aliases, dict):
                version["aliases"] = []
                self._alias(record, version, list(aliases.get("values") or []))
            record["updatedAt"] = self.ctx.iso_now()
            return self._view(record, version)


def _object(request: Request) -> dict[str, Any]:
    body = request.json()
    if body is not None and not isinstance(body, dict):
        raise HttpError(422, {"detail": [{"loc": ["body"], "msg": "Input should be an object", "type": "dict_type"}]})
    return body or {}


def _scope(value: Any, default: str) -> str:
    return str(value) if value in SHARING_SCOPES else default
