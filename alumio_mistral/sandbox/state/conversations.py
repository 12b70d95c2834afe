"""Conversations: start, append, restart from an entry, list, get, history, messages, delete, streams.

Answers come from :func:`alumio_mistral.sandbox.compute.chat` over the conversation's messages,
so a conversation answers like chat completions do.
"""

from __future__ import annotations

from typing import Any, Iterator

from alumio_mistral.sandbox import compute, sse
from alumio_mistral.sandbox.state import Context, Handler, page_of
from alumio_mistral.sandbox.state.agents import Agents
from alumio_mistral.sandbox.wire import HttpError, Request, absent, lookup, not_found

_META = ("name", "description", "metadata", "instructions")
#: what a model conversation keeps from its start request, with the type each must have
_SETTINGS: dict[str, type] = {"instructions": str, "tools": list, "completion_args": dict}


class Conversations:
    def __init__(self, ctx: Context, agents: Agents) -> None:
        self.ctx = ctx
        self.agents = agents
        self.records: dict[str, dict[str, Any]] = {}
        self.entries: dict[str, list[dict[str, Any]]] = {}

    def handlers(self) -> dict[str, Handler]:
        return {
            "conversations.start": self.start, "conversations.list": self.list, "conversations.get": self.get,
            "conversations.delete": self.delete, "conversations.append": self.append,
            "conversations.get_history": self.history, "conversations.get_messages": self.messages,
            "conversations.restart": self.restart, "conversations.start_stream": self.start,
            "conversations.append_stream": self.append, "conversations.restart_stream": self.restart,
        }

    def _record(self, conversation_id: str) -> dict[str, Any]:
        return lookup(self.records, "Conversation", conversation_id)

    def _input_entries(self, inputs: Any) -> list[dict[str, Any]]:
        """Entries for the ``inputs`` of a request: messages, and function results for earlier calls."""
        if isinstance(inputs, str):
            inputs = [{"role": "user", "content": inputs}]
        if not isinstance(inputs, list) or not inputs:
            raise absent(inputs, "body", "inputs")
        now = self.ctx.iso_now()
        entries = []
        for item in inputs:
            item = item if isinstance(item, dict) else {"role": "user", "content": str(item)}
            entry = {"object": "entry", "created_at": now, "completed_at": None}
            if item.get("type") == "function.result":
                entry.update(type="function.result", id="fr_" + self.ctx.uuid().replace("-", ""),
                             tool_call_id=str(item.get("tool_call_id", "")), result=str(item.get("result", "")))
            else:
                entry.update(type="message.input", id="msg_" + self.ctx.uuid().replace("-", ""),
                             role=item.get("role", "user"), content=item.get("content", ""),
                             prefix=bool(item.get("prefix", False)))
            entries.append(entry)
        return entries

    def _new(self, body: dict[str, Any], base: dict[str, Any] | None = None) -> dict[str, Any]:
        now = self.ctx.iso_now()
        record: dict[str, Any] = {"object": "conversation", "id": "conv_" + self.ctx.uuid().replace("-", ""),
                                  "created_at": now, "updated_at": now, "name": None, "description": None,
                                  "metadata": None}
        source = base or body
        if source.get("agent_id"):
            agent = self.agents.find(str(source["agent_id"]), source.get("agent_version"))
            record.update(agent_id=agent["id"], agent_version=agent["version"])
        else:
            record.update(model=source.get("model") or "mistral-medium-latest", instructions=None, tools=[],
                          completion_args={})
            record.update({k: source[k] for k in _SETTINGS if isinstance(source.get(k), _SETTINGS[k])})
        record.update({k: source[k] for k in _META if k in record and source.get(k) is not None})
        return record

    def _settings(self, record: dict[str, Any]) -> tuple[str, list[Any], dict[str, Any]]:
        """The model, tools and completion arguments that answer a conversation (its agent's, if any)."""
        source = self.agents.find(record["agent_id"], record.get("agent_version")) if "agent_id" in record else record
        return str(source["model"]), list(source.get("tools") or []), dict(source.get("completion_args") or {})

    def _respond(self, record: dict[str, Any], history: list[dict[str, Any]], new: list[dict[str, Any]],
                 streaming: bool, completion_args: Any = None) -> Any:
        """Answer the inputs (a message, or a function call when the tools and arguments ask for one),
        store the entries, and reply as JSON or as a conversation event stream."""
        model, tools, args = self._settings(record)
        if isinstance(completion_args, dict):
            args = completion_args  # a request's arguments override the conversation's for its turn
        request = {"model": model, "messages": [_message(e) for e in history + new], "tools": tools,
                   **{k: args[k] for k in ("tool_choice", "response_format", "max_tokens") if k in args}}
        answer = compute.chat(request)
        message = answer["choices"][0]["message"]
        now = self.ctx.iso_now()
        output: dict[str, Any] = {"object": "entry", "created_at": now, "completed_at": now,
                                  "agent_id": record.get("agent_id"), "model": model}
        if message["tool_calls"]:
            call = message["tool_calls"][0]
            output.update(type="function.call", id="fc_" + self.ctx.uuid().replace("-", ""), tool_call_id=call["id"],
                          name=call["function"]["name"], arguments=call["function"]["arguments"])
        else:
            output.update(type="message.output", id="msg_" + self.ctx.uuid().replace("-", ""), role="assistant",
                          content=message["content"])
        with self.ctx.lock:
            self.records[record["id"]] = record
            self.entries[record["id"]] = history + new + [output]
            record["updated_at"] = now
        usage = {**answer["usage"], "connector_tokens": None, "connectors": None}
        if streaming:
            return sse.stream(self._events(record["id"], output, usage))
        return {"object": "conversation.response", "conversation_id": record["id"], "outputs": [output],
                "usage": usage, "guardrails": None}

    def _events(self, conversation_id: str, output: dict[str, Any], usage: dict[str, Any]) -> Iterator[tuple[str, Any]]:
        """The named events of one answer: started, the output's deltas, done (each with its ``type``)."""
        now = output["created_at"]
        yield "conversation.response.started", {"type": "conversation.response.started", "created_at": now,
                                                "conversation_id": conversation_id}
        common = {"created_at": now, "output_index": 0, "id": output["id"], "model": output["model"],
                  "agent_id": output["agent_id"]}
        if output["type"] == "function.call":
            yield "function.call.delta", {"type": "function.call.delta", **common, "name": output["name"],
                                          "tool_call_id": output["tool_call_id"], "arguments": output["arguments"]}
        else:
            for index, word in enumerate(output["content"].split(" ")):
                yield "message.output.delta", {"type": "message.output.delta", **common, "content_index": 0,
                                               "role": "assistant", "content": word if index == 0 else " " + word}
        yield "conversation.response.done", {"type": "conversation.response.done", "created_at": now, "usage": usage}

    @staticmethod
    def _streaming(body: dict[str, Any]) -> bool:
        return bool(body.get("stream"))

    def start(self, request: Request) -> Any:
        body = request.json() or {}
        if not body.get("model") and not body.get("agent_id"):
            message = "One of 'model' or 'agent_id' is required"
            raise HttpError(422, {"detail": [{"loc": ["body", "model"], "msg": message, "type": "missing"}]})
        new = self._input_entries(body.get("inputs"))
        return self._respond(self._new(body), [], new, self._streaming(body), body.get("completion_args"))

    def append(self, request: Request) -> Any:
        body = request.json() or {}
        new = self._input_entries(body.get("inputs"))
        with self.ctx.lock:
            record = self._record(request.path_params["conversation_id"])
            history = list(self.entries[record["id"]])
        return self._respond(record, history, new, self._streaming(body), body.get("completion_args"))

    def restart(self, request: Request) -> Any:
        """A new conversation with the history up to ``from_entry_id``, then the new inputs."""
        body = request.json() or {}
        new = self._input_entries(body.get("inputs"))
        entry_id = body.get("from_entry_id")
        with self.ctx.lock:
            source = self._record(request.path_params["conversation_id"])
            entries = self.entries[source["id"]]
            positions = [i for i, e in enumerate(entries) if e["id"] == entry_id]
            if not positions:
                raise not_found("Entry", str(entry_id))
            history = entries[: positions[0] + 1]
        base = {**source, **({"agent_version": body["agent_version"]} if body.get("agent_version") else {})}
        return self._respond(self._new(body, base), history, new, self._streaming(body),
                             body.get("completion_args"))

    def list(self, request: Request) -> Any:
        with self.ctx.lock:
            records = sorted(self.records.values(), key=lambda r: r["created_at"], reverse=True)
        return page_of(records, request)

    def get(self, request: Request) -> Any:
        with self.ctx.lock:
            return self._record(request.path_params["conversation_id"])

    def history(self, request: Request) -> Any:
        with self.ctx.lock:
            record = self._record(request.path_params["conversation_id"])
            entries = self.entries[record["id"]]
            return {"object": "conversation.history", "conversation_id": record["id"], "entries": entries}

    def messages(self, request: Request) -> Any:
        with self.ctx.lock:
            record = self._record(request.path_params["conversation_id"])
            messages = [e for e in self.entries[record["id"]] if e["type"] in ("message.input", "message.output")]
            return {"object": "conversation.messages", "conversation_id": record["id"], "messages": messages}

    def delete(self, request: Request) -> Any:
        conversation_id = request.path_params["conversation_id"]
        with self.ctx.lock:
            self._record(conversation_id)
            del self.records[conversation_id], self.entries[conversation_id]
        return None


def _message(entry: dict[str, Any]) -> dict[str, Any]:
    """The chat message of a stored entry (function calls and results as tool turns)."""
    if entry["type"] == "function.call":
        call = {"id": entry["tool_call_id"], "type": "function",
                "function": {"name": entry["name"], "arguments": entry["arguments"]}}
        return {"role": "assistant", "content": "", "tool_calls": [call]}
    if entry["type"] == "function.result":
        return {"role": "tool", "tool_call_id": entry["tool_call_id"], "content": entry["result"]}
    return {"role": entry["role"], "content": entry["content"]}
