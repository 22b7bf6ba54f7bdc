"""``HarnessWebhookTriggerOperator`` (and the trigger read of ``HarnessGetResourceOperator``) on a scripted
fake Harness: validation before any request, outcome mapping, one post per attempt across retries (with
and without the task state store), clear semantics, the token kept out of errors, XCom, logs and kwargs."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from test_executions_fakes import FakeStateStore, FakeTaskInstance, make_context
from test_webhooks_fakes import API_KEY, TOKEN, WebhookHarness, harness_error, make_config, webhook_url

from airflow_provider_harness.hooks.harness import HarnessHook
from airflow_provider_harness.operators import webhooks as webhook_ops
from airflow_provider_harness.operators.executions import HarnessExecutionError
from airflow_provider_harness.operators.resources import (
    HarnessGetResourceOperator,
    HarnessListResourcesOperator,
)
from airflow_provider_harness.operators.webhooks import HarnessWebhookTriggerOperator
from airflow_provider_harness.triggers.executions import HarnessExecutionTrigger

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 3.0
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef]


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def wire(op: Any, fake: WebhookHarness) -> Recorder:
    """Give ``op`` a hook whose client talks to ``fake``; its log goes to the returned recorder."""
    hook = HarnessHook(op.harness_conn_id, org_id=op.org_id, project_id=op.project_id)
    hook.__dict__["config"] = make_config()
    hook._client = fake.client()
    op.__dict__["hook"] = hook
    recorder = Recorder()
    logger = logging.getLogger(f"test.webhooks.{id(op)}")
    logger.handlers, logger.propagate = [recorder], False
    logger.setLevel(logging.DEBUG)
    op._log = op._cached_logger = logger
    return recorder


@pytest.fixture
def masked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the operators hand to Airflow's secret masker."""
    seen: list[str] = []
    monkeypatch.setattr(webhook_ops, "mask_secret", seen.append)
    from airflow_provider_harness.operators import resources as resource_ops

    monkeypatch.setattr(resource_ops, "mask_secret", seen.append)
    return seen


def fire_op(**kwargs: Any) -> HarnessWebhookTriggerOperator:
    kwargs.setdefault("task_id", "fire")
    kwargs.setdefault("trigger_id", "on_push")
    kwargs.setdefault("pipeline_id", "deploy")
    kwargs.setdefault("payload", {"branch": "main"})
    kwargs.setdefault("poll_interval", 0.001)
    kwargs.setdefault("deferrable", False)
    return HarnessWebhookTriggerOperator(**kwargs)


class DagRun:
    """What the 3.0-3.2 search reads from ``context["dag_run"]``."""

    def __init__(self, started: datetime) -> None:
        self.run_after = self.queued_at = self.start_date = started


def ctx(ti: FakeTaskInstance, store: FakeStateStore | None = None, started: datetime | None = None) -> dict:
    context = make_context(ti, store)
    context["dag_run"] = DagRun(started or datetime(2000, 1, 1, tzinfo=UTC))
    return context


def no_token_anywhere(*texts: Any) -> None:
    for text in texts:
        assert TOKEN not in (text if isinstance(text, str) else json.dumps(text, default=str))


# ---- before any request ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"payload": '{"branch": main}'}, "payload: not valid JSON at line 1, column 12"),
        ({"payload": "plain words"}, "payload: expected a JSON object or array"),
        ({"headers": {"X-Api-Key": API_KEY}}, "headers: do not put X-Api-Key in headers"),
        ({"headers": {"bad header": "1"}}, "headers: 'bad header' is not a valid HTTP header name"),
        ({"trigger_id": "on-push"}, "trigger_id"),
        ({"pipeline_id": "1deploy"}, "pipeline_id"),
        ({"send_api_key": "yes"}, "send_api_key: expected True or False"),
        ({"event_timeout": 0}, "event_timeout: must be a positive number of seconds"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"org_id": "bad org"}, "org_id"),
    ],
)
def test_bad_input_fails_before_any_request(kwargs: dict[str, Any], message: str) -> None:
    fake = WebhookHarness()
    op = fire_op(**kwargs)
    wire(op, fake)
    with pytest.raises(ValueError, match=message) as info:
        op.execute(ctx(FakeTaskInstance()))
    assert fake.requests == []
    assert API_KEY not in str(info.value)


