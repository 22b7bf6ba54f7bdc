"""Unit tests of the execution operators, sensors and link on a scripted fake Harness (no network).

Deferrable paths run the real trigger (``trigger.run()`` in the test's event loop) and feed its event
to ``execute_complete``; only the strict-validation tests hand-make events.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from test_executions_fakes import (
    API_KEY,
    FakeStateStore,
    FakeTaskInstance,
    ScriptedHarness,
    harness_error,
    make_config,
    make_context,
)

from airflow_provider_harness.hooks.harness import HarnessHook
from airflow_provider_harness.operators.executions import (
    HarnessExecutionError,
    HarnessExecutionLink,
    HarnessInterruptExecutionOperator,
    HarnessRetryExecutionOperator,
    HarnessRunPipelineOperator,
    validate_event,
)
from airflow_provider_harness.sensors.executions import HarnessExecutionSensor, HarnessPipelineSucceededSensor
from airflow_provider_harness.triggers.executions import HarnessExecutionTrigger

try:
    from airflow.sdk.exceptions import AirflowSensorTimeout, TaskDeferred
except ImportError:  # Airflow 3.0
    from airflow.exceptions import AirflowSensorTimeout, TaskDeferred  # type: ignore[no-redef]


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
    """Route ``obj.log`` (operator, sensor or trigger) to a recorder, whatever Airflow's log setup is."""
    recorder = Recorder()
    logger = logging.getLogger(f"test.harness.{id(obj)}")
    logger.handlers = [recorder]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    obj._log = logger
    obj._cached_logger = logger  # Airflow 3.3 operators cache their logger here
    return recorder


def wire(op: Any, fake: ScriptedHarness) -> Recorder:
    """Give an operator/sensor a hook whose client talks to ``fake``; return its log recorder."""
    hook = HarnessHook(op.harness_conn_id, org_id=op.org_id, project_id=op.project_id)
    try:
        hook.__dict__["config"] = make_config().with_defaults(org_id=op.org_id, project_id=op.project_id)
    except ValueError:  # a test of bad org/project input: the operator must refuse before using the hook
        hook.__dict__["config"] = make_config()
    hook._client = fake.client()
    op.__dict__["hook"] = hook
    return recorded(op)


def wire_trigger(trigger: HarnessExecutionTrigger, fake: ScriptedHarness) -> Recorder:
    async def get_client() -> Any:
        client = fake.async_client()
        return client, client.config.scope_params(
            "project", org_id=trigger.org_id, project_id=trigger.project_id
        )

    trigger._get_client = get_client  # type: ignore[method-assign]
    return recorded(trigger)


async def run_trigger(trigger: HarnessExecutionTrigger) -> list[dict[str, Any]]:
    events = [event.payload async for event in trigger.run()]
    assert len(events) == 1, "the trigger must yield exactly one event"
    return events


def run_op(**kwargs: Any) -> HarnessRunPipelineOperator:
    kwargs.setdefault("task_id", "run")
    kwargs.setdefault("pipeline_id", "pipe")
    kwargs.setdefault("poll_interval", 0.01)
    kwargs.setdefault("deferrable", False)
    return HarnessRunPipelineOperator(**kwargs)


# ---- construction and validation ---------------------------------------------------------------


def test_init_has_no_logic_on_template_fields_and_templates_every_conn_id() -> None:
    op = HarnessRunPipelineOperator(task_id="t", pipeline_id="{{ params.p }}", runtime_inputs="{{ bad: yaml")
    assert op.pipeline_id == "{{ params.p }}"
    for cls in (HarnessRunPipelineOperator, HarnessRetryExecutionOperator, HarnessInterruptExecutionOperator):
        assert "harness_conn_id" in cls.template_fields
    assert "harness_conn_id" in HarnessExecutionSensor.template_fields
    assert "harness_conn_id" in HarnessPipelineSucceededSensor.template_fields
    assert op.operator_extra_links[0].name == "Harness execution"
    assert "hook" not in op.__dict__  # the hook is created lazily, never in __init__


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"pipeline_id": "1pipe"}, "pipeline_id"),
        (
            {"runtime_inputs": "pipeline:\n  a: [1\n  b: 2"},
            "runtime_inputs: not valid YAML at line 3, column 4",
        ),
        ({"runtime_inputs": "just text"}, "runtime_inputs"),
        ({"retry_strategy": "again"}, "retry_strategy"),
        ({"success_statuses": ["Running"]}, "success_statuses"),
        ({"org_id": "bad org"}, "org_id"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"timeout": -5}, "timeout"),
        ({"input_set_refs": ["ok", "not ok"]}, "input_set_refs"),
        ({"stage_ids": ["stage-1"]}, "stage_ids"),
    ],
)
def test_bad_input_fails_before_any_api_call(kwargs: dict[str, Any], field: str) -> None:
    fake = ScriptedHarness()
    op = run_op(**kwargs)
    wire(op, fake)
    with pytest.raises(ValueError, match=field):
        op.execute(make_context(FakeTaskInstance()))
    assert fake.requests == []


