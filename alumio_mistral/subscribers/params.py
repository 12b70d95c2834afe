"""Request parameters made by a transformer pipeline just before a read ("transform the request
parameters"): ``params_transformers`` on a Mistral subscriber.

The pipeline runs once per read over ``{params, now, now_seconds}`` (the configured params, the
current UTC time as ISO 8601 text and as epoch seconds) with the project's storages at hand, so
a step such as ``storage-get`` can bring a mark in; the ``params`` of its output are what the
read sends. It runs when the incoming hands over its store, before the first request.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Mapping

from alumio_mistral.subscribers.base import Record
from alumio_mistral.subscribers.mistral import MistralSubscriber, SubscriberError
from alumio_mistral.transformers.context import TransformContext
from alumio_mistral.transformers.library import Library
from alumio_mistral.transformers.pipeline import compile_pipeline


class ParamsFromPipeline:
    """A Mistral subscriber whose params come out of ``steps``, run with the project's storages."""

    def __init__(self, steps: list[dict[str, Any]], params: Mapping[str, Any], library: Library, where: str,
                 build: Callable[[dict[str, Any]], MistralSubscriber], clock: Callable[[], float] = time.time) -> None:
        self._steps = steps
        self._params = dict(params)
        self._library = library
        self._where = where
        self._build = build
        self._clock = clock
        self._reader: MistralSubscriber | None = None

    def use_storage(self, storages: Any, namespace: str) -> None:
        """Compile and run the pipeline against the store the incoming uses."""
        pipeline = compile_pipeline(self._steps, source=self._where, where=self._where, library=self._library,
                                    context=TransformContext(storages=storages))
        moment = self._clock()
        now = datetime.fromtimestamp(moment, timezone.utc).isoformat().replace("+00:00", "Z")
        outputs = pipeline.run({"params": self._params, "now": now, "now_seconds": moment})
        if len(outputs) != 1 or not isinstance(outputs[0].get("params"), dict):
            raise SubscriberError(f"{self._where}: expected one entity with a `params` object, got {outputs!r:.200}")
        self._reader = self._build(outputs[0]["params"])

    def stored(self) -> None:
        """Nothing to save after a read: the pipeline only reads."""

    def records(self) -> Iterator[Record]:
        if self._reader is None:
            raise SubscriberError(f"{self._where}: params_transformers need the project's storages (run from an incoming)")
        return self._reader.records()
