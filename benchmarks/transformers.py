"""How fast a typical 10-step pipeline runs, next to the same mapping written as plain Python.

Steps: set, copy, move, rename, cast, template, condition, filter, value map, remove.
Run: python benchmarks/transformers.py [ENTITIES]; the figure that counts is the ratio, printed last.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any, Callable

from alumio_mistral.transformers import compile_pipeline

STEPS: list[dict[str, Any]] = [
    {"type": "set", "path": "source", "value": "helpdesk"},
    {"type": "copy", "from": "customer.email", "to": "contact"},
    {"type": "move", "from": "meta.prio", "to": "priority"},
    {"type": "rename", "keys": {"subj": "subject"}},
    {"type": "cast", "path": "amount", "to": "number"},
    {"type": "template", "to": "title", "template": "Ticket &{id}: &{subject}"},
    {
        "type": "conditional",
        "if": {"path": "amount", "gt": 100},
        "then": [{"type": "set", "path": "large", "value": True}],
    },
    {"type": "filter", "when": {"path": "status", "equals": "spam"}},
    {"type": "map", "path": "priority", "map": {"1": "high", "2": "normal", "3": "low"}, "default": "normal"},
    {"type": "remove", "path": "meta"},
]


def entity(number: int) -> dict[str, Any]:
    return {
        "id": number,
        "subj": f"Subject {number}",
        "customer": {"email": f"c{number}@example.com", "name": "C"},
        "meta": {"prio": number % 4, "trace": "x"},
        "amount": str(number % 250),
        "status": "spam" if number % 10 == 0 else "open",
    }


PRIORITIES = {"1": "high", "2": "normal", "3": "low"}


def by_hand(item: dict[str, Any]) -> list[dict[str, Any]]:
    """The same mapping as plain Python (with the same copy-on-entry, so the input is not changed)."""
    item = {**item, "customer": dict(item["customer"]), "meta": dict(item["meta"])}
    item["source"] = "helpdesk"
    item["contact"] = item["customer"]["email"]
    item["priority"] = item["meta"].pop("prio")
    item = {("subject" if key == "subj" else key): value for key, value in item.items()}
    item["amount"] = float(item["amount"]) if "." in item["amount"] else int(item["amount"])
    item["title"] = f"Ticket {item['id']}: {item['subject']}"
    if item["amount"] > 100:
        item["large"] = True
    if item["status"] == "spam":
        return []
    item["priority"] = PRIORITIES.get(str(item["priority"]), "normal")
    del item["meta"]
    return [item]


def rate(function: Callable[[dict[str, Any]], list[Any]], entities: list[dict[str, Any]]) -> float:
    """Entities per second of CPU time: time the process spends waiting for a core (the
    machine may be shared) is not counted against either mapping."""
    started = time.process_time()
    for item in entities:
        function(item)
    return len(entities) / (time.process_time() - started)


def main(count: int = 100_000, rounds: int = 9) -> None:
    """Both mappings in turn, ``rounds`` times, each round starting with the other one (a busy
    neighbour or a warming cache then slows both alike); medians are printed, and the spread
    of the rounds' ratios."""
    entities = [entity(number) for number in range(count)]
    pipeline = compile_pipeline(STEPS, source="benchmark")
    for item in entities[:1000]:  # filtered, large and small ones among them
        assert pipeline.run(item) == by_hand(item), f"the two mappings must agree (entity {item['id']})"
    mappings = {"transformer pipeline": pipeline.run, "plain Python": by_hand}
    rates: dict[str, list[float]] = {label: [] for label in mappings}
    for round_ in range(rounds):
        for label in sorted(mappings, reverse=round_ % 2 == 1):
            rates[label].append(rate(mappings[label], entities))
    for label, measured in rates.items():
        print(f"{label:<22} {statistics.median(measured):>12,.0f} entities/s (median of {rounds} x {count:,})")
    slowdowns = sorted(q / p for p, q in zip(rates["transformer pipeline"], rates["plain Python"]))
    print(f"rounds: the pipeline {slowdowns[0]:.2f}x to {slowdowns[-1]:.2f}x slower")
    ratio = 1 / statistics.median(slowdowns)
    print(f"pipeline / plain Python: {ratio:.2f}x (the pipeline is {1 / ratio:.1f}x slower)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
