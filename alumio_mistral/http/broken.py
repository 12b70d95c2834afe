"""The error for a 2xx answer whose body is not what was asked for, built in one place.

Both readers of a body raise it (:mod:`alumio_mistral.http.bodies` for whole bodies,
:mod:`alumio_mistral.http.sse` for event streams), with the same fields: the entity, the
method and URL, the status, and a short excerpt of what arrived.
"""

from __future__ import annotations

import requests

from alumio_mistral.catalog.entity import Entity
from alumio_mistral.http.errors import BrokenResponseError


def broken_response(
    response: requests.Response, entity: Entity | None, problem: str, body: str = ""
) -> BrokenResponseError:
    """A :class:`BrokenResponseError` for ``response``: ``problem`` says what is wrong with it."""
    request = response.request
    return BrokenResponseError(
        f"broken answer: {problem}",
        status=response.status_code,
        reason=response.reason or "",
        body=body,
        method=request.method if request is not None else None,
        url=response.url,
        entity=entity.name if entity is not None else None,
    )
