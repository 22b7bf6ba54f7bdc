"""IaCM client: the workspace row in the generic resource code, goa answers, TTL checks, run inputs."""

from __future__ import annotations

from datetime import date

import httpx
import pytest
from test_resources_fakes import ACCOUNT, FakeApi, config

from airflow_provider_harness.client.errors import (
    HarnessConflictError,
    HarnessNotFoundError,
    HarnessPolicyError,
)
from airflow_provider_harness.client.modules import iacm
from airflow_provider_harness.client.resources import (
    Resource,
    ResourceRef,
    apply,
    delete,
    get,
    list_resources,
    parse_spec,
    resource_ref,
)

CFG = config(org_id="o", project_id="p")
SCOPE = {"orgIdentifier": "o", "projectIdentifier": "p"}
BASE = "/iacm/api/orgs/o/projects/p/workspaces"
SECRET_REF = "account.db_password_for_backfill"
SPEC = {
    "workspace": {
        "identifier": "backfill_env",
        "name": "Backfill env",
        "provisioner": "opentofu",
        "provider_connector": "aws_conn",
        "repository": "infra",
        "tags": {"team": "data"},
        "terraform_variables": {
            "bucket": {"value": "backfill-bucket", "value_type": "string"},
            "db_password": {"value": SECRET_REF, "value_type": "secret"},
        },
    }
}


def goa(name: str, message: str, status: int) -> httpx.Response:
    body = {"name": name, "id": "a1B2", "message": message, "temporary": False, "timeout": False}
    return httpx.Response(status, json={**body, "fault": status >= 500})


def stored(**changes: object) -> dict:
    workspace = {
        "account": ACCOUNT,
        "org": "o",
        "project": "p",
        "identifier": "backfill_env",
        "name": "Backfill env",
        "provisioner": "opentofu",
        "provider_connector": "aws_conn",
        "repository": "infra",
        "tags": {"team": "data"},
        "status": "inactive",
        "created": 1,
        "updated": 2,
        "environment_variables": {},
        "terraform_variables": {
            "bucket": {"key": "bucket", "value": "backfill-bucket", "value_type": "string"},
            "db_password": {"key": "db_password", "value": SECRET_REF, "value_type": "secret"},
        },
    }
    workspace.update(changes)
    return workspace


def passed() -> httpx.Response:
    return httpx.Response(200, json={"policy_evaluation": {"status": "pass", "details": []}})


# ---------------------------------------------------------------------------------------- specs


def test_the_workspace_document_becomes_a_bare_body_scoped_by_path() -> None:
    spec = parse_spec(SPEC, CFG)
    assert (spec.kind.name, spec.identifier, dict(spec.scope)) == ("workspace", "backfill_env", SCOPE)
    assert "orgIdentifier" not in spec.entity and "org" not in spec.entity
    assert spec.entity["terraform_variables"]["db_password"] == {
        "key": "db_password",
        "value": SECRET_REF,
        "value_type": "secret",
    }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"provisioner": "pulumi"}, "provisioner"),
        ({"provisioner": None}, "provisioner"),
        ({"provider_connector": ""}, "provider_connector"),
        (
            {"terraform_variables": {"a": {"value": "x", "value_type": "file"}}},
            "terraform_variables.a.value_type",
        ),
        ({"environment_variables": {"a": "x"}}, "environment_variables.a"),
        ({"environment_variables": {"a": {"key": "b", "value": "x"}}}, "environment_variables.a.key"),
        ({"terraform_variables": ["a"]}, "terraform_variables"),
        ({"tags": {"team": 1}}, "tags"),
    ],
)
def test_bad_workspace_specs_fail_naming_the_field(change: dict, field: str) -> None:
    body = {**SPEC["workspace"], **change}
    with pytest.raises(ValueError, match=rf"workspace\.{field}\b"):
        parse_spec({"workspace": body}, CFG)


def test_a_workspace_needs_a_project() -> None:
    with pytest.raises(ValueError, match="project"):
        parse_spec(SPEC, config(org_id="o"))


# ---------------------------------------------------------------------------------------- apply


def test_a_missing_workspace_is_created_with_the_account_header_and_no_envelope() -> None:
    missing = goa("not_found", "workspace not found", 404)
    api = FakeApi().on("GET", f"{BASE}/backfill_env", missing, httpx.Response(200, json=stored()))
    api.on("POST", BASE, passed())
    result = apply(api.client(), parse_spec(SPEC, CFG))
    assert result.action == "created"
    post = api.requests[1]
    assert post.param("accountIdentifier") is None and post.param("orgIdentifier") is None
    assert post.json()["identifier"] == "backfill_env" and "workspace" not in post.json()
    assert api.calls[-1] == ("GET", f"{BASE}/backfill_env")  # read back: the answer was only an evaluation