def test_templates_and_cheap_construction() -> None:
    op = fire_op(payload="{{ params.payload }}", headers="{{ params.headers }}")
    for name in ("trigger_id", "pipeline_id", "payload", "headers", "notes", "org_id", "project_id"):
        assert name in op.template_fields
    assert op.payload == "{{ params.payload }}" and "hook" not in op.__dict__
    assert op.operator_extra_links[0].name == "Harness execution"


@pytest.mark.parametrize(
    ("change", "message"),
    [({"enabled": False}, "is disabled in Harness"), ({"trigger_type": "Scheduled"}, "has no webhook URL")],
)
def test_trigger_that_cannot_be_fired_fails_before_posting(change: dict[str, Any], message: str) -> None:
    fake = WebhookHarness(**change)
    op = fire_op()
    wire(op, fake)
    with pytest.raises(ValueError, match=message):
        op.execute(ctx(FakeTaskInstance()))
    assert fake.posts() == []


# ---- one try: started, pending, did not start --------------------------------------------------------------


def test_fire_waits_for_the_event_then_the_execution(masked: list[str]) -> None:
    fake = WebhookHarness(pending_reads=2)
    op = fire_op(headers={"X-Release": "stable"}, notes="release 1.2")
    log = wire(op, fake)
    ti = FakeTaskInstance()
    execution_id = op.execute(ctx(ti))
    (post,) = fake.posts()
    assert post.read() == b'{"branch": "main"}' and post.headers["X-Release"] == "stable"
    assert "x-api-key" not in post.headers, "no API key unless send_api_key"
    (event,) = fake.events.values()
    assert ti.xcom["webhook_event_id"] == event.id and event.execution_id == execution_id
    assert ti.xcom["execution_id"] == execution_id
    assert ti.xcom["execution_url"].endswith(f"/pipelines/deploy/executions/{execution_id}/pipeline")
    assert masked == [TOKEN]
    lines = log.lines
    assert f"Posting to the v3 webhook of trigger on_push (pipeline deploy): {webhook_url('***')}" in lines
    assert f"Harness queued webhook event {event.id} of trigger on_push (pipeline deploy, try 1)" in lines
    assert sum("is queued in Harness; waiting for it to be processed" in line for line in lines) == 1
    assert f"Webhook event {event.id} started execution {execution_id} (TARGET_EXECUTION_REQUESTED)" in lines
    assert any(
        line.startswith(f"Started Harness execution {execution_id} of pipeline deploy (try 1): ")
        for line in lines
    )
    assert lines[-1].startswith(f"Harness execution {execution_id} ended Success")
    notes = fake.executions[execution_id].notes
    assert notes == "release 1.2\nairflow:harness_dag/manual__2026-01-01T00:00:00+00:00/run/-1 try=1"
    no_token_anywhere(log.text, ti.xcom, repr(op))


def test_send_api_key_sends_the_connection_key() -> None:
    fake = WebhookHarness()
    op = fire_op(send_api_key=True, wait_for_completion=False)
    wire(op, fake)
    op.execute(ctx(FakeTaskInstance()))
    assert fake.posts()[0].headers["x-api-key"] == API_KEY


def test_mandated_authorization_refusal_says_send_api_key() -> None:
    fake = WebhookHarness()
    message = (
        "Invalid request: Authorization is mandatory for custom triggers in acc:default:proj. "
        "Please add X-Api-Key header in the request"
    )
    fake.inject("POST /gateway/pipeline/api/webhook/custom/", harness_error(400, "INVALID_REQUEST", message))
    op = fire_op()
    wire(op, fake)
    with pytest.raises(HarnessExecutionError, match="set send_api_key=True") as info:
        op.execute(ctx(FakeTaskInstance()))
    no_token_anywhere(str(info.value))
    assert fake.count("GET", "/pipeline/api/webhook/triggerExecutionDetails/") == 0


