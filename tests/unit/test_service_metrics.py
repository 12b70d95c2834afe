"""/metrics in the Prometheus text format, parsed back with prometheus_client's own parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from alumio_mistral.service.metrics import Metrics


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(body.decode()) for sample in family.samples}


def test_store_figures_are_read_at_each_scrape() -> None:
    counts = {("triage", "processed"): 3, ("triage", "failed"): 1}
    metrics = Metrics(tasks=lambda: counts, breakers=lambda: {"mistral": "open"}, lags=lambda: {"poll": 0.25})
    found = samples(metrics)
    assert found[("alumio_tasks", (("outgoing", "triage"), ("status", "processed")))] == 3
    assert found[("alumio_breaker_state", (("client", "mistral"),))] == 2
    assert found[("alumio_schedule_lag_seconds", (("job", "poll"),))] == 0.25
    counts[("triage", "processed")] = 4
    assert samples(metrics)[("alumio_tasks", (("outgoing", "triage"), ("status", "processed")))] == 4


def test_requests_429s_and_latency_are_counted() -> None:
    metrics = Metrics(tasks=dict, breakers=dict, lags=dict)
    for status in (200, 200, 429):
        metrics.observe_response("mistral", status)
    metrics.publish_seconds.labels(outgoing="triage").observe(0.2)
    found = samples(metrics)
    assert found[("alumio_http_requests_total", (("client", "mistral"), ("status", "200")))] == 2
    assert found[("alumio_http_rate_limited_total", (("client", "mistral"),))] == 1
    assert found[("alumio_publish_seconds_count", (("outgoing", "triage"),))] == 1


def test_two_services_keep_their_own_figures() -> None:
    first = Metrics(tasks=dict, breakers=dict, lags=dict)
    second = Metrics(tasks=dict, breakers=dict, lags=dict)
    first.observe_response("mistral", 200)
    assert ("alumio_http_requests_total", (("client", "mistral"), ("status", "200"))) not in samples(second)
