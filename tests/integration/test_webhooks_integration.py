"""Firing custom webhook triggers against the offline Harness emulator (127.0.0.1, time-scaled).

The emulator queues each webhook event and processes it a moment later (harness-api.md §10), matching the
trigger's payload and header conditions, so "pending", "started" and "did not match" are Harness's own
answers here. Deferrable waits run the real ``HarnessExecutionTrigger``; "no second post" is checked by
counting the webhook requests the emulator received.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_provider_harness.operators.executions import HarnessExecutionError
from airflow_provider_harness.operators.resources import HarnessGetResourceOperator
from airflow_provider_harness.operators.webhooks import HarnessWebhookTriggerOperator
from airflow_provider_harness.triggers.executions import HarnessExecutionTrigger

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 3.0
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef]

pytestmark = pytest.mark.integration

HOLD_EVENTS = 10**9  # webhook_delay_seconds that keeps events queued until a test releases them

DEPLOY_STAGE = """\
    - stage:
        name: Deploy
        identifier: deploy
        type: Custom
        spec:
          execution:
            steps:
              - step:
                  name: Say
                  identifier: say
                  type: ShellScript
                  spec:
                    source:
                      type: Inline
                      spec:
                        script: "echo deploying <+pipeline.variables.branch>"
"""
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


def pipeline_yaml(pipeline_id: str, *, gated: bool = False) -> str:
    return (
        f"pipeline:\n  name: {pipeline_id}\n  identifier: {pipeline_id}\n"
        "  projectIdentifier: emulator_project\n  orgIdentifier: default\n"
        "  variables:\n    - name: branch\n      type: String\n      value: <+input>\n"
        "  stages:\n" + (APPROVAL_STAGE if gated else "") + DEPLOY_STAGE
    )


def trigger_yaml(trigger_id: str, pipeline_id: str, *, conditions: bool = True) -> str:
    if not conditions:
        return TRIGGER_WITHOUT_CONDITIONS.format(trigger_id=trigger_id, pipeline_id=pipeline_id)
    return f"""\
trigger:
  name: {trigger_id}
  identifier: {trigger_id}
  enabled: true
  orgIdentifier: default
  projectIdentifier: emulator_project
  pipelineIdentifier: {pipeline_id}
  source:
    type: Webhook
    spec:
      type: Custom
      spec:
        payloadConditions:
          - key: <+trigger.payload.branch>
            operator: Equals
            value: main
        headerConditions:
          - key: X-Release-Channel
            operator: Equals
            value: stable
  inputYaml: |
    pipeline:
      identifier: {pipeline_id}
      variables:
        - name: branch
          type: String
          value: <+trigger.payload.branch>
"""


TRIGGER_WITHOUT_CONDITIONS = """\
trigger:
  name: {trigger_id}
  identifier: {trigger_id}
  enabled: true
  orgIdentifier: default
  projectIdentifier: emulator_project
  pipelineIdentifier: {pipeline_id}
  source:
    type: Webhook
    spec:
      type: Custom
      spec:
        payloadConditions: []
        headerConditions: []
  inputYaml: |
    pipeline:
      identifier: {pipeline_id}
      variables:
        - name: branch
          type: String
          value: main
"""


class TaskInstance:
    def __init__(self, try_number: int = 1, max_tries: int = 0, task_id: str = "fire") -> None:
        self.dag_id = "integration_dag"
        self.run_id = "manual__2026-03-01T00:00:00+00:00"
        self.task_id = task_id
        self.map_index = -1
        self.try_number = try_number
        self.max_tries = max_tries
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


class DagRun:
    def __init__(self, started: datetime) -> None:
        self.run_after = self.queued_at = self.start_date = started


def context(
    ti: TaskInstance, store: StateStore | None = None, started: datetime | None = None
) -> dict[str, Any]:
    ctx: dict[str, Any] = {"ti": ti, "task_instance": ti, "dag_run": DagRun(started or datetime.now(UTC))}
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
    logger = logging.getLogger(f"test.integration.webhooks.{id(obj)}")
    logger.handlers, logger.propagate = [recorder], False
    logger.setLevel(logging.DEBUG)
    obj._log = obj._cached_logger = logger
    return recorder


@pytest.fixture
def harness(harness_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The emulator behind ``harness_default`` (no transport retries), with pipeline ``hooked`` and its
    custom webhook trigger ``on_push`` (payload ``branch == main``, header ``X-Release-Channel ==
    stable``)."""
    conn = harness_emulator.connection_dict()
    conn["extra"]["max_retries"] = 0
    monkeypatch.setenv("AIRFLOW_CONN_HARNESS_DEFAULT", json.dumps(conn))
    harness_emulator.create_pipeline(pipeline_yaml("hooked"))
    create_trigger(harness_emulator, "on_push", "hooked")
    return harness_emulator


