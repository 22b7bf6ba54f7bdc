"""Envelopes, error bodies, auth and routing - every answer must be Harness-shaped."""

from __future__ import annotations

import re

import httpx
import pytest
from emulator_kit import Api, pipeline_yaml, shell, stage

ERROR_KEYS = {"status", "code", "message", "correlationId", "detailedMessage", "responseMessages", "metadata"}
FAILURE_KEYS = {"status", "code", "message", "correlationId", "errors"}


def test_success_envelope_has_exactly_the_ng_fields(api: Api) -> None:
    response = api.get(
        "/ng/api/organizations/default", params={"orgIdentifier": None, "projectIdentifier": None}
    )
    body = response.json()
    assert response.status_code == 200
    assert set(body) == {"status", "data", "metaData", "correlationId"}
    assert body["status"] == "SUCCESS" and body["metaData"] is None
    assert len(body["correlationId"]) == 36
    assert body["data"]["organization"]["identifier"] == "default"
    assert body["data"]["harnessManaged"] is True


def test_each_response_gets_a_fresh_correlation_id(api: Api) -> None:
    ids = {api.get("/ng/api/organizations/default").json()["correlationId"] for _ in range(3)}
    assert len(ids) == 3


@pytest.mark.parametrize(
    "headers",
    [{"x-api-key": "pat.emulatoraccount.other.token"}, {"x-api-key": ""}, {}],
    ids=["wrong-key", "empty-key", "no-key"],
)
def test_bad_or_missing_key_is_401_invalid_token(api: Api, headers: dict[str, str]) -> None:
    response = httpx.get(
        f"{api.handle.base_url}/ng/api/projects",
        params={"accountIdentifier": api.handle.account_id, "orgIdentifier": "default"},
        headers=headers,
    )
    body = response.json()
    assert response.status_code == 401
    assert set(body) == ERROR_KEYS
    assert (body["status"], body["code"], body["message"]) == (
        "ERROR",
        "INVALID_TOKEN",
        "Token is not valid.",
    )
    assert body["responseMessages"][0]["code"] == "INVALID_TOKEN"


def test_key_of_another_account_is_rejected(api: Api) -> None:
    response = api.get("/ng/api/projects", params={"accountIdentifier": "someoneelse"})
    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_TOKEN"


def test_account_from_harness_account_header(api: Api) -> None:
    response = api.client.get(
        "/ng/api/organizations/default", headers={"Harness-Account": api.handle.account_id}, params={}
    )
    assert response.status_code == 200, response.text


def test_missing_account_is_invalid_request(api: Api) -> None:
    response = api.client.get("/ng/api/organizations/default")
    assert response.status_code == 400
    assert response.json()["message"] == "Invalid request: Account detail is not present in the request"


def test_second_account_with_its_own_key(api: Api) -> None:
    api.handle.admin("POST", "api-keys", {"api_key": "pat.acc2.t.s", "account_id": "acc2"})
    ok = httpx.get(
        f"{api.handle.base_url}/ng/api/organizations",
        params={"accountIdentifier": "acc2"},
        headers={"x-api-key": "pat.acc2.t.s"},
    )
    assert ok.status_code == 200
    assert [o["organization"]["identifier"] for o in ok.json()["data"]["content"]] == ["default"]
    # account scoping: a project of the default account is invisible to acc2
    hidden = httpx.get(
        f"{api.handle.base_url}/ng/api/projects/emulator_project",
        params={"accountIdentifier": "acc2", "orgIdentifier": "default"},
        headers={"x-api-key": "pat.acc2.t.s"},
    )
    assert hidden.status_code == 404


def test_unknown_path_is_harness_not_found_failure(api: Api) -> None:
    for path in ("/nowhere", "/ng/api/nothing/here", "/gateway/pipeline/api/unknown"):
        response = api.get(path)
        body = response.json()
        assert response.status_code == 400, path
        assert set(body) == FAILURE_KEYS
        assert (body["status"], body["code"], body["message"]) == (
            "FAILURE",
            "RESOURCE_NOT_FOUND_EXCEPTION",
            "HTTP 404 Not Found",
        )


def test_wrong_method_is_405_with_a_harness_body(api: Api) -> None:
    response = api.request("PATCH", "/ng/api/organizations")
    assert response.status_code == 405
    assert response.json()["status"] == "ERROR"


def test_gateway_prefix_is_optional(api: Api) -> None:
    plain = api.get("/ng/api/organizations/default")
    gateway = api.get("/gateway/ng/api/organizations/default")
    assert plain.status_code == gateway.status_code == 200
    assert plain.json()["data"] == gateway.json()["data"]


