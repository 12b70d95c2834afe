"""How to ask for the next page, one small class per pagination style of the Mistral API.

The catalog says which style an entity uses (:class:`~alumio_mistral.catalog.entity.Pagination`);
:func:`paginator_for` picks the class from :data:`PAGINATORS`. A paginator only decides:
given the page the server returned (and how many entities it held, counted *before* any
filtering), which query parameters fetch the next page, or ``None`` to stop. Fetching, the
page limits and the repeated-page guard live in the subscriber loop that drives it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Protocol

from alumio_mistral.catalog.entity import Pagination
from alumio_mistral.errors import AlumioError
from alumio_mistral.subscribers.items import value_at

#: pages read before a read is considered runaway (a user ``max_pages`` replaces it quietly)
DEFAULT_MAX_PAGES = 10_000

Query = dict[str, Any]


class RepeatedPageError(AlumioError):
    """The server sent back a token, cursor or page we already had: following it would loop."""


class PageLimitError(AlumioError):
    """More pages than the safety limit: most likely a server that never says "last page"."""


class Paginator(Protocol):
    """Query parameters for the first page and for each next one."""

    def first(self) -> Query:
        """Parameters of the first request."""

    def next(self, body: Any, count: int) -> Query | None:
        """Parameters of the next request after a page of ``count`` entities, or ``None``."""

    def position(self) -> str:
        """The page just requested, for messages ("page 3", "cursor 'abc'")."""


def _sized(query: Query, pagination: Pagination, page_size: int | None) -> Query:
    """``query`` plus the page size, when the user asked for one and the entity takes it."""
    if page_size is not None and pagination.size_param:
        query[pagination.size_param] = page_size
    return query


class _Numbered(ABC):
    """Page numbers counted from ``first_page``; subclasses say when a page is the last."""

    def __init__(self, pagination: Pagination, page_size: int | None, entity: str) -> None:
        self.pagination = pagination
        self.page_size = page_size
        self.entity = entity
        self.page = pagination.first_page
        self._size_seen: int | None = None

    def _query(self) -> Query:
        query: Query = {self.pagination.page_param: self.page} if self.pagination.page_param else {}
        return _sized(query, self.pagination, self.page_size)

    def first(self) -> Query:
        return self._query()

    def position(self) -> str:
        return f"page {self.page}"

    def _short(self, count: int) -> bool:
        """A page shorter than the requested size (or, when no size was asked, than the
        first page, whose length is the server's default size) is the last one."""
        if self._size_seen is None:
            self._size_seen = self.page_size or count
        return count < self._size_seen

    @abstractmethod
    def _last(self, body: Any, count: int) -> bool:
        """Whether the page just received is the last one."""

    def next(self, body: Any, count: int) -> Query | None:
        if count == 0 or self._last(body, count):
            return None
        self.page += 1
        return self._query()


class PageTotal(_Numbered):
    """``{data, total}`` pages: stop once ``total`` entities were seen (or on a short page
    when the server gives no total)."""

    def __init__(self, pagination: Pagination, page_size: int | None, entity: str) -> None:
        super().__init__(pagination, page_size, entity)
        self.seen = 0

    def _last(self, body: Any, count: int) -> bool:
        self.seen += count
        total = value_at(self.pagination.total, body) if self.pagination.total else None
        if isinstance(total, int) and not isinstance(total, bool):
            return self.seen >= total
        return self._short(count)


class PageArray(_Numbered):
    """A bare array per page: a short page is the last."""

    def _last(self, body: Any, count: int) -> bool:
        return self._short(count)


class PageHasMore(_Numbered):
    """Pages that say ``has_more``; stop when it is false."""

    def _last(self, body: Any, count: int) -> bool:
        return not value_at(self.pagination.has_more or "$.has_more", body)


class PageNext(_Numbered):
    """Observability lists: pages from 1 with a ``next`` link; stop when it is null."""

    def _last(self, body: Any, count: int) -> bool:
        return not value_at(self.pagination.next or "$.next", body)


class Offset(_Numbered):
    """``offset``/``limit``: the offset moves by the entities received; a short page is last."""

    def __init__(self, pagination: Pagination, page_size: int | None, entity: str) -> None:
        super().__init__(pagination, page_size, entity)
        self.offset = 0

    def _query(self) -> Query:
        query: Query = {self.pagination.offset_param or "offset": self.offset}
        return _sized(query, self.pagination, self.page_size)

    def position(self) -> str:
        return f"offset {self.offset}"

    def _last(self, body: Any, count: int) -> bool:
        self.offset += count
        return self._short(count)


class Token:
    """A next token or cursor in the response, sent back as ``token_param``; any token seen
    before (not only the last one) means the server is looping."""

    def __init__(self, pagination: Pagination, page_size: int | None, entity: str) -> None:
        self.pagination = pagination
        self.page_size = page_size
        self.entity = entity
        self.token: Any = None
        self._sent: set[str] = set()

    def _query(self) -> Query:
        query: Query = {} if self.token is None else {self.pagination.token_param or "cursor": self.token}
        return _sized(query, self.pagination, self.page_size)

    def first(self) -> Query:
        return self._query()

    def position(self) -> str:
        return "first page" if self.token is None else f"token {self.token!r}"

    def next(self, body: Any, count: int) -> Query | None:
        token = value_at(self.pagination.next_token or "$.next_cursor", body)
        if count == 0 or token is None or token == "":
            return None
        if str(token) in self._sent:
            raise RepeatedPageError(
                f"{self.entity}: the server returned the {self.pagination.token_param or 'cursor'} "
                f"{token!r} again after {self.position()}; stopping instead of looping forever"
            )
        self._sent.add(str(token))
        self.token = token
        return self._query()


class Single:
    """No pagination: one request."""

    def __init__(self, pagination: Pagination | None, page_size: int | None, entity: str) -> None:
        self.entity = entity

    def first(self) -> Query:
        return {}

    def next(self, body: Any, count: int) -> Query | None:
        return None

    def position(self) -> str:
        return "the only page"


PAGINATORS: dict[str, type] = {
    "page_total": PageTotal,
    "page_array": PageArray,
    "page_has_more": PageHasMore,
    "page_next": PageNext,
    "offset": Offset,
    "token": Token,
}


def paginator_for(pagination: Pagination | None, page_size: int | None, entity: str) -> Paginator:
    """The paginator for an entity's pagination style (one request when it has none)."""
    if pagination is None:
        return Single(None, page_size, entity)
    kind = PAGINATORS.get(pagination.style)
    if kind is None:
        raise AlumioError(
            f"{entity}: unknown pagination style {pagination.style!r} "
            f"(known: {', '.join(sorted(PAGINATORS))})"
        )
    paginator: Paginator = kind(pagination, page_size, entity)
    return paginator
