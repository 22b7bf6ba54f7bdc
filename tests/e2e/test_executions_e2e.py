"""Pipeline executions in a real Airflow 3: the example DAGs and retry/kill scenarios against the emulator.

* ``dag.test()`` (fixture ``run_dag``): tasks and the real ``HarnessExecutionTrigger`` run in this process
  (trigger kwargs go through serialize -> re-instantiate, the event through ``execute_complete``).
* live Airflow (fixture ``live_airflow``): scheduler, LocalExecutor workers and a real triggerer; a
  user's "mark failed" on a deferred task must abort the Harness execution.
"""

from __future__ import annotations

import json
import runpy
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"
AIRFLOW_VERSION = tuple(int(part) for part in version("apache-airflow-core").split(".")[:2])


def shell_stage(stage: str, script: str) -> str:
    return f"""\
    - stage:
        name: {stage.title()}
        identifier: {stage}
        type: Custom
        spec:
          execution:
            steps:
              - step:
                  name: {stage.title()} step
                  identifier: {stage}_step
                  type: ShellScript
                  spec:
                    source:
                      type: Inline
                      spec:
                        script: {json.dumps(script)}
"""


def pipeline(pipeline_id: str, stages: list[tuple[str, str]], variables: list[str] = ()) -> str:  # type: ignore[assignment]
    text = f"pipeline:\n  name: {pipeline_id}\n  identifier: {pipeline_id}\n"
    text += "  projectIdentifier: emulator_project\n  orgIdentifier: default\n"
    if variables:
        text += "  variables:\n" + "".join(
            f"    - name: {name}\n      type: String\n      value: <+input>\n" for name in variables
        )
    text += "  stages:\n" + "".join(shell_stage(stage, script) for stage, script in stages)
    return text


# An Approval stage first: the test approves it once the scheduler has handled the worker's exit on
# defer(), so the trigger cannot fire before that (an Airflow core race, see LiveAirflow.wait_for_defer_exit).
APPROVAL_STAGE = """\
    - stage:
        name: Approve
        identifier: approve
        type: Approval
        spec:
          execution:
            steps:
              - step:
                  name: Gate
                  identifier: gate
                  type: HarnessApproval
                  timeout: 1d
                  spec:
                    approvers:
                      userGroups: [account.admin]
                      minimumCount: 1
"""


def gated(pipeline_yaml: str) -> str:
    return pipeline_yaml.replace("  stages:\n", "  stages:\n" + APPROVAL_STAGE, 1)


def approve_after_defer_exit(
    live_airflow: Any, emulator: Any, dag_id: str, run_id: str, pipeline_id: str, try_number: int = 1
) -> None:
    """Approve the gate of ``pipeline_id``'s execution number ``try_number`` once the live scheduler
    has handled the deferring worker's exit."""
    live_airflow.wait_for_defer_exit(dag_id, run_id, "deploy", try_number=try_number)
    deadline = time.monotonic() + 60
    while True:
        executions = emulator.executions(pipeline_id)
        waiting = [e for e in executions if e["status"] == "ApprovalWaiting"]
        if len(executions) == try_number and waiting:
            break
        assert time.monotonic() < deadline, (executions, live_airflow.diagnostics())
        time.sleep(0.2)
    emulator.approve(waiting[0]["planExecutionId"], step="gate")


DEPLOY_SERVICE = pipeline(
    "deploy_service",
    [
        ("build", "echo building <+pipeline.variables.image_tag>\nsleep 30"),
        ("deploy", "echo deploying\nsleep 30"),
    ],
    ["image_tag"],
)
SMOKE_TESTS = pipeline("smoke_tests", [("smoke", "echo smoke\nsleep 20")])
LONG = pipeline("long_running", [("build", "echo start"), ("deploy", "sleep 6000")])
FLAKY = pipeline("flaky", [("build", "echo built"), ("deploy", "exit <+pipeline.variables.code>")], ["code"])


