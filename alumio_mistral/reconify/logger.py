"""``Logger``: interaction logging for code that calls the ``mistralai`` or ``cohere`` SDK itself.

Each logged call becomes one event in an outbox (an SQLite file the caller names, or a
throw-away one that lives as long as the process), delivered by a background thread and
flushed with a bounded wait at exit: a slow or absent endpoint never slows the caller, and an
event is kept until its endpoint takes it. The SDKs are never patched: :meth:`Logger.wrap`
returns a proxy whose logged methods call the client's own, time them and queue the event.
User and session belong to a proxy (or to one ``log_chat`` call), never to the logger.
"""

from __future__ import annotations

import atexit
import tempfile
import threading
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Mapping

from alumio_mistral.publishers.responses import assemble_stream
from alumio_mistral.reconify.delivery import DeliveryLoop
from alumio_mistral.reconify.event import build_event
from alumio_mistral.reconify.interactions import now_ms
from alumio_mistral.reconify.sinks import sink_for
from alumio_mistral.secrets import redact, redact_value
from alumio_mistral.tasks.sqlite import SqliteTaskStore

#: the outbox topic of the helper's events
TOPIC = "interactions:sdk"

#: per SDK flavour: attribute path of a logged method -> (format, type)
_MISTRAL = {("chat", "complete"): ("mistral", "chat"), ("agents", "complete"): ("mistral", "chat"),
            ("chat", "stream"): ("mistral", "chat"), ("agents", "stream"): ("mistral", "chat")}
#: methods answering a stream of events: logged once, with the assembled answer, when it ends
_STREAMING = {("chat", "stream"), ("agents", "stream")}
_COHERE_V1 = {("chat",): ("cohere", "chat"), ("generate",): ("cohere", "generate")}
_COHERE_V2 = {("chat",): ("cohere", "chat")}


def _flavour(client: Any) -> dict[tuple[str, ...], tuple[str, str]]:
    """Which methods of ``client`` are interactions, told by its class (no SDK import needed)."""
    names = [f"{kind.__module__}.{kind.__name__}" for kind in type(client).__mro__]
    if any(name.startswith("mistralai.") for name in names):
        return _MISTRAL
    if any(name.startswith("cohere.") and name.endswith("V2") for name in names):
        return _COHERE_V2
    if any(name.startswith("cohere.") for name in names):
        return _COHERE_V1
    raise TypeError(f"{type(client).__name__}: not a mistralai or cohere client")


def _epoch_ms(moment: float | datetime) -> int:
    """Epoch milliseconds from a datetime, epoch seconds, or epoch milliseconds."""
    if isinstance(moment, datetime):
        return int(moment.timestamp() * 1000)
    return int(moment) if moment > 1e11 else int(moment * 1000)


