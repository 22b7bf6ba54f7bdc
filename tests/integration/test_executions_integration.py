"""Pipeline executions end to end against the offline Harness emulator (127.0.0.1, time-scaled).

Operators run with a minimal task-instance context; deferrable paths run the real trigger in a real event
loop (and, for kills, inside the installed Airflow's own ``TriggerRunner.run_trigger``). Every "no
duplicate" claim is checked by counting executions in the emulator.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import time
import types
from typing import Any

import pytest

from airflow_provider_harness.operators.executions import (
    HarnessExecutionError,
    HarnessInterruptExecutionOperator,
    HarnessRetryExecutionOperator,
    HarnessRunPipelineOperator,
)
from airflow_provider_harness.sensors.executions import HarnessExecutionSensor, HarnessPipelineSucceededSensor
from airflow_provider_harness.triggers.executions import HarnessExecutionTrigger

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 3.0
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef]

pytestmark = pytest.mark.integration


def shell(identifier: str, script: str) -> str:
    return (
        f"              - step:\n"
        f"                  name: {identifier.title()}\n"
        f"                  identifier: {identifier}\n"
        f"                  type: ShellScript\n"
        f"                  spec:\n"
        f"                    source:\n"
        f"                      type: Inline\n"
        f"                      spec:\n"
        f"                        script: {json.dumps(script)}\n"
    )


def pipeline_yaml(pipeline_id: str, stages: list[tuple[str, str]], variables: str = "") -> str:
    """A pipeline of Custom stages, each one ShellScript step named after the stage's first word."""
    text = f"pipeline:\n  name: {pipeline_id}\n  identifier: {pipeline_id}\n"
    text += "  projectIdentifier: emulator_project\n  orgIdentifier: default\n"
    text += variables
    text += "  stages:\n"
    for stage, script in stages:
        text += (
            f"    - stage:\n        name: {stage.title()}\n        identifier: {stage}\n"
            "        type: Custom\n"
            f"        spec:\n          execution:\n            steps:\n"
        )
        text += shell(f"{stage}_step", script)
    return text


OK_PIPELINE = pipeline_yaml(
    "ok", [("build", "echo building\nsleep 20"), ("deploy", "echo deploying\nsleep 20")]
)
FAIL_PIPELINE = pipeline_yaml(
    "broken", [("build", "echo building"), ("deploy", "echo rolling out\necho error: disk full\nexit 1")]
)
LONG_PIPELINE = pipeline_yaml("long", [("build", "echo start"), ("deploy", "sleep 3000")])
CODE_VARIABLE = "  variables:\n    - name: code\n      type: String\n      value: <+input>\n"
RETRY_PIPELINE = pipeline_yaml(
    "flaky",
    [
        ("build", "echo built"),
        ("deploy", "echo exit code <+pipeline.variables.code>\nexit <+pipeline.variables.code>"),
    ],
    CODE_VARIABLE,
)


def gated_pipeline_yaml(pipeline_id: str, deploy_script: str = "echo deploying") -> str:
    """An Approval stage (held until ``harness.approve``) then a Custom stage: "still running" is a state
    the test controls, never a race against a time-scaled ``sleep``."""
    approval = (
        "    - stage:\n        name: Approve\n        identifier: approve\n        type: Approval\n"
        "        spec:\n          execution:\n            steps:\n"
        "              - step:\n                  name: Gate\n                  identifier: gate\n"
        "                  type: HarnessApproval\n                  timeout: 1d\n"
        "                  spec:\n                    approvers:\n"
        "                      userGroups: [account.admin]\n                      minimumCount: 1\n"
    )
    text = pipeline_yaml(pipeline_id, [("deploy", deploy_script)])
    return text.replace("  stages:\n", "  stages:\n" + approval, 1)


def inputs(pipeline_id: str, code: int) -> str:
    return (
        f"pipeline:\n  identifier: {pipeline_id}\n  variables:\n"
        f"    - name: code\n      type: String\n      value: '{code}'\n"
    )


class TaskInstance:
    def __init__(self, task_id: str = "run", try_number: int = 1) -> None:
        self.dag_id = "integration_dag"
        self.run_id = "manual__2026-02-01T00:00:00+00:00"
        self.task_id = task_id
        self.map_index = -1
        self.try_number = try_number
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