def test_cheap_import_at_dag_parse_time() -> None:
    modules = (
        "airflow_provider_harness.client.transport",
        "airflow_provider_harness.client.executions",
        "airflow_provider_harness.triggers.executions",
        "airflow_provider_harness.emulator",
    )
    code = (
        "import sys\n"
        "import airflow_provider_harness.operators.executions, airflow_provider_harness.sensors.executions\n"
        f"print([m for m in {modules!r} if m in sys.modules])\n"
    )
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


# ---- sync path -----------------------------------------------------------------------------------


def test_sync_success_pushes_xcom_before_waiting_and_logs_stages() -> None:
    fake = ScriptedHarness(scripts=[["Running", "Running", "Success"]])
    op = run_op(notes="release 1.2", runtime_inputs={"pipeline": {"identifier": "pipe"}})
    log = wire(op, fake)
    ti = FakeTaskInstance(fake.events)
    assert op.execute(make_context(ti)) == "exec1"
    assert ti.xcom["execution_id"] == "exec1"
    assert ti.xcom["execution_url"] == (
        "https://harness.test/ng/#/account/acc/cd/orgs/default/projects/proj/pipelines/pipe/executions/exec1/pipeline"
    )
    first_poll = fake.events.index("GET /pipeline/api/pipelines/execution/v2/exec1")
    assert fake.events.index("xcom execution_url") < first_poll
    assert fake.executions["exec1"].notes == (
        "release 1.2\nairflow:harness_dag/manual__2026-01-01T00:00:00+00:00/run/-1 try=1"
    )
    assert fake.requests[0].content == b"pipeline:\n  identifier: pipe\n"
    assert "Started Harness execution exec1 of pipeline pipe (try 1): https://harness.test/ng/#/" in log.text
    assert 'Stage 1/2 "Build" Running' in log.lines
    assert 'Stage 1/2 "Build" Success in 4s' in log.lines
    assert 'Stage 2/2 "Deploy" Success in 1m 01s' in log.lines
    assert f"Harness execution exec1 ended Success in 1m 05s: {ti.xcom['execution_url']}" == log.lines[-1]
    assert fake.count("GET", "/pipeline/api/pipelines/execution/v2/") == 3  # one GET per poll


def test_sync_failure_reports_stage_step_message_and_log_tail_without_secrets() -> None:
    fake = ScriptedHarness(scripts=[["Running", "Failed"]])
    op = run_op(log_tail_lines=5)
    log = wire(op, fake)
    with pytest.raises(HarnessExecutionError) as info:
        op.execute(make_context(FakeTaskInstance()))
    message = str(info.value)
    url = "https://harness.test/ng/#/account/acc/cd/orgs/default/projects/proj/pipelines/pipe/executions/exec1/pipeline"
    assert message == (
        'Harness execution exec1 ended Failed in stage "Deploy", step "Rollout": '
        f"Shell Script execution failed. Please check execution logs. ({url})"
    )
    assert log.lines[-1] == f"Harness execution exec1 in 1m 05s: {url}"
    assert "Last 5 log lines of that step:" in log.text
    assert "    error: rollout failed" in log.lines
    assert "deploying part 36" in log.text and "deploying part 35" not in log.text
    assert API_KEY not in log.text and API_KEY not in message


@pytest.mark.parametrize(("success", "ok"), [(None, True), (["Success"], False)])
def test_ignore_failed_counts_as_success_unless_configured(success: list[str] | None, ok: bool) -> None:
    fake = ScriptedHarness(scripts=[["IgnoreFailed"]])
    op = run_op(success_statuses=success)
    wire(op, fake)
    if ok:
        assert op.execute(make_context(FakeTaskInstance())) == "exec1"
    else:
        with pytest.raises(HarnessExecutionError, match="ended IgnoreFailed"):
            op.execute(make_context(FakeTaskInstance()))