def test_a_write_that_does_not_read_back_is_not_reported_done() -> None:
    missing = goa("not_found", "workspace not found", 404)
    api = FakeApi().on("GET", f"{BASE}/backfill_env", missing).on("POST", BASE, passed())
    with pytest.raises(Exception, match="cannot be read back, so it was not created"):
        apply(api.client(), parse_spec(SPEC, CFG))
    old = httpx.Response(200, json=stored(name="Old name"))
    api = FakeApi().on("GET", f"{BASE}/backfill_env", old).on("PUT", f"{BASE}/backfill_env", passed())
    with pytest.raises(Exception, match="reads it back different in name, so it was not updated"):
        apply(api.client(), parse_spec(SPEC, CFG))


def test_the_account_travels_in_the_harness_account_header() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=stored())

    api = FakeApi().on("GET", f"{BASE}/backfill_env", answer)
    found = get(api.client(), resource_ref(CFG, "workspace", "backfill_env"))
    assert found is not None and seen[0].headers["Harness-Account"] == ACCOUNT


def test_an_equal_workspace_is_unchanged_and_a_removed_variable_is_a_change() -> None:
    api = FakeApi().on("GET", f"{BASE}/backfill_env", httpx.Response(200, json=stored()))
    assert apply(api.client(), parse_spec(SPEC, CFG)).action == "unchanged"
    extra = stored(terraform_variables={**stored()["terraform_variables"], "old": {"value": "1"}})
    api = FakeApi().on("GET", f"{BASE}/backfill_env", httpx.Response(200, json=extra))
    api.on("PUT", f"{BASE}/backfill_env", passed())
    api.on("GET", f"{BASE}/backfill_env", httpx.Response(200, json=stored()))
    result = apply(api.client(), parse_spec(SPEC, CFG))
    assert (result.action, result.changed) == ("updated", ("terraform_variables",))
    assert api.calls[-2:] == [("PUT", f"{BASE}/backfill_env"), ("GET", f"{BASE}/backfill_env")]


def test_a_failed_policy_evaluation_raises_naming_the_policy() -> None:
    evaluation = {
        "status": "error",
        "details": [
            {
                "identifier": "ps",
                "name": "Data platform",
                "status": "error",
                "details": [
                    {
                        "policy": {"identifier": "no_opentofu", "name": "No OpenTofu"},
                        "status": "error",
                        "deny_messages": ["opentofu is not allowed here"],
                    },
                    {"policy": {"identifier": "ok", "name": "Fine"}, "status": "pass"},
                ],
            }
        ],
    }
    api = FakeApi().on("GET", f"{BASE}/backfill_env", goa("not_found", "workspace not found", 404))
    api.on("POST", BASE, httpx.Response(200, json={"policy_evaluation": evaluation}))
    with pytest.raises(HarnessPolicyError) as caught:
        apply(api.client(), parse_spec(SPEC, CFG))
    assert caught.value.policies == ("no_opentofu",)
    text = str(caught.value)
    assert "No OpenTofu" in text and "opentofu is not allowed here" in text and "not applied" in text
    assert "Fine" not in text


def test_secret_variable_values_never_reach_error_text_or_the_public_view() -> None:
    api = FakeApi().on("GET", f"{BASE}/backfill_env", goa("not_found", "workspace not found", 404))
    api.on("POST", BASE, goa("bad_request", f"cannot resolve secret {SECRET_REF}", 400))
    with pytest.raises(Exception) as caught:
        apply(api.client(), parse_spec(SPEC, CFG))
    assert SECRET_REF not in str(caught.value) and "bad_request" in str(caught.value)
    resource = Resource.from_data("workspace", stored())
    public = resource.public()
    assert public["terraform_variables"]["db_password"]["value"] == iacm.MASK
    assert public["terraform_variables"]["bucket"]["value"] == "backfill-bucket"
    assert resource.entity["terraform_variables"]["db_password"]["value"] == SECRET_REF


def test_goa_not_found_is_none_and_a_locked_workspace_is_a_conflict() -> None:
    api = FakeApi().on("GET", f"{BASE}/gone", goa("not_found", "workspace gone not found", 404))
    ref = resource_ref(CFG, "workspace", "gone")
    assert get(api.client(), ref) is None
    api = FakeApi().on("DELETE", f"{BASE}/gone", goa("not_found", "workspace gone not found", 404))
    assert delete(api.client(), ref) is False
    api = FakeApi().on("DELETE", f"{BASE}/gone", httpx.Response(204))
    assert delete(api.client(), ref) is True
    locked = goa("conflict", "workspace gone is locked by pipeline execution e1; force-unlock it", 409)
    api = FakeApi().on("DELETE", f"{BASE}/gone", locked)
    with pytest.raises(HarnessConflictError, match=r"locked by pipeline execution e1.*409"):
        delete(api.client(), ref)


