"""IaCM end to end against the emulator: every client call and its errors, workspace runs (sync, through the
real trigger, killed while deferred, retried by Airflow), locks, policies and the time to live."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import time
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from test_executions_integration import (
    Recorder,
    StateStore,
    TaskInstance,
    _run_in_triggerer,
    _task_states,
    context,
    recorded,
    run_trigger_then_approve,
)

from airflow_provider_harness.client import resources
from airflow_provider_harness.client.call import ApiCall
from airflow_provider_harness.client.config import HarnessConfig, Secret
from airflow_provider_harness.client.errors import (
    HarnessConflictError,
    HarnessInvalidRequestError,
    HarnessNotFoundError,
    HarnessPolicyError,
)
from airflow_provider_harness.client.modules import iacm
from airflow_provider_harness.client.transport import HarnessClient
from airflow_provider_harness.operators.executions import HarnessExecutionError
from airflow_provider_harness.operators.iacm import (
    HarnessWorkspaceEventOperator,
    HarnessWorkspaceRunOperator,
    HarnessWorkspaceTTLOperator,
)
from airflow_provider_harness.operators.resources import (
    HarnessApplyResourceOperator,
    HarnessDeleteResourceOperator,
    HarnessGetResourceOperator,
    HarnessListResourcesOperator,
)
from airflow_provider_harness.triggers.executions import HarnessExecutionTrigger

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 3.0
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef]

pytestmark = pytest.mark.integration

SECRET_REF = "account.backfill_db_password"


def workspace_spec(identifier: str = "backfill_env", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "identifier": identifier,
        "name": "Backfill env",
        "provisioner": "opentofu",
        "provider_connector": "aws_sandbox",
        "repository": "data-infra",
        "tags": {"team": "data"},
        "terraform_variables": {
            "bucket": {"value": "backfill-bucket", "value_type": "string"},
            "db_password": {"value": SECRET_REF, "value_type": "secret"},
        },
    }
    body.update(changes)
    return {"workspace": body}


def iacm_pipeline(
    pipeline_id: str, commands: list[str], *, gate: bool = False, workspace: str = "<+input>"
) -> str:
    """A pipeline whose one IaCM stage runs ``commands``; ``gate`` holds it (and the workspace lock) at an
    approval after ``init`` until the test approves: "still running" is a state the test controls."""
    steps: list[dict[str, Any]] = []
    for command in commands:
        steps.append(
            {
                "step": {
                    "type": "IACMOpenTofuPlugin",
                    "name": command,
                    "identifier": command,
                    "spec": {"command": command},
                }
            }
        )
        if gate and command == "init":
            approval = {"approvers": {"userGroups": ["account.admin"], "minimumCount": 1}}
            steps.append(
                {
                    "step": {
                        "type": "HarnessApproval",
                        "name": "Gate",
                        "identifier": "gate",
                        "timeout": "1d",
                        "spec": approval,
                    }
                }
            )
    stage = {
        "name": "Provision",
        "identifier": "provision",
        "type": "IACM",
        "spec": {"workspace": workspace, "execution": {"steps": steps}},
    }
    document = {
        "pipeline": {
            "name": pipeline_id,
            "identifier": pipeline_id,
            "projectIdentifier": "emulator_project",
            "orgIdentifier": "default",
            "stages": [{"stage": stage}],
        }
    }
    return yaml.safe_dump(document, sort_keys=False)


@pytest.fixture
def harness(harness_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The emulator behind ``harness_default`` (transport retries off)."""
    conn = harness_emulator.connection_dict()
    conn["extra"]["max_retries"] = 0
    monkeypatch.setenv("AIRFLOW_CONN_HARNESS_DEFAULT", json.dumps(conn))
    return harness_emulator


@pytest.fixture
def client(harness: Any) -> Iterator[HarnessClient]:
    config = HarnessConfig(
        account_id=harness.account_id,
        api_key=Secret(harness.api_key),
        base_url=harness.base_url,
        org_id=harness.org_id,
        project_id=harness.project_id,
        max_retries=0,
    )
    with HarnessClient(config) as harness_client:
        yield harness_client