class StateStore:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        self.values[key] = json.loads(json.dumps(value))


def context(ti: TaskInstance, store: StateStore | None = None) -> dict[str, Any]:
    ctx: dict[str, Any] = {"ti": ti, "task_instance": ti}
    if store is not None:
        ctx["task_state_store"] = store
    return ctx


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def recorded(obj: Any) -> Recorder:
    recorder = Recorder()
    logger = logging.getLogger(f"test.integration.{id(obj)}")
    logger.handlers, logger.propagate = [recorder], False
    logger.setLevel(logging.DEBUG)
    obj._log = obj._cached_logger = logger
    return recorder


@pytest.fixture
def harness(harness_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The emulator behind ``harness_default`` (transport retries off: the polling error budget applies)."""
    conn = harness_emulator.connection_dict()
    conn["extra"]["max_retries"] = 0
    monkeypatch.setenv("AIRFLOW_CONN_HARNESS_DEFAULT", json.dumps(conn))
    return harness_emulator


def run_op(pipeline_id: str, **kwargs: Any) -> HarnessRunPipelineOperator:
    kwargs.setdefault("task_id", "run")
    kwargs.setdefault("poll_interval", 0.02)
    kwargs.setdefault("deferrable", False)
    return HarnessRunPipelineOperator(pipeline_id=pipeline_id, **kwargs)


async def run_trigger(trigger: HarnessExecutionTrigger) -> dict[str, Any]:
    events = [event.payload async for event in trigger.run()]
    assert len(events) == 1
    return events[0]


def wait_status(harness: Any, execution_id: str, statuses: set[str], timeout: float = 10) -> dict[str, Any]:
    return harness.wait_for_status(execution_id, frozenset(statuses), timeout=timeout)


# ---- success, failure, abort -------------------------------------------------------------------------


def test_success_logs_start_and_stage_transitions(harness: Any) -> None:
    harness.create_pipeline(OK_PIPELINE)
    op = run_op("ok", notes="nightly")
    log = recorded(op)
    ti = TaskInstance()
    execution_id = op.execute(context(ti))
    assert harness.execution(execution_id)["status"] == "Success"
    assert ti.xcom["execution_id"] == execution_id
    assert ti.xcom["execution_url"].startswith(
        f"{harness.base_url}/ng/#/account/{harness.account_id}/cd/orgs/"
    )
    assert f"Started Harness execution {execution_id} of pipeline ok (try 1)" in log.text
    # Which Running states a poll catches depends on timing; the ended stages are always reported, once,
    # with their durations (the transition lines themselves are pinned down in the unit tests).
    for stage in ('Stage 1/2 "Build" Success in ', 'Stage 2/2 "Deploy" Success in '):
        assert sum(line.startswith(stage) for line in log.lines) == 1, log.lines
    assert log.lines[-1].startswith(f"Harness execution {execution_id} ended Success in ")
    assert harness.execution_count("ok") == 1
    notes = harness.request("GET", f"/pipeline/api/pipelines/execution/{execution_id}/notes")[1]["data"][
        "notes"
    ]
    assert notes == "nightly\nairflow:integration_dag/manual__2026-02-01T00:00:00+00:00/run/-1 try=1"


def test_failure_shows_stage_step_message_and_log_tail(harness: Any) -> None:
    harness.create_pipeline(FAIL_PIPELINE)
    op = run_op("broken")
    log = recorded(op)
    with pytest.raises(HarnessExecutionError) as info:
        op.execute(context(TaskInstance()))
    assert 'ended Failed in stage "Deploy", step "Deploy_Step"' in str(info.value)
    assert "Shell Script execution failed" in str(info.value)
    assert "    rolling out" in log.lines and "    error: disk full" in log.lines
    assert harness.api_key not in log.text and harness.api_key not in str(info.value)


def test_interrupt_operator_aborts_and_waits_for_aborted(harness: Any) -> None:
    harness.create_pipeline(LONG_PIPELINE)
    execution_id = run_op("long", wait_for_completion=False).execute(context(TaskInstance()))
    wait_status(harness, execution_id, {"Running"})
    abort = HarnessInterruptExecutionOperator(
        task_id="abort", execution_id=execution_id, wait_for_completion=True, poll_interval=0.02
    )
    result = abort.execute(context(TaskInstance("abort")))
    assert result["status"] == "Aborted" and result["interrupt_type"] == "AbortAll"
    again = HarnessInterruptExecutionOperator(task_id="again", execution_id=execution_id)
    log = recorded(again)
    assert again.execute(context(TaskInstance("again")))["interrupt_id"] is None  # already aborted: done
    assert f"Harness execution {execution_id} is already Aborted" in log.text
    harness.create_pipeline(OK_PIPELINE)
    finished = run_op("ok").execute(context(TaskInstance()))
    late = HarnessInterruptExecutionOperator(task_id="late", execution_id=finished)
    with pytest.raises(
        HarnessExecutionError, match=r"Execution is already finished with status: \[SUCCEEDED\]"
    ):
        late.execute(context(TaskInstance("late")))


@pytest.mark.harness_emulator(legacy_interrupts=True)
def test_pause_and_resume_with_legacy_interrupts(harness: Any) -> None:
    """A Pause lands at the next node boundary. The approval holds the first stage, so the Pause is
    registered while it runs (``Pausing``) and provably lands before the deploy stage once approved."""
    harness.create_pipeline(gated_pipeline_yaml("pausable"))
    execution_id = run_op("pausable", wait_for_completion=False).execute(context(TaskInstance()))
    wait_status(harness, execution_id, {"ApprovalWaiting"})
    pause = HarnessInterruptExecutionOperator(
        task_id="pause", execution_id=execution_id, interrupt_type="Pause"
    ).execute(context(TaskInstance("pause")))
    assert pause["interrupt_type"] == "Pause"
    assert harness.execution(execution_id)["status"] == "Pausing"
    harness.approve(execution_id, step="gate")
    wait_status(harness, execution_id, {"Paused"})
    stages = {
        n["nodeIdentifier"]: n["status"] for n in harness.execution(execution_id)["layoutNodeMap"].values()
    }
    assert stages == {"approve": "Success", "deploy": "NotStarted"}
    sensor = HarnessExecutionSensor(task_id="wait", execution_id=execution_id, deferrable=False)
    log = recorded(sensor)
    assert sensor.poke(context(TaskInstance("wait"))) is False  # Paused is neither done nor failed
    assert any("is Paused (waiting for someone" in line for line in log.lines)
    HarnessInterruptExecutionOperator(
        task_id="resume", execution_id=execution_id, interrupt_type="Resume"
    ).execute(context(TaskInstance("resume")))
    wait_status(harness, execution_id, {"Success"}, timeout=30)
    assert sensor.poke(context(TaskInstance("wait"))) is True


def test_pause_refused_without_legacy_interrupts_is_shown_clearly(harness: Any) -> None:
    harness.create_pipeline(LONG_PIPELINE)
    execution_id = run_op("long", wait_for_completion=False).execute(context(TaskInstance()))
    pause = HarnessInterruptExecutionOperator(
        task_id="pause", execution_id=execution_id, interrupt_type="Pause"
    )
    with pytest.raises(
        HarnessExecutionError, match=f"Harness refused the Pause interrupt for execution {execution_id}"
    ):
        pause.execute(context(TaskInstance("pause")))
    assert harness.execution(execution_id)["status"] == "Running"


# ---- retries: reattach, failed stages, no duplicates ----------------------------------------------------


def test_retry_of_failed_stages_on_airflow_retry(harness: Any) -> None:
    harness.create_pipeline(RETRY_PIPELINE)
    store = StateStore()
    first = run_op("flaky", runtime_inputs=inputs("flaky", 1), retry_strategy="failed_stages")
    with pytest.raises(HarnessExecutionError, match='stage "Deploy"'):
        first.execute(context(TaskInstance(), store))
    failed_id = store.values["harness_execution"]["execution_id"]
    second = run_op("flaky", runtime_inputs=inputs("flaky", 0), retry_strategy="failed_stages")
    log = recorded(second)
    retried_id = second.execute(context(TaskInstance(try_number=2), store))
    assert retried_id != failed_id
    assert f"Retrying stages ['deploy'] of execution {failed_id}" in log.text
    summary = harness.execution(retried_id)
    assert summary["status"] == "Success"
    assert summary.get("retryExecutionMetadata", {}).get("parentExecutionId") == failed_id
    assert harness.execution_count("flaky") == 2


def test_retry_operator_retries_all_stages(harness: Any) -> None:
    harness.create_pipeline(FAIL_PIPELINE)
    failed = harness.execute("broken")
    wait_status(harness, failed, {"Failed"})
    op = HarnessRetryExecutionOperator(
        task_id="retry", execution_id=failed, stages="all", wait_for_completion=False, poll_interval=0.02
    )
    new_id = op.execute(context(TaskInstance("retry")))
    assert harness.execution(new_id).get("retryExecutionMetadata", {}).get("parentExecutionId") == failed
    assert harness.request_count("/pipeline/api/pipeline/execute/retry/broken", "POST") == 1
    refused = HarnessRetryExecutionOperator(task_id="retry2", execution_id=failed, wait_for_completion=False)
    with pytest.raises(HarnessExecutionError, match="not the latest"):
        refused.execute(context(TaskInstance("retry2")))


def execute_while_held(
    harness: Any, op: HarnessRunPipelineOperator, ctx: dict[str, Any], log: Recorder, held_id: str
) -> str:
    """Run ``op.execute`` (it waits for the end) in a thread; approve the held execution ``held_id`` only
    once the operator reattached to it: "still running when the retry looks" is guaranteed, not timed."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(op.execute, ctx)
        deadline = time.monotonic() + 60
        while "Reattached to running Harness execution" not in log.text:
            if future.done():
                return str(future.result())  # it did not reattach: the caller's assertions say so
            assert time.monotonic() < deadline, log.text
            time.sleep(0.01)
        harness.approve(held_id, step="gate")
        return str(future.result(timeout=60))


def only_execution(harness: Any, pipeline_id: str) -> str:
    (execution,) = harness.executions(pipeline_id)
    return str(execution["planExecutionId"])


@pytest.mark.parametrize("with_state_store", [True, False], ids=["task-state-store", "notes-marker"])
def test_airflow_retry_never_starts_a_second_execution(harness: Any, with_state_store: bool) -> None:
    harness.create_pipeline(gated_pipeline_yaml("slow"))  # held by its approval until the retry reattached
    store = StateStore() if with_state_store else None
    first = run_op("slow", timeout=0.1, cancel_on_kill=False)  # gives up waiting, leaves the run going
    with pytest.raises(HarnessExecutionError, match="left running"):
        first.execute(context(TaskInstance(), store))
    second = run_op("slow")
    log = recorded(second)
    held = only_execution(harness, "slow")
    execution_id = execute_while_held(harness, second, context(TaskInstance(try_number=2), store), log, held)
    assert "Reattached to running Harness execution" in log.text
    assert execution_id == held and harness.execution(execution_id)["status"] == "Success"
    assert harness.execution_count("slow") == 1


def test_reattach_after_a_worker_crash_between_start_and_state_save(
    harness: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker dies right after Harness started the run, before the id reached the task state store."""
    from airflow_provider_harness.operators import executions as ops

    harness.create_pipeline(gated_pipeline_yaml("crashy"))  # held by its approval until reattached
    store = StateStore()

    class WorkerCrash(BaseException):
        pass

    def crash(self: Any, record: dict[str, Any]) -> None:
        raise WorkerCrash()

    with monkeypatch.context() as patch:
        patch.setattr(ops._ExecutionMemory, "save", crash)
        with pytest.raises(WorkerCrash):
            run_op("crashy").execute(context(TaskInstance(), store))
    assert store.values == {} and harness.execution_count("crashy") == 1
    second = run_op("crashy")
    log = recorded(second)
    held = only_execution(harness, "crashy")
    execution_id = execute_while_held(harness, second, context(TaskInstance(try_number=2), store), log, held)
    assert execution_id == held
    assert "by its marker" in log.text and "Reattached to running" in log.text
    assert harness.execution_count("crashy") == 1
    assert store.values["harness_execution"]["execution_id"] == execution_id


def test_lost_execute_answer_is_resolved_by_marker_not_by_resending(
    harness: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.create_pipeline(OK_PIPELINE)
    conn = harness.connection_dict()
    conn["extra"].update(max_retries=0, timeout=0.3)
    monkeypatch.setenv("AIRFLOW_CONN_HARNESS_DEFAULT", json.dumps(conn))
    harness.inject_fault(
        "latency", delay_ms=800, path_prefix="/pipeline/api/pipeline/execute/ok", method="POST"
    )
    op = run_op("ok")
    # The emulator starts the run 0.8 s after receiving the call; the search stops as soon as it finds
    # it, so a long tail of retries costs nothing and keeps a busy machine from missing it.
    op.marker_search_delays = (0.3,) * 4 + (1.0,) * 20
    log = recorded(op)
    execution_id = op.execute(context(TaskInstance()))
    assert "may have started the execution" in log.text and "started after all" in log.text
    assert harness.execution_count("ok") == 1
    assert harness.request_count("/pipeline/api/pipeline/execute/ok", "POST") == 1
    assert harness.execution(execution_id)["status"] == "Success"


# ---- timeouts, transient errors -----------------------------------------------------------------------


def test_timeout_aborts_the_execution(harness: Any) -> None:
    harness.create_pipeline(LONG_PIPELINE)
    op = run_op("long", timeout=0.3)
    with pytest.raises(HarnessExecutionError, match="it was aborted"):
        op.execute(context(TaskInstance()))
    execution_id = op._execution_id
    assert wait_status(harness, execution_id, {"Aborted"})["status"] == "Aborted"


async def test_deferred_timeout_aborts_the_execution(harness: Any) -> None:
    harness.create_pipeline(LONG_PIPELINE)
    op = run_op("long", deferrable=True, timeout=0.5)
    with pytest.raises(TaskDeferred) as info:
        op.execute(context(TaskInstance()))
    event = await run_trigger(info.value.trigger)
    assert event["status"] == "timeout"
    with pytest.raises(HarnessExecutionError, match="it was aborted"):
        op.execute_complete(context(TaskInstance()), event=event, **info.value.kwargs)
    wait_status(harness, event["execution_id"], {"Aborted"})


async def test_5xx_burst_and_429_while_polling_do_not_fail(harness: Any) -> None:
    harness.create_pipeline(OK_PIPELINE)
    details = "/pipeline/api/pipelines/execution/v2/"
    harness.inject_fault("error", status=503, count=3, path_prefix=details, method="GET", skip=1)
    harness.inject_fault("rate_limit", count=2, path_prefix=details, method="GET", skip=1)
    op = run_op("ok")
    log = recorded(op)
    assert harness.execution(op.execute(context(TaskInstance())))["status"] == "Success"
    assert sum("Transient error" in line for line in log.lines) >= 3

    harness.create_pipeline(gated_pipeline_yaml("held_ok"))  # surely still running when the task defers
    harness.inject_fault("html", status=502, count=3, path_prefix=details, method="GET", skip=1)
    harness.inject_fault("rate_limit", count=2, path_prefix=details, method="GET", skip=1)
    deferred = run_op("held_ok", deferrable=True, task_id="run2")
    with pytest.raises(TaskDeferred) as info:
        deferred.execute(context(TaskInstance("run2")))
    trigger = info.value.trigger
    trigger_log = recorded(trigger)
    event = await run_trigger_then_approve(harness, trigger)
    assert event["status"] == "success"
    assert sum("Transient error" in line for line in trigger_log.lines) >= 3
    assert deferred.execute_complete(context(TaskInstance("run2")), event=event, **info.value.kwargs)


async def run_trigger_then_approve(harness: Any, trigger: HarnessExecutionTrigger) -> dict[str, Any]:
    """Run the trigger; once it has seen the held execution running and its gate waiting (a gate after
    other steps takes a moment to be reached), approve it and await the event."""
    details = f"/pipeline/api/pipelines/execution/v2/{trigger.execution_id}"
    polls_before = harness.request_count(details, "GET")
    task = asyncio.ensure_future(run_trigger(trigger))
    deadline = time.monotonic() + 30
    while harness.request_count(details, "GET") <= polls_before:
        assert not task.done() and time.monotonic() < deadline
        await asyncio.sleep(0.01)
    # through the admin API, which injected faults never hit: the trigger alone meets them
    while not await asyncio.to_thread(gate_waiting, harness, trigger.execution_id):
        assert not task.done() and time.monotonic() < deadline + 30
        await asyncio.sleep(0.01)
    await asyncio.to_thread(harness.approve, trigger.execution_id, "gate")
    return await task


def gate_waiting(harness: Any, execution_id: str) -> bool:
    return any(
        e["planExecutionId"] == execution_id and e["status"] == "ApprovalWaiting"
        for e in harness.executions()
    )


async def test_deferrable_success_and_failure_through_real_trigger(harness: Any) -> None:
    # held by their approval stage: the operator surely finds them running and defers, whatever the speed
    harness.create_pipeline(gated_pipeline_yaml("ok", "echo deploying\nsleep 20"))
    harness.create_pipeline(gated_pipeline_yaml("broken", "echo rolling out\necho error: disk full\nexit 1"))
    op = run_op("ok", deferrable=True)
    with pytest.raises(TaskDeferred) as info:
        op.execute(context(TaskInstance()))
    trigger = info.value.trigger
    _, kwargs = trigger.serialize()
    assert harness.api_key not in json.dumps(kwargs)
    rebuilt = HarnessExecutionTrigger(**json.loads(json.dumps(kwargs)))  # as the triggerer does
    trigger_log = recorded(rebuilt)
    event = await run_trigger_then_approve(harness, rebuilt)
    assert event["status"] == "success"
    assert any(line.startswith('Stage 2/2 "Deploy" Success in ') for line in trigger_log.lines)
    assert (
        op.execute_complete(context(TaskInstance()), event=event, **info.value.kwargs)
        == event["execution_id"]
    )

    failing = run_op("broken", deferrable=True, task_id="broken")
    log = recorded(failing)
    with pytest.raises(TaskDeferred) as deferred:
        failing.execute(context(TaskInstance("broken")))
    event = await run_trigger_then_approve(harness, deferred.value.trigger)
    assert event["status"] == "failed"
    with pytest.raises(HarnessExecutionError, match='stage "Deploy"'):
        failing.execute_complete(context(TaskInstance("broken")), event=event, **deferred.value.kwargs)
    assert "    error: disk full" in log.lines
    assert harness.api_key not in log.text + trigger_log.text


# ---- kill while deferred, through Airflow's own TriggerRunner --------------------------------------------


async def _deferred_trigger(harness: Any, task_id: str) -> HarnessExecutionTrigger:
    op = run_op("long", deferrable=True, task_id=task_id)
    with pytest.raises(TaskDeferred) as info:
        op.execute(context(TaskInstance(task_id)))
    _, kwargs = info.value.trigger.serialize()
    trigger = HarnessExecutionTrigger(**kwargs)
    trigger.task_instance = types.SimpleNamespace(  # what the triggerer attaches
        id="0199-ti", dag_id="integration_dag", run_id="run", task_id=task_id, map_index=-1, try_number=1,
        context_carrier=None,
    )  # fmt: skip
    trigger.timeout_after = None
    return trigger


def _task_states(monkeypatch: pytest.MonkeyPatch, state: str) -> None:
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    monkeypatch.setattr(
        RuntimeTaskInstance,
        "get_task_states",
        staticmethod(lambda **kw: {kw["run_ids"][0]: {kw["task_ids"][0]: state}}),
    )


async def _run_in_triggerer(harness: Any, trigger: HarnessExecutionTrigger, *, user_action: bool) -> None:
    """Run ``trigger`` in the installed Airflow's TriggerRunner and cancel it as the triggerer does, once
    it is watching (it has polled the execution at least once)."""
    from airflow.jobs.triggerer_job_runner import TriggerRunner

    details = f"/pipeline/api/pipelines/execution/v2/{trigger.execution_id}"
    polls_before = harness.request_count(details, "GET")
    runner = TriggerRunner()
    task = asyncio.create_task(runner.run_trigger(1, trigger))
    runner.triggers[1] = {"task": task, "name": "harness-trigger", "events": 0}
    deadline = time.monotonic() + 30
    while harness.request_count(details, "GET") <= polls_before:
        assert not task.done() and time.monotonic() < deadline
        await asyncio.sleep(0.01)
    assert not task.done()
    if user_action:  # the user's mark failed/success or clear: cancel_triggers()
        runner.to_cancel.append(1)
        await runner.cancel_triggers()
    else:  # triggerer shutting down / the trigger moving elsewhere: a plain cancel
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_kill_while_deferred_aborts_through_trigger(
    harness: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.create_pipeline(LONG_PIPELINE)
    trigger = await _deferred_trigger(harness, "killed")
    _task_states(monkeypatch, "failed")  # the user marked the deferred task failed
    await _run_in_triggerer(harness, trigger, user_action=True)
    assert wait_status(harness, trigger.execution_id, {"Aborted"})["status"] == "Aborted"


async def test_triggerer_restart_or_moved_trigger_aborts_nothing(
    harness: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.create_pipeline(LONG_PIPELINE)
    _task_states(monkeypatch, "deferred")  # the task instance is still deferred: only the triggerer changed
    for user_action in (False, True):
        trigger = await _deferred_trigger(harness, f"moved_{user_action}")
        await _run_in_triggerer(harness, trigger, user_action=user_action)
        # the trigger's cancellation path awaits any abort it sends, so one would already show here
        assert harness.execution(trigger.execution_id)["status"] == "Running"
    assert harness.request_count("/pipeline/api/pipeline/execute/interrupt", "PUT") == 0


# ---- cross-system wait -----------------------------------------------------------------------------------


def test_pipeline_succeeded_sensor(harness: Any) -> None:
    harness.create_pipeline(OK_PIPELINE)
    after = time.time() - 1
    sensor = HarnessPipelineSucceededSensor(task_id="deployed", pipeline_id="ok", after=after)
    assert sensor.poke(context(TaskInstance("deployed"))) is False
    execution_id = harness.execute("ok")
    wait_status(harness, execution_id, {"Success"})
    result = sensor.poke(context(TaskInstance("deployed")))
    assert result.is_done and result.xcom_value == execution_id


# ---- input sets and selected stages ----------------------------------------------------------------------

INPUT_SET = """\
inputSet:
  name: Good code
  identifier: good_code
  orgIdentifier: default
  projectIdentifier: emulator_project
  pipeline:
    identifier: flaky
    variables:
      - name: code
        type: String
        value: "0"
"""


def test_input_sets_with_runtime_inputs_merged_last(harness: Any) -> None:
    harness.create_pipeline(RETRY_PIPELINE)
    status, body = harness.request(
        "POST", "/pipeline/api/inputSets", params={"pipelineIdentifier": "flaky"}, body=INPUT_SET
    )
    assert status == 200, body
    assert (
        harness.execution(run_op("flaky", input_set_refs=["good_code"]).execute(context(TaskInstance())))[
            "status"
        ]
        == "Success"
    )
    overridden = run_op(
        "flaky", input_set_refs=["good_code"], runtime_inputs=inputs("flaky", 3), task_id="t2"
    )
    with pytest.raises(HarnessExecutionError, match="ended Failed"):
        overridden.execute(context(TaskInstance("t2")))
    assert harness.request_count("/pipeline/api/pipeline/execute/flaky/inputSetList", "POST") == 2


def test_selected_stages(harness: Any) -> None:
    harness.create_pipeline(
        FAIL_PIPELINE.replace("  stages:\n", "  allowStageExecutions: true\n  stages:\n", 1)
    )
    execution_id = run_op("broken", stage_ids=["build"]).execute(context(TaskInstance()))
    summary = harness.execution(execution_id)
    assert summary["status"] == "Success"  # the failing deploy stage did not run
    assert harness.request_count("/pipeline/api/pipeline/execute/broken/stages", "POST") == 1
    harness.create_pipeline(OK_PIPELINE)
    with pytest.raises(Exception, match=r"Stage executions are not allowed for pipeline \[ok\]"):
        run_op("ok", stage_ids=["build"], task_id="t2").execute(context(TaskInstance("t2")))