def test_not_found_hint_names_the_org_and_project_from_the_path() -> None:
    api = FakeApi().on("GET", f"{BASE}/backfill_env/resources", goa("not_found", "workspace not found", 404))
    with pytest.raises(HarnessNotFoundError) as caught:
        api.client().send(iacm.resources_call(SCOPE, "backfill_env"))
    assert "organization 'o', project 'p'" in str(caught.value)


def test_lists_page_from_one_and_stop_on_a_short_page() -> None:
    def page(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page"])
        size = int(request.url.params["limit"])
        items = [{"identifier": f"ws{i}", "name": f"w{i}"} for i in range(150)]
        return httpx.Response(200, json=items[(number - 1) * size : number * size])

    api = FakeApi().on("GET", BASE, page)
    ref = resource_ref(CFG, "workspace")
    found = list(
        list_resources(api.client(), ref, filters={"status": ["active", "failed"], "tags": ["team:data"]})
    )
    assert len(found) == 150
    assert [r.param("page") for r in api.requests] == ["1", "2"]
    assert api.requests[0].params["status"] == ["active", "failed"]
    with pytest.raises(ValueError, match="filters"):
        list(list_resources(api.client(), ref, filters={"nope": 1}))


# ---------------------------------------------------------------------------------- other calls


def test_outputs_marked_sensitive_are_masked() -> None:
    data = {
        "resources": [{"type": "t", "name": "n"}],
        "outputs": [
            {"name": "bucket", "value": "b1", "sensitive": False},
            {"name": "pw", "value": "s3cr3t", "sensitive": True},
        ],
    }
    api = FakeApi().on("GET", f"{BASE}/ws/resources", httpx.Response(200, json=data))
    resources = api.client().send(iacm.resources_call(SCOPE, "ws"))
    assert resources.output_values() == {"bucket": "b1", "pw": iacm.MASK}
    assert "s3cr3t" not in repr(resources)


def test_events_check_the_type_before_any_request() -> None:
    with pytest.raises(ValueError, match="event_type: 'deployed'"):
        iacm.send_event_call(SCOPE, "ws", "deployed")
    call = iacm.send_event_call(SCOPE, "ws", "drifted", pipeline_execution_id="e1", metadata={"a": 1})
    assert (call.method, call.path, call.json) == (
        "POST",
        f"{BASE}/ws/events",
        {"event_type": "drifted", "pipeline_execution_id": "e1", "metadata": {"a": 1}},
    )
    assert call.repeatable is False and call.account == "header"


def test_variable_calls_name_bad_kinds_and_hide_secret_values() -> None:
    with pytest.raises(ValueError, match="kind: 'terraform'"):
        iacm.variable_call(SCOPE, "ws", "terraform", "k")
    call = iacm.create_variable_call(SCOPE, "ws", "tf", "pw", SECRET_REF, "secret")
    assert call.json == {"key": "pw", "value": SECRET_REF, "value_type": "secret", "kind": "tf"}
    assert SECRET_REF in call.secrets
    assert iacm.variable_call(SCOPE, "ws", "env", "HOME", "DELETE").path == f"{BASE}/ws/variables/env/HOME"


TODAY = date(2026, 12, 2)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({}, "destroy_delay_value/destroy_on_date"),
        ({"destroy_delay_value": 6, "destroy_on_date": "2026-12-24"}, "destroy_delay_value/destroy_on_date"),
        ({"destroy_delay_value": 6, "destroy_delay_unit": "weeks"}, "destroy_delay_unit"),
        ({"destroy_delay_value": 0}, "destroy_delay_value"),
        ({"destroy_delay_value": True}, "destroy_delay_value"),
        ({"destroy_delay_unit": "hours", "destroy_on_date": "2026-12-24"}, "destroy_delay_unit"),
        ({"destroy_on_date": "2026-12-01"}, "destroy_on_date"),
        ({"destroy_on_date": "24/12/2026"}, "destroy_on_date"),
        ({"destroy_delay_value": 6, "delete_delay_value": 7}, "delete_workspace"),
        (
            {
                "destroy_delay_value": 6,
                "delete_workspace": True,
                "delete_delay_value": 1,
                "delete_on_date": "2027-01-01",
            },
            "delete_delay_value/delete_on_date",
        ),
        (
            {
                "destroy_delay_value": 2,
                "destroy_delay_unit": "days",
                "delete_workspace": True,
                "delete_delay_value": 6,
            },
            "delete_delay_value/delete_on_date",
        ),
        ({"destroy_delay_value": 6, "provisioner": "pulumi"}, "provisioner"),
    ],
)
def test_bad_time_to_live_fails_naming_the_field(options: dict, field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}:"):
        iacm.EphemeralConfig(pipeline_id="destroy_ws", today=TODAY, **options)


