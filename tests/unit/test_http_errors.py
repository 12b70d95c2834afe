"""Every Mistral error body shape becomes the same typed, readable, redacted error."""

from __future__ import annotations

import json

import pytest
import responses

from alumio_mistral.catalog.entity import Entity
from alumio_mistral.errors import AlumioError
from alumio_mistral.http import (
    ApiError,
    AuthError,
    GoneError,
    NotFoundError,
    RequestValidationError,
    ServerError,
)
from alumio_mistral.http.errors import RETIRED_FINE_TUNING, parse_error_body
from test_http_retry import BASE, CHAT_COMPLETE, CHAT_URL, KEY, assert_error_clean, clock, logs, make_client

__all__ = ["clock", "logs"]  # fixtures used here, defined beside the retry tests

VALIDATION = {
    "detail": [
        {"loc": ["body", "messages", 0, "content"], "msg": "Field required", "type": "missing"},
        {"loc": ["body", "model"], "msg": f"unknown model for {KEY}", "type": "value_error"},
    ]
}
HTML_PAGE = (
    "<!DOCTYPE html><html><head><title>502 Bad Gateway</title><style>body{color:red}</style>"
    "</head><body><h1>Bad   Gateway</h1><p>The upstream &amp; proxy failed.</p>"
    f"<!-- {KEY} --></body></html>"
)


@pytest.mark.parametrize(
    ("status", "body", "kind", "message", "details", "code"),
    [
        (422, VALIDATION, RequestValidationError, "request validation failed",
         ["body.messages.0.content: Field required", "body.model: unknown model for ***"], None),
        (404, {"detail": {"message": "No file with id abc", "error_code": "3100"}}, NotFoundError,
         "No file with id abc", [], "3100"),
        (401, {"object": "error", "message": f"Unauthorized key {KEY}", "type": "invalid_request_error",
               "code": "1000"}, AuthError, "Unauthorized key ***", [], "1000"),
        (400, {"object": "error", "message": VALIDATION, "type": "invalid_request_message_error",
               "code": None}, RequestValidationError, "request validation failed",
         ["body.messages.0.content: Field required", "body.model: unknown model for ***"],
         "invalid_request_message_error"),
        (403, {"message": "Forbidden"}, AuthError, "Forbidden", [], None),
        (502, HTML_PAGE, ServerError,
         "non-JSON response: 502 Bad Gateway - Bad Gateway The upstream & proxy failed.", [], None),
        (504, "<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 Gateway "
              "Time-out</h1></center><hr><center>nginx</center></body></html>", ServerError,
         "non-JSON response: 504 Gateway Time-out nginx", [], None),
        (500, "", ServerError, "", [], None),
    ],
    ids=["detail-list", "detail-object", "object-error", "object-error-nested", "message", "html",
         "html-nginx", "empty"],
)
@responses.activate
def test_every_body_shape_is_parsed(
    clock: object, logs: pytest.LogCaptureFixture, status: int, body: object, kind: type,
    message: str, details: list[str], code: str | None,
) -> None:
    if isinstance(body, str):
        responses.post(CHAT_URL, status=status, body=body, content_type="text/html")
    else:
        responses.post(CHAT_URL, status=status, json=body)
    client = make_client(max_attempts=1)
    with pytest.raises(kind) as caught:
        client.call(CHAT_COMPLETE, json={})
    error = caught.value
    assert isinstance(error, AlumioError)
    assert (error.status, error.message, error.details, error.code) == (status, message, details, code)
    assert error.entity == "chat.complete"
    assert error.method == "POST" and error.url == CHAT_URL
    for line in details:
        assert f"  - {line}" in str(error)
    assert_error_clean(error, client, logs)


def test_html_excerpt_is_short() -> None:
    message, _, _ = parse_error_body("<html><body>" + "word " * 500 + "</body></html>", "text/html")
    assert len(message) <= len("non-JSON response: ") + 200
    assert message.endswith("...")


def test_plain_text_body() -> None:
    assert parse_error_body("upstream connect error\n  reset", "text/plain") == (
        "non-JSON response: upstream connect error reset", [], None,
    )


def test_unknown_json_shape_keeps_an_excerpt() -> None:
    message, details, code = parse_error_body(json.dumps({"error": {"reason": "quota"}}))
    assert "quota" in message and details == [] and code is None


@responses.activate
def test_410_on_retired_fine_tuning_route_says_so(clock: object, logs: pytest.LogCaptureFixture) -> None:
    retired = Entity(name="fine_tuning.jobs.list", operation_id="x", method="GET",
                     path="/v1/fine_tuning/jobs", retired=True, group="fine_tuning.jobs")
    responses.get(BASE + retired.path, status=410, json={"detail": "Gone"})
    client = make_client()
    with pytest.raises(GoneError) as caught:
        client.call(retired)
    assert caught.value.message == RETIRED_FINE_TUNING
    assert "fine-tuning jobs were retired by Mistral" in str(caught.value)
    assert len(responses.calls) == 1
    assert_error_clean(caught.value, client, logs)


@responses.activate
def test_410_elsewhere_says_the_route_is_retired(clock: object) -> None:
    responses.get(BASE + "/v1/old", status=410, json={"message": "moved to /v2"})
    with pytest.raises(GoneError, match=r"the route is retired \(410 Gone\): moved to /v2"):
        make_client().request("GET", "/v1/old")


@responses.activate
def test_other_4xx_is_an_api_error(clock: object) -> None:
    responses.get(BASE + "/v1/x", status=409, json={"message": "conflict"})
    with pytest.raises(ApiError) as caught:
        make_client().request("GET", "/v1/x")
    assert type(caught.value) is ApiError
    record = caught.value.to_dict()
    assert record["type"] == "ApiError" and record["status"] == 409 and record["message"] == "conflict"
    json.dumps(record)
