"""The polling event trigger, its outcome sibling and the outcome sensor against the Harness emulator.

The triggers' ``run()`` runs in this test's event loop with the real client (connection from
``AIRFLOW_CONN_HARNESS_DEFAULT``, as in a triggerer); executions really run in the emulator. Request
counts come from the emulator's own counters. Waits are on states, never on durations.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from airflow_provider_harness.client.execution_feed import FeedWatermark, event_payload
from airflow_provider_harness.operators.executions import HarnessExecutionError
from airflow_provider_harness.sensors.events import HarnessExecutionOutcomeSensor
from airflow_provider_harness.triggers.events import (
    HarnessExecutionEventTrigger,
    HarnessExecutionOutcomeTrigger,
    MemoryWatermarkStore,
)

pytestmark = pytest.mark.integration

LIST_PATH = "/pipeline/api/pipelines/execution/summary"
NOTIFY_ALL = [
    {
        "name": "all",
        "identifier": "all",
        "pipelineEvents": [{"type": "AllEvents"}],
        # recorded by the emulator even though nothing listens on port 9
        "notificationMethod": {"type": "Webhook", "spec": {"webhookUrl": "http://127.0.0.1:9/hook"}},
    }
]


def shell(identifier: str, script: str) -> dict[str, Any]:
    spec = {"shell": "Bash", "source": {"type": "Inline", "spec": {"script": script}}}
    return {"step": {"name": identifier, "identifier": identifier, "type": "ShellScript", "spec": spec}}


APPROVAL = {
    "step": {
        "name": "hold",
        "identifier": "hold",
        "type": "HarnessApproval",
        "timeout": "1d",
        "spec": {"approvers": {"userGroups": ["account.admin"], "minimumCount": 1}},
    }
}


def pipeline(pipeline_id: str, steps: list[dict[str, Any]], **extra: Any) -> str:
    """Pipeline YAML (JSON is YAML): one Custom stage with ``steps``."""
    stage = {
        "stage": {
            "name": "work",
            "identifier": "work",
            "type": "Custom",
            "spec": {"execution": {"steps": steps}},
        }
    }
    body = {
        "name": pipeline_id,
        "identifier": pipeline_id,
        "orgIdentifier": "default",
        "projectIdentifier": "emulator_project",
        "stages": [stage],
        **extra,
    }
    return json.dumps({"pipeline": body})


@pytest.fixture
def harness(harness_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``harness_default`` -> this test's emulator (read by the triggers as in a triggerer)."""
    for name, value in harness_emulator.airflow_env().items():
        monkeypatch.setenv(name, value)
    return harness_emulator


async def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def finished(harness: Any, execution_ids: list[str]) -> None:
    """Wait until the emulator has ended every execution."""
    for execution_id in execution_ids:
        await asyncio.to_thread(harness.wait_for_status, execution_id)


def watcher(store: MemoryWatermarkStore, **kwargs: Any) -> HarnessExecutionEventTrigger:
    kwargs.setdefault("poll_interval", 0.05)
    trigger = HarnessExecutionEventTrigger(**kwargs)
    trigger.watermark_store = store
    trigger.commit_delay = 0.0
    return trigger


@contextlib.asynccontextmanager
async def running(trigger: HarnessExecutionEventTrigger) -> AsyncIterator[list[dict[str, Any]]]:
    collected: list[dict[str, Any]] = []

    async def consume() -> None:
        async for event in trigger.run():
            collected.append(event.payload)

    task = asyncio.create_task(consume())
    try:
        await wait_for(lambda: trigger.polls >= 1 or task.done(), "the first poll")
        yield collected
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def ids(events: list[dict[str, Any]]) -> list[str]:
    return [e["planExecutionId"] for e in events]


async def test_one_list_call_per_poll_for_many_pipelines(harness: Any) -> None:
    names = [f"service_{i}" for i in range(6)]
    for name in names:
        harness.create_pipeline(pipeline(name, [shell("deploy", "echo deployed")]))
    harness.create_pipeline(pipeline("unwatched", [shell("deploy", "echo other")]))
    trigger = watcher(MemoryWatermarkStore(), pipelines=names)
    harness.clear_counters()
    async with running(trigger) as events:
        started = [harness.execute(name) for name in names for _ in range(2)]
        harness.execute("unwatched")
        await wait_for(lambda: len(events) >= len(started), "an event per execution")
        polls = trigger.polls
        await wait_for(lambda: trigger.polls >= polls + 3, "three more polls")
    assert sorted(ids(events)) == sorted(started)  # each once, none of the unwatched pipeline
    list_calls = harness.request_count(LIST_PATH, "POST")
    assert list_calls == trigger.calls == trigger.polls  # ONE list call per poll for 6 pipelines
    assert harness.request_count("/pipeline/api/pipelines/execution/v2", "GET") == 0  # no per-execution GET
    assert [e["endTs"] for e in events] == sorted(e["endTs"] for e in events)