def test_a_good_time_to_live_body() -> None:
    config = iacm.EphemeralConfig(
        pipeline_id="destroy_ws",
        destroy_on_date=date(2026, 12, 24),
        delete_workspace=True,
        delete_delay_value=30,
        delete_delay_unit="days",
        today=TODAY,
    )
    assert config.body() == {
        "pipeline_id": "destroy_ws",
        "destroy_on_date": "2026-12-24",
        "delete_workspace": True,
        "delete_delay_value": 30,
        "delete_delay_unit": "days",
    }
    call = iacm.set_ephemeral_config_call(SCOPE, "ws", config)
    assert (call.method, call.path) == ("PUT", f"{BASE}/ws/ephemeral-config")


# ------------------------------------------------------------------------------------- runs


def _pipeline(workspace: str) -> dict:
    stage = {"identifier": "apply", "type": "IACM", "spec": {"workspace": workspace}}
    return {
        "pipeline": {
            "identifier": "iacm_apply",
            "stages": [{"stage": stage}, {"stage": {"identifier": "x", "type": "Custom"}}],
        }
    }


def test_run_inputs_fill_the_workspace_of_runtime_input_stages() -> None:
    inputs = iacm.workspace_run_inputs(_pipeline("<+input>"), "iacm_apply", "backfill_env")
    assert inputs == {
        "pipeline": {
            "identifier": "iacm_apply",
            "stages": [
                {"stage": {"identifier": "apply", "type": "IACM", "spec": {"workspace": "backfill_env"}}}
            ],
        }
    }
    assert iacm.workspace_run_inputs(_pipeline("backfill_env"), "iacm_apply", "backfill_env") is None
    given = {"pipeline": {"identifier": "iacm_apply", "variables": [{"name": "v", "value": 1}]}}
    merged = iacm.workspace_run_inputs(_pipeline("<+input>"), "iacm_apply", "backfill_env", given)
    assert merged is not None and merged["pipeline"]["variables"] == [{"name": "v", "value": 1}]


def test_run_inputs_refuse_a_pipeline_for_another_workspace_or_without_iacm() -> None:
    with pytest.raises(ValueError, match=r"workspace_id: stage 'apply'.*'other'"):
        iacm.workspace_run_inputs(_pipeline("other"), "iacm_apply", "backfill_env")
    with pytest.raises(ValueError, match="pipeline_id: pipeline 'p' has no IaCM stage"):
        iacm.workspace_run_inputs({"pipeline": {"stages": []}}, "p", "backfill_env")


def test_run_outcome_reads_the_activity_and_outputs() -> None:
    activity = {
        "id": "a1",
        "activity_type": "apply",
        "activity_status": "success",
        "pipeline_execution_id": "e1",
        "resource_counts": {"added": 2, "changed": 1, "deleted": 0},
    }
    api = FakeApi().on("GET", "/iacm/api/orgs/o/projects/p/activities", httpx.Response(200, json=[activity]))
    outputs = {"resources": [], "outputs": [{"name": "bucket", "value": "b1", "sensitive": False}]}
    api.on("GET", f"{BASE}/backfill_env/resources", httpx.Response(200, json=outputs))
    api.on("GET", f"{BASE}/backfill_env", httpx.Response(200, json=stored(status="active")))
    outcome = iacm.run_outcome(api.client(), SCOPE, "backfill_env", "e1", "apply")
    assert outcome.to_dict() == {
        "execution_id": "e1",
        "workspace_id": "backfill_env",
        "action": "apply",
        "activity_type": "apply",
        "activity_status": "success",
        "resources": {"added": 2, "changed": 1, "destroyed": 0},
        "workspace_status": "active",
        "outputs": {"bucket": "b1"},
    }
    assert api.requests[0].params["pipeline_execution_id"] == ["e1"]
    assert api.requests[0].params["workspace"] == ["backfill_env"]


def test_default_pipeline_reads_names_and_mappings() -> None:
    workspace = {"default_pipelines": {"apply": "iacm_apply", "destroy": {"pipeline": "iacm_destroy"}}}
    assert iacm.default_pipeline(workspace, "apply") == "iacm_apply"
    assert iacm.default_pipeline(workspace, "destroy") == "iacm_destroy"
    assert iacm.default_pipeline(workspace, "plan") is None


def test_workspace_refs_resolve_from_the_connection() -> None:
    ref = resource_ref(CFG, "iacm_workspace", "ws")
    assert ref == ResourceRef(iacm.WORKSPACE, SCOPE, "ws")
