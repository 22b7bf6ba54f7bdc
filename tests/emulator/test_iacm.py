"""IaCM: workspaces, goa errors, policies, variables, events, time to live, and IACM pipeline stages."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml
from emulator_kit import Api, Verbs, pipeline_yaml, stage, step

from airflow_provider_harness.emulator.server import EmulatorHandle, run_emulator

T = TypeVar("T")


class Iacm(Verbs):
    """httpx for the IaCM API of the handle's project (``Harness-Account`` header, no scope query)."""

    def __init__(self, handle: EmulatorHandle) -> None:
        self.handle = handle
        self.client = httpx.Client(
            base_url=handle.base_url,
            headers={"x-api-key": handle.api_key, "Harness-Account": handle.account_id},
            timeout=10,
        )

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, self.handle.iacm_path(path), **kwargs)

    def create(self, identifier: str, **fields: Any) -> dict[str, Any]:
        response = self.post("/workspaces", json=workspace_body(identifier, **fields))
        assert response.status_code == 200, response.text
        return dict(response.json())

    def workspace(self, identifier: str) -> dict[str, Any]:
        response = self.get(f"/workspaces/{identifier}")
        assert response.status_code == 200, response.text
        return dict(response.json())


@pytest.fixture
def iacm(harness_emulator: EmulatorHandle) -> Iterator[Iacm]:
    client = Iacm(harness_emulator)
    yield client
    client.client.close()


def workspace_body(identifier: str, **fields: Any) -> dict[str, Any]:
    body = {
        "identifier": identifier,
        "name": f"{identifier} name",
        "provisioner": "opentofu",
        "provisioner_version": "1.7.0",
        "provider_connector": "account.aws",
        "repository": "infra",
        "repository_branch": "main",
        "repository_path": "stacks/net",
        "repository_connector": "account.github",
    }
    body.update(fields)
    return body


def tf_vars(**values: str) -> dict[str, Any]:
    return {key: {"key": key, "value": value, "value_type": "string"} for key, value in values.items()}


