"""How fast the catalog loads and routes requests (the sandbox calls ``match`` on every request).

Run: python benchmarks/catalog.py
"""

from __future__ import annotations

import time

from alumio_mistral.catalog import CATALOG_FILE, Catalog

REQUESTS = [
    ("GET", "/v1/models"),
    ("GET", "/v1/files/file-123"),
    ("POST", "/v1/chat/completions"),
    ("POST", "/v1/conversations/conv-1/restart"),
    ("GET", "/v1/libraries/lib-1/documents/doc-1/status"),
    ("GET", "/v1/agents/pages"),
    ("DELETE", "/v1/admin/user-groups/g-1/workspaces/w-1"),
    ("GET", "/v1/not/a/route"),
]


def main(rounds: int = 50_000) -> None:
    started = time.perf_counter()
    catalog = Catalog.from_file(CATALOG_FILE)
    load = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(rounds):
        for method, path in REQUESTS:
            catalog.match(method, path)
    per_match = (time.perf_counter() - started) / (rounds * len(REQUESTS))
    print(f"catalog: {len(catalog)} entities, loaded in {load * 1000:.1f} ms")
    print(f"match: {per_match * 1e6:.2f} us per request ({1 / per_match:,.0f} per second)")


if __name__ == "__main__":
    main()
