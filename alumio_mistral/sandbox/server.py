"""Serving the sandbox: a waitress server on a loopback port, in a background thread.

waitress is pure Python, multi-threaded and production-grade, so the sandbox needs no compiled
dependency and the same server runs from the CLI, from tests and from an embedded client.
"""

from __future__ import annotations

import atexit
import threading
from pathlib import Path
from typing import Any

from waitress.server import create_server

from alumio_mistral.catalog import Catalog
from alumio_mistral.sandbox.app import SandboxApp
from alumio_mistral.sandbox.clock import Clock
from alumio_mistral.sandbox.faults import Faults

#: worker threads: enough for a few concurrent clients, few enough for a 2-core machine
THREADS = 8


class Sandbox:
    """A running sandbox; use as a context manager (``with Sandbox() as sandbox: sandbox.base_uri``).

    ``clock`` lets a test drive time (:class:`~alumio_mistral.sandbox.clock.ManualClock`);
    ``batch_step`` makes batch jobs advance one state per that many seconds instead of per poll;
    ``validate=False`` lets parameters and bodies through unchecked; ``spec_path`` (a newer
    Mistral spec) adds its operations and schemas to the shipped ones.
    """

    def __init__(self, seed: int = 0, faults: Faults | str | None = None, spec_path: str | Path | None = None,
                 host: str = "127.0.0.1", port: int = 0, *, catalog: Catalog | None = None,
                 clock: Clock | None = None, threads: int = THREADS, batch_step: float | None = None,
                 validate: bool = True) -> None:
        self.app = SandboxApp(seed=seed, faults=faults, spec_path=spec_path, catalog=catalog, clock=clock,
                              batch_step=batch_step, validate=validate)
        self.host = host
        self.port = port
        self.threads = threads
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def base_uri(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not running: use it as a context manager or call start()")
        return f"http://{self.host}:{self.port}"

    def start(self) -> "Sandbox":
        """Bind the port and serve from a daemon thread (returns at once, ready for requests)."""
        if self._server is not None:
            return self
        self._server = create_server(self.app, host=self.host, port=self.port, threads=self.threads,
                                     ident="mistral-sandbox", clear_untrusted_proxy_headers=True,
                                     channel_timeout=30, connection_limit=200)
        self.port = int(self._server.effective_port)
        self._thread = threading.Thread(target=self._server.run, name="mistral-sandbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
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
            self._thread.join(timeout=5)
        server.task_dispatcher.shutdown(timeout=5)
        for dispatcher in open_dispatchers:
            dispatcher.close()

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (the CLI)."""
        self.start()
        assert self._thread is not None
        try:
            while self._thread.is_alive():
                self._thread.join(timeout=0.5)
        finally:
            self.stop()

    def requests(self) -> dict[str, int]:
        """Requests received so far (see :meth:`SandboxApp.counts`)."""
        return self.app.counts()

    def reset(self) -> None:
        self.app.reset()

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = f"{self.host}:{self.port}" if self._server is not None else "stopped"
        return f"Sandbox({where})"


_embedded: Sandbox | None = None
_embedded_lock = threading.Lock()


def embedded_base_uri() -> str:
    """The base URI of this process's shared sandbox, started on first use (base_uri "sandbox")."""
    global _embedded
    with _embedded_lock:
        if _embedded is None:
            _embedded = Sandbox().start()
            atexit.register(_embedded.stop)
        return _embedded.base_uri