def assert_goa(response: httpx.Response, status: int, name: str, *words: str) -> dict[str, Any]:
    """``response`` is a goa error of ``status``/``name`` whose message contains ``words``."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"name", "id", "message", "temporary", "timeout", "fault"}, body
    assert (body["name"], body["temporary"], body["timeout"], body["fault"]) == (name, False, False, False)
    assert body["id"] and "code" not in body and "status" not in body
    for word in words:
        assert word in body["message"], body
    return dict(body)


def wait_for(check: Callable[[], T | None], what: str, timeout: float = 30) -> T:
    """Poll ``check`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def iacm_pipeline(identifier: str, commands: list[str], workspace: str = "<+input>", **extra: Any) -> str:
    steps = [step(f"s_{c.replace('-', '_')}", "IACMOpenTofuPlugin", {"command": c}) for c in commands]
    return pipeline_yaml(
        identifier,
        [stage("infra", steps, "IACM", spec={"workspace": workspace, "platform": {"os": "Linux"}})],
    )


def run_inputs(pipeline: str, workspace: str) -> str:
    doc = {
        "pipeline": {
            "identifier": pipeline,
            "stages": [{"stage": {"identifier": "infra", "type": "IACM", "spec": {"workspace": workspace}}}],
        }
    }
    return yaml.safe_dump(doc, sort_keys=False)


def step_failure(api: Api, execution: str, identifier: str) -> str:
    graph = api.get(
        f"/pipeline/api/pipelines/execution/v2/{execution}", params={"renderFullBottomGraph": "true"}
    ).json()["data"]["executionGraph"]
    node = next(n for n in graph["nodeMap"].values() if n["identifier"] == identifier)
    return str(node["failureInfo"]["message"])


# ---- workspaces -------------------------------------------------------------------------------------
def test_workspace_crud(iacm: Iacm, api: Api) -> None:
    created = iacm.create("net", tags={"env": "dev"}, terraform_variables=tf_vars(region="eu-west-1"))
    assert created == {"policy_evaluation": {}}
    workspace = iacm.workspace("net")
    assert workspace["status"] == "inactive"
    assert (workspace["account"], workspace["org"], workspace["project"]) == (
        "emulatoraccount",
        "default",
        "emulator_project",
    )
    assert workspace["terraform_variables"] == tf_vars(region="eu-west-1")
    assert workspace["environment_variables"] == {} and workspace["cost_estimation_enabled"] is False
    assert workspace["repository_path"] == "stacks/net" and workspace["tags"] == {"env": "dev"}
    assert isinstance(workspace["created"], int) and workspace["created"] == workspace["updated"]

    updated = iacm.put("/workspaces/net", json=workspace_body("net", name="Network", description="vpc"))
    assert (updated.status_code, updated.json()) == (200, {"policy_evaluation": {}})
    again = iacm.workspace("net")
    assert (again["name"], again["description"], again["created"]) == ("Network", "vpc", workspace["created"])
    assert again["terraform_variables"] == tf_vars(region="eu-west-1")  # not given: kept
    without_id = {k: v for k, v in workspace_body("net", name="N2").items() if k != "identifier"}
    assert iacm.put("/workspaces/net", json=without_id).status_code == 200
    assert iacm.workspace("net")["name"] == "N2"
    assert_goa(iacm.put("/workspaces/net", json=workspace_body("other")), 400, "bad_request", "identifier")

    project = api.delete("/ng/api/projects/emulator_project", params={"projectIdentifier": None})
    assert project.status_code == 400 and "iacmWorkspaces [net]" in project.json()["message"]

    deleted = iacm.delete("/workspaces/net")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert_goa(iacm.get("/workspaces/net"), 404, "not_found", "workspace net not found")
    assert_goa(iacm.delete("/workspaces/net"), 404, "not_found")


def test_workspace_list_pages_are_one_based(iacm: Iacm) -> None:
    for identifier in ("e", "c", "a", "d", "b"):
        iacm.create(identifier)
    first = iacm.get("/workspaces", params={"limit": 2})
    assert first.status_code == 200 and isinstance(first.json(), list)
    assert "x-total-elements" not in first.headers
    assert [w["identifier"] for w in first.json()] == ["a", "b"]
    assert set(first.json()[0]) == {
        "account",
        "org",
        "project",
        "identifier",
        "name",
        "description",
        "status",
        "provisioner",
        "tags",
        "created",
        "updated",
    }
    pages = [
        [w["identifier"] for w in iacm.get("/workspaces", params={"limit": 2, "page": page}).json()]
        for page in (1, 2, 3, 4)
    ]
    assert pages == [["a", "b"], ["c", "d"], ["e"], []]
    assert len(iacm.get("/workspaces").json()) == 5  # default page 1, limit 30
    assert len(iacm.get("/workspaces", params={"limit": 100}).json()) == 5
    assert_goa(iacm.get("/workspaces", params={"limit": 101}), 400, "bad_request", "limit")
    assert_goa(iacm.get("/workspaces", params={"limit": 0}), 400, "bad_request", "limit")
    assert_goa(iacm.get("/workspaces", params={"page": 0}), 400, "bad_request", "page")
    assert_goa(iacm.get("/workspaces", params={"page": "x"}), 400, "bad_request", "page")


def test_workspace_list_filters(iacm: Iacm) -> None:
    iacm.create("net_dev", name="Network Dev", tags={"env": "dev", "team": "core"})
    iacm.create("net_prod", name="Network Prod", tags={"env": "prod"})
    iacm.create("db", name="Database", tags={"env": "dev"})
    assert iacm.post("/workspaces/net_prod/events", json={"event_type": "active"}).status_code == 204
    assert iacm.post("/workspaces/db/events", json={"event_type": "failed"}).status_code == 204

    def ids(params: list[tuple[str, str]]) -> list[str]:
        response = iacm.get("/workspaces", params=params)
        assert response.status_code == 200, response.text
        return [w["identifier"] for w in response.json()]

    assert ids([("status", "active")]) == ["net_prod"]
    assert ids([("status", "active"), ("status", "failed")]) == ["db", "net_prod"]
    assert ids([("status", "inactive")]) == ["net_dev"]
    assert ids([("tags", "env:dev")]) == ["db", "net_dev"]
    assert ids([("tags", "team")]) == ["net_dev"]
    assert ids([("tags", "env:dev"), ("tags", "team:core")]) == ["net_dev"]
    assert ids([("tags", "env:qa")]) == []
    assert ids([("searchTerm", "NETWORK")]) == ["net_dev", "net_prod"]
    assert ids([("searchTerm", "db")]) == ["db"]
    assert ids([("searchTerm", "prod"), ("status", "active")]) == ["net_prod"]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"provisioner": None}, ['"provisioner" is missing from body']),
        ({"provisioner": "pulumi"}, ["provisioner must be one of terraform, opentofu, terragrunt"]),
        ({"name": None}, ['"name" is missing from body']),
        ({"provider_connector": None}, ['"provider_connector" is missing from body']),
        ({"identifier": "1bad"}, ["identifier"]),
        ({"cost_estimation_enabled": "yes"}, ["cost_estimation_enabled"]),
        ({"tags": ["a"]}, ["tags"]),
        (
            {"terraform_variables": {"x": {"key": "x", "value": "1", "value_type": "plain"}}},
            ["terraform_variables.x.value_type", "string, secret"],
        ),
        (
            {"environment_variables": {"x": {"key": "x", "value": "1"}}},
            ["environment_variables.x.value_type"],
        ),
    ],
)
def test_workspace_validation_names_the_field(iacm: Iacm, change: dict[str, Any], words: list[str]) -> None:
    body = {k: v for k, v in {**workspace_body("ws"), **change}.items() if v is not None}
    assert_goa(iacm.post("/workspaces", json=body), 400, "bad_request", *words)
    assert_goa(iacm.get("/workspaces/ws"), 404, "not_found")  # nothing was created


def test_goa_errors_on_iacm_routes_and_ng_errors_elsewhere(iacm: Iacm, api: Api) -> None:
    iacm.create("ws")
    duplicate = iacm.post("/workspaces", json=workspace_body("ws"))
    assert_goa(duplicate, 409, "conflict", "workspace ws already exists")
    assert duplicate.headers["content-type"].startswith("application/vnd.goa.error")
    assert_goa(iacm.post("/workspaces", content=b"{not json"), 400, "bad_request", "JSON")
    assert_goa(iacm.post("/workspaces", json=["a"]), 400, "bad_request", "object")
    ghost = iacm.client.get("/iacm/api/orgs/default/projects/ghost/workspaces")
    assert_goa(ghost, 404, "not_found", "project default/ghost not found")

    bad_key = httpx.get(
        iacm.handle.base_url + iacm.handle.iacm_path("/workspaces"),
        headers={"x-api-key": "pat.emulatoraccount.wrong.key", "Harness-Account": "emulatoraccount"},
    )
    assert_goa(bad_key, 401, "unauthorized")
    no_key = httpx.get(iacm.handle.base_url + iacm.handle.iacm_path("/workspaces/ws"))
    assert_goa(no_key, 401, "unauthorized")
    via_gateway = iacm.client.get("/gateway" + iacm.handle.iacm_path("/workspaces/nope"))
    assert_goa(via_gateway, 404, "not_found", "workspace nope not found")

    ng = api.client.get(
        "/ng/api/organizations", params={"accountIdentifier": "emulatoraccount"}, headers={"x-api-key": "bad"}
    )
    assert ng.status_code == 401
    assert (ng.json()["status"], ng.json()["code"]) == ("ERROR", "INVALID_TOKEN")


# ---- policies, clone, force-unlock --------------------------------------------------------------------
def test_policy_error_blocks_the_write_and_warning_does_not(iacm: Iacm) -> None:
    iacm.handle.set_iacm_policies(
        [
            {
                "identifier": "no_terraform",
                "name": "No Terraform",
                "field": "provisioner",
                "deny": ["terraform"],
                "message": "use opentofu",
                "severity": "error",
            },
            {
                "identifier": "no_prod_tag",
                "name": "No prod tag",
                "field": "tags.env",
                "deny": ["prod"],
                "message": "prod workspaces need a review",
                "severity": "warning",
            },
        ]
    )
    denied = iacm.post("/workspaces", json=workspace_body("tf", provisioner="terraform"))
    assert denied.status_code == 200
    evaluation = denied.json()["policy_evaluation"]
    assert evaluation["status"] == "error" and evaluation["id"]
    policy_set = evaluation["details"][0]
    assert (policy_set["identifier"], policy_set["name"], policy_set["status"]) == (
        "emulator",
        "Emulator policies",
        "error",
    )
    by_policy = {d["policy"]["identifier"]: d for d in policy_set["details"]}
    assert by_policy["no_terraform"] == {
        "policy": {"identifier": "no_terraform", "name": "No Terraform"},
        "status": "error",
        "deny_messages": ["use opentofu"],
    }
    assert by_policy["no_prod_tag"]["status"] == "pass"
    assert_goa(iacm.get("/workspaces/tf"), 404, "not_found")  # not applied

    warned = iacm.post("/workspaces", json=workspace_body("prod", tags={"env": "prod"}))
    assert warned.json()["policy_evaluation"]["status"] == "warning"
    assert iacm.workspace("prod")["tags"] == {"env": "prod"}  # applied

    update = iacm.put("/workspaces/prod", json=workspace_body("prod", provisioner="terraform"))
    assert update.json()["policy_evaluation"]["status"] == "error"
    assert iacm.workspace("prod")["provisioner"] == "opentofu"  # update not applied either

    assert iacm.handle.set_iacm_policies([]) == []
    assert iacm.create("tf") == {"policy_evaluation": {}}
    with pytest.raises(Exception, match="severity"):
        iacm.handle.set_iacm_policies([{"identifier": "x", "field": "name", "deny": [], "severity": "fatal"}])


def test_clone_copies_config_and_variables_only(iacm: Iacm, api: Api) -> None:
    iacm.create(
        "src",
        description="source",
        terraform_variables=tf_vars(size="small"),
        environment_variables={"TF_LOG": {"key": "TF_LOG", "value": "debug", "value_type": "string"}},
    )
    api.create_pipeline(iacm_pipeline("apply_src", ["apply"], workspace="src"))
    assert api.wait(api.run("apply_src"))["status"] == "Success"
    assert iacm.get("/workspaces/src/resources").json()["resources"]

    cloned = iacm.post("/workspaces/src/clone", json={"identifier": "copy", "name": "Copy"})
    assert (cloned.status_code, cloned.json()) == (200, {"policy_evaluation": {}})
    copy = iacm.workspace("copy")
    source = iacm.workspace("src")
    assert (copy["name"], copy["status"], copy["description"]) == ("Copy", "inactive", "source")
    assert source["status"] == "active"
    for field in ("provisioner", "terraform_variables", "environment_variables", "repository"):
        assert copy[field] == source[field]
    assert iacm.get("/workspaces/copy/resources").json() == {"resources": [], "outputs": []}

    assert_goa(iacm.post("/workspaces/src/clone", json={"identifier": "copy", "name": "x"}), 409, "conflict")
    assert_goa(iacm.post("/workspaces/ghost/clone", json={"identifier": "c2", "name": "x"}), 404, "not_found")
    assert_goa(iacm.post("/workspaces/src/clone", json={"identifier": "c3"}), 400, "bad_request", '"name"')

    iacm.handle.set_iacm_policies(
        [{"identifier": "p", "field": "name", "deny": ["Forbidden"], "severity": "error"}]
    )
    blocked = iacm.post("/workspaces/src/clone", json={"identifier": "c4", "name": "Forbidden"})
    assert blocked.json()["policy_evaluation"]["status"] == "error"
    assert iacm.get("/workspaces/c4").status_code == 404


# ---- variables ---------------------------------------------------------------------------------------
def test_variables_crud(iacm: Iacm) -> None:
    iacm.create("ws", terraform_variables=tf_vars(region="eu"))
    created = iacm.post(
        "/workspaces/ws/variables",
        json={"key": "db_password", "value": "account.db_password", "value_type": "secret", "kind": "env"},
    )
    assert created.status_code == 200
    assert created.json() == {
        "key": "db_password",
        "value": "account.db_password",
        "value_type": "secret",
        "kind": "env",
    }
    listed = iacm.get("/workspaces/ws/variables").json()
    assert {(v["kind"], v["key"]) for v in listed} == {("env", "db_password"), ("tf", "region")}
    assert iacm.workspace("ws")["environment_variables"]["db_password"]["value_type"] == "secret"

    assert iacm.get("/workspaces/ws/variables/tf/region").json()["value"] == "eu"
    updated = iacm.put("/workspaces/ws/variables/tf/region", json={"value": "us", "value_type": "string"})
    assert updated.json() == {"key": "region", "value": "us", "value_type": "string", "kind": "tf"}
    assert iacm.workspace("ws")["terraform_variables"]["region"]["value"] == "us"

    duplicate = {"key": "region", "value": "x", "value_type": "string", "kind": "tf"}
    assert_goa(iacm.post("/workspaces/ws/variables", json=duplicate), 409, "conflict", "region")
    assert_goa(
        iacm.post("/workspaces/ws/variables", json={**duplicate, "kind": "ansible"}),
        400,
        "bad_request",
        "kind",
    )
    assert_goa(
        iacm.post("/workspaces/ws/variables", json={"key": "k", "value": "v", "kind": "tf"}),
        400,
        "bad_request",
        "value_type",
    )
    assert_goa(iacm.get("/workspaces/ws/variables/xx/region"), 400, "bad_request", "kind")
    assert_goa(iacm.get("/workspaces/ws/variables/env/missing"), 404, "not_found", "missing")
    assert_goa(
        iacm.put("/workspaces/ws/variables/tf/region", json={"value": "v"}), 400, "bad_request", "value_type"
    )

    assert iacm.delete("/workspaces/ws/variables/tf/region").status_code == 204
    assert iacm.workspace("ws")["terraform_variables"] == {}
    assert_goa(iacm.delete("/workspaces/ws/variables/tf/region"), 404, "not_found")


# ---- events ------------------------------------------------------------------------------------------
def test_events_set_status_and_are_recorded(iacm: Iacm) -> None:
    iacm.create("ws")
    assert_goa(
        iacm.post("/workspaces/ws/events", json={"event_type": "exploded"}), 400, "bad_request", "event_type"
    )
    assert_goa(iacm.post("/workspaces/ws/events", json={}), 400, "bad_request", '"event_type"')
    assert_goa(iacm.post("/workspaces/ghost/events", json={"event_type": "plan"}), 404, "not_found")

    drifted = iacm.post(
        "/workspaces/ws/events",
        json={
            "event_type": "drifted",
            "pipeline_execution_id": "e1",
            "data": {"a": "b"},
            "metadata": {"n": 1},
        },
    )
    assert (drifted.status_code, drifted.content) == (204, b"")
    assert iacm.workspace("ws")["status"] == "drifted"
    assert iacm.post("/workspaces/ws/events", json={"event_type": "stage-complete"}).status_code == 204
    assert iacm.workspace("ws")["status"] == "drifted"  # not a status: unchanged

    events = iacm.handle.iacm_events("ws")
    assert [e["event_type"] for e in events] == ["drifted", "stage-complete"]
    assert (events[0]["pipeline_execution_id"], events[0]["data"], events[0]["metadata"]) == (
        "e1",
        {"a": "b"},
        {"n": 1},
    )
    assert events[0]["source"] == "api"
    assert iacm.handle.iacm_events("other") == []


# ---- ephemeral (time to live) --------------------------------------------------------------------------
TOMORROW = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
YESTERDAY = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"destroy_delay_value": 1, "destroy_delay_unit": "hours"}, ['"pipeline_id"']),
        ({"pipeline_id": "p"}, ["destroy_delay_value", "destroy_on_date"]),
        (
            {
                "pipeline_id": "p",
                "destroy_delay_value": 1,
                "destroy_delay_unit": "hours",
                "destroy_on_date": TOMORROW,
            },
            ["exactly one of destroy_delay_value and destroy_on_date"],
        ),
        (
            {"pipeline_id": "p", "destroy_delay_value": 1, "destroy_delay_unit": "weeks"},
            ["destroy_delay_unit"],
        ),
        ({"pipeline_id": "p", "destroy_delay_value": 1}, ["destroy_delay_unit"]),
        (
            {"pipeline_id": "p", "destroy_delay_value": 0, "destroy_delay_unit": "hours"},
            ["destroy_delay_value"],
        ),
        (
            {"pipeline_id": "p", "destroy_delay_value": -2, "destroy_delay_unit": "days"},
            ["destroy_delay_value"],
        ),
        ({"pipeline_id": "p", "destroy_on_date": "24/08/2030"}, ["destroy_on_date", "YYYY-MM-DD"]),
        ({"pipeline_id": "p", "destroy_on_date": YESTERDAY}, ["destroy_on_date", "past"]),
        (
            {
                "pipeline_id": "p",
                "destroy_delay_value": 1,
                "destroy_delay_unit": "days",
                "delete_delay_value": 2,
            },
            ["delete_workspace"],
        ),
        (
            {
                "pipeline_id": "p",
                "destroy_on_date": TOMORROW,
                "delete_on_date": TOMORROW,
                "delete_workspace": False,
            },
            ["delete_on_date", "delete_workspace"],
        ),
        (
            {
                "pipeline_id": "p",
                "destroy_delay_value": 1,
                "destroy_delay_unit": "days",
                "delete_workspace": True,
                "delete_delay_value": 1,
                "delete_delay_unit": "fortnights",
            },
            ["delete_delay_unit"],
        ),
        (
            {
                "pipeline_id": "p",
                "destroy_delay_value": 2,
                "destroy_delay_unit": "days",
                "delete_workspace": True,
                "delete_delay_value": 1,
                "delete_delay_unit": "days",
            },
            ["delete_delay_value", "before"],
        ),
        (
            {
                "pipeline_id": "p",
                "destroy_delay_value": 1,
                "destroy_delay_unit": "days",
                "delete_workspace": True,
                "delete_on_date": YESTERDAY,
            },
            ["delete_on_date", "past"],
        ),
        (
            {
                "pipeline_id": "p",
                "destroy_delay_value": 1,
                "destroy_delay_unit": "days",
                "provisioner": "chef",
            },
            ["provisioner"],
        ),
    ],
)
def test_ephemeral_config_validation(iacm: Iacm, body: dict[str, Any], words: list[str]) -> None:
    iacm.create("ws")
    assert_goa(iacm.put("/workspaces/ws/ephemeral-config", json=body), 400, "bad_request", *words)
    assert iacm.get("/workspaces/ws/ephemeral-config").json() == {"enabled": False}


def _instant(text: str) -> datetime:
    assert text.endswith("Z") and "T" in text, text
    return datetime.fromisoformat(text)


def test_ephemeral_config_put_get_delete(iacm: Iacm) -> None:
    iacm.create("ws")
    assert iacm.get("/workspaces/ws/ephemeral-config").json() == {"enabled": False}
    before = datetime.now(UTC).replace(microsecond=0)
    body = {
        "pipeline_id": "destroy_ws",
        "destroy_delay_value": 2,
        "destroy_delay_unit": "days",
        "delete_workspace": True,
        "delete_on_date": (datetime.now(UTC) + timedelta(days=30)).date().isoformat(),
    }
    scheduled = iacm.put("/workspaces/ws/ephemeral-config", json=body)
    assert scheduled.status_code == 200, scheduled.text
    answer = scheduled.json()
    assert set(answer) == {"destroy_at", "delete_at", "status"} and answer["status"] == "scheduled"
    scale = iacm.handle.settings()["time_scale"]
    destroy_in = (_instant(answer["destroy_at"]) - before).total_seconds()
    assert 2 * 86400 * scale - 2 <= destroy_in <= 2 * 86400 * scale + 2  # emulated days at the time scale
    assert _instant(answer["delete_at"]) > _instant(answer["destroy_at"])

    config = iacm.get("/workspaces/ws/ephemeral-config").json()
    assert config == {
        "enabled": True,
        "pipeline_id": "destroy_ws",
        "trigger_id": config["trigger_id"],
        "destroy_at": answer["destroy_at"],
        "delete_at": answer["delete_at"],
        "delete_workspace": True,
    }
    assert config["trigger_id"]

    only_destroy = iacm.put(
        "/workspaces/ws/ephemeral-config", json={"pipeline_id": "p2", "destroy_on_date": TOMORROW}
    ).json()
    assert only_destroy["delete_at"] == ""
    assert iacm.get("/workspaces/ws/ephemeral-config").json()["delete_workspace"] is False

    assert iacm.delete("/workspaces/ws/ephemeral-config").status_code == 204
    assert iacm.get("/workspaces/ws/ephemeral-config").json() == {"enabled": False}
    assert_goa(iacm.get("/workspaces/ghost/ephemeral-config"), 404, "not_found")


def test_project_ephemeral_settings_are_accepted_with_202(iacm: Iacm) -> None:
    settings = {"enabled": True, "default_destroy_delay": {"value": 3, "unit": "days"}}
    accepted = iacm.put("/settings/ephemeral-config", json=settings)
    assert accepted.status_code == 202
    assert accepted.json()["status"] == "pending" and accepted.json()["job_id"]
    assert iacm.handle.iacm_settings() == {"default/emulator_project": settings}
    removed = iacm.delete("/settings/ephemeral-config")
    assert removed.status_code == 202 and removed.json()["status"] == "pending"
    assert removed.json()["job_id"] != accepted.json()["job_id"]
    assert iacm.handle.iacm_settings() == {}
    assert_goa(iacm.put("/settings/ephemeral-config", json=[1]), 400, "bad_request")


@pytest.mark.harness_emulator(time_scale=0.0002)
def test_ttl_destroys_then_deletes_the_workspace(iacm: Iacm, api: Api) -> None:
    # at 0.0002, an emulated hour is 0.72 s of wall time: destroy after 0.72 s, delete after 4.3 s
    iacm.create("tmp", terraform_variables=tf_vars(a="1", b="2"))
    api.create_pipeline(iacm_pipeline("up", ["apply"], workspace="tmp"))
    assert api.wait(api.run("up"))["status"] == "Success"
    assert len(iacm.get("/workspaces/tmp/resources").json()["resources"]) == 2
    body = {
        "pipeline_id": "teardown",
        "destroy_delay_value": 1,
        "destroy_delay_unit": "hours",
        "delete_workspace": True,
        "delete_delay_value": 6,
        "delete_delay_unit": "hours",
    }
    assert iacm.put("/workspaces/tmp/ephemeral-config", json=body).status_code == 200

    def destroyed() -> list[dict[str, Any]] | None:
        activities = iacm.get("/activities", params={"workspace": "tmp", "activity_type": "destroy"}).json()
        return activities or None

    activity = wait_for(destroyed, "the time-to-live destroy")[0]
    assert (activity["pipeline"], activity["activity_status"]) == ("teardown", "success")
    assert activity["resource_counts"] == {"added": 0, "changed": 0, "deleted": 2, "unchanged": 0}
    assert iacm.get("/workspaces/tmp/resources").json() == {"resources": [], "outputs": []}
    assert iacm.workspace("tmp")["status"] == "inactive"
    assert iacm.get("/workspaces/tmp/ephemeral-config").json()["enabled"] is True  # the delete is pending

    wait_for(lambda: iacm.get("/workspaces/tmp").status_code == 404, "the time-to-live delete")
    assert iacm.get("/activities", params={"workspace": "tmp"}).json() == []
    ttl_events = [e["event_type"] for e in iacm.handle.iacm_events("tmp") if e["source"] == "ttl"]
    assert ttl_events == ["destroying", "inactive"]


def test_ttl_schedule_survives_a_restart_and_overdue_work_is_done_at_start_up(tmp_path: Path) -> None:
    state = tmp_path / "harness.json"
    # 0.001: an emulated hour is 3.6 s of wall time, ten days 864 s
    with run_emulator(mode="process", state_file=state, time_scale=0.001) as harness:
        iacm = Iacm(harness)
        iacm.create("near", terraform_variables=tf_vars(x="1"))
        iacm.create("far")
        assert iacm.post("/workspaces/near/events", json={"event_type": "active"}).status_code == 204
        soon = {
            "pipeline_id": "teardown",
            "destroy_delay_value": 1,
            "destroy_delay_unit": "hours",
            "delete_workspace": True,
        }
        near = iacm.put("/workspaces/near/ephemeral-config", json=soon).json()
        later = {"pipeline_id": "teardown", "destroy_delay_value": 10, "destroy_delay_unit": "days"}
        assert iacm.put("/workspaces/far/ephemeral-config", json=later).status_code == 200
        far = iacm.get("/workspaces/far/ephemeral-config").json()
        iacm.client.close()
    saved = json.loads(state.read_text())
    assert {"near", "far"} <= set(
        saved["resources"]["iacmWorkspace"]["emulatoraccount/default/emulator_project"]
    )
    pending = [c for bucket in saved["resources"]["iacmEphemeral"].values() for c in bucket.values()]
    assert {c["workspace"] for c in pending} == {"near", "far"}

    # wait (stopped) until the near schedule is overdue; the next start-up must do it before serving
    due = _instant(near["destroy_at"]).timestamp() + 1
    wait_for(lambda: time.time() > due, "the near schedule to be overdue", timeout=60)
    with run_emulator(mode="process", state_file=state, time_scale=0.001) as harness:
        iacm = Iacm(harness)
        assert_goa(iacm.get("/workspaces/near"), 404, "not_found")
        assert [e["event_type"] for e in harness.iacm_events("near")] == ["active", "destroying", "inactive"]
        assert iacm.workspace("far")["status"] == "inactive"
        assert iacm.get("/workspaces/far/ephemeral-config").json() == far
        iacm.client.close()


# ---- IACM pipeline stages ------------------------------------------------------------------------------
def test_iacm_pipeline_run_provisions_the_workspace(iacm: Iacm, api: Api) -> None:
    iacm.create(
        "net",
        terraform_variables={
            **tf_vars(region="eu-west-1"),
            "token": {"key": "token", "value": "account.api_token", "value_type": "secret"},
        },
    )
    api.create_pipeline(iacm_pipeline("provision", ["init", "plan", "apply"]))
    assert iacm.get("/workspaces/net/pipelines").json()["pipelines"] == []  # <+input>: not fixed in YAML
    execution = api.run("provision", run_inputs("provision", "net"))
    summary = api.wait(execution)
    assert summary["status"] == "Success", summary

    assert iacm.workspace("net")["status"] == "active"
    state = iacm.get("/workspaces/net/resources").json()
    assert state["resources"] == [
        {
            "type": "emulator_resource",
            "name": name,
            "module": "root",
            "provider": "registry.terraform.io/harness/emulator",
            "mode": "managed",
            "attributes": {"value": value},
        }
        for name, value in (("region", "eu-west-1"), ("token", "account.api_token"))
    ]
    assert state["outputs"] == [
        {"name": "region", "value": "eu-west-1", "sensitive": False},
        {"name": "token", "value": "account.api_token", "sensitive": True},
        {"name": "workspace_id", "value": "net", "sensitive": False},
    ]

    activities = iacm.get("/activities", params={"pipeline_execution_id": execution}).json()
    assert [a["activity_type"] for a in activities] == ["apply", "plan"]  # newest first
    apply, plan = activities
    assert plan["resource_counts"] == {"added": 2, "changed": 0, "deleted": 0, "unchanged": 0}
    assert apply["resource_counts"] == plan["resource_counts"]
    assert (apply["workspace"], apply["pipeline"], apply["pipeline_stage_id"]) == (
        "net",
        "provision",
        "infra",
    )
    assert apply["activity_status"] == "success" and apply["pipeline_name"] == "provision name"
    changes = iacm.get(f"/activities/{apply['id']}/resource-changes", params={"workspace": "net"}).json()
    assert [(c["name"], c["action"], c["before"]) for c in changes["resource_changes"]] == [
        ("region", "added", None),
        ("token", "added", None),
    ]
    assert changes["resource_changes"][0]["after"] == {"value": "eu-west-1"}
    assert_goa(iacm.get("/activities/nope/resource-changes"), 404, "not_found")

    data = iacm.get("/workspaces/net/data", params={"pipeline_execution_id": execution}).json()
    assert [d["data_type"] for d in data] == ["state", "plan", "plan"]  # plan step, apply's plan and state
    state_doc = iacm.get(f"/workspaces/net/data/{data[0]['id']}")
    assert state_doc.headers["content-type"].startswith("text/plain")
    assert json.loads(state_doc.text)["outputs"]["token"] == {"value": "account.api_token", "sensitive": True}
    plans = iacm.get("/workspaces/net/data", params={"data_type": "plan", "limit": 1}).json()
    assert len(plans) == 1 and plans[0]["pipeline_stage_id"] == "infra"
    assert len(json.loads(iacm.get(f"/workspaces/net/data/{plans[0]['id']}").text)["resource_changes"]) == 2

    pipelines = iacm.get("/workspaces/net/pipelines").json()
    assert pipelines == {
        "account": "emulatoraccount",
        "org": "default",
        "project": "emulator_project",
        "pipelines": ["provision"],
    }
    events = [e["event_type"] for e in iacm.handle.iacm_events("net")]
    assert events == ["plan", "apply_needed", "provisioning", "active"]

    # a second run: nothing changes, then destroy clears everything
    api.create_pipeline(iacm_pipeline("teardown", ["plan", "destroy"], workspace="net"))
    assert iacm.get("/workspaces/net/pipelines").json()["pipelines"] == ["provision", "teardown"]
    assert api.wait(api.run("teardown"))["status"] == "Success"
    latest = iacm.get("/activities", params={"workspace": "net", "limit": 2}).json()
    assert [a["activity_type"] for a in latest] == ["destroy", "plan"]
    assert latest[1]["resource_counts"] == {"added": 0, "changed": 0, "deleted": 0, "unchanged": 2}
    assert latest[0]["resource_counts"]["deleted"] == 2
    assert iacm.get("/workspaces/net/resources").json() == {"resources": [], "outputs": []}
    assert iacm.workspace("net")["status"] == "inactive"
    assert [e["event_type"] for e in iacm.handle.iacm_events("net")][-3:] == [
        "plan",
        "destroying",
        "inactive",
    ]
    assert iacm.put("/workspaces/net", json=workspace_body("net")).status_code == 200  # lock released


def test_iacm_step_logs_and_missing_workspace(iacm: Iacm, api: Api) -> None:
    api.create_pipeline(iacm_pipeline("lost", ["init"]))
    execution = api.run("lost", run_inputs("lost", "nowhere"))
    summary = api.wait(execution)
    assert summary["status"] == "Failed"
    assert summary["failureInfo"]["message"] == "Workspace nowhere not found"
    assert step_failure(api, execution, "s_init") == "Workspace nowhere not found"


def test_locked_workspace_refuses_changes_and_other_runs(iacm: Iacm, api: Api) -> None:
    iacm.create("shared")
    holder = pipeline_yaml(
        "holder",
        [
            stage(
                "infra",
                [
                    step("s_init", "IACMTerraformPlugin", {"command": "init"}),
                    step("hold", "Wait", {"duration": "1d"}),
                ],
                "IACM",
                spec={"workspace": "shared"},
            )
        ],
    )
    api.create_pipeline(holder)
    api.create_pipeline(iacm_pipeline("other", ["plan"], workspace="shared"))
    first = api.run("holder")

    def locked() -> httpx.Response | None:
        response = iacm.put("/workspaces/shared", json=workspace_body("shared"))
        return response if response.status_code == 409 else None

    refused = wait_for(locked, "the lock")
    message = (
        f"workspace shared is locked by pipeline execution {first}; wait for it to finish or force-unlock it"
    )
    assert assert_goa(refused, 409, "conflict")["message"] == message
    assert assert_goa(iacm.delete("/workspaces/shared"), 409, "conflict")["message"] == message

    second = api.run("other")
    assert api.wait(second)["status"] == "Failed"
    assert step_failure(api, second, "s_plan") == f"Workspace shared is locked by pipeline execution {first}"

    assert iacm.post("/workspaces/shared/actions/force-unlock").status_code == 204
    assert iacm.post("/workspaces/shared/actions/force-unlock").status_code == 204  # no lock: still 204
    assert iacm.put("/workspaces/shared", json=workspace_body("shared", name="changed")).status_code == 200
    assert api.wait(api.run("other"))["status"] == "Success"

    assert api.interrupt(first, "AbortAll").status_code == 200
    assert api.wait(first)["status"] == "Aborted"

    # an aborted stage releases its lock too
    third = api.run("holder")
    wait_for(locked, "the lock of the third run")
    assert api.interrupt(third, "AbortAll").status_code == 200
    assert api.wait(third)["status"] == "Aborted"
    assert iacm.delete("/workspaces/shared").status_code == 204


def test_failure_knob_fails_the_step_and_the_workspace(iacm: Iacm, api: Api) -> None:
    iacm.create("ws", terraform_variables=tf_vars(size="large", emulator_fail="apply"))
    api.create_pipeline(iacm_pipeline("breaks", ["plan", "apply"]))
    execution = api.run("breaks", run_inputs("breaks", "ws"))
    summary = api.wait(execution)
    assert summary["status"] == "Failed"
    message = step_failure(api, execution, "s_apply")
    assert "apply failed in workspace ws" in message and "emulator_fail" in message
    assert iacm.workspace("ws")["status"] == "failed"
    assert iacm.get("/workspaces/ws/resources").json() == {"resources": [], "outputs": []}
    activities = iacm.get("/activities", params={"workspace": "ws"}).json()
    assert [(a["activity_type"], a["activity_status"]) for a in activities] == [
        ("apply", "failure"),
        ("plan", "success"),
    ]
    failed = iacm.get("/activities", params={"activity_status": "failure"}).json()
    assert [a["id"] for a in failed] == [activities[0]["id"]]
    assert [e["event_type"] for e in iacm.handle.iacm_events("ws")][-2:] == ["provisioning", "failed"]
    assert iacm.delete("/workspaces/ws").status_code == 204  # the failed stage released the lock


def test_stage_workspace_from_a_pipeline_variable_and_unknown_command(iacm: Iacm, api: Api) -> None:
    iacm.create("vars_ws", terraform_variables=tf_vars(a="1"))
    text = pipeline_yaml(
        "by_var",
        [
            stage(
                "infra",
                [step("s_drift", "IACMTerragruntPlugin", {"command": "detect-drift"})],
                "IACM",
                spec={"workspace": "<+pipeline.variables.ws>"},
            )
        ],
        variables=[{"name": "ws", "type": "String", "value": "vars_ws"}],
    )
    api.create_pipeline(text)
    assert api.wait(api.run("by_var"))["status"] == "Success"
    drift = iacm.get("/activities", params={"activity_type": "drift"}).json()
    assert [(a["workspace"], a["activity_status"]) for a in drift] == [("vars_ws", "success")]
    assert iacm.workspace("vars_ws")["status"] == "inactive"  # drift detection changes nothing

    api.create_pipeline(iacm_pipeline("odd", ["import"], workspace="vars_ws"))
    execution = api.run("odd")
    assert api.wait(execution)["status"] == "Failed"
    assert "Unknown IaCM command 'import'" in step_failure(api, execution, "s_import")


GARBAGE = [
    b"",
    b"{not json",
    b"[1, 2]",
    b'"text"',
    b"\x00\xff",
    b'{"identifier": 5, "name": [], "event_type": {}}',
]


def test_no_iacm_route_answers_500_to_garbage(iacm: Iacm) -> None:
    from airflow_provider_harness.emulator.app import Emulator

    iacm.create("x1", terraform_variables=tf_vars(a="1"))
    routes = Emulator().iacm.routes()
    assert all(route.errors == "goa" for route in routes)
    checked, statuses = 0, set()
    for route in routes:
        path = route.path.replace("{org}", "default").replace("{project}", "emulator_project")
        path = (
            path.replace("{kind}", "tf")
            .replace("{key}", "a")
            .replace("{workspace}", "x1")
            .replace("{id}", "x1")
        )
        for body in GARBAGE:
            if iacm.get("/workspaces/x1").status_code == 404:  # deleted by the previous request
                iacm.create("x1", terraform_variables=tf_vars(a="1"))
            response = iacm.client.request(route.method, path, content=body)
            checked += 1
            statuses.add(response.status_code)
            assert response.status_code < 500, (route.method, path, body, response.text)
            if response.status_code >= 400:
                assert_goa(response, response.status_code, response.json()["name"])
    assert checked == len(routes) * len(GARBAGE)
    assert {200, 204, 400} <= statuses  # the garbage reached the handlers, not only the 404s
