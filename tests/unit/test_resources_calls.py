"""Lists (filters, all pages), not-found detection, Git options, and the calls where Harness is special."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from test_resources_fakes import FakeApi, config, duplicate, entity_not_found, not_found, ok, page

from airflow_provider_harness.client import resources
from airflow_provider_harness.client.errors import HarnessConflictError, HarnessNotFoundError
from airflow_provider_harness.client.transport import build_request

P = {"orgIdentifier": "o", "projectIdentifier": "p"}


def _items(kind: str, start: int, count: int) -> list[dict[str, Any]]:
    key = resources.resource_kind(kind).response_key
    items = [{"identifier": f"i{n:03d}", "name": f"I{n}"} for n in range(start, start + count)]
    return [{key: item, "createdAt": 1} for item in items] if key else items


@pytest.mark.parametrize(
    ("kind", "index_param", "size_param", "first"),
    [
        ("connector", "pageIndex", "pageSize", 0),
        ("service", "page", "size", 0),
        ("input_set", "pageIndex", "pageSize", 0),
    ],
)
def test_list_walks_every_page_past_100_items(
    kind: str, index_param: str, size_param: str, first: int
) -> None:
    api = FakeApi()
    path = resources.resource_kind(kind).base_path

    def answer(request: httpx.Request) -> httpx.Response:
        index = int(request.url.params[index_param])
        size = int(request.url.params[size_param])
        count = max(0, min(size, 250 - index * size))
        return ok(page(_items(kind, index * size, count), index, size, 250))

    api.on("GET", path, answer)
    ref = resources.ResourceRef(
        resources.resource_kind(kind), P, parent="pipe1" if kind == "input_set" else None
    )
    entities = list(resources.list_resources(api.client(), ref))
    assert [e["identifier"] for e in entities] == [f"i{n:03d}" for n in range(250)]
    assert [int(r.param(index_param) or -1) for r in api.requests] == [first, first + 1, first + 2]
    assert {r.param(size_param) for r in api.requests} == {"100"}, "100 is Harness's page size maximum"


def test_pipeline_list_is_a_post_with_a_filter_body_and_spring_pages() -> None:
    api = FakeApi()

    def answer(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page"])
        content = [{"identifier": f"p{number}_{n}", "name": "x"} for n in range(100 if number == 0 else 20)]
        return ok({"content": content, "number": number, "size": 100, "last": number == 1, "totalPages": 2})

    api.on("POST", "/pipeline/api/pipelines/list", answer)
    ref = resources.ResourceRef(resources.resource_kind("pipeline"), P)
    filters = {"searchTerm": "build", "pipelineTags": [{"key": "team", "value": "a"}]}
    got = list(resources.list_resources(api.client(), ref, filters=filters))
    assert len(got) == 120
    first = api.requests[0]
    assert first.param("searchTerm") == "build" and first.param("orgIdentifier") == "o"
    assert first.json() == {"filterType": "PipelineSetup", "pipelineTags": [{"key": "team", "value": "a"}]}


def test_list_limit_stops_early() -> None:
    api = FakeApi().on("GET", "/ng/api/organizations", ok(page(_items("organization", 0, 100), 0, 100, 500)))
    ref = resources.ResourceRef(resources.resource_kind("organization"), {})
    assert len(list(resources.list_resources(api.client(), ref, limit=7))) == 7
    assert len(api.requests) == 1


def test_list_filters_pass_through_and_unknown_ones_fail_before_sending() -> None:
    call = resources.list_call("connector", P, filters={"type": "K8sCluster", "searchTerm": "dev"})
    assert call.params["type"] == "K8sCluster" and call.params["searchTerm"] == "dev"
    trigger = resources.list_call("trigger", P, parent="pipe1")
    assert trigger.params["targetIdentifier"] == "pipe1"
    with pytest.raises(
        ValueError, match=r"filters: 'pageSize' is not a list filter of connectors; use one of"
    ):
        resources.list_call("connector", P, filters={"pageSize": 5})


def test_list_items_become_entities_and_secret_values_are_dropped() -> None:
    item = {
        "secret": {"identifier": "s", "type": "SecretText", "spec": {"valueType": "Inline", "value": None}}
    }
    assert resources.list_item_entity("secret", item) == {
        "identifier": "s",
        "type": "SecretText",
        "spec": {"valueType": "Inline"},
    }
    assert resources.list_item_entity("pipeline", {"identifier": "p", "name": "P"}) == {
        "identifier": "p",
        "name": "P",
    }


@pytest.mark.parametrize(
    ("kind", "response"),
    [
        ("organization", not_found("Organization with identifier [x] not found")),
        ("project", entity_not_found("Project with orgIdentifier [o] and identifier [x] not found")),
        ("service", not_found("Service with identifier [x] in project [p], org [o] not found")),
        ("environment", not_found("Environment with identifier [x] in project [p], org [o] not found")),
        ("infrastructure", not_found("Infrastructure with identifier [x] ... not found")),
        ("connector", not_found("Connector with identifier [x] not found in project [p] and org [o].")),
        ("secret", not_found("Secret with identifier [x] is not found in the given scope")),
        ("pipeline", entity_not_found()),
        ("input_set", not_found("InputSet with the given ID: x does not exist or has been deleted")),
        ("trigger", entity_not_found("Trigger x does not exist")),
    ],
)
def test_missing_is_detected_by_code_whatever_the_http_status(kind: str, response: httpx.Response) -> None:
    api = FakeApi()
    kind_ = resources.resource_kind(kind)
    api.on("GET", kind_.path("x"), response).on("DELETE", kind_.path("x"), response)
    scope = {} if kind == "organization" else {"orgIdentifier": "o"} if kind == "project" else P
    parent = {"input_set": "pipe1", "trigger": "pipe1", "infrastructure": "env1"}.get(kind)
    ref = resources.ResourceRef(kind_, scope, "x", parent)
    client = api.client()
    assert resources.get(client, ref) is None
    assert resources.delete(client, ref) is False, "already gone is a successful delete"
    with pytest.raises(HarnessNotFoundError):
        client.send(resources.get_call(kind, scope, "x", parent=parent))


def test_duplicate_create_is_a_conflict_error() -> None:
    api = FakeApi().on(
        "POST", "/ng/api/organizations", duplicate("An organization with identifier [o1] is already present")
    )
    with pytest.raises(HarnessConflictError, match=r"already present \(DUPLICATE_FIELD, HTTP 400"):
        api.client().send(resources.create_call("organization", {}, {"identifier": "o1", "name": "O"}))
    assert len(api.requests) == 1, "a create is not repeated"


def test_git_options_are_sent_on_the_verbs_harness_takes_them() -> None:
    git = {"branch": "main", "commitMsg": "update", "storeType": "REMOTE", "loadFromFallbackBranch": True}
    get = resources.get_call("pipeline", P, "p1", git=git)
    assert {k: get.params[k] for k in ("branch", "loadFromFallbackBranch")} == {
        "branch": "main",
        "loadFromFallbackBranch": True,
    }
    assert "commitMsg" not in get.params and "storeType" not in get.params
    create = resources.create_call("pipeline", P, "pipeline: {}\n", git=git)
    assert create.params["storeType"] == "REMOTE" and create.params["commitMsg"] == "update"
    assert "loadFromFallbackBranch" not in create.params
    request = build_request(config(), get)
    assert request.url.params["loadFromFallbackBranch"] == "true"
    with pytest.raises(
        ValueError, match=r"git: \['repo'\] are not Git Experience options of a pipeline; use \["
    ):
        resources.get_call("pipeline", P, "p1", git={"repo": "x"})
    with pytest.raises(ValueError, match="not stored in Git by this provider"):
        resources.get_call("service", P, "s", git={"branch": "main"})


def test_connector_test_call_and_result() -> None:
    call = resources.test_connector_call(P, "k8s")
    assert (call.method, call.path, dict(call.params), call.json) == (
        "POST",
        "/ng/api/connectors/testConnection/k8s",
        P,
        None,
    )
    result = call.result(
        {
            "status": "FAILURE",
            "errorSummary": "Unable to connect",
            "errors": [{"reason": "Unable to connect", "message": "host unreachable", "code": 450}],
            "testedAt": 5,
        }
    )
    assert not result.succeeded
    assert result.to_dict() == {
        "status": "FAILURE",
        "succeeded": False,
        "error_summary": "Unable to connect",
        "errors": ["Unable to connect - host unreachable"],
        "tested_at": 5,
    }
    assert resources.ConnectorTestResult.from_data({"status": "SUCCESS"}).succeeded


def test_service_deployment_status_call() -> None:
    call = resources.service_deployment_status_call(P, "web")
    assert (call.method, call.path, dict(call.params)) == (
        "GET",
        "/ng/api/servicesV2/web/deployment-status",
        P,
    )
    assert call.permission == "core_service_view"


def test_file_secret_upload_is_a_byte_exact_multipart_request() -> None:
    content = b"\x00\xffbinary\nkey"
    value = resources.SecretValue(content, file_name="kubeconfig")
    entity = {
        "identifier": "kc",
        "name": "Kubeconfig",
        "type": "SecretFile",
        "spec": {"secretManagerIdentifier": "m"},
    }
    call = resources.secret_file_call(P, entity, value)
    assert (call.method, call.path, dict(call.params), call.repeatable) == (
        "POST",
        "/ng/api/v2/secrets/files",
        P,
        False,
    )
    request = build_request(config(), call)
    body = request.read()
    boundary = request.headers["content-type"].split("boundary=")[1]
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert body.count(f"--{boundary}".encode()) == 3
    assert b'name="file"; filename="kubeconfig"' in body and content in body
    assert b'"projectIdentifier": "p"' in body and b'name="spec"' in body
    update = resources.secret_file_call(P, entity, None, identifier="kc")
    assert (update.method, update.path, update.repeatable) == ("PUT", "/ng/api/v2/secrets/files/kc", True)
    assert b'name="file"' not in build_request(config(), update).read()
    assert "binary\nkey" not in repr(value) and value.redactions()[0].endswith("key")
