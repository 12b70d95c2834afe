"""Interaction logging (Reconify, JSONL, HTTP) through the task store's outbox."""

from __future__ import annotations

from alumio_mistral.reconify.delivery import DeliveryLoop, DeliveryStats, deliver_due
from alumio_mistral.reconify.event import OPERATION_KINDS, build_event, with_keys
from alumio_mistral.reconify.interactions import Call, InteractionLog, now_ms, topic_for
from alumio_mistral.reconify.logger import Logger
from alumio_mistral.reconify.sinks import HttpSink, JsonlSink, ReconifySink, sink_for

__all__ = [
    "OPERATION_KINDS",
    "Call",
    "DeliveryLoop",
    "DeliveryStats",
    "HttpSink",
    "InteractionLog",
    "JsonlSink",
    "Logger",
    "ReconifySink",
    "build_event",
    "deliver_due",
    "now_ms",
    "sink_for",
    "topic_for",
    "with_keys",
]