def create_trigger(harness: Any, trigger_id: str, pipeline_id: str, *, conditions: bool = True) -> None:
    """Create a custom webhook trigger of ``pipeline_id`` in the emulator."""
    text = trigger_yaml(trigger_id, pipeline_id, conditions=conditions)
    status, body = harness.request(
        "POST", "/pipeline/api/triggers", params={"targetIdentifier": pipeline_id}, body=text
    )
    assert status == 200, body


def token_of(harness: Any, trigger_id: str = "on_push", pipeline_id: str = "hooked") -> str:
    status, body = harness.request(
        "GET", f"/pipeline/api/triggers/{trigger_id}/details", params={"targetIdentifier": pipeline_id}
    )
    assert status == 200, body
    return str(body["data"]["webhookUrl"].split("/webhook/custom/", 1)[1].split("/v3", 1)[0])


def webhook_posts(harness: Any) -> int:
    return harness.request_count("/gateway/pipeline/api/webhook/custom", "POST") + harness.request_count(
        "/pipeline/api/webhook/custom", "POST"
    )


def fire_op(**kwargs: Any) -> HarnessWebhookTriggerOperator:
    kwargs.setdefault("task_id", "fire")
    kwargs.setdefault("trigger_id", "on_push")
    kwargs.setdefault("pipeline_id", "hooked")
    kwargs.setdefault("payload", {"branch": "main"})
    kwargs.setdefault("headers", {"X-Release-Channel": "stable"})
    kwargs.setdefault("poll_interval", 0.02)
    kwargs.setdefault("deferrable", False)
    return HarnessWebhookTriggerOperator(**kwargs)


