"""Platform resources: CRUD, not-found shapes per kind, duplicates, pages, secrets, connectors."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from emulator_kit import Api, pipeline_yaml, stage, step

ORG, PROJECT = "default", "emulator_project"


@dataclass
class Case:
    kind: str
    path: str
    body: dict[str, Any]
    scope: dict[str, Any]
    missing: tuple[int, str, str, str]  # http, envelope status, code, message
    duplicate: str
    update_in_path: bool = True
    create_scope: dict[str, Any] | None = None


def _cases() -> list[Case]:
    project_scope = {"orgIdentifier": ORG, "projectIdentifier": PROJECT}
    return [
        Case(
            "organization",
            "/ng/api/organizations",
            {"organization": {"identifier": "org1", "name": "Org 1", "description": "", "tags": {"a": "b"}}},
            {"orgIdentifier": None, "projectIdentifier": None},
            (
                400,
                "FAILURE",
                "RESOURCE_NOT_FOUND_EXCEPTION",
                "Organization with identifier [ghost] not found",
            ),
            "An organization with identifier [org1] is already present",
        ),
        Case(
            "project",
            "/ng/api/projects",
            {"project": {"orgIdentifier": ORG, "identifier": "proj1", "name": "P1"}},
            {"orgIdentifier": ORG, "projectIdentifier": None},
            (
                404,
                "ERROR",
                "ENTITY_NOT_FOUND",
                "Project with orgIdentifier [default] and identifier [ghost] not found",
            ),
            "A project with identifier [proj1] and orgIdentifier [default] is already present",
        ),
        Case(
            "service",
            "/ng/api/servicesV2",
            {"identifier": "svc1", "name": "svc1", **project_scope},
            project_scope,
            (
                400,
                "FAILURE",
                "RESOURCE_NOT_FOUND_EXCEPTION",
                "Service with identifier [ghost] in project [emulator_project], org [default] not found",
            ),
            "Service [svc1] under Project[emulator_project], Organization [default] in Account "
            "[emulatoraccount] already exists",
            update_in_path=False,
        ),
        Case(
            "environment",
            "/ng/api/environmentsV2",
            {"identifier": "env1", "name": "env1", "type": "PreProduction", **project_scope},
            project_scope,
            (
                400,
                "FAILURE",
                "RESOURCE_NOT_FOUND_EXCEPTION",
                "Environment with identifier [ghost] in project [emulator_project], org [default] not found",
            ),
            "Environment [env1] under Project[emulator_project], Organization [default] in Account "
            "[emulatoraccount] already exists",
            update_in_path=False,
        ),
        Case(
            "connector",
            "/ng/api/connectors",
            {
                "connector": {
                    "identifier": "dock",
                    "name": "Docker",
                    "type": "DockerRegistry",
                    "spec": {"dockerRegistryUrl": "https://index.docker.io/v2/"},
                    **project_scope,
                }
            },
            project_scope,
            (
                400,
                "FAILURE",
                "RESOURCE_NOT_FOUND_EXCEPTION",
                "Connector with identifier [ghost] not found in project [emulator_project] "
                "and org [default].",
            ),
            "Connector [dock] already exists",
            update_in_path=False,
        ),
        Case(
            "secret",
            "/ng/api/v2/secrets",
            {
                "secret": {
                    "type": "SecretText",
                    "name": "s1",
                    "identifier": "s1",
                    "spec": {
                        "secretManagerIdentifier": "harnessSecretManager",
                        "valueType": "Inline",
                        "value": "x",
                    },
                    **project_scope,
                }
            },
            project_scope,
            (
                400,
                "FAILURE",
                "RESOURCE_NOT_FOUND_EXCEPTION",
                "Secret with identifier [ghost] is not found in the given scope",
            ),
            "Duplicate identifier, please try again with a new identifier",
        ),
    ]


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=[c.kind for c in CASES])
def test_crud_cycle_not_found_and_duplicate(api: Api, case: Case) -> None:
    created = api.post(case.path, json=case.body, params=case.scope)
    assert created.status_code == 200, created.text
    entity_key = "organization" if case.kind == "organization" else case.kind
    data = created.json()["data"]
    identifier = data[entity_key]["identifier"]
    assert "createdAt" in data

    got = api.get(f"{case.path}/{identifier}", params=case.scope)
    assert got.status_code == 200 and got.json()["data"][entity_key]["identifier"] == identifier

    duplicate = api.post(case.path, json=case.body, params=case.scope)
    body = duplicate.json()
    assert duplicate.status_code == 400
    assert (body["status"], body["code"], body["message"]) == ("ERROR", "DUPLICATE_FIELD", case.duplicate)

    changed = json.loads(json.dumps(case.body))
    target = changed[next(iter(changed))] if len(changed) == 1 else changed
    target["description"] = "changed"
    path = f"{case.path}/{identifier}" if case.update_in_path else case.path
    updated = api.put(path, json=changed, params=case.scope)
    assert updated.status_code == 200, updated.text
    assert updated.json()["data"][entity_key]["description"] == "changed"

    missing = api.get(f"{case.path}/ghost", params=case.scope)
    body = missing.json()
    http, status, code, message = case.missing
    assert missing.status_code == http
    assert (body["status"], body["code"], body["message"]) == (status, code, message)

    deleted = api.delete(f"{case.path}/{identifier}", params=case.scope)
    assert deleted.status_code == 200 and deleted.json()["data"] is True
    assert api.get(f"{case.path}/{identifier}", params=case.scope).status_code == http


def test_default_org_cannot_be_created_updated_or_deleted(api: Api) -> None:
    scope = {"orgIdentifier": None, "projectIdentifier": None}
    body = {"organization": {"identifier": "default", "name": "x"}}
    create = api.post("/ng/api/organizations", json=body, params=scope)
    update = api.put("/ng/api/organizations/default", json=body, params=scope)
    delete = api.delete("/ng/api/organizations/default", params=scope)
    assert create.json()["message"] == "Invalid request: default cannot be used as org identifier"
    expected = (
        "Invalid request: Update operation not supported for Default Organization (identifier: [default])"
    )
    assert update.json()["message"] == expected
    assert delete.json()["message"] == expected
    assert {r.status_code for r in (create, update, delete)} == {400}
    assert api.get("/ng/api/organizations/default", params=scope).status_code == 200


def test_delete_missing_project_message(api: Api) -> None:
    response = api.delete("/ng/api/projects/ghost", params={"projectIdentifier": None})
    assert response.status_code == 404
    assert (
        response.json()["message"] == "Project with identifier [ghost] does not exist in the specified scope"
    )


@pytest.mark.parametrize(
    ("identifier", "error"),
    [
        (
            "1abc",
            "can be 128 characters long and can only contain alphanumeric, underscore and $ characters, "
            "and not start with a number or $",
        ),
        ("", "cannot be empty"),
        ("class", "class is a keyword, so cannot be used"),
    ],
)
def test_identifier_validation_failure(api: Api, identifier: str, error: str) -> None:
    body = {"project": {"orgIdentifier": ORG, "identifier": identifier, "name": "x"}}
    response = api.post("/ng/api/projects", json=body, params={"projectIdentifier": None})
    payload = response.json()
    assert response.status_code == 400
    assert payload["status"] == "FAILURE" and payload["code"] == "INVALID_REQUEST"
    assert payload["message"] == f"identifier: {error}"
    assert payload["errors"] == [{"fieldId": "identifier", "error": error}]


def test_dollar_allowed_in_entity_identifiers(api: Api) -> None:
    body = {"project": {"orgIdentifier": ORG, "identifier": "a$b", "name": "x"}}
    assert api.post("/ng/api/projects", json=body, params={"projectIdentifier": None}).status_code == 200


def test_project_level_entity_needs_an_existing_project(api: Api) -> None:
    body = {"identifier": "svc", "name": "svc", "orgIdentifier": ORG, "projectIdentifier": "nope"}
    response = api.post("/ng/api/servicesV2", json=body)
    assert response.status_code == 404
    assert response.json()["code"] == "ENTITY_NOT_FOUND"


def test_ng_page_shape_over_more_than_100_items(api: Api) -> None:
    scope = {"orgIdentifier": None, "projectIdentifier": None}
    for index in range(105):
        body = {"organization": {"identifier": f"org_{index:03d}", "name": f"Org {index:03d}"}}
        assert api.post("/ng/api/organizations", json=body, params=scope).status_code == 200
    first = api.get("/ng/api/organizations", params={**scope, "pageSize": 100}).json()["data"]
    second = api.get("/ng/api/organizations", params={**scope, "pageSize": 100, "pageIndex": 1}).json()[
        "data"
    ]
    assert set(first) == {
        "totalPages",
        "totalItems",
        "pageItemCount",
        "pageSize",
        "content",
        "pageIndex",
        "empty",
        "pageToken",
    }
    assert (first["totalItems"], first["totalPages"], first["pageItemCount"], first["empty"]) == (
        106,
        2,
        100,
        False,
    )
    assert (second["pageIndex"], second["pageItemCount"]) == (1, 6)
    identifiers = [o["organization"]["identifier"] for o in first["content"] + second["content"]]
    assert len(set(identifiers)) == 106 and identifiers[0] == "default"
    too_big = api.get("/ng/api/organizations", params={**scope, "pageSize": 101})
    assert too_big.status_code == 400 and too_big.json()["errors"][0]["fieldId"] == "pageSize"
    beyond = api.get("/ng/api/organizations", params={**scope, "pageSize": 100, "pageIndex": 5}).json()[
        "data"
    ]
    assert beyond["content"] == [] and beyond["empty"] is True


def test_sized_page_lists_and_search(api: Api) -> None:
    for name in ("alpha", "beta", "alphabet"):
        body = {"identifier": name, "name": name, "orgIdentifier": ORG, "projectIdentifier": PROJECT}
        assert api.post("/ng/api/servicesV2", json=body).status_code == 200
    page = api.get("/ng/api/servicesV2", params={"page": 0, "size": 2}).json()["data"]
    assert (page["totalItems"], page["totalPages"], page["pageItemCount"]) == (3, 2, 2)
    found = api.get("/ng/api/servicesV2", params={"searchTerm": "alpha"}).json()["data"]
    assert sorted(s["service"]["identifier"] for s in found["content"]) == ["alpha", "alphabet"]


def test_secret_value_is_never_returned(api: Api) -> None:
    body = CASES[-1].body
    created = api.post("/ng/api/v2/secrets", json=body)
    assert created.status_code == 200
    listed = api.get("/ng/api/v2/secrets")
    got = api.get("/ng/api/v2/secrets/s1")
    for response in (created, listed, got):
        assert '"x"' not in response.text
    assert got.json()["data"]["secret"]["spec"]["value"] is None
    assert set(got.json()["data"]) == {"secret", "createdAt", "updatedAt", "draft", "governanceMetadata"}


def test_secret_scope_in_payload_must_match_query(api: Api) -> None:
    body = {"secret": {**CASES[-1].body["secret"], "projectIdentifier": "other"}}
    response = api.post("/ng/api/v2/secrets", json=body)
    assert response.status_code == 400
    assert response.json()["message"] == "Invalid request, scope in payload and params do not match."


def test_connector_test_connection(api: Api) -> None:
    good = {"connector": {**CASES[4].body["connector"]}}
    bad = {
        "connector": {
            **CASES[4].body["connector"],
            "identifier": "bad",
            "spec": {"url": "https://repo.invalid"},
        }
    }
    assert api.post("/ng/api/connectors", json=good).status_code == 200
    assert api.post("/ng/api/connectors", json=bad).status_code == 200
    ok = api.post("/ng/api/connectors/testConnection/dock").json()["data"]
    failing = api.post("/ng/api/connectors/testConnection/bad").json()["data"]
    assert ok["status"] == "SUCCESS" and ok["errors"] == []
    assert failing["status"] == "FAILURE" and failing["errors"]
    missing = api.post("/ng/api/connectors/testConnection/ghost")
    assert missing.status_code == 400
    assert missing.json()["code"] == "CONNECTOR_NOT_FOUND_EXCEPTION"
    assert missing.json()["message"] == "No connector found with identifier ghost"


def test_infrastructure_under_an_environment(api: Api) -> None:
    env = {
        "identifier": "dev",
        "name": "dev",
        "type": "PreProduction",
        "orgIdentifier": ORG,
        "projectIdentifier": PROJECT,
    }
    assert api.post("/ng/api/environmentsV2", json=env).status_code == 200
    infra = {
        "identifier": "k8s",
        "name": "k8s",
        "orgIdentifier": ORG,
        "projectIdentifier": PROJECT,
        "environmentRef": "dev",
        "type": "KubernetesDirect",
        "yaml": "infrastructureDefinition:\n  name: k8s\n  identifier: k8s\n  type: KubernetesDirect\n",
    }
    created = api.post("/ng/api/infrastructures", json=infra)
    assert created.status_code == 200, created.text
    assert created.json()["data"]["infrastructure"]["deploymentType"] == "Kubernetes"
    got = api.get("/ng/api/infrastructures/k8s", params={"environmentIdentifier": "dev"})
    assert got.status_code == 200
    missing = api.get("/ng/api/infrastructures/ghost", params={"environmentIdentifier": "dev"})
    assert missing.json()["message"] == (
        "Infrastructure with identifier [ghost] in project [emulator_project], org [default], "
        "environment [dev] not found"
    )


def test_service_deployment_status_follows_deployment_stages(api: Api) -> None:
    for path, body in (
        ("/ng/api/servicesV2", {"identifier": "web", "name": "Web"}),
        ("/ng/api/environmentsV2", {"identifier": "prod", "name": "Production", "type": "Production"}),
    ):
        assert (
            api.post(path, json={**body, "orgIdentifier": ORG, "projectIdentifier": PROJECT}).status_code
            == 200
        )
    deploy = stage(
        "deploy",
        [step("rollout", "K8sRollingDeploy")],
        "Deployment",
        spec={"service": {"serviceRef": "web"}, "environment": {"environmentRef": "prod"}},
    )
    api.create_pipeline(pipeline_yaml("release", [deploy]))
    before = api.get("/ng/api/servicesV2/web/deployment-status").json()["data"]
    assert before["deployments"] == [] and before["status"] is None
    execution = api.run("release")
    api.wait(execution)
    after = api.get("/ng/api/servicesV2/web/deployment-status").json()["data"]
    assert after["serviceName"] == "Web"
    assert after["lastDeployment"]["environmentIdentifier"] == "prod"
    assert after["lastDeployment"]["environmentName"] == "Production"
    assert (after["status"], after["lastDeployment"]["planExecutionId"]) == ("Success", execution)
    missing = api.get("/ng/api/servicesV2/ghost/deployment-status")
    assert missing.status_code == 400 and missing.json()["code"] == "RESOURCE_NOT_FOUND_EXCEPTION"


def test_file_secret_multipart_create_and_update(api: Api) -> None:
    spec = {
        "secret": {
            "type": "SecretFile",
            "name": "kubeconfig",
            "identifier": "kubeconfig",
            "orgIdentifier": ORG,
            "projectIdentifier": PROJECT,
            "spec": {"secretManagerIdentifier": "harnessSecretManager"},
        }
    }
    content = b"\x00binary-kube-config\xff"
    created = api.post(
        "/ng/api/v2/secrets/files", files={"spec": (None, json.dumps(spec)), "file": ("kc", content)}
    )
    assert created.status_code == 200, created.text
    assert created.json()["data"]["secret"]["type"] == "SecretFile"
    assert "binary-kube-config" not in created.text
    updated = api.put(
        "/ng/api/v2/secrets/files/kubeconfig",
        files={
            "spec": (None, json.dumps({"secret": {**spec["secret"], "description": "v2"}})),
            "file": ("kc", b"new"),
        },
    )
    assert updated.status_code == 200 and updated.json()["data"]["secret"]["description"] == "v2"
    not_multipart = api.post("/ng/api/v2/secrets/files", json=spec)
    assert not_multipart.status_code == 415
    ghost = json.dumps({"secret": {**spec["secret"], "identifier": "ghost"}})
    missing = api.put("/ng/api/v2/secrets/files/ghost", files={"spec": (None, ghost), "file": ("f", b"x")})
    assert missing.status_code == 400
    assert missing.json()["message"] == "Secret with identifier [ghost] is not found in the given scope"
    mismatch = api.put("/ng/api/v2/secrets/files/other", files={"spec": (None, json.dumps(spec))})
    assert mismatch.status_code == 400 and "don't match" in mismatch.json()["message"]