def test_waiting_statuses_are_not_failures_and_discontinuing_is_not_done() -> None:
    fake = ScriptedHarness(
        scripts=[["ApprovalWaiting", "InterventionWaiting", "Discontinuing", "AbortedByFreeze"]]
    )
    op = run_op()
    log = wire(op, fake)
    with pytest.raises(HarnessExecutionError, match="ended AbortedByFreeze"):
        op.execute(make_context(FakeTaskInstance()))
    assert fake.count("GET", "/pipeline/api/pipelines/execution/v2/") >= 4
    assert any("ApprovalWaiting (waiting for someone" in line for line in log.lines)


def test_no_wait_returns_right_after_start() -> None:
    fake = ScriptedHarness()
    op = run_op(wait_for_completion=False)
    wire(op, fake)
    assert op.execute(make_context(FakeTaskInstance())) == "exec1"
    assert [f"{r.method} {r.url.path}" for r in fake.requests] == ["POST /pipeline/api/pipeline/execute/pipe"]


def test_transient_errors_while_polling_do_not_fail() -> None:
    fake = ScriptedHarness(scripts=[["Running", "Running", "Success"]])
    detail = "GET /pipeline/api/pipelines/execution/v2/"
    fake.inject(detail, httpx.Response(503, text="<html><title>503 Service Unavailable</title></html>"))
    fake.inject(detail, httpx.Response(429, text="Too Many Requests"))
    fake.inject(detail, harness_error(500, "UNKNOWN_ERROR", "Oops, something went wrong on our end."))
    op = run_op()
    log = wire(op, fake)
    assert op.execute(make_context(FakeTaskInstance())) == "exec1"
    assert sum("Transient error" in line for line in log.lines) >= 2


def test_sync_timeout_aborts_and_fails() -> None:
    fake = ScriptedHarness(scripts=[["Running"] * 1000])
    op = run_op(timeout=0.2, poll_interval=0.05)
    wire(op, fake)
    with pytest.raises(
        HarnessExecutionError, match="did not finish within the task's timeout; it was aborted"
    ):
        op.execute(make_context(FakeTaskInstance()))
    assert fake.count("PUT", "/pipeline/api/pipeline/execute/interrupt/exec1") == 1
    assert fake.requests[-1].url.params["interruptType"] == "AbortAll"


def test_timeout_without_cancel_on_kill_leaves_execution_running() -> None:
    fake = ScriptedHarness(scripts=[["Running"] * 1000])
    op = run_op(timeout=timedelta(seconds=0.1), cancel_on_kill=False)
    wire(op, fake)
    with pytest.raises(HarnessExecutionError, match="left running"):
        op.execute(make_context(FakeTaskInstance()))
    assert fake.count("PUT", "/pipeline/api/pipeline/execute/interrupt/") == 0


def test_worker_on_kill_aborts_only_a_followed_unfinished_execution() -> None:
    fake = ScriptedHarness(scripts=[["Running"] * 1000])
    op = run_op(wait_for_completion=False)
    wire(op, fake)
    op.execute(make_context(FakeTaskInstance()))
    op.on_kill()  # wait_for_completion=False: the task is done with it
    assert fake.count("PUT", "/pipeline/api/pipeline/execute/interrupt/") == 0
    op._done = False
    op.on_kill()
    assert fake.count("PUT", "/pipeline/api/pipeline/execute/interrupt/exec1") == 1
    quiet = run_op(cancel_on_kill=False)
    wire(quiet, fake)
    quiet._execution_id = "exec1"
    quiet.on_kill()
    assert fake.count("PUT", "/pipeline/api/pipeline/execute/interrupt/") == 1


# ---- never duplicate: reattach, ambiguous start ----------------------------------------------------


def test_retry_reattaches_through_task_state_store() -> None:
    fake = ScriptedHarness(scripts=[["Running"] * 3 + ["Success"]])
    store = FakeStateStore()
    first = run_op(timeout=0.05, poll_interval=0.5, cancel_on_kill=False)
    wire(first, fake)
    with pytest.raises(HarnessExecutionError):
        first.execute(make_context(FakeTaskInstance(), store))
    assert store.values["harness_execution"]["execution_id"] == "exec1"
    second = run_op()
    log = wire(second, fake)
    assert second.execute(make_context(FakeTaskInstance(try_number=2), store)) == "exec1"
    assert fake.starts() == 1
    assert "Reattached to running Harness execution exec1" in log.text
    assert fake.count("POST", "/pipeline/api/pipelines/execution/summary") == 0  # no marker search needed


def test_retry_reattaches_through_marker_without_state_store() -> None:
    fake = ScriptedHarness(scripts=[["Running"] * 3 + ["Success"]])
    first = run_op(wait_for_completion=False)
    wire(first, fake)
    first.execute(make_context(FakeTaskInstance()))
    fake.add(["Running"], notes="someone else's run")
    second = run_op()
    wire(second, fake)
    assert second.execute(make_context(FakeTaskInstance(try_number=2))) == "exec1"
    assert fake.starts() == 1
    listing = next(r for r in fake.requests if r.url.path.endswith("/execution/summary"))
    assert listing.url.params.get_list("status") == []  # finished executions count too