@pytest.mark.parametrize(
    "outcome",
    [
        "TRIGGER_DID_NOT_MATCH_METADATA_CONDITION",
        "NO_MATCHING_TRIGGER_FOR_PAYLOAD_CONDITIONS",
        "INVALID_RUNTIME_INPUT_YAML",
        "NO_ENABLED_CUSTOM_TRIGGER_FOUND",
        "EXCEPTION_WHILE_PROCESSING",
    ],
)
def test_event_that_started_nothing_is_one_clear_failure(outcome: str) -> None:
    fake = WebhookHarness(outcome=outcome, outcome_message="Harness's own words", pending_reads=1)
    op = fire_op()
    log = wire(op, fake)
    with pytest.raises(HarnessExecutionError) as info:
        op.execute(ctx(FakeTaskInstance()))
    text = str(info.value)
    (event,) = fake.events.values()
    assert text.startswith(f"Webhook event {event.id} started no pipeline execution: {outcome} (")
    assert text.endswith(": Harness's own words (trigger 'on_push' of pipeline 'deploy')")
    assert fake.executions == {} and len(fake.posts()) == 1
    no_token_anywhere(text, log.text)


def test_unrecognized_webhook_is_a_failure() -> None:
    fake = WebhookHarness()
    fake.inject(
        "POST /gateway/pipeline/api/webhook/custom/",
        httpx.Response(
            200, json={"status": "SUCCESS", "data": {"eventCorrelationId": "UNRECOGNIZED_WEBHOOK"}}
        ),
    )
    op = fire_op()
    wire(op, fake)
    with pytest.raises(HarnessExecutionError, match="UNRECOGNIZED_WEBHOOK, so nothing was started"):
        op.execute(ctx(FakeTaskInstance()))
    assert fake.count("GET", "/pipeline/api/webhook/triggerExecutionDetails/") == 0


def test_event_still_queued_after_event_timeout_fails_and_says_a_retry_follows_it() -> None:
    fake = WebhookHarness(pending_reads=10**6)
    op = fire_op(event_timeout=0.05)
    wire(op, fake)
    with pytest.raises(HarnessExecutionError, match=r"had not processed webhook event .* follows this event"):
        op.execute(ctx(FakeTaskInstance()))
    assert len(fake.posts()) == 1


def test_transient_errors_while_reading_the_event_do_not_fail() -> None:
    fake = WebhookHarness()
    fake.inject(
        "GET /pipeline/api/webhook/triggerExecutionDetails/",
        httpx.Response(503, text="busy"),
        httpx.Response(429, text="slow down"),
    )
    op = fire_op(wait_for_completion=False)
    log = wire(op, fake)
    assert op.execute(ctx(FakeTaskInstance())) in fake.executions
    assert sum("Transient error reading webhook event" in line for line in log.lines) == 2


def test_refusal_and_lost_answer_errors_never_show_the_token() -> None:
    fake = WebhookHarness()
    fake.inject(
        "POST /gateway/pipeline/api/webhook/custom/",
        harness_error(400, "INVALID_REQUEST", f"Invalid request: no trigger for {webhook_url()}"),
    )
    op = fire_op()
    log = wire(op, fake)
    with pytest.raises(HarnessExecutionError) as refused:
        op.execute(ctx(FakeTaskInstance()))
    assert "Harness refused the webhook of trigger 'on_push'" in str(refused.value)
    no_token_anywhere(str(refused.value), log.text)


# ---- the post's answer is lost -----------------------------------------------------------------------------


def test_lost_answer_is_not_resent_and_the_execution_is_found_by_its_trigger() -> None:
    fake = WebhookHarness(lose_answers=1)  # Harness queued and processed the event; the answer got lost
    op = fire_op(wait_for_completion=False)
    op.marker_search_delays = (0.0,)
    log = wire(op, fake)
    store = FakeStateStore()
    execution_id = op.execute(ctx(FakeTaskInstance(), store))
    assert len(fake.posts()) == 1
    assert execution_id == next(iter(fake.executions))
    assert "not posting again" in log.text and "The webhook was delivered after all" in log.text
    assert store.values["harness_webhook_event"]["execution_id"] == execution_id
    no_token_anywhere(log.text)


