"""The Reconify event: one provider interaction in the shape Reconify's REST API takes.

Events are stored WITHOUT the app key and API key (:func:`build_event`); the keys are added
only by the sink that posts them (:func:`with_keys`), so task records, outbox rows and
``--json`` output never hold them.
"""

from __future__ import annotations

from typing import Any, Mapping

#: the version of this integration, sent as ``reconify.version``
VERSION = "1.0.0"

#: catalog operation -> (Reconify format, interaction type); a streamed call is logged with
#: its assembled answer, an agent or conversation answer as a chat
OPERATION_KINDS: dict[str, tuple[str, str]] = {
    **{name: ("mistral", "chat") for name in (
        "chat.complete", "chat.stream", "agents.complete", "agents.stream",
        "conversations.start", "conversations.append", "conversations.restart",
        "conversations.start_stream", "conversations.append_stream", "conversations.restart_stream",
    )},
    "cohere.chat": ("cohere", "chat"),
    "cohere.chat_v2": ("cohere", "chat"),
    "cohere.generate": ("cohere", "generate"),
}

#: the user fields Reconify reads
USER_FIELDS: tuple[str, ...] = ("userId", "isAuthenticated", "firstName", "lastName", "email", "phone", "gender")


def build_event(
    kind: tuple[str, str],
    request: Any,
    response: Any,
    started_ms: int,
    ended_ms: int,
    *,
    session: str | None = None,
    session_timeout: int = 10,
    user: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The event for one interaction, keys left out; timestamps are epoch milliseconds."""
    provider, interaction = kind
    return {
        "reconify": {"format": provider, "type": interaction, "version": VERSION},
        "timestamps": {"request": int(started_ms), "response": int(ended_ms)},
        "session": session or "",
        "sessionTimeout": int(session_timeout),
        "user": {name: value for name, value in (user or {}).items() if name in USER_FIELDS},
        "request": request,
        "response": response,
    }


def with_keys(event: Mapping[str, Any], app_key: str, api_key: str) -> dict[str, Any]:
    """The event as posted: the keys added at the last moment, never stored."""
    return {**event, "reconify": {**event["reconify"], "appKey": app_key, "apiKey": api_key}}
