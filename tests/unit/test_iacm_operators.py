"""IaCM operators: bad input fails before any request; thin calls; secrets never in results or logs."""

from __future__ import annotations

import json

import httpx
import pytest
from test_resources_fakes import FakeApi, log_lines
from test_resources_operators import wire

from airflow_provider_harness.operators.executions import HarnessExecutionError
from airflow_provider_harness.operators.iacm import (
    HarnessWorkspaceEventOperator,
    HarnessWorkspaceRunOperator,
    HarnessWorkspaceTTLOperator,
)
from airflow_provider_harness.operators.resources import HarnessGetResourceOperator

BASE = "/iacm/api/orgs/o/projects/p/workspaces"
SECRET_REF = "account.backfill_db_password"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"workspace_id": "1bad"}, "workspace_id"),
        ({"workspace_id": "ws", "action": "import"}, "action"),
        ({"workspace_id": "ws", "pipeline_id": "p-1"}, "pipeline_id"),
        ({"workspace_id": "ws", "poll_interval": 0}, "poll_interval"),
        ({"workspace_id": "ws", "runtime_inputs": "pipeline: [1"}, "runtime_inputs"),
    ],
)
def test_run_operator_checks_its_options_before_any_request(options: dict, field: str) -> None:
    api = FakeApi()
    op = wire(HarnessWorkspaceRunOperator(task_id="run", **options), api)
    with pytest.raises(ValueError, match=f"^{field}:"):
        op.execute({})
    assert api.calls == []


def test_run_operator_names_a_missing_workspace_and_a_missing_default_pipeline() -> None:
    not_found = httpx.Response(404, json={"name": "not_found", "id": "x", "message": "workspace not found"})
    api = FakeApi().on("GET", f"{BASE}/ws", not_found)
    op = wire(HarnessWorkspaceRunOperator(task_id="run", workspace_id="ws"), api)
    with pytest.raises(HarnessExecutionError, match=r"workspace_id: workspace 'ws' does not exist in o/p"):
        op.execute({})
    workspace = {"identifier": "ws", "name": "w", "default_pipelines": {"plan": "iacm_plan"}}
    api = FakeApi().on("GET", f"{BASE}/ws", httpx.Response(200, json=workspace))
    op = wire(HarnessWorkspaceRunOperator(task_id="run", workspace_id="ws", action="destroy"), api)
    with pytest.raises(ValueError, match="pipeline_id: workspace 'ws' names no default destroy pipeline"):
        op.execute({})
    assert api.calls == [("GET", f"{BASE}/ws")]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({}, "pipeline_id"),
        (
            {"pipeline_id": "d", "destroy_delay_value": 6, "destroy_on_date": "2099-01-01"},
            "destroy_delay_value",
        ),
        (
            {"pipeline_id": "d", "destroy_delay_value": 6, "destroy_delay_unit": "minutes"},
            "destroy_delay_unit",
        ),
        ({"pipeline_id": "d", "destroy_on_date": "2000-01-01"}, "destroy_on_date"),
        ({"pipeline_id": "d", "destroy_delay_value": 1, "delete_on_date": "2099-01-01"}, "delete_workspace"),
        ({"remove": True, "pipeline_id": "d"}, "remove"),
    ],
)
def test_ttl_operator_refuses_bad_combinations_before_any_request(options: dict, field: str) -> None:
    api = FakeApi()
    op = wire(HarnessWorkspaceTTLOperator(task_id="ttl", workspace_id="ws", **options), api)
    with pytest.raises(ValueError, match=f"^{field}"):
        op.execute({})
    assert api.calls == []


def test_ttl_operator_sets_and_removes_the_time_to_live() -> None:
    answer = {"destroy_at": "2026-12-02T12:00:00Z", "delete_at": "", "status": "scheduled"}
    api = FakeApi().on("PUT", f"{BASE}/ws/ephemeral-config", httpx.Response(200, json=answer))
    api.on("DELETE", f"{BASE}/ws/ephemeral-config", httpx.Response(204))
    op = HarnessWorkspaceTTLOperator(task_id="ttl", workspace_id="ws", pipeline_id="d", destroy_delay_value=6)
    result = wire(op, api).execute({})
    assert result == {
        "workspace_id": "ws",
        "destroy_at": "2026-12-02T12:00:00Z",
        "delete_at": None,
        "status": "scheduled",
    }
    assert api.requests[0].json() == {
        "pipeline_id": "d",
        "destroy_delay_value": 6,
        "destroy_delay_unit": "hours",
        "delete_workspace": False,
    }
    removed = wire(HarnessWorkspaceTTLOperator(task_id="ttl", workspace_id="ws", remove=True), api).execute(
        {}
    )
    assert removed["status"] == "removed" and api.calls[-1] == ("DELETE", f"{BASE}/ws/ephemeral-config")


def test_event_operator_checks_the_type_then_posts() -> None:
    api = FakeApi().on("POST", f"{BASE}/ws/events", httpx.Response(204))
    bad = wire(HarnessWorkspaceEventOperator(task_id="e", workspace_id="ws", event_type="deployed"), api)
    with pytest.raises(ValueError, match="event_type"):
        bad.execute({})
    assert api.calls == []
    op = HarnessWorkspaceEventOperator(task_id="e", workspace_id="ws", event_type="drifted", data={"n": 1})
    assert wire(op, api).execute({}) == {"workspace_id": "ws", "event_type": "drifted"}
    assert api.requests[0].json() == {"event_type": "drifted", "data": {"n": 1}}


def test_get_operator_never_returns_or_logs_a_secret_variable(caplog: pytest.LogCaptureFixture) -> None:
    workspace = {
        "identifier": "ws",
        "name": "w",
        "status": "active",
        "environment_variables": {"DB": {"key": "DB", "value": SECRET_REF, "value_type": "secret"}},
    }
    api = FakeApi().on("GET", f"{BASE}/ws", httpx.Response(200, json=workspace))
    op = wire(HarnessGetResourceOperator(task_id="g", kind="workspace", identifier="ws"), api)
    with log_lines(caplog) as lines:
        result = op.execute({})
    assert SECRET_REF not in json.dumps(result) and SECRET_REF not in "\n".join(lines)
    assert json.dumps(result).count("***") == 1
