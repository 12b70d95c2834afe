"""Memory stays flat: 50,000 entities over 500 pages never hold more than about one page."""

from __future__ import annotations

import json
import tracemalloc
import urllib.parse
from typing import Any
from urllib.parse import parse_qs, urlsplit

import responses

from alumio_mistral.catalog.entity import Entity, Pagination, Param
from alumio_mistral.http import Client, ClientConfig
from alumio_mistral.subscribers import MistralSubscriber

PAGES = 500
PER_PAGE = 100
FILES = Entity(
    name="files.list", operation_id="files.list", method="GET", path="/v1/files",
    params=(Param("page", "query"), Param("page_size", "query")),
    pagination=Pagination("page_total", page_param="page", size_param="page_size", total="$.total"),
    items="$.data[*]",
)


def page_text(number: int) -> str:
    """One page of file objects, formatted on demand (the fake server never holds the set)."""
    data = ",".join(
        f'{{"id": "{number:08x}-{n:04x}-4c1e-9f5a-1b2c3d4e5f60", "object": "file", '
        f'"bytes": {number * PER_PAGE + n}, "created_at": {1_700_000_000 + number * PER_PAGE + n}, '
        f'"filename": "batch-input-{number:04d}-{n:03d}.jsonl", "purpose": "batch", "sample_type": "batch_request", '
        f'"num_lines": {n}, "mimetype": "application/jsonl", "source": "upload", "signature": "{n:064x}"}}'
        for n in range(PER_PAGE)
    )
    return f'{{"data": [{data}], "object": "list", "total": {PAGES * PER_PAGE}}}'


def one_page_size() -> int:
    """Bytes allocated by one parsed page: the unit the subscriber may hold."""
    text = page_text(7)
    tracemalloc.start()
    page = json.loads(text)
    size, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert page["data"]
    return size


def test_fifty_thousand_entities_through_five_hundred_pages_in_flat_memory() -> None:
    unit = one_page_size()
    requests = 0
    with responses.RequestsMock() as rsps:

        def callback(request: Any) -> tuple[int, dict[str, str], str]:
            nonlocal requests
            requests += 1
            # the mock keeps every response (body included) in two call lists: empty them
            rsps.calls.reset()
            route.calls.reset()
            # urllib caches up to 128 parsed URLs (each page has its own): bounded, and not
            # what the subscriber holds, yet it would grow the peak over the first pages
            urllib.parse.clear_cache()
            number = int(parse_qs(urlsplit(request.url).query)["page"][0])
            return 200, {"Content-Type": "application/json"}, page_text(number)

        route = rsps.add_callback("GET", "https://api.test/v1/files", callback=callback)
        with Client(ClientConfig(base_uri="https://api.test", api_key="k", max_attempts=1)) as client:
            records = MistralSubscriber(client, FILES, page_size=PER_PAGE).records()
            for _ in range(2 * PER_PAGE):  # warm up: connection pool, adapters, caches
                next(records)
            tracemalloc.start()
            count = 2 * PER_PAGE
            for record in records:
                count += 1
                last = record.entity["bytes"]
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
    assert count == PAGES * PER_PAGE and last == PAGES * PER_PAGE - 1
    assert unit > 100_000  # a realistic page (100 file objects), so the bound below means something
    assert requests == PAGES  # the exactly full last page reached total: no extra request
    assert peak < 3 * unit, f"peak {peak} bytes while one page is {unit} bytes"