def wait_until(condition: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


# ---- one try ------------------------------------------------------------------------------------------


def test_sync_fire_follows_the_event_into_the_execution(harness: Any) -> None:
    token = token_of(harness)
    op = fire_op(notes="fired by Airflow")
    log = recorded(op)
    ti = TaskInstance()
    execution_id = op.execute(context(ti))
    summary = harness.execution(execution_id)
    assert summary["status"] == "Success"
    trigger_info = summary["executionTriggerInfo"]
    assert (
        trigger_info["triggerType"] == "WEBHOOK_CUSTOM"
        and trigger_info["triggeredBy"]["identifier"] == "on_push"
    )
    assert trigger_info["triggeredBy"]["extraInfo"]["eventCorrelationId"] == ti.xcom["webhook_event_id"]
    assert ti.xcom["execution_id"] == execution_id
    assert ti.xcom["execution_url"].endswith(f"/pipelines/hooked/executions/{execution_id}/pipeline")
    assert webhook_posts(harness) == 1 and harness.execution_count("hooked") == 1
    assert f"Started Harness execution {execution_id} of pipeline hooked (try 1)" in log.text
    assert log.lines[-1].startswith(f"Harness execution {execution_id} ended Success in ")
    _, notes = harness.request("GET", f"/pipeline/api/pipelines/execution/{execution_id}/notes")
    assert notes["data"]["notes"] == (
        "fired by Airflow\nairflow:integration_dag/manual__2026-03-01T00:00:00+00:00/fire/-1 try=1"
    )
    assert token not in log.text + json.dumps(ti.xcom) + repr(op)
    assert harness.api_key not in log.text


async def test_deferrable_wait_runs_the_real_execution_trigger(harness: Any) -> None:
    harness.create_pipeline(pipeline_yaml("gated", gated=True))  # held by its approval: surely deferred
    create_trigger(harness, "on_gate", "gated")
    token = token_of(harness, "on_gate", "gated")
    op = fire_op(trigger_id="on_gate", pipeline_id="gated", deferrable=True)
    ti = TaskInstance()
    with pytest.raises(TaskDeferred) as info:
        await asyncio.to_thread(op.execute, context(ti))
    _, kwargs = info.value.trigger.serialize()
    for text in (json.dumps(kwargs), json.dumps(info.value.kwargs), json.dumps(ti.xcom)):
        assert token not in text and harness.api_key not in text
    trigger = HarnessExecutionTrigger(**json.loads(json.dumps(kwargs)))  # as the triggerer rebuilds it
    task = asyncio.ensure_future(_one_event(trigger))
    execution_id = kwargs["execution_id"]
    await asyncio.to_thread(harness.wait_for_status, execution_id, frozenset({"ApprovalWaiting"}))
    await asyncio.to_thread(harness.approve, execution_id, "gate")
    event = await asyncio.wait_for(task, 60)
    assert event["status"] == "success"
    assert op.execute_complete(context(ti), event=event, **info.value.kwargs) == execution_id
    assert webhook_posts(harness) == 1 and harness.execution_count("gated") == 1


async def _one_event(trigger: HarnessExecutionTrigger) -> dict[str, Any]:
    events = [event.payload async for event in trigger.run()]
    assert len(events) == 1
    return events[0]


@pytest.mark.parametrize(
    ("payload", "headers", "outcome", "message"),
    [
        (
            {"branch": "feature"},
            {"X-Release-Channel": "stable"},
            "NO_MATCHING_TRIGGER_FOR_PAYLOAD_CONDITIONS",
            "No trigger matched the payload conditions",
        ),
        (
            {"branch": "main"},
            {"X-Release-Channel": "beta"},
            "NO_MATCHING_TRIGGER_FOR_HEADER_CONDITIONS",
            "No trigger matched the header conditions",
        ),
    ],
)
def test_conditions_that_do_not_match_are_one_clear_failure(
    harness: Any, payload: dict[str, str], headers: dict[str, str], outcome: str, message: str
) -> None:
    op = fire_op(payload=payload, headers=headers)
    ti = TaskInstance()
    with pytest.raises(HarnessExecutionError) as info:
        op.execute(context(ti))
    event_id = ti.xcom["webhook_event_id"]
    assert str(info.value) == (
        f"Webhook event {event_id} started no pipeline execution: {outcome} (the trigger's conditions "
        f"did not match the event): {message} (trigger 'on_push' of pipeline 'hooked')"
    )
    assert harness.execution_count("hooked") == 0 and webhook_posts(harness) == 1


def test_tokenless_trigger_is_fired_through_its_v2_url(harness: Any) -> None:
    url = harness.admin("DELETE", "triggers/on_push/token?pipeline=hooked")["webhookUrl"]
    assert "/webhook/custom/v2?" in url
    op = fire_op(wait_for_completion=False)
    log = recorded(op)
    execution_id = op.execute(context(TaskInstance()))
    assert harness.request_count("/gateway/pipeline/api/webhook/custom/v2", "POST") == 1
    assert "Posting to the v2 webhook of trigger on_push" in log.text
    assert harness.execution(execution_id)["executionTriggerInfo"]["triggerType"] == "WEBHOOK_CUSTOM"


def test_reading_the_trigger_gives_its_webhook_url_redacted(harness: Any) -> None:
    token = token_of(harness)
    op = HarnessGetResourceOperator(
        task_id="read", kind="trigger", identifier="on_push", pipeline_id="hooked"
    )
    result = op.execute({})
    assert result["trigger"]["identifier"] == "on_push"
    assert result["webhook_url"].startswith(f"{harness.base_url}/gateway/pipeline/api/webhook/custom/***/v3?")
    assert result["webhook"]["version"] == "v3" and result["webhook"]["trigger_id"] == "on_push"
    assert token not in json.dumps(result)


# ---- retries and lost answers ---------------------------------------------------------------------------


@pytest.mark.parametrize("with_state_store", [True, False], ids=["task-state-store", "airflow-3.0-3.2"])
def test_retry_after_the_post_follows_the_existing_event(harness: Any, with_state_store: bool) -> None:
    """Try 1 posts, then gives up while Harness still holds the event; the retry must not post again."""
    harness.set_settings(webhook_delay_seconds=HOLD_EVENTS)
    store = StateStore() if with_state_store else None
    round_started = datetime.now(UTC) - timedelta(seconds=1)
    first = fire_op(event_timeout=0.3, retries=1)
    with pytest.raises(HarnessExecutionError, match="had not processed webhook event"):
        first.execute(context(TaskInstance(max_tries=1), store, round_started))
    assert webhook_posts(harness) == 1 and harness.execution_count("hooked") == 0
    harness.set_settings(webhook_delay_seconds=0)  # Harness gets to the event
    if not with_state_store:
        # Without the store the retry can only find what the event started once Harness processed it
        # (a still-queued event is invisible: see docs/events.md).
        wait_until(lambda: harness.execution_count("hooked") == 1, "the held event to start the pipeline")
    retry = fire_op(retries=1)
    log = recorded(retry)
    execution_id = retry.execute(context(TaskInstance(try_number=2, max_tries=1), store, round_started))
    assert webhook_posts(harness) == 1, "the retry posted the webhook again"
    assert harness.execution_count("hooked") == 1
    assert harness.execution(execution_id)["status"] == "Success"
    if with_state_store:
        assert (
            "Try 1 posted webhook event" in log.text and "following it instead of posting again" in log.text
        )
    else:
        assert f"Found execution {execution_id} that trigger on_push started since" in log.text


def test_retry_after_the_execution_started_reattaches_by_marker(harness: Any) -> None:
    harness.create_pipeline(pipeline_yaml("gated", gated=True))
    create_trigger(harness, "on_gate", "gated")
    first = fire_op(trigger_id="on_gate", pipeline_id="gated", timeout=0.3, cancel_on_kill=False, retries=1)
    with pytest.raises(HarnessExecutionError, match="left running"):
        first.execute(context(TaskInstance(max_tries=1)))
    held = first._execution_id
    assert held is not None
    retry = fire_op(trigger_id="on_gate", pipeline_id="gated", retries=1, wait_for_completion=False)
    log = recorded(retry)
    assert retry.execute(context(TaskInstance(try_number=2, max_tries=1))) == held
    assert "by its marker" in log.text and "Reattached to running Harness execution" in log.text
    assert webhook_posts(harness) == 1 and harness.execution_count("gated") == 1


def test_lost_answer_is_never_resent_and_the_execution_is_found(
    harness: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = harness.connection_dict()
    conn["extra"].update(max_retries=3, timeout=0.3)
    monkeypatch.setenv("AIRFLOW_CONN_HARNESS_DEFAULT", json.dumps(conn))
    # The emulator reads a body after the latency fault's delay and gets nothing once the client hung
    # up; Harness would have the whole payload. So this trigger has no payload conditions.
    create_trigger(harness, "any", "hooked", conditions=False)
    token = token_of(harness, "any")
    harness.inject_fault(
        "latency", delay_ms=800, path_prefix="/gateway/pipeline/api/webhook/custom", method="POST"
    )
    op = fire_op(trigger_id="any")
    op.marker_search_delays = (0.3,) * 4 + (1.0,) * 20  # stops as soon as it finds the execution
    log = recorded(op)
    execution_id = op.execute(context(TaskInstance(), StateStore()))
    assert webhook_posts(harness) == 1, "a post whose answer was lost must not be sent again"
    assert "not posting again" in log.text and "The webhook was delivered after all" in log.text
    assert harness.execution(execution_id)["status"] == "Success"
    assert token not in log.text