def test_lost_answer_without_an_execution_fails_and_the_retry_searches_before_posting() -> None:
    fake = WebhookHarness()
    fake.inject("POST /gateway/pipeline/api/webhook/custom/", httpx.Response(504, text="timeout"))
    store = FakeStateStore()
    op = fire_op(retries=1)
    op.marker_search_delays = (0.0,)
    wire(op, fake)
    with pytest.raises(HarnessExecutionError, match="was not sent again to avoid a duplicate run") as info:
        op.execute(ctx(FakeTaskInstance(max_tries=1), store))
    no_token_anywhere(str(info.value))
    record = store.values["harness_webhook_event"]
    assert record["event_id"] is None and record["outcome"] is None and record["posted_at_ms"]
    # Harness did queue it after all: the retry finds the execution by its trigger, and posts nothing.
    late = fake.add_execution(["Running", "Success"], trigger="on_push", event_id="e-late")
    retry = fire_op(retries=1)
    log = wire(retry, fake)
    assert retry.execute(ctx(FakeTaskInstance(try_number=2, max_tries=1), store)) == late.id
    assert len(fake.posts()) == 1
    assert "its answer was lost" in log.text and "Reattached to running Harness execution" in log.text


# ---- retries follow what the earlier try started -----------------------------------------------------------


def test_retry_follows_the_earlier_tries_event_with_the_state_store() -> None:
    fake = WebhookHarness(pending_reads=10**6)
    store = FakeStateStore()
    first = fire_op(event_timeout=0.02, retries=2)
    wire(first, fake)
    with pytest.raises(HarnessExecutionError, match="had not processed"):
        first.execute(ctx(FakeTaskInstance(max_tries=2), store))
    (event,) = fake.events.values()
    assert store.values["harness_webhook_event"]["event_id"] == event.id
    fake.release()
    retry = fire_op(retries=2, event_timeout=5)
    log = wire(retry, fake)
    ti = FakeTaskInstance(try_number=2, max_tries=2)
    execution_id = retry.execute(ctx(ti, store))
    assert len(fake.posts()) == 1 and len(fake.executions) == 1
    assert f"Try 1 posted webhook event {event.id}; following it instead of posting again" in log.lines
    assert any(
        line.startswith(f"Reattached to running Harness execution {execution_id}") for line in log.lines
    )
    assert fake.executions[execution_id].status == "Success"


def test_retry_after_the_execution_started_reattaches_by_marker_without_a_store() -> None:
    fake = WebhookHarness(execution_script=["Running"])
    first = fire_op(timeout=0.02, cancel_on_kill=False, retries=1)
    wire(first, fake)
    with pytest.raises(HarnessExecutionError, match="left running"):
        first.execute(ctx(FakeTaskInstance(max_tries=1)))
    (running,) = fake.executions.values()
    running.script, running.index = ["Running", "Success"], 0
    retry = fire_op(retries=1)
    log = wire(retry, fake)
    execution_id = retry.execute(ctx(FakeTaskInstance(try_number=2, max_tries=1)))
    assert len(fake.posts()) == 1 and list(fake.executions) == [execution_id]
    assert "by its marker" in log.text and "Reattached to running" in log.text


def test_retry_without_a_store_finds_the_unmarked_execution_of_its_trigger() -> None:
    """Try 1 died before it could mark the execution (e.g. while the event was still queued)."""
    fake = WebhookHarness()
    started = datetime.now(UTC)
    earlier = fake.add_execution(["Running", "Success"], trigger="on_push", event_id="e1")
    retry = fire_op(retries=1)
    log = wire(retry, fake)
    assert retry.execute(ctx(FakeTaskInstance(try_number=2, max_tries=1), started=started)) == earlier.id
    assert fake.posts() == []
    assert f"Found execution {earlier.id} that trigger on_push started since" in log.text
    assert "airflow:harness_dag/" in earlier.notes, "marked now, so a later retry finds it by marker"


