"""Read a Mistral catalog entity (a list, a retrieve or an observability search) as entities.

Pages are fetched lazily and dropped before the next one is requested, so memory holds one
page whatever the number of pages. Paging decisions count what the server returned, before
any transformer filters, so a filter can never make a read stop early. Each page is decoded
once and checked as a whole (:func:`~alumio_mistral.subscribers.base.page_vouched`), and the
work per entity is only the yield: the repeated-page guard fingerprints the raw body, not the
entities. Readers that take a page in at once use :meth:`MistralSubscriber.pages`.
"""

from __future__ import annotations

import zlib
from itertools import chain
from typing import Any, Iterator, Mapping

from alumio_mistral import fastjson
from alumio_mistral.subscribers import paginators
from alumio_mistral.catalog.entity import Entity
from alumio_mistral.errors import AlumioError
from alumio_mistral.subscribers.base import Page, Record, page_vouched, records_of
from alumio_mistral.subscribers.items import compile_items

#: the key in ``params`` that holds the JSON body of a POST search
BODY_PARAM = "body"


class SubscriberError(AlumioError):
    """A subscriber that cannot be set up or whose source cannot be read."""


def _page_digest(body: bytes) -> tuple[int, int]:
    """A fingerprint of a page as it came, to notice a server that ignores the page param (it
    sends the same body again, which always matches). Length and CRC-32, read in C at several
    GB/s: two different pages in a row matching both is a one-in-four-billion accident, where a
    cryptographic hash would cost a fifth of a page's decoding."""
    return len(body), zlib.crc32(body)


def _page_records(page: Page) -> Iterator[Record]:
    return records_of(page.entities, page.origin)


class MistralSubscriber:
    """Yields the entities of one catalog entity, following its pagination.

    ``client`` is anything with ``call(entity, *, path_params, query, json)`` returning a
    ``requests.Response`` (an :class:`alumio_mistral.http.Client`).
    """

    def __init__(
        self,
        client: Any,
        entity: Entity,
        params: Mapping[str, Any] | None = None,
        *,
        page_size: int | None = None,
        max_pages: int | None = None,
        limit: int | None = None,
        pattern: str | None = None,
        close_client: bool = False,
    ) -> None:
        if entity.method != "GET" and not (entity.method == "POST" and entity.pagination):
            raise SubscriberError(
                f"{entity.name} is a {entity.method} that changes state; a subscriber only reads "
                "(GET entities and paged POST searches)"
            )
        self.client = client
        self.entity = entity
        self.page_size = page_size
        self.max_pages = max_pages
        self.limit = limit
        self.close_client = close_client
        self._items = compile_items(pattern or entity.items) if (pattern or entity.items) else None
        self.path_params, self.query, self.body = self._split(dict(params or {}))

    def _split(self, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], Any]:
        """Path values, query values and the POST body, from the user's flat ``params``."""
        known = {param.name: param.location for param in self.entity.params}
        body = None
        if BODY_PARAM in params and BODY_PARAM not in known:
            body = params.pop(BODY_PARAM)
        unknown = sorted(name for name in params if name not in known)
        if unknown:
            raise SubscriberError(
                f"{self.entity.name}: unknown param {unknown[0]!r} "
                f"(known: {', '.join(sorted(known)) or 'none'})"
            )
        missing = [p.name for p in self.entity.path_params if p.name not in params]
        if missing:
            raise SubscriberError(f"{self.entity.name}: missing path param {missing[0]!r}")
        path = {name: value for name, value in params.items() if known[name] == "path"}
        query = {name: value for name, value in params.items() if known[name] == "query"}
        if body is None and self.entity.body == "json" and self.entity.body_required:
            body = {}
        return path, query, body

    def _entities(self, body: Any) -> list[Any]:
        return self._items(body) if self._items is not None else [body]

    def records(self) -> Iterator[Record]:
        """The entities, page after page, one by one, iterated in C (no Python step per entity):
        ``chain`` lets go of a page's records before it asks for the next page, so one page is
        in memory, not two. Pages are not vouched for: a reader of records checks each entity."""
        return chain.from_iterable(map(_page_records, self.pages(vouch=False)))

    def pages(self, vouch: bool = True) -> Iterator[Page]:
        """The entities, a page at a time (up to ``limit`` in all), each page checked as a whole
        when ``vouch``; fetching and checking pages is below."""
        try:
            if self.limit is not None and self.limit <= 0:
                return
            yielded = 0
            for page in self._pages(vouch):
                if self.limit is not None and yielded + len(page.entities) >= self.limit:
                    yield page._replace(entities=page.entities[: self.limit - yielded])
                    return
                yielded += len(page.entities)
                yield page
                del page  # before the next page is fetched: one page in memory, not two
        finally:
            if self.close_client:
                self.client.close()

    def _pages(self, vouch: bool) -> Iterator[Page]:
        """Each page's entities and origin ("files.list page 3"), one page in memory at a time."""
        name = self.entity.name
        paginator = paginators.paginator_for(self.entity.pagination, self.page_size, name)
        cap = self.max_pages or paginators.DEFAULT_MAX_PAGES
        page_query: paginators.Query | None = paginator.first()
        pages = 0
        previous: tuple[int, int] | None = None
        while page_query is not None:
            if pages >= cap:
                if self.max_pages:
                    return
                raise paginators.PageLimitError(
                    f"{name}: stopped after {cap} pages (the safety limit); set max_pages to read more"
                )
            response = self.client.call(
                self.entity, path_params=self.path_params, query={**self.query, **page_query}, json=self.body
            )
            pages += 1
            origin = f"{name} {paginator.position()}"
            content = response.content
            del response
            try:
                # from bytes: no decoded text copy of the page
                body, finite = fastjson.loads_finite(content)
            except ValueError as error:
                raise SubscriberError(f"{origin}: the response is not JSON: {error}") from error
            items = self._entities(body)
            if items and self.entity.pagination is not None:
                digest = _page_digest(content)
                if digest == previous:
                    raise paginators.RepeatedPageError(
                        f"{origin}: the server returned the same page as the one before "
                        "(it ignores the paging parameters?); stopping instead of looping forever"
                    )
                previous = digest
            page_query = paginator.next(body, len(items))
            vouched = vouch and page_vouched(content, items, finite)
            del body, content
            yield Page(items, origin, vouched)
            del items