def plain(value: Any) -> Any:
    """A JSON value of an SDK object (pydantic models as the API spells them)."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items() if item is not None}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


class Logger:
    """Queue and deliver interaction events; thread-safe, no global state.

    ``sink`` is a ``log:`` mapping (``{"to": "reconify", "endpoint": ..., "app_key": ...,
    "api_key": ...}``, or ``jsonl``/``http``); ``outbox`` an SQLite file that keeps undelivered
    events across restarts (``None``: a throw-away one, lost with the process).
    """

    def __init__(self, sink: Mapping[str, Any], *, outbox: str | Path | None = None, session_timeout: int = 10,
                 flush_wait: float = 5.0, interval: float = 0.5) -> None:
        self._scratch = None if outbox is not None else tempfile.TemporaryDirectory(prefix="interactions-")
        self._store = SqliteTaskStore(Path(self._scratch.name) / "outbox.db" if self._scratch else outbox)
        self._session_timeout = session_timeout
        self._flush_wait = flush_wait
        self._loop = DeliveryLoop(self._store, {TOPIC: sink_for(sink, Path.cwd())}, interval=interval).start()
        self._closed = threading.Event()
        atexit.register(self.close)

    def __repr__(self) -> str:
        return f"Logger(outbox={self._store!r})"

    def __enter__(self) -> Logger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def store(self) -> SqliteTaskStore:
        """The outbox (``outbox_counts()``, ``outbox_list(state="gave_up")``)."""
        return self._store

    def log_chat(self, request: Any, response: Any, started: float | datetime, ended: float | datetime, *,
                 provider: str = "mistral", kind: str = "chat", user: Mapping[str, Any] | None = None,
                 session: str | None = None) -> None:
        """Queue one interaction; ``started``/``ended``: datetimes, epoch seconds or milliseconds."""
        event = build_event((provider, kind), plain(request), plain(response), _epoch_ms(started), _epoch_ms(ended),
                            session=session, session_timeout=self._session_timeout, user=user)
        self._store.outbox_add([(TOPIC, redact_value(event))])

    def wrap(self, client: Any, *, user: Mapping[str, Any] | None = None, session: str | None = None) -> Any:
        """A proxy of ``client`` whose chat (and generate) calls are logged as ``user`` in ``session``;
        everything else passes through untouched."""
        return _Proxy(client, (), _flavour(client), self, dict(user or {}), session)

    def flush(self, wait: float | None = None) -> None:
        """Deliver what is due now, waiting at most ``wait`` seconds (the rest stays queued)."""
        self._loop.close(self._flush_wait if wait is None else wait)
        self._loop = DeliveryLoop(self._store, self._loop.sinks, interval=self._loop.interval).start()

    def close(self) -> None:
        """Flush (bounded), stop delivering and release the outbox; safe to call twice."""
        if self._closed.is_set():
            return
        self._closed.set()
        atexit.unregister(self.close)
        self._loop.close(self._flush_wait)
        self._store.close()
        if self._scratch is not None:
            self._scratch.cleanup()


class _Proxy:
    """Stands in for a client or one of its sub-objects (``client.chat``), logging the methods
    its flavour names and handing out every other attribute as it is."""

    def __init__(self, target: Any, path: tuple[str, ...], methods: dict[tuple[str, ...], tuple[str, str]],
                 logger: Logger, user: dict[str, Any], session: str | None) -> None:
        self._target, self._path, self._methods = target, path, methods
        self._logger, self._user, self._session = logger, user, session

    def __repr__(self) -> str:
        return f"<logged {self._target!r}>"

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        path = (*self._path, name)
        if path in self._methods:
            return self._logged(attribute, self._methods[path], streams=path in _STREAMING)
        if any(logged[: len(path)] == path for logged in self._methods):
            return _Proxy(attribute, path, self._methods, self._logger, self._user, self._session)
        return attribute

    def _logged(self, method: Callable[..., Any], kind: tuple[str, str], streams: bool) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            request = {**kwargs, **({"args": list(args)} if args else {})}
            started = now_ms()
            try:
                answer = method(*args, **kwargs)
            except Exception as error:
                self._log(kind, request, {"type": type(error).__name__, "message": redact(str(error))}, started)
                raise
            if streams:
                return _LoggedStream(answer, lambda assembled: self._log(kind, request, assembled, started))
            self._log(kind, request, answer, started)
            return answer

        return call

    def _log(self, kind: tuple[str, str], request: Any, answer: Any, started: int) -> None:
        self._logger.log_chat(request, answer, started, now_ms(), provider=kind[0], kind=kind[1],
                              user=self._user, session=self._session)


class _LoggedStream:
    """An SDK event stream passed through unchanged; once it ends (or is closed early) the events
    seen are assembled into one answer, as for a streamed publisher, and logged once."""

    def __init__(self, stream: Any, done: Callable[[Any], None]) -> None:
        self._stream, self._done = stream, done
        self._events: list[Any] = []
        self._logged = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def __iter__(self) -> Any:
        try:
            for event in self._stream:
                self._events.append(plain(getattr(event, "data", event)))
                yield event
        finally:
            self._finish()

    def __enter__(self) -> _LoggedStream:
        self._stream.__enter__()
        return self

    def __exit__(self, *exc: object) -> Any:
        try:
            return self._stream.__exit__(*exc)
        finally:
            self._finish()

    def _finish(self) -> None:
        if not self._logged:
            self._logged = True
            self._done(assemble_stream(self._events))