def test_retry_without_a_store_skips_executions_other_airflow_tasks_own() -> None:
    fake = WebhookHarness()
    fake.add_execution(["Running"], trigger="on_push", event_id="e1", notes="airflow:other_dag/r/t/-1 try=1")
    retry = fire_op(retries=1, wait_for_completion=False)
    wire(retry, fake)
    retry.execute(ctx(FakeTaskInstance(try_number=2, max_tries=1), started=datetime.now(UTC)))
    assert len(fake.posts()) == 1


def test_retry_without_a_store_refuses_to_guess_between_two_executions() -> None:
    fake = WebhookHarness()
    fake.add_execution(["Running"], trigger="on_push", event_id="e1")
    fake.add_execution(["Running"], trigger="on_push", event_id="e2")
    retry = fire_op(retries=1)
    wire(retry, fake)
    with pytest.raises(
        HarnessExecutionError, match=r"started 2 executions of 'deploy' since .* Clear the task"
    ):
        retry.execute(ctx(FakeTaskInstance(try_number=2, max_tries=1), started=datetime.now(UTC)))
    assert fake.posts() == []


def test_retry_after_an_event_that_started_nothing_posts_again() -> None:
    fake = WebhookHarness(outcome="NO_MATCHING_TRIGGER_FOR_PAYLOAD_CONDITIONS")
    store = FakeStateStore()
    first = fire_op(retries=1)
    wire(first, fake)
    with pytest.raises(HarnessExecutionError, match="NO_MATCHING_TRIGGER_FOR_PAYLOAD_CONDITIONS"):
        first.execute(ctx(FakeTaskInstance(max_tries=1), store))
    assert store.values["harness_webhook_event"]["outcome"] == "NO_MATCHING_TRIGGER_FOR_PAYLOAD_CONDITIONS"
    fake.outcome = "TARGET_EXECUTION_REQUESTED"
    retry = fire_op(retries=1, wait_for_completion=False)
    wire(retry, fake)
    retry.execute(ctx(FakeTaskInstance(try_number=2, max_tries=1), store))
    assert len(fake.posts()) == 2


def test_retry_with_a_store_and_no_record_of_this_round_posts_without_searching() -> None:
    fake = WebhookHarness()
    fake.add_execution(["Running"], trigger="on_push", event_id="someone-elses")
    retry = fire_op(retries=1, wait_for_completion=False)
    wire(retry, fake)
    retry.execute(
        ctx(FakeTaskInstance(try_number=2, max_tries=1), FakeStateStore(), started=datetime.now(UTC))
    )
    assert len(fake.posts()) == 1
    assert fake.count("POST", "/pipeline/api/pipelines/execution/summary") == 0


# ---- clear -------------------------------------------------------------------------------------------------


def test_a_clear_posts_again() -> None:
    fake = WebhookHarness()
    store = FakeStateStore()
    first = fire_op(retries=1)
    wire(first, fake)
    first_id = first.execute(ctx(FakeTaskInstance(max_tries=1), store))
    cleared = fire_op(retries=1)
    log = wire(cleared, fake)
    # Airflow's clear: max_tries = try_number + retries, so try 2 is the first try of a new round.
    second_id = cleared.execute(ctx(FakeTaskInstance(try_number=2, max_tries=2), store))
    assert len(fake.posts()) == 2 and first_id != second_id
    assert "Try 2 follows a clear of this task" in log.text


def test_a_clear_while_the_execution_runs_aborts_it_then_posts_again() -> None:
    fake = WebhookHarness(execution_script=["Running"])
    store = FakeStateStore()
    first = fire_op(wait_for_completion=False, retries=1)
    wire(first, fake)
    running = first.execute(ctx(FakeTaskInstance(max_tries=1), store))
    fake.execution_script = ["Running", "Success"]
    cleared = fire_op(retries=1)
    log = wire(cleared, fake)
    cleared.execute(ctx(FakeTaskInstance(try_number=2, max_tries=2), store))
    assert fake.executions[running].status == "Aborted"
    assert "because the task was cleared while it ran" in log.text
    assert len(fake.posts()) == 2