@pytest.mark.parametrize(
    "content",
    ["{not json", "[1, 2", "\xff\xfe"],
    ids=["broken-object", "broken-array", "bad-bytes"],
)
def test_malformed_json_body_is_a_harness_400(api: Api, content: str) -> None:
    response = api.post(
        "/ng/api/organizations",
        content=content.encode("latin-1"),
        headers={"content-type": "application/json"},
        params={"orgIdentifier": None, "projectIdentifier": None},
    )
    body = response.json()
    assert response.status_code == 400
    assert body["status"] in ("ERROR", "FAILURE") and body["code"] == "INVALID_REQUEST"


def test_empty_or_wrong_shaped_body_is_a_validation_failure(api: Api) -> None:
    empty = api.post("/ng/api/organizations", content=b"", headers={"content-type": "application/json"})
    wrong = api.post("/ng/api/organizations", json=[1, 2, 3])
    for response in (empty, wrong):
        body = response.json()
        assert response.status_code == 400
        assert body["status"] == "FAILURE" and body["code"] == "INVALID_REQUEST"
        assert body["errors"]


def test_malformed_yaml_is_invalid_yaml_error(api: Api) -> None:
    response = api.post(
        "/pipeline/api/pipelines/v2",
        content="pipeline: [unclosed",
        headers={"content-type": "application/yaml"},
    )
    body = response.json()
    assert response.status_code == 400
    assert body["code"] == "INVALID_YAML_ERROR"
    assert body["message"].startswith("Invalid yaml: ")


def test_unexpected_exception_is_unknown_error_not_a_traceback(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    import airflow_provider_harness.emulator.pipelines as pipelines

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("internal detail that must not leak")

    monkeypatch.setattr(pipelines, "load_pipeline_yaml", boom)
    response = api.post(
        "/pipeline/api/pipelines/v2", content="pipeline: {}", headers={"content-type": "application/yaml"}
    )
    body = response.json()
    assert response.status_code == 500
    assert set(body) == ERROR_KEYS
    assert body["code"] == "UNKNOWN_ERROR"
    assert body["message"] == "Oops, something went wrong on our end. Please contact Harness Support."
    assert "internal detail" not in response.text and "Traceback" not in response.text


def test_admin_endpoints_need_no_key(api: Api) -> None:
    health = httpx.get(f"{api.handle.base_url}/_emulator/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    missing = httpx.get(f"{api.handle.base_url}/_emulator/nothing")
    assert missing.status_code == 404


def test_admin_settings_reject_unknown_names_and_bad_types(api: Api) -> None:
    url = f"{api.handle.base_url}/_emulator/settings"
    assert httpx.put(url, json={"no_such": 1}).status_code == 400
    assert httpx.put(url, json={"time_scale": "fast"}).status_code == 400
    assert httpx.put(url, json={"time_scale": 0.02}).json()["time_scale"] == 0.02


GARBAGE_BODIES = [
    (b"", "application/json"),
    (b"{not json", "application/json"),
    (b"[1,2,3]", "application/json"),
    (b'"just a string"', "application/json"),
    (b"pipeline: [unclosed", "application/yaml"),
    (b"- a\n- b\n", "application/yaml"),
    (b"\x00\xff\xfe binary", "application/octet-stream"),
    (
        b'{"organization": {"identifier": 5, "name": ["x"]}, "secret": "s", "connector": null}',
        "application/json",
    ),
]


def test_no_route_answers_500_to_garbage(api: Api) -> None:
    from airflow_provider_harness.emulator.app import Emulator, all_routes

    routes = all_routes(Emulator())
    assert len(routes) > 60
    # make "x1" exist for the main kinds so that garbage reaches the deeper code paths too
    api.create_pipeline(
        pipeline_yaml("x1", [stage("s", [shell("a", "sleep 1000")])], allowStageExecutions=True)
    )
    scope = {"orgIdentifier": "default", "projectIdentifier": "emulator_project"}
    for path, body in (
        ("/ng/api/servicesV2", {"identifier": "x1", "name": "x1", **scope}),
        ("/ng/api/environmentsV2", {"identifier": "x1", "name": "x1", "type": "Production", **scope}),
        ("/ng/api/connectors", {"connector": {"identifier": "x1", "name": "x1", "type": "Git", **scope}}),
    ):
        assert api.post(path, json=body).status_code == 200
    checked = 0
    for route in routes:
        path = re.sub(r"\{[^}]+\}", "x1", route.path)
        for body, content_type in GARBAGE_BODIES:
            response = api.request(
                route.method,
                path,
                params={
                    "accountID": api.handle.account_id,
                    "interruptType": "AbortAll",
                    "key": "k",
                    "prefix": "p",
                },
                content=body,
                headers={"content-type": content_type},
            )
            checked += 1
            assert response.status_code < 500, (route.method, path, body, response.text)
            if path.startswith(("/pipeline", "/ng")) and response.status_code >= 400:
                payload = response.json()
                assert payload.get("status") in ("ERROR", "FAILURE") or set(payload) == {"code", "message"}, (
                    payload
                )
    assert checked == len(routes) * len(GARBAGE_BODIES)
