"""The e2e harness itself: a tiny deferrable DAG (core trigger, no Harness) through both ways of running it.

- ``run_dag``: ``dag.test()`` runs the trigger inline and resumes the task.
- ``live_airflow``: the real scheduler hands the deferred task to the real triggerer, which fires and
  the task resumes on a LocalExecutor worker; a user's "mark failed" ends a deferred task.

The live DAG's trigger is a core ``FileTrigger`` that fires when the test creates its file, which the test
does only once the scheduler has handled the worker's exit on ``defer()`` (see
``LiveAirflow.wait_for_defer_exit``): a trigger that fires before that loses an Airflow core race.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

DAG_ID = "e2e_harness_deferrable"
# A task that defers to a core trigger and resumes in ``done`` - the shape of the provider's operators.
DAG_SOURCE = """
from airflow.providers.standard.triggers.file import FileTrigger
from airflow.sdk import DAG, BaseOperator, task

RELEASE_FILE = "RELEASE_FILE_PATH"


class WaitInTriggerer(BaseOperator):
    def execute(self, context):
        self.defer(trigger=FileTrigger(filepath=RELEASE_FILE, poke_interval=0.2), method_name="done")

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
# The "kill while deferred" DAG waits for a file nobody creates, so only a user action can end it.
LONG_DAG_ID = "e2e_harness_deferred_long"
LONG_DAG_SOURCE = DAG_SOURCE.replace(DAG_ID, LONG_DAG_ID)


def dag_source(source: str, release_file: Path) -> str:
    return source.replace("RELEASE_FILE_PATH", str(release_file))


def load_dag(source: str) -> Any:
    module = types.ModuleType("e2e_inline_dag")
    exec(compile(source, "<e2e_inline_dag>", "exec"), module.__dict__)
    return module.dag


def test_dag_test_runs_a_deferrable_task_through_its_trigger(run_dag: Any, tmp_path: Path) -> None:
    release_file = tmp_path / "release"
    release_file.write_text("go")
    result = run_dag(load_dag(dag_source(DAG_SOURCE, release_file)))

    assert result.state == "success", result
    assert result.task_states == {"wait": "success", "after_wait": "success"}
    assert result.xcom("after_wait") == "done"
    assert result.xcom("wait") == "resumed"
    assert "[DAG TEST] running trigger in line" in result.log("wait")
    assert "resumed after the trigger fired" in result.log("wait")
    assert "after_wait got resumed" in result.log("after_wait")


def test_live_triggerer_fires_a_core_trigger_and_the_task_resumes(live_airflow: Any) -> None:
    release_file = live_airflow.home / f"{DAG_ID}.release"
    live_airflow.add_dag_file(dag_source(DAG_SOURCE, release_file), f"{DAG_ID}.py")
    run_id = live_airflow.trigger(DAG_ID)

    # The task must really be handed to the triggerer and come back to a worker.
    live_airflow.wait_for_task_state(DAG_ID, run_id, "wait", {"deferred"}, timeout=120)
    live_airflow.wait_for_defer_exit(DAG_ID, run_id, "wait")
    release_file.write_text("go")
    state = live_airflow.wait_for_run(DAG_ID, run_id, timeout=180)

    assert state == "success", live_airflow.explain(DAG_ID, run_id, "wait")
    tis = live_airflow.task_instances(DAG_ID, run_id)
    assert {task: ti["state"] for task, ti in tis.items()} == {"wait": "success", "after_wait": "success"}
    assert "resumed after the trigger fired" in live_airflow.task_log(DAG_ID, run_id, "wait")
    assert "after_wait got resumed" in live_airflow.task_log(DAG_ID, run_id, "after_wait")


def test_live_mark_failed_ends_a_deferred_task(live_airflow: Any) -> None:
    never_created = live_airflow.home / f"{LONG_DAG_ID}.never"
    live_airflow.add_dag_file(dag_source(LONG_DAG_SOURCE, never_created), f"{LONG_DAG_ID}.py")
    run_id = live_airflow.trigger(LONG_DAG_ID)
    live_airflow.wait_for_task_state(LONG_DAG_ID, run_id, "wait", {"deferred"}, timeout=120)

    live_airflow.set_task_state(LONG_DAG_ID, run_id, "wait", "failed")

    assert live_airflow.wait_for_task_state(LONG_DAG_ID, run_id, "wait", {"failed"}, timeout=30) == "failed"
    assert live_airflow.wait_for_run(LONG_DAG_ID, run_id, timeout=60) == "failed"
