"""Serving the sandbox on a loopback port from a background thread (see :mod:`alumio_mistral.wsgi_server`),
from the CLI, from tests and for an embedded client alike."""

from __future__ import annotations

import atexit
import threading
from pathlib import Path

from alumio_mistral.catalog import Catalog
from alumio_mistral.sandbox.app import SandboxApp
from alumio_mistral.sandbox.clock import Clock
from alumio_mistral.sandbox.faults import Faults
from alumio_mistral.wsgi_server import THREADS, BackgroundServer



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
        self._server = BackgroundServer(self.app, host=host, port=port, threads=threads, ident="mistral-sandbox")

    @property
    def host(self) -> str:
        return self._server.host

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def base_uri(self) -> str:
        if not self._server.running:
            raise RuntimeError("the sandbox is not running: use it as a context manager or call start()")
        return self._server.base_uri

    def start(self) -> "Sandbox":
        """Bind the port and serve from a daemon thread (returns at once, ready for requests)."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.stop()

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (the CLI)."""
        self.start()
        try:
            self._server.wait()
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
        where = f"{self.host}:{self.port}" if self._server.running else "stopped"
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
