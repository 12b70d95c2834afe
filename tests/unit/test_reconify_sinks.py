"""Reconify sinks and the delivery pass, HTTP mocked: which answers are retried, which are
refused for good, and that the keys travel in the posted body only."""

from __future__ import annotations

import json

import pytest
import requests
import responses

from alumio_mistral.reconify import ReconifySink, build_event, deliver_due
from alumio_mistral.reconify.sinks import PermanentDelivery, TransientDelivery
from alumio_mistral.secrets import redact
from alumio_mistral.tasks import SqliteTaskStore

URL = "https://track.example.test/track"
EVENT = build_event(("cohere", "generate"), {"prompt": "hi"}, {"generations": []}, 1000, 1200, session="s1",
                    user={"userId": "u1", "unknown": "dropped"})


def test_an_event_is_stored_without_keys_and_posted_with_them():
    assert set(EVENT) == {"reconify", "timestamps", "session", "sessionTimeout", "user", "request", "response"}
    assert EVENT["reconify"].keys() == {"format", "type", "version"} and EVENT["user"] == {"userId": "u1"}
    sink = ReconifySink(URL, "app-secret-1", "api-secret-2")
    with responses.RequestsMock() as mocked:
        mocked.post(URL, json={"status": "ok"})
        sink.send(EVENT)
        posted = json.loads(mocked.calls[0].request.body)
    assert posted["reconify"] == {**EVENT["reconify"], "appKey": "app-secret-1", "apiKey": "api-secret-2"}
    assert "app-secret-1" not in repr(sink) and "app-secret-1" not in json.dumps(EVENT)
    assert "app-secret-1" not in redact("key app-secret-1") and "api-secret-2" not in redact("api-secret-2")


@pytest.mark.parametrize(("answer", "kind"), [
    ({"status": 429}, TransientDelivery), ({"status": 503}, TransientDelivery), ({"status": 500}, TransientDelivery),
    ({"status": 400}, PermanentDelivery), ({"status": 401}, PermanentDelivery), ({"status": 404}, PermanentDelivery),
    ({"body": requests.ConnectionError("refused")}, TransientDelivery),
    ({"body": requests.ReadTimeout("slow")}, TransientDelivery),
])
def test_what_is_retried_and_what_is_refused_for_good(answer, kind):
    sink = ReconifySink(URL, "app-secret-1", "api-secret-2", timeout=1)
    with responses.RequestsMock() as mocked:
        mocked.post(URL, **answer)
        with pytest.raises(kind) as raised:
            sink.send(EVENT)
    assert "secret" not in str(raised.value)


def test_a_pass_delivers_gives_up_and_stops_at_the_first_transient_failure(tmp_path):
    clock = [1000.0]
    with SqliteTaskStore(tmp_path / "t.db", clock=lambda: clock[0]) as store:
        store.outbox_add([("interactions:x", {**EVENT, "session": str(n)}) for n in range(4)])
        sink = ReconifySink(URL, "app-key-pass-1", "api-key-pass-2")
        with responses.RequestsMock() as mocked:
            mocked.post(URL, json={}, status=200)
            mocked.post(URL, json={}, status=400)
            mocked.post(URL, json={}, status=503)
            stats = deliver_due(store, {"interactions:x": sink}, worker="w")
        assert (stats.delivered, stats.gave_up, stats.retried) == (1, 1, 1)
        counts = store.outbox_counts()["interactions:x"]
        assert counts == {"pending": 2, "delivered": 1, "gave_up": 1}
        assert all(m.claimed_by is None for m in store.outbox_list(state="pending"))  # given back, untried
        assert store.outbox_claim(None, 10, "w2") == []  # waiting out the delay
        clock[0] += 2
        with responses.RequestsMock() as mocked:
            mocked.post(URL, json={}, status=200)
            assert deliver_due(store, {"interactions:x": sink}).delivered == 2


def test_an_endpoint_echoing_the_body_puts_no_key_in_errors_or_log_lines(tmp_path, caplog):
    sink = ReconifySink(URL, "app-echoed-7", "api-echoed-8")
    with SqliteTaskStore(tmp_path / "t.db") as store, responses.RequestsMock() as mocked:
        store.outbox_add([("interactions:x", EVENT)])
        mocked.add_callback(responses.POST, URL, callback=lambda request: (400, {}, request.body))
        stats = deliver_due(store, {"interactions:x": sink})
        [kept] = store.outbox_list(state="gave_up")
    assert stats.gave_up == 1 and "HTTP 400" in kept.last_error
    for text in (kept.last_error, caplog.text, json.dumps(kept.to_dict())):
        assert "app-echoed-7" not in text and "api-echoed-8" not in text


def test_keys_written_in_a_project_are_masked_from_the_moment_it_loads(tmp_path):
    from alumio_mistral.config import load_project

    (tmp_path / "alumio.yaml").write_text(
        "incoming: {t: {subscriber: {type: jsonl, path: t.jsonl}}}\n"
        "outgoing:\n  chat:\n    publisher: {entity: chat.complete}\n"
        "    log: {to: reconify, endpoint: 'https://r.example.test/track', app_key: lit-app-5150a,"
        " api_key: lit-api-5150b}\n"
        "routes: [{incoming: t, outgoing: chat}]\n")
    load_project(tmp_path, environ={})
    shown = redact("posted lit-app-5150a and lit-api-5150b")
    assert "lit-app-5150a" not in shown and "lit-api-5150b" not in shown


def test_log_on_an_operation_that_is_not_an_interaction_is_a_config_error(tmp_path):
    from alumio_mistral.config import ConfigError, load_project

    (tmp_path / "alumio.yaml").write_text(
        "incoming: {t: {subscriber: {type: jsonl, path: t.jsonl}}}\n"
        "outgoing:\n  files:\n    publisher: {entity: files.list}\n"
        "    log: {to: jsonl, path: out/i.jsonl}\n"
        "routes: [{incoming: t, outgoing: files}]\n")
    with pytest.raises(ConfigError) as raised:
        load_project(tmp_path, environ={})
    assert "alumio.yaml:5: outgoing.files.log: files.list is not a chat or generate operation" in str(raised.value)


def test_the_jsonl_sink_cuts_off_a_line_a_killed_writer_left_unfinished(tmp_path):
    """It opened the file in text mode per event and appended: the next event was glued to the
    torn line, and neither could be read."""
    from alumio_mistral.reconify.sinks import JsonlSink

    path = tmp_path / "out" / "interactions.jsonl"
    path.parent.mkdir()
    path.write_text('{"n": 1}\n{"n": 2, "respo')
    sink = JsonlSink(path)
    sink.send({"n": 3, "text": "caf\u00e9"})
    sink.send({"n": 4})
    assert [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line] == [
        {"n": 1}, {"n": 3, "text": "caf\u00e9"}, {"n": 4}]
