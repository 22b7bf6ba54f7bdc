"""Deletes Harness refuses (non-empty project / organization), pipeline cascades, the secret-digest admin
endpoint, and YAML identifiers with a trailing newline."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from emulator_kit import Api, pipeline_yaml, shell, stage

from airflow_provider_harness.emulator.envelopes import HarnessError
from airflow_provider_harness.emulator.plan import check_yaml_identifier
from airflow_provider_harness.emulator.server import EmulatorError, EmulatorHandle, run_emulator

ORG, PROJECT = "default", "emulator_project"


def _sha(value: str | bytes) -> str:
    return hashlib.sha256(value.encode() if isinstance(value, str) else value).hexdigest()


def _ok(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return response.json()["data"]


def _make_project(api: Api, project: str, org: str = ORG) -> None:
    body = {"project": {"orgIdentifier": org, "identifier": project, "name": project}}
    _ok(api.post("/ng/api/projects", params={"orgIdentifier": org, "projectIdentifier": None}, json=body))


def _delete_project(api: Api, project: str, org: str = ORG) -> Any:
    return api.delete(f"/ng/api/projects/{project}", params={"orgIdentifier": org, "projectIdentifier": None})


def _secret_body(identifier: str, value: str | None, org: str | None, project: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"secretManagerIdentifier": "harnessSecretManager", "valueType": "Inline"}
    if value is not None:
        spec["value"] = value
    secret = {"type": "SecretText", "name": identifier, "identifier": identifier, "spec": spec}
    secret.update({k: v for k, v in (("orgIdentifier", org), ("projectIdentifier", project)) if v})
    return {"secret": secret}


def _put_secret(
    api: Api,
    identifier: str,
    value: str | None,
    *,
    org: str | None = ORG,
    project: str | None = PROJECT,
    create: bool = False,
) -> Any:
    params = {"orgIdentifier": org, "projectIdentifier": project}
    body = _secret_body(identifier, value, org, project)
    if create:
        return _ok(api.post("/ng/api/v2/secrets", params=params, json=body))
    return _ok(api.put(f"/ng/api/v2/secrets/{identifier}", params=params, json=body))


# ---- non-empty project / organization -------------------------------------------------------------
def test_project_with_resources_cannot_be_deleted(api: Api) -> None:
    _make_project(api, "team")
    scope = {"projectIdentifier": "team"}
    _ok(
        api.post(
            "/pipeline/api/pipelines/v2",
            params=scope,
            content=pipeline_yaml("build", [stage("s", [shell("e", "echo hi")])], project="team"),
            headers={"content-type": "application/yaml"},
        )
    )
    service = {"identifier": "web", "name": "web", "orgIdentifier": ORG, "projectIdentifier": "team"}
    _ok(api.post("/ng/api/servicesV2", json=service))
    _put_secret(api, "pw", "hunter2", project="team", create=True)

    refused = _delete_project(api, "team")
    assert refused.status_code == 400
    body = refused.json()
    assert (body["status"], body["code"]) == ("ERROR", "INVALID_REQUEST")
    assert body["message"] == (
        "Invalid request: Project [team] in org [default] cannot be deleted as it still contains "
        "pipelines [build], secrets [pw], services [web]. Delete them first."
    )
    assert body["responseMessages"][0]["message"] == body["message"] and "data" not in body
    assert "hunter2" not in refused.text
    assert api.get("/ng/api/projects/team", params={"projectIdentifier": None}).status_code == 200

    # emptied, the project goes; then it is gone (404 as before)
    assert _ok(api.delete("/pipeline/api/pipelines/build", params=scope)) is True
    assert _ok(api.delete("/ng/api/servicesV2/web", params=scope)) is True
    assert _ok(api.delete("/ng/api/v2/secrets/pw", params=scope)) is True
    assert _ok(_delete_project(api, "team")) is True
    assert _delete_project(api, "team").status_code == 404


@pytest.mark.parametrize(
    ("path", "body", "listed"),
    [
        (
            "/ng/api/environmentsV2",
            {"identifier": "qa", "name": "qa", "type": "PreProduction"},
            "environments [qa]",
        ),
        (
            "/ng/api/connectors",
            {"connector": {"identifier": "git", "name": "g", "type": "Git", "spec": {"url": "u"}}},
            "connectors [git]",
        ),
    ],
)
def test_every_kind_keeps_its_project(api: Api, path: str, body: dict[str, Any], listed: str) -> None:
    _make_project(api, "team")
    where = {"orgIdentifier": ORG, "projectIdentifier": "team"}
    body = {"connector": {**body["connector"], **where}} if "connector" in body else {**body, **where}
    _ok(api.post(path, json=body))
    refused = _delete_project(api, "team")
    assert refused.status_code == 400 and listed in refused.json()["message"]


def test_empty_project_and_project_in_other_org_delete_fine(api: Api) -> None:
    _make_project(api, "empty")
    assert _ok(_delete_project(api, "empty")) is True
    _ok(
        api.post(
            "/ng/api/organizations",
            params={"orgIdentifier": None, "projectIdentifier": None},
            json={"organization": {"identifier": "eng", "name": "Eng"}},
        )
    )
    _make_project(api, "empty", org="eng")
    assert _ok(_delete_project(api, "empty", org="eng")) is True


def test_organization_with_projects_or_org_level_entities_cannot_be_deleted(api: Api) -> None:
    no_scope = {"orgIdentifier": None, "projectIdentifier": None}
    _ok(
        api.post(
            "/ng/api/organizations",
            params=no_scope,
            json={"organization": {"identifier": "eng", "name": "E"}},
        )
    )
    _make_project(api, "p1", org="eng")
    _put_secret(api, "org_pw", "v", org="eng", project=None, create=True)

    refused = api.delete("/ng/api/organizations/eng", params=no_scope)
    assert refused.status_code == 400
    assert refused.json()["code"] == "INVALID_REQUEST" and refused.json()["status"] == "ERROR"
    assert refused.json()["message"] == (
        "Invalid request: Organization [eng] cannot be deleted as it still contains projects [p1], "
        "secrets [org_pw]. Delete them first."
    )
    assert _ok(_delete_project(api, "p1", org="eng")) is True
    still = api.delete("/ng/api/organizations/eng", params=no_scope)
    assert still.status_code == 400 and "projects" not in still.json()["message"]
    assert (
        _ok(
            api.delete(
                "/ng/api/v2/secrets/org_pw", params={"orgIdentifier": "eng", "projectIdentifier": None}
            )
        )
        is True
    )
    assert _ok(api.delete("/ng/api/organizations/eng", params=no_scope)) is True


def test_default_org_refusal_is_unchanged(api: Api) -> None:
    response = api.delete(
        "/ng/api/organizations/default", params={"orgIdentifier": None, "projectIdentifier": None}
    )
    assert response.json()["message"] == (
        "Invalid request: Update operation not supported for Default Organization (identifier: [default])"
    )


# ---- pipeline delete cascades to input sets and triggers -------------------------------------------
TRIGGER = """\
trigger:
  name: T
  identifier: on_push
  pipelineIdentifier: build
  source:
    type: Webhook
    spec: {type: Custom, spec: {payloadConditions: []}}