# ---- deferrable --------------------------------------------------------------------------------------------


async def test_deferrable_wait_uses_the_execution_trigger_and_its_kwargs_hold_no_secret() -> None:
    fake = WebhookHarness(execution_script=["Running", "Running", "Success"])
    op = fire_op(deferrable=True)
    wire(op, fake)
    ti = FakeTaskInstance()
    with pytest.raises(TaskDeferred) as info:
        op.execute(ctx(ti))
    trigger = info.value.trigger
    assert isinstance(trigger, HarnessExecutionTrigger)
    _, kwargs = trigger.serialize()
    no_token_anywhere(kwargs, info.value.kwargs, ti.xcom)
    assert API_KEY not in json.dumps(kwargs)
    assert kwargs["execution_id"] == ti.xcom["execution_id"]

    async def client_and_scope() -> Any:
        client = fake.async_client()
        return client, client.config.scope_params("project")

    trigger._get_client = client_and_scope  # type: ignore[method-assign]
    events = [event.payload async for event in trigger.run()]
    assert events[0]["status"] == "success"
    assert op.execute_complete(ctx(ti), event=events[0], **info.value.kwargs) == kwargs["execution_id"]
    assert len(fake.posts()) == 1


# ---- reading a trigger -------------------------------------------------------------------------------------


def test_get_resource_operator_reads_a_triggers_webhook_url_redacted(masked: list[str]) -> None:
    fake = WebhookHarness()
    op = HarnessGetResourceOperator(
        task_id="read", kind="trigger", identifier="on_push", pipeline_id="deploy"
    )
    wire(op, fake)
    result = op.execute({})
    assert fake.requests[0].url.path == "/pipeline/api/triggers/on_push/details"
    assert result["trigger"]["identifier"] == "on_push"
    assert result["webhook_url"] == webhook_url("***")
    assert result["webhook"]["version"] == "v3" and result["webhook"]["token_in_url"] is True
    assert masked == [TOKEN]
    no_token_anywhere(result)


def test_get_resource_operator_on_a_trigger_without_a_webhook() -> None:
    fake = WebhookHarness(trigger_type="Scheduled")
    op = HarnessGetResourceOperator(
        task_id="read", kind="trigger", identifier="on_push", pipeline_id="deploy"
    )
    wire(op, fake)
    result = op.execute({})
    assert result["webhook_url"] is None and result["webhook"] is None


def test_list_operator_returns_triggers_with_redacted_urls() -> None:
    url = webhook_url()
    items = [{"identifier": "on_push", "webhookUrl": url, "webhookCurlCommand": f"curl --url '{url}'"}]
    fake = WebhookHarness()
    fake.inject(
        "GET /pipeline/api/triggers",
        httpx.Response(200, json={"status": "SUCCESS", "data": {"content": items, "totalPages": 1}}),
    )
    op = HarnessListResourcesOperator(task_id="ls", kind="trigger", pipeline_id="deploy")
    wire(op, fake)
    (listed,) = op.execute({})
    assert listed["webhookUrl"] == webhook_url("***")
    no_token_anywhere(listed)


def test_retry_that_cannot_check_harness_posts_nothing() -> None:
    fake = WebhookHarness()
    fake.inject("POST /pipeline/api/pipelines/execution/summary", harness_error(500, "UNKNOWN_ERROR", "Oops"))
    retry = fire_op(retries=1)
    wire(retry, fake)
    with pytest.raises(HarnessExecutionError, match=r"Could not check whether an earlier try .* not posting"):
        retry.execute(ctx(FakeTaskInstance(try_number=2, max_tries=1)))
    assert fake.posts() == []


def test_cheap_import_at_dag_parse_time() -> None:
    import subprocess
    import sys

    modules = (
        "airflow_provider_harness.client.transport",
        "airflow_provider_harness.client.webhooks",
        "airflow_provider_harness.client.executions",
        "airflow_provider_harness.triggers.executions",
    )
    code = (
        "import sys\n"
        "import airflow_provider_harness.operators.webhooks\n"
        f"print([m for m in {modules!r} if m in sys.modules])\n"
    )
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"
