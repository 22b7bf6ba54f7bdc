"""The ephemeral-workspace example DAG in a real Airflow (``dag.test()``) against the emulator: IaCM pipelines
and a workspace from a template spec, an apply waited for through the real trigger, a data job reading the
workspace's outputs from XCom, a 6-hour time to live, and the emulator destroying then deleting the workspace
on its own (time-scaled) clock. The secret variable's reference never reaches XCom or the task output."""

from __future__ import annotations

import json
import runpy
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "example_dags" / "harness_ephemeral_workspace.py"
SECRET_REF = "account.backfill_db_password"
AIRFLOW_VERSION = tuple(int(part) for part in version("apache-airflow-core").split(".")[:2])


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("HARNESS_EXAMPLE_POLL_SECONDS", "0.05")
    return runpy.run_path(str(EXAMPLE), run_name="example_harness_ephemeral_workspace")


@pytest.mark.harness_emulator(time_scale=0.0002)  # 6 emulated hours pass in about 4 s
def test_ephemeral_workspace_dag_applies_runs_and_expires(
    harness_emulator: Any, example: dict[str, Any], run_dag: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = harness_emulator.connection_dict()
    conn["extra"]["max_retries"] = 0
    monkeypatch.setenv("AIRFLOW_CONN_HARNESS_DEFAULT", json.dumps(conn))

    dag = example["dag"]
    if AIRFLOW_VERSION < (3, 2):
        # dag.test() before 3.1.4 hands a reschedule sensor its first reschedule date as text and the
        # sensor's second poke fails (apache/airflow#58777, dag.test only); poke here, as a live run needn't.
        dag.get_task("wait_for_expiry").mode = "poke"
    result = run_dag(dag)

    assert result.state == "success", result.output[-3000:]
    assert set(result.task_states.values()) == {"success"}, result.task_states
    assert result.xcom("workspace")["action"] == "created"
    outcome = result.xcom("apply")
    assert outcome["activity_status"] == "success" and outcome["workspace_status"] == "active"
    assert outcome["outputs"] == {
        "bucket": "backfill-test-bucket",
        "db_password": "***",
        "workspace_id": "backfill_env",
    }
    assert result.xcom("backfill") == {"bucket": "backfill-test-bucket", "rows": 1000}
    expire = result.xcom("expire")
    assert expire["destroy_at"] and expire["status"]
    assert harness_emulator.execution_count("iacm_apply") == 1
    events = [e["event_type"] for e in harness_emulator.iacm_events("backfill_env")]
    assert events.index("destroying") < events.index("inactive") and events[0] != "destroying"
    # the spec (a template field) names the secret reference; what Harness returns never shows it
    shown = (
        json.dumps(outcome)
        + json.dumps(result.xcom("workspace"))
        + result.log("apply")
        + result.log("backfill")
    )
    assert SECRET_REF not in shown
    assert "workspace backfill_env: deleted" in result.log("wait_for_expiry")