@pytest.fixture
def harness_no_retries(harness_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``harness_default`` -> this test's emulator, without transport retries, so the polling loops'
    own error budgets are what a fault exhausts (the retry scenario relies on it)."""
    conn = harness_emulator.connection_dict()
    conn["extra"]["max_retries"] = 0
    monkeypatch.setenv("AIRFLOW_CONN_HARNESS_DEFAULT", json.dumps(conn))
    return harness_emulator


def load_example(name: str, monkeypatch: pytest.MonkeyPatch, poll_seconds: str = "0.05") -> Any:
    monkeypatch.setenv("HARNESS_EXAMPLE_POLL_SECONDS", poll_seconds)
    return runpy.run_path(str(EXAMPLES / name), run_name=f"example_{Path(name).stem}")["dag"]


def load_dag(source: str, folder: Path, name: str) -> Any:
    """Write a DAG file and load it (a real ``fileloc``, as the DAG processor would see it)."""
    path = folder / f"{name}.py"
    path.write_text(source)
    return runpy.run_path(str(path), run_name=name)["dag"]


def notes_of(emulator: Any, execution_id: str) -> str:
    status, body = emulator.request("GET", f"/pipeline/api/pipelines/execution/{execution_id}/notes")
    assert status == 200, body
    return str(body["data"]["notes"])


# ---- dag.test() ------------------------------------------------------------------------------------


def test_example_run_pipeline_dag_with_dag_test(
    run_dag: Any, harness_no_retries: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness_no_retries.create_pipeline(DEPLOY_SERVICE)
    harness_no_retries.create_pipeline(SMOKE_TESTS)
    dag = load_example("harness_run_pipeline.py", monkeypatch)

    result = run_dag(dag, run_conf={"image_tag": "2.5.1"})

    assert result.state == "success", result
    assert result.task_states == {
        "deploy": "success",
        "start_smoke_tests": "success",
        "wait_for_smoke_tests": "success",
    }
    execution_id = result.xcom("deploy")
    assert execution_id == result.xcom("deploy", key="execution_id")
    assert result.xcom("deploy", key="execution_url").endswith(
        f"/pipelines/deploy_service/executions/{execution_id}/pipeline"
    )
    deploy_log = result.log("deploy")
    assert "[DAG TEST] running trigger in line" in deploy_log  # really deferred to the trigger
    assert f"Started Harness execution {execution_id} of pipeline deploy_service" in deploy_log
    assert "Stages of execution" in deploy_log and "Deploy: Success" in deploy_log
    summary = harness_no_retries.execution(execution_id)
    assert summary["status"] == "Success"
    assert harness_no_retries.execution_count("deploy_service") == 1
    assert harness_no_retries.execution_count("smoke_tests") == 1
    assert notes_of(harness_no_retries, execution_id).splitlines() == [
        f"Deployed by Airflow run {result.run_id}",
        f"airflow:harness_run_pipeline/{result.run_id}/deploy/-1 try=1",
    ]
    assert harness_no_retries.api_key not in result.output


def test_example_cross_system_wait_dag_with_dag_test(
    run_dag: Any, harness_no_retries: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness_no_retries.create_pipeline(DEPLOY_SERVICE)
    execution_id = harness_no_retries.execute(
        "deploy_service",
        "pipeline:\n  identifier: deploy_service\n  variables:\n    - name: image_tag\n      value: x\n",
    )
    harness_no_retries.wait_for_status(execution_id)
    dag = load_example("harness_cross_system_wait.py", monkeypatch)

    result = run_dag(dag, run_conf={"after": "2000-01-01T00:00:00+00:00"})

    assert result.state == "success", result
    assert result.xcom("wait_for_deploy") == execution_id
    assert result.xcom("report") == execution_id


RETRY_DAG = """
from datetime import datetime, timedelta
from airflow.sdk import DAG
from airflow_provider_harness.operators.executions import HarnessRunPipelineOperator

with DAG("harness_e2e_retry", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    HarnessRunPipelineOperator(
        task_id="deploy",
        pipeline_id="long_running",
        deferrable=True,
        poll_interval=0.05,
        retries=1,
        retry_delay=timedelta(seconds=1),
    )
"""


def test_dag_test_airflow_retry_reattaches_without_a_second_execution(
    run_dag: Any, harness_no_retries: Any, tmp_path: Path
) -> None:
    """Try 1 loses Harness (the trigger's error budget runs out); try 2 must reattach, not start again."""
    harness_no_retries.create_pipeline(
        pipeline("long_running", [("build", "echo start"), ("deploy", "sleep 1500")])
    )
    details = "/pipeline/api/pipelines/execution/v2/"
    harness_no_retries.inject_fault("error", status=503, count=11, path_prefix=details, method="GET")

    result = run_dag(load_dag(RETRY_DAG, tmp_path, "harness_e2e_retry"))

    assert result.state == "success", result
    assert result.try_numbers["deploy"] == 2
    log = result.output  # both tries
    assert "an Airflow retry reattaches to it" in log
    assert "Reattached to running Harness execution" in log
    # Airflow 3.3 remembers the execution in the task state store; older versions find it by notes marker.
    assert ("by its marker" in log) == (AIRFLOW_VERSION < (3, 3))
    assert harness_no_retries.execution_count("long_running") == 1


LOST_TRACK_DAG = """
from datetime import datetime, timedelta
from airflow.sdk import DAG
from airflow_provider_harness.operators.executions import HarnessRunPipelineOperator


def wait_until_try_ones_execution_ended(context):
    # The test's only hook: on the retry, wait (for a state, bounded) until try 1's execution finished, so
    # the retry meets the "earlier execution already succeeded" row of the decision table.
    if context["ti"].try_number < 2:
        return
    import time
    from airflow_provider_harness.client.executions import list_executions_call, parse_summary
    from airflow_provider_harness.hooks.harness import HarnessHook

    hook = HarnessHook()
    client, scope = hook.get_client(), hook.config.scope_params("project", what="test")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = [parse_summary(item) for item in client.paginate(list_executions_call(scope, "quick"))]
        if found and all(snapshot.terminal for snapshot in found):
            return
        time.sleep(0.1)
    raise AssertionError("try 1's execution did not end")


with DAG("harness_e2e_lost_track", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    HarnessRunPipelineOperator(
        task_id="deploy",
        pipeline_id="quick",
        deferrable=True,
        poll_interval=0.05,
        retries=1,
        retry_delay=timedelta(seconds=0),
        pre_execute=wait_until_try_ones_execution_ended,
    )
"""


def test_dag_test_retry_after_losing_track_adopts_the_finished_execution(
    run_dag: Any, harness_no_retries: Any, tmp_path: Path
) -> None:
    """Try 1 loses Harness while its execution finishes; the retry must adopt it, not deploy again (on
    Airflow 3.0-3.2 through the marker search over finished executions, on 3.3 the task state store)."""
    harness_no_retries.create_pipeline(pipeline("quick", [("deploy", "echo deployed")]))
    details = "/pipeline/api/pipelines/execution/v2/"
    harness_no_retries.inject_fault("error", status=503, count=11, path_prefix=details, method="GET")

    result = run_dag(load_dag(LOST_TRACK_DAG, tmp_path, "harness_e2e_lost_track"))

    assert result.state == "success", result
    assert result.try_numbers["deploy"] == 2
    assert harness_no_retries.execution_count("quick") == 1
    assert "Adopted the successful Harness execution" in result.output
    assert ("by its marker" in result.output) == (AIRFLOW_VERSION < (3, 3))


FAILED_STAGES_DAG = """
from datetime import datetime, timedelta
from airflow.sdk import DAG
from airflow_provider_harness.operators.executions import HarnessRunPipelineOperator

with DAG("harness_e2e_failed_stages", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    HarnessRunPipelineOperator(
        task_id="deploy",
        pipeline_id="flaky",
        # exit 1 on the first try, exit 0 on the retry
        runtime_inputs={"pipeline": {"identifier": "flaky", "variables": [
            {"name": "code", "type": "String", "value": "{{ 1 if ti.try_number == 1 else 0 }}"}]}},
        deferrable=True,
        poll_interval=0.05,
        retries=1,
        retry_delay=timedelta(seconds=1),
        retry_strategy="failed_stages",
    )
"""


def test_dag_test_retry_strategy_failed_stages(run_dag: Any, harness_no_retries: Any, tmp_path: Path) -> None:
    harness_no_retries.create_pipeline(FLAKY)

    result = run_dag(load_dag(FAILED_STAGES_DAG, tmp_path, "harness_e2e_failed_stages"))

    assert result.state == "success", result
    assert result.try_numbers["deploy"] == 2
    executions = sorted(harness_no_retries.executions("flaky"), key=lambda e: e.get("runSequence", 0))
    assert len(executions) == 2
    retried = harness_no_retries.execution(result.xcom("deploy"))
    first_id = next(e for e in executions if e["planExecutionId"] != retried["planExecutionId"])[
        "planExecutionId"
    ]
    assert retried["status"] == "Success"
    assert retried.get("retryExecutionMetadata", {}).get("parentExecutionId") == first_id
    log = result.output  # both tries
    assert "Retrying stages ['deploy'] of execution" in log
    assert 'ended Failed in stage "Deploy"' in log


# ---- live scheduler + triggerer -----------------------------------------------------------------


def test_live_example_dag_through_the_triggerer(live_airflow: Any, live_harness_connection: Any) -> None:
    emulator = live_harness_connection
    emulator.create_pipeline(gated(DEPLOY_SERVICE.replace("sleep 30", "sleep 400")))
    emulator.create_pipeline(SMOKE_TESTS)
    source = (EXAMPLES / "harness_run_pipeline.py").read_text()
    source = source.replace('os.environ.get("HARNESS_EXAMPLE_POLL_SECONDS", "30")', '"0.5"')
    live_airflow.add_dag_file(source, "harness_run_pipeline.py")

    run_id = live_airflow.trigger("harness_run_pipeline")
    live_airflow.wait_for_task_state("harness_run_pipeline", run_id, "deploy", {"deferred"}, timeout=120)
    approve_after_defer_exit(live_airflow, emulator, "harness_run_pipeline", run_id, "deploy_service")
    state = live_airflow.wait_for_run("harness_run_pipeline", run_id, timeout=180)

    assert state == "success", live_airflow.explain("harness_run_pipeline", run_id, "deploy")
    assert emulator.execution_count("deploy_service") == 1
    log = live_airflow.task_log("harness_run_pipeline", run_id, "deploy")
    assert "Started Harness execution" in log and "Deploy: Success" in log
    assert emulator.api_key not in log


CLEAR_DAG = """
from datetime import datetime
from airflow.sdk import DAG
from airflow_provider_harness.operators.executions import HarnessRunPipelineOperator

with DAG("harness_e2e_clear", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    HarnessRunPipelineOperator(task_id="deploy", pipeline_id="quick", deferrable=True, poll_interval=0.5)
"""


def test_live_clear_of_a_successful_task_deploys_again(
    live_airflow: Any, live_harness_connection: Any
) -> None:
    """Clearing a green task is how Airflow users re-run a deploy: try 2 starts a new execution."""
    emulator = live_harness_connection
    emulator.create_pipeline(gated(pipeline("quick", [("deploy", "echo deployed")])))
    live_airflow.add_dag_file(CLEAR_DAG, "harness_e2e_clear.py")
    run_id = live_airflow.trigger("harness_e2e_clear")
    approve_after_defer_exit(live_airflow, emulator, "harness_e2e_clear", run_id, "quick")
    live_airflow.wait_for_try("harness_e2e_clear", run_id, "deploy", 1, {"success"}, timeout=120)
    assert emulator.execution_count("quick") == 1
    live_airflow.wait_for_worker_exit("harness_e2e_clear", run_id, "deploy", 1, "success")

    live_airflow.clear_task("harness_e2e_clear", run_id, "deploy")
    approve_after_defer_exit(live_airflow, emulator, "harness_e2e_clear", run_id, "quick", try_number=2)
    live_airflow.wait_for_try("harness_e2e_clear", run_id, "deploy", 2, {"success", "failed"}, timeout=120)
    assert live_airflow.wait_for_run("harness_e2e_clear", run_id, timeout=60) == "success"
    assert emulator.execution_count("quick") == 2
    log = live_airflow.task_log("harness_e2e_clear", run_id, "deploy")
    assert "Try 2 follows a clear of this task" in log
    assert "Adopted" not in log


KILL_DAG = """
from datetime import datetime
from airflow.sdk import DAG
from airflow_provider_harness.operators.executions import HarnessRunPipelineOperator

with DAG("harness_e2e_kill", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    HarnessRunPipelineOperator(task_id="deploy", pipeline_id="long_running", deferrable=True, poll_interval=1)
"""


def test_live_mark_failed_while_deferred_aborts_the_execution(
    live_airflow: Any, live_harness_connection: Any
) -> None:
    emulator = live_harness_connection
    emulator.create_pipeline(LONG)
    live_airflow.add_dag_file(KILL_DAG, "harness_e2e_kill.py")
    run_id = live_airflow.trigger("harness_e2e_kill")
    live_airflow.wait_for_task_state("harness_e2e_kill", run_id, "deploy", {"deferred"}, timeout=120)
    (execution,) = emulator.executions("long_running")
    assert execution["status"] == "Running"
    # Wait until the triggerer runs the trigger (its polls follow the worker's one check before deferring):
    # a kill before the triggerer picked the trigger up reaches no on_kill at all (see docs/executions.md).
    details = f"/pipeline/api/pipelines/execution/v2/{execution['planExecutionId']}"
    deadline = time.monotonic() + 60
    while emulator.request_count(details, "GET") < 3:
        assert time.monotonic() < deadline, live_airflow.diagnostics()
        time.sleep(0.2)

    live_airflow.set_task_state("harness_e2e_kill", run_id, "deploy", "failed")

    deadline = time.monotonic() + 60
    while emulator.execution(execution["planExecutionId"])["status"] not in ("Aborted", "Discontinuing"):
        assert time.monotonic() < deadline, live_airflow.diagnostics()
        time.sleep(0.5)
    assert live_airflow.wait_for_run("harness_e2e_kill", run_id, timeout=60) == "failed"
    assert emulator.execution_count("long_running") == 1
    assert (
        emulator.request_count(f"/pipeline/api/pipeline/execute/interrupt/{execution['planExecutionId']}")
        == 1
    )
    log = live_airflow.task_log("harness_e2e_kill", run_id, "deploy")  # worker and trigger lines
    assert (
        f"Aborted Harness execution {execution['planExecutionId']} because the deferred task was killed"
        in log
    )