@pytest.fixture
def scope(harness: Any) -> dict[str, str]:
    return {"orgIdentifier": harness.org_id, "projectIdentifier": harness.project_id}


def create_workspace(client: HarnessClient, identifier: str = "backfill_env", **changes: Any) -> None:
    spec = resources.parse_spec(workspace_spec(identifier, **changes), client.config)
    assert resources.apply(client, spec).action == "created"


def run_op(workspace_id: str = "backfill_env", **kwargs: Any) -> HarnessWorkspaceRunOperator:
    kwargs.setdefault("task_id", "run")
    kwargs.setdefault("poll_interval", 0.02)
    kwargs.setdefault("deferrable", False)
    return HarnessWorkspaceRunOperator(workspace_id=workspace_id, **kwargs)


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    """Poll ``condition`` until it is truthy (its value is returned); fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def only_execution(harness: Any, pipeline_id: str) -> str:
    (execution,) = harness.executions(pipeline_id)
    return str(execution["planExecutionId"])


def held(harness: Any, pipeline_id: str) -> str:
    """The one execution of ``pipeline_id``, once it waits at its gate (holding the workspace lock)."""
    execution_id = wait_until(lambda: harness.executions(pipeline_id), f"{pipeline_id} to start")[0][
        "planExecutionId"
    ]
    harness.wait_for_status(execution_id, {"ApprovalWaiting"}, timeout=60)
    return str(execution_id)


# ---------------------------------------------------------------------------------- workspaces


def test_workspace_lifecycle_through_the_resource_operators(harness: Any) -> None:
    apply = HarnessApplyResourceOperator(task_id="ws", spec=workspace_spec())
    assert apply.execute({})["action"] == "created"
    assert (
        HarnessApplyResourceOperator(task_id="ws", spec=workspace_spec()).execute({})["action"] == "unchanged"
    )
    changed = workspace_spec(description="for the nightly backfill")
    result = HarnessApplyResourceOperator(task_id="ws", spec=changed).execute({})
    assert (result["action"], result["changed"]) == ("updated", ["description"])

    got = HarnessGetResourceOperator(task_id="get", kind="workspace", identifier="backfill_env").execute({})
    assert got["terraform_variables"]["db_password"]["value"] == iacm.MASK
    assert got["status"] == "inactive" and SECRET_REF not in json.dumps(got)

    create_workspace_via_operator("other_env")
    listed = HarnessListResourcesOperator(
        task_id="ls", kind="workspace", filters={"searchTerm": "backfill"}
    ).execute({})
    assert [w["identifier"] for w in listed] == ["backfill_env"]

    delete = HarnessDeleteResourceOperator(task_id="rm", kind="workspace", identifier="backfill_env")
    assert delete.execute({})["deleted"] is True
    assert (
        HarnessDeleteResourceOperator(task_id="rm", kind="workspace", identifier="backfill_env").execute({})[
            "deleted"
        ]
        is False
    )


def create_workspace_via_operator(identifier: str) -> None:
    assert (
        HarnessApplyResourceOperator(task_id="ws", spec=workspace_spec(identifier, name="Other")).execute({})[
            "action"
        ]
        == "created"
    )


def test_lists_walk_every_page_and_filter_by_status(client: HarnessClient, scope: dict[str, str]) -> None:
    for index in range(105):
        client.send(resources.create_call("workspace", scope, workspace_spec(f"ws_{index:03d}")["workspace"]))
    ref = resources.resource_ref(client.config, "workspace")
    found = [w["identifier"] for w in resources.list_resources(client, ref)]
    assert found == [f"ws_{index:03d}" for index in range(105)]
    client.send(iacm.send_event_call(scope, "ws_007", "active"))
    active = list(resources.list_resources(client, ref, filters={"status": ["active", "failed"]}))
    assert [w["identifier"] for w in active] == ["ws_007"]


def test_server_errors_are_goa_bodies_read_as_one_line(client: HarnessClient, scope: dict[str, str]) -> None:
    body = workspace_spec()["workspace"]
    del body["provisioner"]
    with pytest.raises(HarnessInvalidRequestError, match=r"provisioner.*\(bad_request, HTTP 400") as caught:
        client.send(resources.create_call("workspace", scope, body))
    assert caught.value.correlation_id  # the goa error id
    create_workspace(client)
    with pytest.raises(HarnessConflictError, match="already exists"):
        client.send(resources.create_call("workspace", scope, workspace_spec()["workspace"]))
    with pytest.raises(HarnessNotFoundError, match="project 'nope'"):
        client.send(iacm.resources_call({**scope, "projectIdentifier": "nope"}, "backfill_env"))
    with pytest.raises(HarnessNotFoundError):
        client.send(iacm.resources_call(scope, "missing_ws"))


def test_a_failed_policy_evaluation_names_the_policy_and_creates_nothing(
    harness: Any, client: HarnessClient
) -> None:
    harness.set_iacm_policies(
        [
            {
                "identifier": "no_opentofu",
                "name": "No OpenTofu",
                "field": "provisioner",
                "deny": ["opentofu"],
                "message": "OpenTofu is not approved here",
                "severity": "error",
            },
            {
                "identifier": "tagged",
                "name": "Team tag",
                "field": "tags.team",
                "deny": ["ml"],
                "severity": "warning",
            },
        ]
    )
    spec = resources.parse_spec(workspace_spec(), client.config)
    with pytest.raises(HarnessPolicyError, match=r"No OpenTofu.*OpenTofu is not approved here") as caught:
        resources.apply(client, spec)
    assert caught.value.policies == ("no_opentofu",)
    assert resources.get(client, spec.ref) is None
    warned = resources.parse_spec(workspace_spec(provisioner="terraform", tags={"team": "ml"}), client.config)
    assert resources.apply(client, warned).action == "created"


def test_variables_clone_force_unlock_events_and_project_settings(
    harness: Any, client: HarnessClient, scope: dict[str, str]
) -> None:
    create_workspace(client)
    client.send(iacm.create_variable_call(scope, "backfill_env", "env", "TF_LOG", "WARN"))
    assert client.send(iacm.variable_call(scope, "backfill_env", "env", "TF_LOG"))["value"] == "WARN"
    client.send(iacm.variable_call(scope, "backfill_env", "env", "TF_LOG", "PUT", value="DEBUG"))
    variables = {v["key"]: v for v in client.send(iacm.variables_call(scope, "backfill_env"))}
    assert variables["TF_LOG"]["value"] == "DEBUG" and variables["db_password"]["value_type"] == "secret"
    client.send(iacm.variable_call(scope, "backfill_env", "env", "TF_LOG", "DELETE"))
    with pytest.raises(HarnessNotFoundError):
        client.send(iacm.variable_call(scope, "backfill_env", "env", "TF_LOG"))
    with pytest.raises(HarnessConflictError):
        client.send(iacm.create_variable_call(scope, "backfill_env", "tf", "bucket", "x"))

    evaluation = client.send(iacm.clone_call(scope, "backfill_env", "backfill_copy", "Copy"))
    assert not evaluation.failed
    copy = resources.get(client, resources.resource_ref(client.config, "workspace", "backfill_copy"))
    assert copy is not None and copy.entity["terraform_variables"]["bucket"]["value"] == "backfill-bucket"
    assert client.send(iacm.force_unlock_call(scope, "backfill_env")) is None

    op = HarnessWorkspaceEventOperator(
        task_id="e", workspace_id="backfill_env", event_type="drifted", metadata={"n": 2}
    )
    op.execute({})
    event = harness.iacm_events("backfill_env")[-1]
    assert event["event_type"] == "drifted"
    ref = resources.resource_ref(client.config, "workspace", "backfill_env")
    found = resources.get(client, ref)
    assert found is not None and found.entity["status"] == "drifted"

    job = client.send(iacm.project_ephemeral_call(scope, {"enabled": True}))
    assert job["status"] and job["job_id"]
    assert client.send(iacm.project_ephemeral_call(scope, None))["job_id"]


# ---------------------------------------------------------------------------------------- runs


def test_apply_then_destroy_return_what_they_changed(
    harness: Any, client: HarnessClient, scope: dict[str, str]
) -> None:
    create_workspace(client)
    harness.create_pipeline(iacm_pipeline("iacm_apply", ["init", "plan", "apply"]))
    harness.create_pipeline(iacm_pipeline("iacm_destroy", ["init", "destroy"]))
    op = run_op(action="apply", pipeline_id="iacm_apply")
    log = recorded(op)
    ti = TaskInstance()
    outcome = op.execute(context(ti))
    assert outcome["activity_status"] == "success" and outcome["workspace_status"] == "active"
    assert outcome["resources"] == {"added": 2, "changed": 0, "destroyed": 0}
    assert (
        outcome["outputs"]["bucket"] == "backfill-bucket" and outcome["outputs"]["db_password"] == iacm.MASK
    )
    assert ti.xcom["execution_id"] == outcome["execution_id"]
    assert SECRET_REF not in json.dumps(outcome) + log.text

    execution_id = outcome["execution_id"]
    (activity,) = [
        a
        for a in client.paginate(iacm.activities_call(scope, pipeline_execution_id=execution_id))
        if a["activity_type"] == "apply"
    ]
    changes = client.send(iacm.resource_changes_call(scope, activity["id"], "backfill_env"))
    assert sorted((c["name"], c["action"]) for c in changes) == [
        ("bucket", "added"),
        ("db_password", "added"),
    ]
    data = list(client.paginate(iacm.data_list_call(scope, "backfill_env", data_type="state")))
    assert data and json.loads(client.send(iacm.data_call(scope, "backfill_env", data[0]["id"])))
    assert "iacm_apply" in client.send(iacm.pipelines_call(scope, "backfill_env"))

    destroyed = run_op(action="destroy", pipeline_id="iacm_destroy").execute(context(TaskInstance()))
    assert destroyed["resources"]["destroyed"] == 2 and destroyed["workspace_status"] == "inactive"
    assert destroyed["outputs"] == {}


def test_the_default_pipeline_of_the_workspace_is_used(harness: Any, client: HarnessClient) -> None:
    create_workspace(client, default_pipelines={"plan": "iacm_plan"})
    harness.create_pipeline(iacm_pipeline("iacm_plan", ["init", "plan"]))
    outcome = run_op(action="plan").execute(context(TaskInstance()))
    assert (outcome["activity_type"], outcome["workspace_status"]) == ("plan", "apply_needed")
    assert harness.execution_count("iacm_plan") == 1


def test_a_failed_apply_fails_the_task_with_the_step_message(harness: Any, client: HarnessClient) -> None:
    tf_vars = {"emulator_fail": {"value": "apply", "value_type": "string"}}
    create_workspace(client, terraform_variables=tf_vars)
    harness.create_pipeline(iacm_pipeline("iacm_apply", ["init", "apply"]))
    with pytest.raises(HarnessExecutionError, match="Failed"):
        run_op(pipeline_id="iacm_apply").execute(context(TaskInstance()))
    ref = resources.resource_ref(client.config, "workspace", "backfill_env")
    found = resources.get(client, ref)
    assert found is not None and found.entity["status"] == "failed"


async def test_deferred_run_resumes_with_the_outcome_through_the_real_trigger(
    harness: Any, client: HarnessClient
) -> None:
    create_workspace(client)
    harness.create_pipeline(iacm_pipeline("iacm_apply", ["init", "apply"], gate=True))
    op = run_op(pipeline_id="iacm_apply", deferrable=True)
    with pytest.raises(TaskDeferred) as info:
        op.execute(context(TaskInstance()))
    _, kwargs = info.value.trigger.serialize()
    assert harness.api_key not in json.dumps(kwargs)
    rebuilt = HarnessExecutionTrigger(**json.loads(json.dumps(kwargs)))
    event = await run_trigger_then_approve(harness, rebuilt)
    assert event["status"] == "success"
    resumed = run_op(pipeline_id="iacm_apply", deferrable=True)  # a fresh operator, as on another worker
    outcome = await asyncio.to_thread(
        resumed.execute_complete, context(TaskInstance()), event=event, **info.value.kwargs
    )
    assert outcome["resources"]["added"] == 2 and outcome["execution_id"] == event["execution_id"]


async def test_killed_while_deferred_aborts_the_run_and_frees_the_lock(
    harness: Any, client: HarnessClient, scope: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    create_workspace(client)
    harness.create_pipeline(iacm_pipeline("iacm_apply", ["init", "apply"], gate=True))
    op = run_op(pipeline_id="iacm_apply", deferrable=True, task_id="killed")
    with pytest.raises(TaskDeferred) as info:
        op.execute(context(TaskInstance("killed")))
    _, kwargs = info.value.trigger.serialize()
    trigger = HarnessExecutionTrigger(**kwargs)
    trigger.task_instance = types.SimpleNamespace(
        id="0199-ti", dag_id="integration_dag", run_id="run", task_id="killed", map_index=-1, try_number=1,
        context_carrier=None,
    )  # fmt: skip
    trigger.timeout_after = None
    await asyncio.to_thread(held, harness, "iacm_apply")
    _task_states(monkeypatch, "failed")  # the user marked the deferred task failed
    await _run_in_triggerer(harness, trigger, user_action=True)
    aborted = await asyncio.to_thread(harness.wait_for_status, trigger.execution_id, {"Aborted"}, 30)
    assert aborted["status"] == "Aborted"
    ref = resources.resource_ref(client.config, "workspace", "backfill_env")
    assert await asyncio.to_thread(resources.delete, client, ref) is True  # the stage released its lock


def execute_while_held(
    harness: Any, op: HarnessWorkspaceRunOperator, ctx: dict[str, Any], log: Recorder, held_id: str
) -> Any:
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(op.execute, ctx)
        wait_until(lambda: future.done() or "Reattached to running" in log.text, "the retry to reattach")
        if not future.done():
            harness.approve(held_id, step="gate")
        return future.result(timeout=60)


@pytest.mark.parametrize("with_state_store", [True, False], ids=["task-state-store", "notes-marker"])
def test_an_airflow_retry_reattaches_instead_of_running_the_workspace_again(
    harness: Any, client: HarnessClient, with_state_store: bool
) -> None:
    create_workspace(client)
    harness.create_pipeline(iacm_pipeline("iacm_apply", ["init", "apply"], gate=True))
    store = StateStore() if with_state_store else None
    first = run_op(pipeline_id="iacm_apply", timeout=0.1, cancel_on_kill=False)
    with pytest.raises(HarnessExecutionError, match="left running"):
        first.execute(context(TaskInstance(), store))
    held_id = held(harness, "iacm_apply")
    second = run_op(pipeline_id="iacm_apply")
    log = recorded(second)
    outcome = execute_while_held(harness, second, context(TaskInstance(try_number=2), store), log, held_id)
    assert "Reattached to running Harness execution" in log.text
    assert outcome["execution_id"] == held_id and outcome["activity_status"] == "success"
    assert harness.execution_count("iacm_apply") == 1


def test_a_locked_workspace_refuses_runs_deletes_and_updates_until_unlocked(
    harness: Any, client: HarnessClient, scope: dict[str, str]
) -> None:
    create_workspace(client)
    harness.create_pipeline(iacm_pipeline("iacm_hold", ["init", "apply"], gate=True))
    harness.create_pipeline(iacm_pipeline("iacm_apply", ["init", "apply"]))
    inputs = iacm.workspace_run_inputs(
        yaml.safe_load(iacm_pipeline("iacm_hold", [])), "iacm_hold", "backfill_env"
    )
    holder = harness.execute("iacm_hold", yaml.safe_dump(inputs))
    harness.wait_for_status(holder, {"ApprovalWaiting"}, timeout=60)

    with pytest.raises(HarnessExecutionError, match=f"locked by pipeline execution {holder}"):
        run_op(pipeline_id="iacm_apply").execute(context(TaskInstance()))
    ref = resources.resource_ref(client.config, "workspace", "backfill_env")
    with pytest.raises(HarnessConflictError, match=rf"locked by pipeline execution {holder}.*HTTP 409"):
        resources.delete(client, ref)
    changed = resources.parse_spec(workspace_spec(description="new"), client.config)
    with pytest.raises(HarnessConflictError, match="locked"):
        resources.apply(client, changed)

    client.send(iacm.force_unlock_call(scope, "backfill_env"))
    assert resources.apply(client, changed).action == "updated"
    harness.approve(holder, step="gate")
    harness.wait_for_status(holder, timeout=60)
    assert resources.delete(client, ref) is True


# -------------------------------------------------------------------------------- time to live


def test_ttl_validation_on_both_sides(client: HarnessClient, scope: dict[str, str]) -> None:
    create_workspace(client)
    with pytest.raises(ValueError, match="destroy_delay_value/destroy_on_date"):
        HarnessWorkspaceTTLOperator(
            task_id="t",
            workspace_id="backfill_env",
            pipeline_id="d",
            destroy_delay_value=1,
            destroy_on_date="2099-01-01",
        ).execute({})
    raw: ApiCall[Any] = iacm.workspace_call(
        scope, "backfill_env", "/ephemeral-config", "PUT",
        json={"pipeline_id": "d", "destroy_delay_value": 1, "destroy_delay_unit": "weeks"},
    )  # fmt: skip
    with pytest.raises(HarnessInvalidRequestError, match="destroy_delay_unit"):
        client.send(raw)
    assert client.send(iacm.ephemeral_config_call(scope, "backfill_env"))["enabled"] is False


@pytest.mark.harness_emulator(time_scale=0.0002)  # an emulated hour is 0.72 s, a day 17 s
def test_time_to_live_destroys_then_deletes_the_workspace(
    harness: Any, client: HarnessClient, scope: dict[str, str]
) -> None:
    create_workspace(client)
    harness.create_pipeline(iacm_pipeline("iacm_apply", ["init", "apply"]))
    harness.create_pipeline(iacm_pipeline("iacm_destroy", ["init", "destroy"]))
    run_op(pipeline_id="iacm_apply").execute(context(TaskInstance()))
    ttl = HarnessWorkspaceTTLOperator(
        task_id="ttl",
        workspace_id="backfill_env",
        pipeline_id="iacm_destroy",
        destroy_delay_value="1",  # as a template renders it
        delete_workspace=True,
        delete_delay_value=1,
        delete_delay_unit="days",
    )
    scheduled = ttl.execute({})
    assert (
        scheduled["destroy_at"]
        and scheduled["delete_at"]
        and scheduled["delete_at"] > scheduled["destroy_at"]
    )
    config = client.send(iacm.ephemeral_config_call(scope, "backfill_env"))
    assert config["enabled"] is True and config["delete_workspace"] is True

    ref = resources.resource_ref(client.config, "workspace", "backfill_env")

    def destroyed() -> bool:
        found = resources.get(client, ref)
        assert found is not None, "deleted before it was seen destroyed"
        return found.entity["status"] == "inactive"

    wait_until(destroyed, "the destroy")
    assert client.send(iacm.resources_call(scope, "backfill_env")).resources == ()
    assert [e["event_type"] for e in harness.iacm_events("backfill_env")][-2:] == ["destroying", "inactive"]
    wait_until(lambda: resources.get(client, ref) is None, "the delete")


def test_removing_the_time_to_live(client: HarnessClient, scope: dict[str, str]) -> None:
    create_workspace(client)
    HarnessWorkspaceTTLOperator(
        task_id="t", workspace_id="backfill_env", pipeline_id="d", destroy_delay_value=6
    ).execute({})
    assert client.send(iacm.ephemeral_config_call(scope, "backfill_env"))["enabled"] is True
    HarnessWorkspaceTTLOperator(task_id="t", workspace_id="backfill_env", remove=True).execute({})
    assert client.send(iacm.ephemeral_config_call(scope, "backfill_env"))["enabled"] is False