async def test_the_payload_is_the_notification_harness_sends(harness: Any) -> None:
    """The eventData builder gives what Harness posts; the trigger's payload is what the webhook receiver
    makes of that post (same keys, same dedupeKey), only ``source`` differs."""
    from airflow_provider_harness.client.execution_feed import ExecutionFilter, FeedScan, apoll_feed
    from airflow_provider_harness.client.notifications import parse_notification
    from airflow_provider_harness.hooks.harness import HarnessHook

    harness.create_pipeline(pipeline("good", [shell("deploy", "echo ok")], notificationRules=NOTIFY_ALL))
    failing = [shell("deploy", "echo rolling out\nexit 3")]
    harness.create_pipeline(pipeline("bad", failing, notificationRules=NOTIFY_ALL))
    trigger = watcher(MemoryWatermarkStore())
    async with running(trigger) as events:
        good, bad = harness.execute("good"), harness.execute("bad")
        await wait_for(lambda: len(events) == 2, "two events")
    client = await HarnessHook().aget_client()
    scope = client.config.scope_params("project")
    listed = await apoll_feed(client, FeedScan(scope, FeedWatermark.starting_at(0), ExecutionFilter.build()))
    built = {e.execution_id: event_payload(e, client.config) for e in listed.new}
    polled = {e["planExecutionId"]: e for e in events}
    for execution_id, event_type in [(good, "PipelineSuccess"), (bad, "PipelineFailed")]:
        (delivery,) = harness.notifications(event_type, execution_id)
        notified = delivery["payload"]["eventData"]
        # URLs name the UI module as the operators' execution link does: Custom-stage pipelines (modules
        # ["pms"]) open under "cd"; the emulator's notification writes "pms" there.
        for key in ("executionUrl", "pipelineUrl"):
            notified[key] = notified[key].replace("/pms/orgs/", "/cd/orgs/")
        assert built[execution_id] == {**notified, "source": "poll"}
        received = parse_notification({"eventData": notified}).event_payload(source="webhook")
        assert polled[execution_id] == {**received, "source": "poll"}
        assert polled[execution_id]["dedupeKey"] == received["dedupeKey"]


async def test_transient_faults_and_a_restart_lose_and_repeat_nothing(harness: Any) -> None:
    harness.create_pipeline(pipeline("deploy", [shell("deploy", "echo deployed")]))
    store = MemoryWatermarkStore()
    first = watcher(store, pipelines=["deploy"])
    async with running(first) as before:
        harness.inject_fault("error", status=503, count=3, path_prefix=LIST_PATH)
        batch_a = [harness.execute("deploy") for _ in range(3)]
        await finished(harness, batch_a)
        await wait_for(lambda: len(before) == 3, "the first batch despite 503s")
        await wait_for(lambda: len((store.value or {}).get("seen", [])) == 3, "the saved watermark")
    # The triggerer is down while more executions end.
    batch_b = [harness.execute("deploy") for _ in range(3)]
    await finished(harness, batch_b)
    second = watcher(store, pipelines=["deploy"])
    async with running(second) as after:
        await wait_for(lambda: len(after) >= 3, "the executions that ended while down")
        batch_c = [harness.execute("deploy")]
        await finished(harness, batch_c)
        await wait_for(lambda: len(after) >= 4, "one more")
        polls = second.polls
        await wait_for(lambda: second.polls >= polls + 3, "three more polls")
    assert sorted(ids(before)) == sorted(batch_a)
    assert sorted(ids(after)) == sorted(batch_b + batch_c)
    mark = FeedWatermark.from_json(store.value)
    assert mark is not None and all(not mark.is_new(e["endTs"] * 1000, e["planExecutionId"]) for e in after)


async def test_outcome_trigger_waits_for_the_execution_to_end(harness: Any) -> None:
    harness.create_pipeline(pipeline("gated", [APPROVAL, shell("release", "echo released")]))
    harness.create_pipeline(pipeline("broken", [shell("deploy", "exit 1")]))
    after = time.time()
    execution = harness.execute("gated")
    harness.clear_counters()
    trigger = HarnessExecutionOutcomeTrigger(
        after=after, pipelines=["gated"], statuses=["Success"], fail_statuses=["Failed"], poll_interval=0.05
    )
    task: asyncio.Task[Any] = asyncio.create_task(anext(trigger.run()))  # type: ignore[arg-type]
    await wait_for(lambda: harness.request_count(LIST_PATH, "POST") >= 2, "two polls")
    assert not task.done()
    harness.execute("broken")  # another pipeline failing does not count
    harness.approve(execution)
    event = (await task).payload
    assert (event["status"], event["execution_id"], event["harness_status"]) == (
        "success",
        execution,
        "Success",
    )
    assert event["payload"]["eventType"] == "PipelineSuccess" and event["payload"]["source"] == "poll"


class FakeTaskInstance:
    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def test_outcome_sensor_pokes_with_one_list_call(harness: Any) -> None:
    harness.create_pipeline(pipeline("broken", [shell("deploy", "echo disk full\nexit 1")]))
    after = time.time()
    sensor = HarnessExecutionOutcomeSensor(
        task_id="deployed", pipeline_id="broken", after=after, fail_statuses=["Failed"], poke_interval=0.01
    )
    ti = FakeTaskInstance()
    harness.clear_counters()
    assert sensor.poke({"ti": ti}) is False
    execution = harness.execute("broken")
    harness.wait_for_status(execution)
    with pytest.raises(HarnessExecutionError, match=f"Harness execution {execution} of broken ended Failed"):
        sensor.poke({"ti": ti})
    assert harness.request_count(LIST_PATH, "POST") == 2
    assert ti.xcom["execution_id"] == execution
