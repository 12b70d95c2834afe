"""A WSGI application served by waitress from a background thread, with a clean stop.

waitress is pure Python, multi-threaded and production-grade, so the sandbox and ``serve``
need no compiled dependency, and tests can start and stop a real server in-process.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from waitress.server import create_server

#: worker threads: enough for a few concurrent clients, few enough for a 2-core machine
THREADS = 8


class BackgroundServer:
    """Serves ``app`` on ``host:port`` (port 0: a free one) until :meth:`stop`."""

    def __init__(self, app: Callable[..., Any], *, host: str = "127.0.0.1", port: int = 0,
                 threads: int = THREADS, ident: str = "alumio-mistral") -> None:
        self.app = app
        self.host = host
        self.port = port
        self.threads = threads
        self.ident = ident
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def base_uri(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{self.ident} is not running: call start() first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> BackgroundServer:
        """Bind the port and serve from a daemon thread (returns at once, ready for requests)."""
        if self._server is not None:
            return self
        self._server = create_server(self.app, host=self.host, port=self.port, threads=self.threads,
                                     ident=self.ident, clear_untrusted_proxy_headers=True,
                                     channel_timeout=30, connection_limit=200)
        self.port = int(self._server.effective_port)
        self._thread = threading.Thread(target=self._server.run, name=self.ident, daemon=True)
        self._thread.start()
        return self

    def wait(self) -> None:
        """Block until the server stops (the CLI serves in the foreground this way)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=0.5)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and release the port; requests being answered get ``timeout`` seconds."""
        server, self._server = self._server, None
        if server is None:
            return
        # waitress's loop runs while its socket map is not empty, and open keep-alive channels
        # stay in it after server.close(). Empty the map from inside the loop thread (so the loop
        # ends), let the workers finish, then close every socket once, from this thread only.
        open_dispatchers: list[Any] = []

        def empty_map() -> None:
            open_dispatchers.extend(server._map.values())
            server._map.clear()

        server.trigger.pull_trigger(empty_map)
        if self._thread is not None:
            self._thread.join(timeout=timeout)
        server.task_dispatcher.shutdown(timeout=timeout)
        for dispatcher in open_dispatchers:
            dispatcher.close()
