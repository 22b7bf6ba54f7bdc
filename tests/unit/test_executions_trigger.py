"""Unit tests of HarnessExecutionTrigger in a real event loop, against the scripted fake Harness."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from test_executions_fakes import API_KEY, ScriptedHarness, harness_error
from test_executions_operators import recorded, run_trigger, wire_trigger

from airflow_provider_harness.client import executions
from airflow_provider_harness.triggers import executions as trigger_module
from airflow_provider_harness.triggers.executions import USER_ACTION_CANCEL_MSG, HarnessExecutionTrigger


def make_trigger(execution_id: str, **kwargs: Any) -> HarnessExecutionTrigger:
    kwargs.setdefault("org_id", "default")
    kwargs.setdefault("project_id", "proj")
    kwargs.setdefault("poll_interval", 0.01)
    return HarnessExecutionTrigger(execution_id, **kwargs)


class FakeTI:
    dag_id = "dag"
    run_id = "run"
    task_id = "task"
    map_index = -1


def with_task_state(trigger: HarnessExecutionTrigger, state: str | None) -> None:
    """Pretend the triggerer set ``task_instance`` and the API reports ``state`` (None = unreadable)."""
    trigger.task_instance = FakeTI()  # type: ignore[assignment]

    async def task_state() -> str | None:
        return state

    trigger._task_state = task_state  # type: ignore[method-assign]


def test_serialize_is_json_safe_has_no_secret_and_round_trips() -> None:
    trigger = make_trigger(
        "exec1",
        harness_conn_id="my_conn",
        deadline=1_900_000_000.5,
        cancel_on_kill=True,
        success_statuses=["Success"],
    )
    classpath, kwargs = trigger.serialize()
    text = json.dumps(kwargs)
    assert API_KEY not in text and "pat." not in text and "api_key" not in text
    assert classpath == "airflow_provider_harness.triggers.executions.HarnessExecutionTrigger"
    assert kwargs["harness_conn_id"] == "my_conn" and kwargs["deadline"] == 1_900_000_000.5
    rebuilt = HarnessExecutionTrigger(**json.loads(text))
    assert rebuilt.serialize() == (classpath, kwargs)
    try:
        from airflow.sdk.serde import deserialize, serialize
    except ImportError:  # Airflow < 3.2 does not pass trigger kwargs through serde
        return
    assert deserialize(serialize(kwargs)) == kwargs


def test_cleanup_is_not_overridden() -> None:
    # cleanup() runs on every exit, triggerer restarts included: it must never abort anything.
    from airflow.triggers.base import BaseTrigger

    assert HarnessExecutionTrigger.cleanup is BaseTrigger.cleanup


async def test_one_success_event_stage_lines_and_one_get_per_poll() -> None:
    fake = ScriptedHarness()
    execution = fake.add(["Queued", "Running", "Running", "Success"])
    trigger = make_trigger(execution.id, pipeline_id="pipe")
    log = wire_trigger(trigger, fake)
    (event,) = await run_trigger(trigger)
    assert event == {
        "status": "success",
        "execution_id": execution.id,
        "pipeline_id": "pipe",
        "org_id": "default",
        "project_id": "proj",
        "harness_status": "Success",
        "stages": "Build: Success in 4s, Deploy: Success in 1m 01s",
        "message": f"Harness execution {execution.id} ended Success",
        "took": "1m 05s",
    }
    assert fake.count("GET", "/pipeline/api/pipelines/execution/v2/") == 4
    assert f"Execution {execution.id} is Queued" in log.lines
    assert 'Stage 1/2 "Build" Running' in log.lines and 'Stage 2/2 "Deploy" Success in 1m 01s' in log.lines
    assert API_KEY not in log.text


@pytest.mark.parametrize(
    ("script", "status", "harness_status"),
    [
        (["Running", "Failed"], "failed", "Failed"),
        (["Running", "Aborted"], "failed", "Aborted"),
        (["ApprovalWaiting", "Discontinuing", "AbortedByFreeze"], "failed", "AbortedByFreeze"),
        (["InterventionWaiting", "IgnoreFailed"], "success", "IgnoreFailed"),
    ],
)
async def test_status_interpretation_matches_the_sync_path(
    script: list[str], status: str, harness_status: str
) -> None:
    fake = ScriptedHarness()
    execution = fake.add(script)
    trigger = make_trigger(execution.id)
    wire_trigger(trigger, fake)
    (event,) = await run_trigger(trigger)
    assert (event["status"], event["harness_status"]) == (status, harness_status)
    assert executions.interpret(harness_status).succeeded == (status == "success")


async def test_success_statuses_are_honoured() -> None:
    fake = ScriptedHarness()
    execution = fake.add(["Skipped"])
    trigger = make_trigger(execution.id, success_statuses=["Success", "Skipped"])
    wire_trigger(trigger, fake)
    (event,) = await run_trigger(trigger)
    assert event["status"] == "success"


async def test_transient_errors_keep_polling_until_the_budget_is_spent() -> None:
    fake = ScriptedHarness()
    execution = fake.add(["Running", "Success"])
    detail = "GET /pipeline/api/pipelines/execution/v2/"
    fake.inject(
        detail, httpx.Response(502, text="<html><title>502</title></html>"), httpx.Response(429, text="")
    )
    fake.inject(detail, harness_error(503, "SERVICE_UNAVAILABLE", "busy"))
    trigger = make_trigger(execution.id)
    log = wire_trigger(trigger, fake)
    (event,) = await run_trigger(trigger)
    assert event["status"] == "success"
    assert sum("Transient error" in line for line in log.lines) == 3

    broken = ScriptedHarness()
    stuck = broken.add(["Running"])
    broken.inject(detail, *[httpx.Response(503, text="down") for _ in range(10)])
    trigger = make_trigger(stuck.id, max_consecutive_errors=4)
    wire_trigger(trigger, broken)
    (event,) = await run_trigger(trigger)
    assert event["status"] == "error" and "HTTP 503" in event["message"]
    assert broken.count("GET", "/pipeline/api/pipelines/execution/v2/") == 4


async def test_non_transient_error_ends_at_once() -> None:
    fake = ScriptedHarness()
    trigger = make_trigger("missing")
    wire_trigger(trigger, fake)
    (event,) = await run_trigger(trigger)
    assert event["status"] == "error" and "ENTITY_NOT_FOUND" in event["message"]
    assert fake.count("GET", "/pipeline/api/pipelines/execution/v2/") == 1


async def test_deadline_yields_timeout() -> None:
    import time

    fake = ScriptedHarness()
    execution = fake.add(["Running"])
    trigger = make_trigger(execution.id, deadline=time.time() + 0.1, poll_interval=5)
    wire_trigger(trigger, fake)
    started = time.monotonic()
    (event,) = await run_trigger(trigger)
    assert event["status"] == "timeout" and event["harness_status"] == "Running"
    assert time.monotonic() - started < 2  # the sleep is cut at the deadline
    assert fake.count("PUT", "/pipeline/api/pipeline/execute/interrupt/") == 0  # the operator decides


async def test_missing_connection_is_an_error_event(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_NO_SUCH_CONN", raising=False)
    for name in ("HARNESS_ACCOUNT_ID", "HARNESS_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    trigger = make_trigger("e1", harness_conn_id="no_such_conn")
    recorded(trigger)
    (event,) = await run_trigger(trigger)
    assert event["status"] == "error" and "no_such_conn" in event["message"]


async def test_shared_http_client_per_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "harness", "host": "http://127.0.0.1:9", "password": API_KEY,
            "extra": {"account_id": "acc", "org_id": "default", "project_id": "proj"}}  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_HARNESS_SHARED", json.dumps(conn))
    first = make_trigger("e1", harness_conn_id="harness_shared")
    second = make_trigger("e2", harness_conn_id="harness_shared")
    client1, scope1 = await first._get_client()
    client2, _ = await second._get_client()
    assert client1 is not client2 and client1.http is client2.http
    assert scope1 == {"orgIdentifier": "default", "projectIdentifier": "proj"}


# ---- kill semantics ----------------------------------------------------------------------------------


async def test_on_kill_aborts_when_the_task_is_no_longer_deferred() -> None:
    fake = ScriptedHarness()
    execution = fake.add(["Running"] * 100)
    trigger = make_trigger(execution.id, cancel_on_kill=True)
    log = wire_trigger(trigger, fake)
    with_task_state(trigger, "failed")
    await trigger.on_kill()
    abort = fake.requests[-1]
    assert (abort.method, abort.url.path) == (
        "PUT",
        f"/pipeline/api/pipeline/execute/interrupt/{execution.id}",
    )
    assert abort.url.params["interruptType"] == "AbortAll" and abort.content == b""
    assert f"Aborted Harness execution {execution.id}" in log.text


@pytest.mark.parametrize(("cancel_on_kill", "state"), [(False, "failed"), (True, "deferred")])
async def test_on_kill_does_nothing_without_flag_or_when_trigger_only_moved(
    cancel_on_kill: bool, state: str
) -> None:
    fake = ScriptedHarness()
    execution = fake.add(["Running"])
    trigger = make_trigger(execution.id, cancel_on_kill=cancel_on_kill)
    wire_trigger(trigger, fake)
    with_task_state(trigger, state)
    await trigger.on_kill()
    assert fake.count("PUT", "/pipeline/api/pipeline/execute/interrupt/") == 0


async def test_on_kill_after_the_event_does_nothing() -> None:
    fake = ScriptedHarness()
    execution = fake.add(["Success"])
    trigger = make_trigger(execution.id, cancel_on_kill=True)
    wire_trigger(trigger, fake)
    await run_trigger(trigger)
    with_task_state(trigger, "success")
    await trigger.on_kill()
    assert fake.count("PUT", "/pipeline/api/pipeline/execute/interrupt/") == 0


async def test_on_kill_refused_by_harness_is_logged_not_raised() -> None:
    fake = ScriptedHarness()
    execution = fake.add(["Success"])
    trigger = make_trigger(execution.id, cancel_on_kill=True)
    log = wire_trigger(trigger, fake)
    with_task_state(trigger, "failed")
    await trigger.on_kill()
    assert f"Harness execution {execution.id} had already ended Success; nothing to abort" in log.text


async def _cancel_while_polling(trigger: HarnessExecutionTrigger, message: str | None) -> asyncio.Task[Any]:
    task = asyncio.ensure_future(run_trigger(trigger))
    await asyncio.sleep(0.05)
    task.cancel(message)
    with pytest.raises(asyncio.CancelledError):
        await task
    return task


@pytest.mark.parametrize(("state", "aborts"), [("failed", 1), ("none", 1), ("deferred", 0), (None, 0)])
async def test_pre_33_fallback_aborts_only_when_surely_killed(
    monkeypatch: pytest.MonkeyPatch, state: str | None, aborts: int
) -> None:
    monkeypatch.setattr(trigger_module, "TRIGGER_ON_KILL", False)
    fake = ScriptedHarness()
    execution = fake.add(["Running"] * 1000)
    trigger = make_trigger(execution.id, cancel_on_kill=True)
    wire_trigger(trigger, fake)
    with_task_state(trigger, state)
    task = await _cancel_while_polling(trigger, None)
    assert task.cancelled()  # CancelledError is never swallowed
    assert fake.count("PUT", "/pipeline/api/pipeline/execute/interrupt/") == aborts


async def test_on_33_run_leaves_aborting_to_on_kill(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trigger_module, "TRIGGER_ON_KILL", True)
    fake = ScriptedHarness()
    execution = fake.add(["Running"] * 1000)
    trigger = make_trigger(execution.id, cancel_on_kill=True)
    wire_trigger(trigger, fake)
    with_task_state(trigger, "failed")
    await _cancel_while_polling(trigger, USER_ACTION_CANCEL_MSG)
    restarted = make_trigger(execution.id, cancel_on_kill=True)
    wire_trigger(restarted, fake)
    with_task_state(restarted, "deferred")
    await _cancel_while_polling(restarted, "shutdown")
    assert fake.count("PUT", "/pipeline/api/pipeline/execute/interrupt/") == 0
