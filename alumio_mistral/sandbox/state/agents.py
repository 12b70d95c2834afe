"""Agents: create, list (page numbers or page tokens), get, update into new versions, aliases, delete,
and completions answered with the agent's own model, tools and completion arguments."""

from __future__ import annotations

from typing import Any

from alumio_mistral.sandbox import compute, sse
from alumio_mistral.sandbox.state import Context, Handler, page_of, token_page
from alumio_mistral.sandbox.wire import Request, absent, lookup, missing, not_found

_FIELDS = ("instructions", "tools", "completion_args", "guardrails", "model", "name", "description",
           "handoffs", "metadata", "deployment_chat", "version_message")


class Agents:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        #: agent id -> every version, oldest first (the current one is ``current[id]``)
        self.versions: dict[str, list[dict[str, Any]]] = {}
        self.current: dict[str, int] = {}
        self.aliases: dict[str, dict[str, dict[str, Any]]] = {}

    def handlers(self) -> dict[str, Handler]:
        return {
            "agents.create": self.create, "agents.list": self.list, "agents.list_pages": self.list_pages,
            "agents.get": self.get, "agents.update": self.update, "agents.delete": self.delete,
            "agents.update_version": self.update_version, "agents.list_versions": self.list_versions,
            "agents.get_version": self.get_version, "agents.set_alias": self.set_alias,
            "agents.list_aliases": self.list_aliases, "agents.delete_alias": self.delete_alias,
            "agents.complete": self.complete,
        }

    def find(self, agent_id: str, version: Any = None) -> dict[str, Any]:
        """An agent (its current version, or ``version``); 404 when unknown."""
        with self.ctx.lock:
            history = lookup(self.versions, "Agent", agent_id)
            if version in (None, ""):
                return history[self.current[agent_id]]
            if str(version) in self.aliases.get(agent_id, {}):
                version = self.aliases[agent_id][str(version)]["version"]
            try:
                return history[int(version)]
            except (ValueError, IndexError):
                raise not_found(f"Version of agent {agent_id!r}", str(version))

    def create(self, request: Request) -> Any:
        body = request.json() or {}
        for name in ("model", "name"):
            if not body.get(name):
                raise absent(body.get(name), "body", name)
        now = self.ctx.iso_now()
        agent = {
            "object": "agent", "id": "ag_" + self.ctx.uuid().replace("-", ""), "instructions": None, "tools": [],
            "completion_args": {}, "guardrails": None, "description": None, "handoffs": None, "metadata": None,
            "version": 0, "versions": [0], "created_at": now, "updated_at": now, "deployment_chat": False,
            "source": "api", "version_message": None,
        }
        agent.update({k: body[k] for k in _FIELDS if k in body})
        with self.ctx.lock:
            self.versions[agent["id"]] = [agent]
            self.current[agent["id"]] = 0
        return agent

    def _all(self, request: Request) -> list[dict[str, Any]]:
        with self.ctx.lock:
            agents = [self.versions[i][v] for i, v in self.current.items()]
        name, search = request.arg("name"), request.arg("search")
        if name:
            agents = [a for a in agents if a["name"] == name]
        if search:
            agents = [a for a in agents if search.lower() in (a["name"] + " " + (a["description"] or "")).lower()]
        ids = request.query.get("id")
        if ids:
            agents = [a for a in agents if a["id"] in ids]
        return agents

    def list(self, request: Request) -> Any:
        return page_of(self._all(request), request, default_size=20)

    def list_pages(self, request: Request) -> Any:
        agents, next_token = token_page(self._all(request), request, default_size=20)
        return {"object": "list", "data": agents, "next_page_token": next_token}

    def get(self, request: Request) -> Any:
        return self.find(request.path_params["agent_id"], request.arg("agent_version"))

    def update(self, request: Request) -> Any:
        body = request.json() or {}
        agent_id = request.path_params["agent_id"]
        with self.ctx.lock:
            latest = self.find(agent_id)
            history = self.versions[agent_id]
            number = len(history)
            changed = {**latest, **{k: body[k] for k in _FIELDS if k in body and body[k] is not None}}
            changed.update(version=number, versions=list(range(number + 1)), updated_at=self.ctx.iso_now())
            history.append(changed)
            for old in history:
                old["versions"] = list(range(number + 1))
            self.current[agent_id] = number
            return changed

    def update_version(self, request: Request) -> Any:
        agent_id = request.path_params["agent_id"]
        with self.ctx.lock:
            chosen = self.find(agent_id, request.arg("version"))
            self.current[agent_id] = chosen["version"]
            return chosen

    def list_versions(self, request: Request) -> Any:
        agent_id = request.path_params["agent_id"]
        with self.ctx.lock:
            self.find(agent_id)
            return page_of(self.versions[agent_id], request, default_size=20)

    def get_version(self, request: Request) -> Any:
        return self.find(request.path_params["agent_id"], request.path_params["version"])

    def set_alias(self, request: Request) -> Any:
        agent_id = request.path_params["agent_id"]
        alias = request.arg("alias") or "latest"
        with self.ctx.lock:
            version = self.find(agent_id, request.arg("version"))["version"]
            now = self.ctx.iso_now()
            record = self.aliases.setdefault(agent_id, {}).get(alias, {"alias": alias, "created_at": now})
            record.update(version=version, updated_at=now)
            self.aliases[agent_id][alias] = record
            return record

    def list_aliases(self, request: Request) -> Any:
        agent_id = request.path_params["agent_id"]
        with self.ctx.lock:
            self.find(agent_id)
            return list(self.aliases.get(agent_id, {}).values())

    def delete_alias(self, request: Request) -> Any:
        agent_id = request.path_params["agent_id"]
        with self.ctx.lock:
            self.find(agent_id)
            self.aliases.get(agent_id, {}).pop(request.arg("alias") or "", None)
        return None

    def complete(self, request: Request) -> Any:
        """A chat answer with the agent's model, tools and completion arguments (the request's win)."""
        body = request.json()
        body = body if isinstance(body, dict) else {}
        if not body.get("agent_id"):
            raise missing("body", "agent_id")
        agent = self.find(str(body["agent_id"]))
        settings = {"model": agent["model"], "tools": agent["tools"], **(agent["completion_args"] or {})}
        answer = compute.agent_chat({**settings, **{k: v for k, v in body.items() if v is not None}})
        if body.get("stream"):
            return sse.stream([*((None, chunk) for chunk in compute.stream_chunks(answer)), (None, sse.DONE)])
        return answer

    def delete(self, request: Request) -> Any:
        agent_id = request.path_params["agent_id"]
        with self.ctx.lock:
            self.find(agent_id)
            del self.versions[agent_id], self.current[agent_id]
            self.aliases.pop(agent_id, None)
        return None