def test_retry_after_a_finished_execution_reruns_by_default() -> None:
    fake = ScriptedHarness(scripts=[["Failed"], ["Success"]])
    store = FakeStateStore()
    first = run_op()
    wire(first, fake)
    with pytest.raises(HarnessExecutionError):
        first.execute(make_context(FakeTaskInstance(), store))
    second = run_op()
    log = wire(second, fake)
    assert second.execute(make_context(FakeTaskInstance(try_number=2), store)) == "exec2"
    assert fake.count("POST", "/pipeline/api/pipeline/execute/pipe") == 2  # try 1 + the rerun
    assert fake.count("POST", "/pipeline/api/pipeline/execute/retry/") == 0
    assert "Earlier try's execution exec1 ended Failed" in log.text
    assert store.values["harness_execution"]["execution_id"] == "exec2"


def test_failed_stages_strategy_retries_through_harness_only_on_retries() -> None:
    fake = ScriptedHarness(scripts=[["Failed"], ["Running", "Success"]])
    store = FakeStateStore()
    first = run_op(retry_strategy="failed_stages")
    wire(first, fake)
    with pytest.raises(HarnessExecutionError):
        first.execute(make_context(FakeTaskInstance(), store))
    assert fake.count("POST", "/pipeline/api/pipeline/execute/retry/") == 0  # never on the first try
    second = run_op(retry_strategy="failed_stages")
    log = wire(second, fake)
    assert second.execute(make_context(FakeTaskInstance(try_number=2), store)) == "exec2"
    retry = next(r for r in fake.requests if r.url.path.startswith("/pipeline/api/pipeline/execute/retry/"))
    assert retry.url.params["planExecutionId"] == "exec1"
    assert retry.url.params.get_list("retryStages") == ["deploy"]
    assert retry.url.params["runAllStages"] == "true"
    assert "airflow:harness_dag/" in retry.url.params["notesForPipelineExecution"]
    assert fake.executions["exec2"].retry_of == "exec1"
    assert "Retried failed stages in Harness execution exec2" in log.text


def test_failed_stages_falls_back_to_rerun_when_harness_cannot_retry() -> None:
    fake = ScriptedHarness(
        scripts=[["Failed"], ["Success"]], retry_refusal="Execution is more than 30 days old."
    )
    store = FakeStateStore()
    first = run_op(retry_strategy="failed_stages")
    wire(first, fake)
    with pytest.raises(HarnessExecutionError):
        first.execute(make_context(FakeTaskInstance(), store))
    second = run_op(retry_strategy="failed_stages")
    log = wire(second, fake)
    assert second.execute(make_context(FakeTaskInstance(try_number=2), store)) == "exec2"
    assert fake.count("POST", "/pipeline/api/pipeline/execute/retry/") == 0
    assert "more than 30 days old" in log.text and "rerunning the pipeline instead" in log.text
    assert "Retried failed stages" not in log.text  # exec2 is a fresh run, and the log says so
    assert "Started (a rerun) Harness execution exec2 of pipeline pipe (try 2)" in log.text


def test_ambiguous_start_finds_the_execution_by_marker_and_never_resends() -> None:
    fake = ScriptedHarness(scripts=[["Running", "Success"]])
    original = fake.handler

    def lose_answer(request: httpx.Request) -> httpx.Response:
        response = original(request)
        if request.method == "POST" and request.url.path == "/pipeline/api/pipeline/execute/pipe":
            return httpx.Response(502, text="<html><title>502 Bad Gateway</title></html>")
        return response

    fake.handler = lose_answer  # type: ignore[method-assign]
    op = run_op()
    log = wire(op, fake)
    op.hook._client = fake.client()
    assert op.execute(make_context(FakeTaskInstance())) == "exec1"
    assert fake.starts() == 1
    assert "The execution was started after all: exec1" in log.text


