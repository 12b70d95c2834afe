"""What the client's safety costs: per-call overhead against a bare session, threads, SSE parsing.

A tiny loopback server answers ``{}`` at once, so the figures are the client's own cost
(auth, retry policy, URL building, error checks) on top of ``requests``; the server shares
the same cores. Usage:

    python benchmarks/http_client.py [--calls 2000] [--threads 8] [--events 50000]
"""

from __future__ import annotations

import argparse
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Callable

import requests

from alumio_mistral.catalog import Catalog
from alumio_mistral.http import Client, ClientConfig
from alumio_mistral.http.sse import iter_events


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        """Quiet."""


def _rate(label: str, count: int, action: Callable[[], None], threads: int = 1) -> float:
    started = time.perf_counter()
    if threads == 1:
        for _ in range(count):
            action()
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda _: action(), range(count)))
    elapsed = time.perf_counter() - started
    print(f"{label:<44} {count / elapsed:>9.0f}/s  ({elapsed * 1e6 / count:.0f} us per call)")
    return elapsed / count


class _Chunks:
    def __init__(self, body: bytes, size: int = 4096) -> None:
        self._pieces = [body[i:i + size] for i in range(0, len(body), size)]

    def read1(self, decode_content: bool = True) -> bytes:
        return self._pieces.pop(0) if self._pieces else b""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--events", type=int, default=50_000)
    options = parser.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    session = requests.Session()
    client = Client(ClientConfig(base_uri=base, api_key="sk-benchmark-key-000"), Catalog.default())
    entity = client.entity("models.retrieve")
    try:
        bare = _rate("requests.Session.get", options.calls,
                     lambda: session.get(base + "/v1/models/m", timeout=(5, 60)).json())
        ours = _rate("Client.call(models.retrieve)", options.calls,
                     lambda: client.call(entity, path_params={"model_id": "m"}).json())
        print(f"{'client overhead per call':<44} {(ours - bare) * 1e6:>9.0f} us")
        _rate(f"Client.call, {options.threads} threads, one client", options.calls,
              lambda: client.call(entity, path_params={"model_id": "m"}).json(), threads=options.threads)
    finally:
        client.close()
        session.close()
        server.shutdown()

    body = b"".join(b'data: {"choices": [{"delta": {"content": "word %d"}}]}\n\n' % n
                    for n in range(options.events)) + b"data: [DONE]\n\n"
    started = time.perf_counter()
    count = sum(1 for _ in iter_events(SimpleNamespace(raw=_Chunks(body))))  # type: ignore[arg-type]
    elapsed = time.perf_counter() - started
    print(f"{'SSE events parsed':<44} {count / elapsed:>9.0f}/s  ({len(body) / elapsed / 1e6:.1f} MB/s)")


if __name__ == "__main__":
    main()
