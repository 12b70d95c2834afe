"""Naming rules: readable actions from method + path, overrides, and loud collisions."""

from __future__ import annotations

import pytest

from alumio_mistral.catalog.naming import (
    Naming,
    NamingError,
    derive_action,
    group_of,
    singular,
    snake,
)
from alumio_mistral.catalog.spec import Operation


def op(method: str, path: str, tag: str, operation_id: str = "") -> Operation:
    return Operation(method, path, {"tags": [tag], "operationId": operation_id or f"{method}{path}"})


@pytest.mark.parametrize(
    "method, rest, action",
    [
        ("GET", [], "list"),
        ("POST", [], "create"),
        ("GET", ["{id}"], "get"),
        ("PATCH", ["{id}"], "update"),
        ("DELETE", ["{id}"], "delete"),
        ("POST", ["{id}", "cancel"], "cancel"),
        ("GET", ["{id}", "versions"], "list_versions"),
        ("POST", ["{id}", "versions"], "create_version"),
        ("GET", ["{id}", "versions", "{v}"], "get_version"),
        ("GET", ["{id}", "history"], "get_history"),
        ("GET", ["{id}", "signed-url"], "get_signed_url"),
        ("POST", ["{id}", "tools", "{tool}", "call"], "call_tool"),
        ("DELETE", ["{id}", "remove-users"], "remove_users"),
        ("PUT", ["{id}", "payload"], "update_payload"),
        ("GET", ["fields", "{f}", "options"], "list_field_options"),
        ("GET", ["indexes", "index", "{i}", "schemas", "schema", "{s}", "detail"], "get_index_schema_detail"),
    ],
)
def test_derive_action(method, rest, action):
    assert derive_action(method, rest, has_patch=False) == action


def test_put_beside_patch_is_replace():
    assert derive_action("PUT", ["{id}"], has_patch=True) == "replace"
    assert derive_action("PUT", ["{id}"], has_patch=False) == "update"


def test_words():
    assert snake("chat-completion-events") == "chat_completion_events"
    assert snake("pageToken") == "page_token"
    assert [singular(w) for w in ("libraries", "aliases", "status", "records", "access", "indexes")] == [
        "library", "alias", "status", "record", "access", "index"
    ]


def test_group_from_tags():
    assert group_of(op("GET", "/v1/libraries/{id}/documents", "beta.libraries.documents")) == "libraries.documents"
    assert group_of(op("GET", "/v1/batch/jobs", "batch")) == "batch_jobs"
    assert group_of(op("GET", "/v1/admin/user-groups", "beta.admin.user-groups")) == "admin.user_groups"
    assert group_of(Operation("GET", "/v1/workflows/events/list", {"tags": ["events", "workflows.events"]})) == "workflows.events"


def test_assign_uses_group_prefix_fragments_and_overrides():
    ops = [
        op("GET", "/v1/things", "beta.things"),
        op("POST", "/v1/things", "beta.things", "make_thing"),
        op("POST", "/v1/things#stream", "beta.things"),
        op("GET", "/v1/things/{id}", "beta.things"),
    ]
    names = [name for _, name in Naming({"make_thing": "things.make"}).assign(ops)]
    assert names == ["things.list", "things.make", "things.create_stream", "things.get"]


def test_collision_fails_loudly():
    ops = [op("POST", "/v1/jobs/{id}/cancel", "jobs"), op("POST", "/v1/jobs/cancel", "jobs")]
    with pytest.raises(NamingError, match=r"jobs.cancel \(POST /v1/jobs/\{id\}/cancel and POST /v1/jobs/cancel\)"):
        Naming({}).assign(ops)


def test_a_group_of_item_routes_names_them_as_items():
    ops = [op("GET", "/v1/things/{id}", "things"), op("DELETE", "/v1/things/{id}", "things")]
    assert [name for _, name in Naming({}).assign(ops)] == ["things.get", "things.delete"]


def test_unreadable_override_is_refused():
    with pytest.raises(NamingError, match="not a readable dotted name"):
        Naming({"x": "Bad Name"}).assign([op("GET", "/v1/x", "x", "x")])