"""
INPUT_SET = "inputSet:\n  name: IS\n  identifier: fast\n  pipeline:\n    identifier: build\n"


def test_deleting_a_pipeline_deletes_its_input_sets_and_triggers(api: Api) -> None:
    text = pipeline_yaml("build", [stage("s", [shell("e", "echo hi")])])
    other = pipeline_yaml("keep", [stage("s", [shell("e", "echo hi")])])
    yaml_headers = {"content-type": "application/yaml"}
    for source in (text, other):
        api.create_pipeline(source)
    for pipeline in ("build", "keep"):
        is_text = INPUT_SET.replace("build", pipeline)
        _ok(
            api.post(
                "/pipeline/api/inputSets",
                params={"pipelineIdentifier": pipeline},
                content=is_text,
                headers=yaml_headers,
            )
        )
        trigger_text = TRIGGER.replace("build", pipeline)
        _ok(
            api.post(
                "/pipeline/api/triggers",
                params={"targetIdentifier": pipeline},
                content=trigger_text,
                headers=yaml_headers,
            )
        )

    assert _ok(api.delete("/pipeline/api/pipelines/build")) is True
    input_set = api.get("/pipeline/api/inputSets/fast", params={"pipelineIdentifier": "build"})
    assert input_set.status_code == 404 and input_set.json()["code"] == "ENTITY_NOT_FOUND"
    trigger = api.get("/pipeline/api/triggers/on_push", params={"targetIdentifier": "build"})
    assert trigger.status_code == 404 and trigger.json()["message"] == (
        "Trigger [on_push] for Pipeline [build] does not exist"
    )
    gone = api.delete("/pipeline/api/inputSets/fast", params={"pipelineIdentifier": "build"})
    assert gone.status_code == 404

    # the other pipeline keeps its children; a re-created pipeline starts without any
    assert api.get("/pipeline/api/inputSets/fast", params={"pipelineIdentifier": "keep"}).status_code == 200
    assert api.get("/pipeline/api/triggers/on_push", params={"targetIdentifier": "keep"}).status_code == 200
    api.create_pipeline(text)
    assert _ok(api.get("/pipeline/api/inputSets", params={"pipelineIdentifier": "build"}))["totalItems"] == 0
    assert _ok(api.get("/pipeline/api/triggers", params={"targetIdentifier": "build"}))["totalItems"] == 0


# ---- secret digest -----------------------------------------------------------------------------------
def test_secret_sha256_proves_rotation(api: Api, harness_emulator: EmulatorHandle) -> None:
    _put_secret(api, "db_pw", "first-value", create=True)
    assert harness_emulator.secret_sha256("db_pw") == _sha("first-value")
    _put_secret(api, "db_pw", "second-value")
    assert harness_emulator.secret_sha256("db_pw") == _sha("second-value")
    # an update without a value keeps the stored one
    _put_secret(api, "db_pw", None)
    assert harness_emulator.secret_sha256("db_pw", ORG, PROJECT) == _sha("second-value")

    raw = api.client.get(
        "/_emulator/secrets/sha256", params={"identifier": "db_pw", "org": ORG, "project": PROJECT}
    )
    assert raw.json() == {"sha256": _sha("second-value")}
    for response in (raw, api.get("/ng/api/v2/secrets/db_pw"), api.get("/ng/api/v2/secrets")):
        assert "second-value" not in response.text and "first-value" not in response.text


def test_secret_sha256_at_every_scope_and_errors(api: Api, harness_emulator: EmulatorHandle) -> None:
    _put_secret(api, "org_pw", "org-value", project=None, create=True)
    _put_secret(api, "acct_pw", "acct-value", org=None, project=None, create=True)
    _put_secret(api, "no_value", None, create=True)
    assert harness_emulator.secret_sha256("org_pw", project_id="") == _sha("org-value")
    assert harness_emulator.secret_sha256("acct_pw", org_id="") == _sha("acct-value")
    assert harness_emulator.secret_sha256("no_value") is None
    with pytest.raises(EmulatorError, match="404"):
        harness_emulator.secret_sha256("org_pw")  # not at project scope
    missing_id = api.client.get("/_emulator/secrets/sha256")
    assert missing_id.status_code == 400 and "identifier" in missing_id.json()["error"]


def test_file_secret_sha256_is_of_the_file_bytes(api: Api, harness_emulator: EmulatorHandle) -> None:
    spec = {
        "secret": {
            "type": "SecretFile",
            "name": "kc",
            "identifier": "kc",
            "orgIdentifier": ORG,
            "projectIdentifier": PROJECT,
            "spec": {"secretManagerIdentifier": "harnessSecretManager"},
        }
    }
    content = b"\x00kube\xff"
    files = {"spec": (None, json.dumps(spec)), "file": ("kc", content)}
    _ok(api.post("/ng/api/v2/secrets/files", files=files))
    assert harness_emulator.secret_sha256("kc") == _sha(content)


def test_secret_values_reach_neither_logs_nor_state_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "state.json"
    caplog.set_level(logging.DEBUG)
    with run_emulator(time_scale=0.01, state_file=state, log_level="debug", access_log=True) as harness:
        body = _secret_body("pw", "Sup3r-Secret-Value", ORG, harness.project_id)
        status, _ = harness.request("POST", "/ng/api/v2/secrets", body=body)
        assert status == 200
        body["secret"]["spec"]["value"] = "R0tated-Secret-Value"
        status, _ = harness.request("PUT", "/ng/api/v2/secrets/pw", body=body)
        assert status == 200
        assert harness.secret_sha256("pw") == _sha("R0tated-Secret-Value")
        harness.admin("POST", "save")
        saved = state.read_text()
    assert "Sup3r-Secret-Value" not in saved and "R0tated-Secret-Value" not in saved
    assert _sha("R0tated-Secret-Value") in saved
    assert "Sup3r-Secret-Value" not in caplog.text and "R0tated-Secret-Value" not in caplog.text


# ---- YAML identifiers ---------------------------------------------------------------------------------
def test_yaml_identifier_with_trailing_newline_is_rejected(api: Api) -> None:
    with pytest.raises(HarnessError) as info:
        check_yaml_identifier("build\n", "$.pipeline.identifier")
    assert info.value.code == "INVALID_YAML_ERROR"
    assert check_yaml_identifier("build", "$.pipeline.identifier") == "build"
    text = pipeline_yaml("build", [stage("s", [shell("e", "echo hi")])]).replace(
        "identifier: build\n", "identifier: |\n    build\n", 1
    )
    response = api.post(
        "/pipeline/api/pipelines/v2", content=text, headers={"content-type": "application/yaml"}
    )
    assert response.status_code == 400 and response.json()["code"] == "INVALID_YAML_ERROR"
    assert "$.pipeline.identifier" in response.json()["message"]