def test_ambiguous_start_without_a_trace_fails_without_resending(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    fake = ScriptedHarness()
    fake.inject("POST /pipeline/api/pipeline/execute/pipe", httpx.Response(504, text="gateway timeout"))
    op = run_op()
    wire(op, fake)
    with pytest.raises(HarnessExecutionError, match="was not sent again"):
        op.execute(make_context(FakeTaskInstance()))
    assert fake.starts() == 1
    assert fake.count("POST", "/pipeline/api/pipelines/execution/summary") == 4  # now + after each delay


# ---- deferrable path through the real trigger ---------------------------------------------------


async def test_deferrable_success_through_real_trigger() -> None:
    fake = ScriptedHarness(scripts=[["Running", "Running", "Success"]])
    op = run_op(deferrable=True, timeout=600, poll_interval=0.01)
    wire(op, fake)
    ti = FakeTaskInstance(fake.events)
    started = time.time()
    with pytest.raises(TaskDeferred) as info:
        op.execute(make_context(ti))
    deferred = info.value
    assert deferred.timeout is None and deferred.method_name == "execute_complete"
    assert deferred.kwargs == {"execution_id": "exec1", "try_number": ti.try_number}
    trigger = deferred.trigger
    assert isinstance(trigger, HarnessExecutionTrigger) and trigger.cancel_on_kill is True
    assert trigger.try_number == ti.try_number and trigger.serialize()[1]["try_number"] == ti.try_number
    assert started + 599 < trigger.deadline < time.time() + 601
    assert ti.xcom["execution_id"] == "exec1"  # pushed before deferring
    trigger_log = wire_trigger(trigger, fake)
    (event,) = await run_trigger(trigger)
    assert event["status"] == "success" and event["harness_status"] == "Success"
    assert 'Stage 2/2 "Deploy" Success in 1m 01s' in trigger_log.lines
    fresh = run_op(deferrable=True)
    log = wire(fresh, fake)
    assert fresh.execute_complete(make_context(ti), event=event, **deferred.kwargs) == "exec1"
    assert "Stages of execution exec1: Build: Success in 4s, Deploy: Success in 1m 01s" in log.text
    assert "Harness execution exec1 ended Success in 1m 05s: https://harness.test/ng/#/" in log.text


async def test_deferrable_terminal_before_deferring_does_not_defer() -> None:
    fake = ScriptedHarness(scripts=[["Success"]])
    op = run_op(deferrable=True)
    wire(op, fake)
    assert op.execute(make_context(FakeTaskInstance())) == "exec1"


async def test_deferrable_failure_reports_summary_via_execute_complete() -> None:
    fake = ScriptedHarness(scripts=[["Running", "Running", "Failed"]])
    op = run_op(deferrable=True)
    wire(op, fake)
    with pytest.raises(TaskDeferred) as info:
        op.execute(make_context(FakeTaskInstance()))
    wire_trigger(info.value.trigger, fake)
    (event,) = await run_trigger(info.value.trigger)
    assert event["status"] == "failed"
    log = wire(op, fake)
    with pytest.raises(HarnessExecutionError, match='stage "Deploy", step "Rollout"'):
        op.execute_complete(make_context(FakeTaskInstance()), event=event, **info.value.kwargs)
    assert "    error: rollout failed" in log.lines


async def test_deferrable_timeout_event_aborts_the_execution() -> None:
    fake = ScriptedHarness(scripts=[["Running"] * 1000])
    op = run_op(deferrable=True, timeout=0.3)
    wire(op, fake)
    with pytest.raises(TaskDeferred) as info:
        op.execute(make_context(FakeTaskInstance()))
    wire_trigger(info.value.trigger, fake)
    (event,) = await run_trigger(info.value.trigger)
    assert event["status"] == "timeout"
    with pytest.raises(HarnessExecutionError, match="it was aborted"):
        op.execute_complete(make_context(FakeTaskInstance()), event=event, **info.value.kwargs)
    assert fake.count("PUT", "/pipeline/api/pipeline/execute/interrupt/exec1") == 1


def test_execution_timeout_becomes_part_of_the_trigger_deadline() -> None:
    fake = ScriptedHarness(scripts=[["Running"] * 10])
    op = run_op(deferrable=True, timeout=3600, execution_timeout=timedelta(seconds=60))
    wire(op, fake)
    with pytest.raises(TaskDeferred) as info:
        op.execute(make_context(FakeTaskInstance()))
    assert info.value.trigger.deadline < time.time() + 61


@pytest.mark.parametrize(
    ("event", "expected_id", "message"),
    [
        (None, "e1", "expected a dict"),
        ({"status": "done", "execution_id": "e1"}, "e1", "status 'done'"),
        ({"status": "success"}, "e1", "execution_id None"),
        ({"status": "success", "execution_id": "e2"}, "e1", "it is for execution 'e2'"),
        ({"status": "success", "execution_id": "e1", "api_key": "x"}, "e1", "unknown keys"),
        ({"status": "failed", "execution_id": "e1", "message": 5}, "e1", "message must be a string"),
        ({"status": "success", "execution_id": "../e1"}, None, "execution_id"),
    ],
)
def test_execute_complete_validates_events_strictly(
    event: Any, expected_id: str | None, message: str
) -> None:
    fake = ScriptedHarness()
    op = run_op()
    wire(op, fake)
    with pytest.raises(HarnessExecutionError, match="Invalid trigger event"):
        op.execute_complete(make_context(FakeTaskInstance()), event=event, execution_id=expected_id)
    with pytest.raises(HarnessExecutionError, match=message.replace("(", r"\(")):
        validate_event(event, expected_id)
    assert fake.requests == []


def test_error_event_fails_without_aborting() -> None:
    fake = ScriptedHarness()
    op = run_op()
    wire(op, fake)
    event = {"status": "error", "execution_id": "e1", "message": "Polling failed: HTTP 503"}
    with pytest.raises(HarnessExecutionError, match="reattaches to it"):
        op.execute_complete(make_context(FakeTaskInstance()), event=event, execution_id="e1")
    assert fake.requests == []


# ---- retry and interrupt operators ----------------------------------------------------------------


def test_retry_operator_retries_failed_stages_and_waits() -> None:
    fake = ScriptedHarness(scripts=[["Running", "Success"]])
    parent = fake.add(["Failed"])
    op = HarnessRetryExecutionOperator(task_id="retry", execution_id=parent.id, poll_interval=0.01)
    wire(op, fake)
    new_id = op.execute(make_context(FakeTaskInstance(task_id="retry")))
    assert fake.executions[new_id].retry_of == parent.id
    retry = next(r for r in fake.requests if r.url.path == "/pipeline/api/pipeline/execute/retry/pipe")
    assert retry.url.params.get_list("retryStages") == ["deploy"]


def test_retry_operator_all_stages_and_explicit_list() -> None:
    fake = ScriptedHarness(scripts=[["Success"]])
    parent = fake.add(["Failed"])
    op = HarnessRetryExecutionOperator(task_id="r", execution_id=parent.id, pipeline_id="pipe", stages="all")
    wire(op, fake)
    op.execute(make_context(FakeTaskInstance(task_id="r")))
    retry = next(r for r in fake.requests if "/execute/retry/" in r.url.path)
    assert (
        retry.url.params.get_list("retryStages") == ["build"] and retry.url.params["runAllStages"] == "true"
    )
    other = fake.add(["Failed"])
    explicit = HarnessRetryExecutionOperator(
        task_id="r2", execution_id=other.id, pipeline_id="pipe", stages=["deploy"], run_all_stages=False
    )
    wire(explicit, fake)
    explicit.execute(make_context(FakeTaskInstance(task_id="r2")))
    last = [r for r in fake.requests if "/execute/retry/" in r.url.path][-1]
    assert (
        last.url.params.get_list("retryStages") == ["deploy"] and last.url.params["runAllStages"] == "false"
    )


def test_retry_operator_shows_harness_refusal() -> None:
    fake = ScriptedHarness()
    done = fake.add(["Success"])
    op = HarnessRetryExecutionOperator(task_id="r", execution_id=done.id, pipeline_id="pipe")
    wire(op, fake)
    with pytest.raises(
        HarnessExecutionError, match=f"Harness cannot retry execution {done.id}: This execution is"
    ):
        op.execute(make_context(FakeTaskInstance(task_id="r")))
    assert fake.starts() == 0


def test_interrupt_operator_abort_and_refusals() -> None:
    fake = ScriptedHarness()
    running = fake.add(["Running"])
    op = HarnessInterruptExecutionOperator(
        task_id="abort", execution_id=running.id, wait_for_completion=True, poll_interval=0.01
    )
    wire(op, fake)
    result = op.execute(make_context(FakeTaskInstance(task_id="abort")))
    assert result == {
        "interrupt_id": "int1",
        "interrupt_type": "AbortAll",
        "execution_id": running.id,
        "status": "Aborted",
    }
    again = HarnessInterruptExecutionOperator(task_id="abort2", execution_id=running.id)
    log = wire(again, fake)
    assert again.execute(make_context(FakeTaskInstance(task_id="abort2")))["interrupt_id"] is None
    assert f"Harness execution {running.id} is already Aborted" in log.text
    finished = HarnessInterruptExecutionOperator(task_id="abort3", execution_id=fake.add(["Success"]).id)
    wire(finished, fake)
    with pytest.raises(
        HarnessExecutionError,
        match=r"refused the AbortAll interrupt .*already finished with status: \[SUCCEEDED\]",
    ):
        finished.execute(make_context(FakeTaskInstance(task_id="abort3")))
    pause = HarnessInterruptExecutionOperator(
        task_id="pause", execution_id=fake.add(["Running"]).id, interrupt_type="Pause"
    )
    wire(pause, fake)
    with pytest.raises(
        HarnessExecutionError, match=r"refused the Pause interrupt .*must be one of \[ABORTALL\]"
    ):
        pause.execute(make_context(FakeTaskInstance(task_id="pause")))
    assert fake.requests[-1].url.params["interruptType"] == "Pause"  # passed through as given


def test_extra_link_reads_this_attempts_url(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.execution_time.xcom import XCom

    calls: list[dict[str, Any]] = []

    def get_value(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return "https://harness.test/ng/#/x"

    monkeypatch.setattr(XCom, "get_value", staticmethod(get_value))
    link = HarnessExecutionLink()
    resumed = run_op()
    resumed._execution_id = "exec9"  # resumed after deferral on another worker: the URL is in XCom
    assert link.get_link(resumed, ti_key="key-of-attempt-2") == "https://harness.test/ng/#/x"
    assert calls == [{"ti_key": "key-of-attempt-2", "key": "execution_url"}]


def test_extra_link_is_quiet_when_the_attempt_started_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A task that failed before starting an execution: no XCom lookup (Airflow logs its 404 as an error)."""
    from airflow.sdk.execution_time.xcom import XCom

    monkeypatch.setattr(XCom, "get_value", staticmethod(lambda **kw: pytest.fail(f"XCom lookup {kw}")))
    fake = ScriptedHarness()
    fake.inject("POST /pipeline/api/pipeline/execute/pipe", harness_error(403, "ACCESS_DENIED", "denied"))
    op = run_op()
    wire(op, fake)
    with pytest.raises(Exception, match="denied"):
        op.execute(make_context(FakeTaskInstance()))
    assert HarnessExecutionLink().get_link(op, ti_key="k") == ""
    started = run_op(wait_for_completion=False)
    wire(started, ScriptedHarness())
    started.execute(make_context(FakeTaskInstance()))
    assert HarnessExecutionLink().get_link(started, ti_key="k").endswith("/executions/exec1/pipeline")


# ---- sensors --------------------------------------------------------------------------------------


def test_execution_sensor_poke_paths() -> None:
    fake = ScriptedHarness()
    execution = fake.add(["Running", "Success"])
    sensor = HarnessExecutionSensor(task_id="s", execution_id=execution.id, deferrable=False)
    wire(sensor, fake)
    ctx = make_context(FakeTaskInstance(task_id="s"))
    assert sensor.poke(ctx) is False
    assert sensor.poke(ctx) is True
    assert ctx["ti"].xcom["execution_url"].endswith(f"/executions/{execution.id}/pipeline")
    fake.inject("GET /pipeline/api/pipelines/execution/v2/", httpx.Response(429, text="rate limited"))
    assert sensor.poke(ctx) is False
    failed = fake.add(["Failed"])
    failing = HarnessExecutionSensor(task_id="s2", execution_id=failed.id, deferrable=False)
    log = wire(failing, fake)
    with pytest.raises(HarnessExecutionError, match='ended Failed in stage "Deploy"'):
        failing.poke(ctx)
    assert "    error: rollout failed" in log.lines


@pytest.mark.parametrize("with_store", [True, False], ids=["state-store", "no-store"])
def test_reschedule_sensor_announces_once_and_logs_only_changes(with_store: bool) -> None:
    """Each reschedule poke is a new process (a fresh sensor instance) with XComs cleared."""
    fake = ScriptedHarness()
    execution = fake.add(["Running", "Running", "Running", "Success"])
    store = FakeStateStore() if with_store else None
    lines: list[str] = []
    for poke in range(4):
        sensor = HarnessExecutionSensor(
            task_id="s", execution_id=execution.id, deferrable=False, mode="reschedule"
        )
        log = wire(sensor, fake)
        ti = FakeTaskInstance(task_id="s")
        context = make_context(ti, store)
        context["task_reschedule_count"] = poke
        assert sensor.poke(context) is (poke == 3)
        assert ti.xcom["execution_url"].endswith(f"/executions/{execution.id}/pipeline")  # every poke
        lines += log.lines
    assert sum(line.startswith("Waiting for Harness execution") for line in lines) == 1
    if with_store:
        assert lines.count(f"Execution {execution.id} is Running") == 1
        assert lines.count('Stage 1/2 "Build" Running') == 1
    else:  # no memory across processes: one summary line per later poke, never the transition lines again
        assert lines.count(f"Execution {execution.id} is Running") == 1
        assert lines.count(f"Execution {execution.id} is Running (Build: Running, Deploy: NotStarted)") == 2
    assert f"Harness execution {execution.id} ended Success" in lines


async def test_execution_sensor_deferrable_through_trigger_and_timeout() -> None:
    fake = ScriptedHarness()
    execution = fake.add(["Running", "Running", "Success"])
    sensor = HarnessExecutionSensor(
        task_id="s", execution_id=execution.id, deferrable=True, poke_interval=0.01
    )
    wire(sensor, fake)
    with pytest.raises(TaskDeferred) as info:
        sensor.execute(make_context(FakeTaskInstance(task_id="s")))
    trigger = info.value.trigger
    assert trigger.cancel_on_kill is False  # a sensor never aborts what it watches
    wire_trigger(trigger, fake)
    (event,) = await run_trigger(trigger)
    assert sensor.execute_complete(make_context(FakeTaskInstance()), event=event, **info.value.kwargs) is None
    slow = fake.add(["Running"] * 1000)
    sensor2 = HarnessExecutionSensor(
        task_id="s2", execution_id=slow.id, deferrable=True, poke_interval=0.01, timeout=0.2
    )
    wire(sensor2, fake)
    with pytest.raises(TaskDeferred) as info2:
        sensor2.execute(make_context(FakeTaskInstance(task_id="s2")))
    wire_trigger(info2.value.trigger, fake)
    (event2,) = await run_trigger(info2.value.trigger)
    assert event2["status"] == "timeout"
    with pytest.raises(AirflowSensorTimeout):
        sensor2.execute_complete(make_context(FakeTaskInstance()), event=event2, **info2.value.kwargs)
    assert fake.count("PUT", "/pipeline/api/pipeline/execute/interrupt/") == 0


def test_pipeline_succeeded_sensor() -> None:
    fake = ScriptedHarness()
    old_success = fake.add(["Success"])
    after = (old_success.start_ts + 66_000) / 1000  # epoch seconds, after the old run ended
    sensor = HarnessPipelineSucceededSensor(task_id="w", pipeline_id="pipe", after=after)
    wire(sensor, fake)
    ctx = make_context(FakeTaskInstance(task_id="w"))
    assert sensor.poke(ctx) is False  # only an older success
    failed = fake.add(["Failed"])
    assert sensor.poke(ctx) is False  # the latest one since T failed: keep waiting
    strict = HarnessPipelineSucceededSensor(
        task_id="w2", pipeline_id="pipe", after=after, fail_on_failure=True
    )
    wire(strict, fake)
    with pytest.raises(HarnessExecutionError, match=f"{failed.id}, ended Failed"):
        strict.poke(ctx)
    newer = fake.add(["IgnoreFailed"])
    result = sensor.poke(ctx)
    assert result.is_done is True and result.xcom_value == newer.id
    bad = HarnessPipelineSucceededSensor(task_id="w3", pipeline_id="pipe", after="yesterday")
    wire(bad, fake)
    with pytest.raises(ValueError, match="after: 'yesterday' is not an ISO 8601"):
        bad.poke(ctx)
    iso = HarnessPipelineSucceededSensor(task_id="w4", pipeline_id="pipe", after="2000-01-01T00:00:00Z")
    wire(iso, fake)
    assert iso.poke(ctx).xcom_value == newer.id


def test_event_of_an_earlier_try_starts_this_try_afresh() -> None:
    """Airflow 3.0's dag.test() resumes a retry with the old try's event: the try runs execute instead."""
    op = run_op()
    calls: list[str] = []
    op.execute = lambda context: calls.append("execute") or "new_exec"  # type: ignore[method-assign]
    ti = FakeTaskInstance([])
    ti.try_number = 2
    stale = {"status": "failed", "execution_id": "old_exec", "message": "Failed", "try_number": 1}
    assert op.execute_complete(make_context(ti), event=stale) == "new_exec"
    assert calls == ["execute"]


def test_retry_adopts_an_execution_that_succeeded_after_the_earlier_try_lost_it() -> None:
    """A retry must not start the pipeline again when the earlier try's execution ended successfully."""
    fake = ScriptedHarness(scripts=[["Success"]])
    store = FakeStateStore()
    first = run_op(wait_for_completion=False)
    wire(first, fake)
    first.execute(make_context(FakeTaskInstance(), store))  # try 1 started it, then lost track
    second = run_op()
    log = wire(second, fake)
    ti = FakeTaskInstance(try_number=2)
    assert second.execute(make_context(ti, store)) == "exec1"
    assert fake.starts() == 1
    assert "Adopted the successful Harness execution exec1" in log.text
