"""The e2e harness itself: a tiny deferrable DAG (core trigger, no Harness) through both ways of running it.

- ``run_dag``: ``dag.test()`` runs the trigger inline and resumes the task.
- ``live_airflow``: the real scheduler hands the deferred task to the real triggerer, which fires and
  the task resumes on a LocalExecutor worker; a user's "mark failed" ends a deferred task.
"""

from __future__ import annotations

import types
from typing import Any

import pytest

from airflow_provider_harness.airflow_compat import AIRFLOW_VERSION

pytestmark = pytest.mark.e2e

DAG_ID = "e2e_harness_deferrable"
# A task that defers to a core trigger and resumes in ``done`` - the shape of the provider's operators.
DAG_SOURCE = """
from datetime import datetime, timedelta, timezone

from airflow.providers.standard.triggers.temporal import DateTimeTrigger
from airflow.sdk import DAG, BaseOperator, task

WAIT_SECONDS = 4


class WaitInTriggerer(BaseOperator):
    def execute(self, context):
        moment = datetime.now(timezone.utc) + timedelta(seconds=WAIT_SECONDS)
        self.defer(trigger=DateTimeTrigger(moment=moment), method_name="done")

    def done(self, context, event=None):
        print("resumed after the trigger fired")
        return "resumed"


with DAG("e2e_harness_deferrable", schedule=None) as dag:

    @task
    def after_wait(value: str) -> str:
        print(f"after_wait got {value}")
        return "done"

    after_wait(WaitInTriggerer(task_id="wait").output)
"""
# The "kill while deferred" DAG waits an hour, so only a user action can end it.
LONG_DAG_ID = "e2e_harness_deferred_long"
LONG_DAG_SOURCE = DAG_SOURCE.replace(DAG_ID, LONG_DAG_ID).replace("WAIT_SECONDS = 4", "WAIT_SECONDS = 3600")


def load_dag(source: str) -> Any:
    module = types.ModuleType("e2e_inline_dag")
    exec(compile(source, "<e2e_inline_dag>", "exec"), module.__dict__)
    return module.dag


def test_dag_test_runs_a_deferrable_task_through_its_trigger(run_dag: Any) -> None:
    result = run_dag(load_dag(DAG_SOURCE))

    assert result.state == "success", result
    assert result.task_states == {"wait": "success", "after_wait": "success"}
    assert result.xcom("after_wait") == "done"
    assert result.xcom("wait") == "resumed"
    assert "[DAG TEST] running trigger in line" in result.log("wait")
    assert "resumed after the trigger fired" in result.log("wait")
    assert "after_wait got resumed" in result.log("after_wait")


@pytest.mark.skipif(
    AIRFLOW_VERSION < (3, 1),
    reason="Airflow 3.0.6's scheduler intermittently fails this core-trigger self-check late in a session "
    "('DAG ... not found in serialized_dag table' when the executor reports back); the provider's own "
    "live tests cover the 3.0 triggerer",
)
def test_live_triggerer_fires_a_core_trigger_and_the_task_resumes(live_airflow: Any) -> None:
    live_airflow.add_dag_file(DAG_SOURCE, f"{DAG_ID}.py")
    run_id = live_airflow.trigger(DAG_ID)

    # The task must really be handed to the triggerer and come back to a worker.
    live_airflow.wait_for_task_state(DAG_ID, run_id, "wait", {"deferred"}, timeout=120)
    state = live_airflow.wait_for_run(DAG_ID, run_id, timeout=180)

    assert state == "success", live_airflow.explain(DAG_ID, run_id, "wait")
    tis = live_airflow.task_instances(DAG_ID, run_id)
    assert {task: ti["state"] for task, ti in tis.items()} == {"wait": "success", "after_wait": "success"}
    assert "resumed after the trigger fired" in live_airflow.task_log(DAG_ID, run_id, "wait")
    assert "after_wait got resumed" in live_airflow.task_log(DAG_ID, run_id, "after_wait")


def test_live_mark_failed_ends_a_deferred_task(live_airflow: Any) -> None:
    live_airflow.add_dag_file(LONG_DAG_SOURCE, f"{LONG_DAG_ID}.py")
    run_id = live_airflow.trigger(LONG_DAG_ID)
    live_airflow.wait_for_task_state(LONG_DAG_ID, run_id, "wait", {"deferred"}, timeout=120)

    live_airflow.set_task_state(LONG_DAG_ID, run_id, "wait", "failed")

    assert live_airflow.wait_for_task_state(LONG_DAG_ID, run_id, "wait", {"failed"}, timeout=30) == "failed"
    assert live_airflow.wait_for_run(LONG_DAG_ID, run_id, timeout=60) == "failed"
