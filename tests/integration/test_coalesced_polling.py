"""Polling at scale against the emulator. Coalesced polling: many triggers of one project share one list call
per poll, get their own event each, fall back to details calls for what the list does not show, and a
cancelled trigger leaves the others unharmed. Adaptive intervals: the typical duration is read once and the
run still ends with its event, deferred and on the worker."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from test_executions_integration import (
    OK_PIPELINE,
    TaskInstance,
    context,
    gated_pipeline_yaml,
    recorded,
    run_trigger,
)

from airflow_provider_harness.client.transport import close_shared_async_clients
from airflow_provider_harness.operators.executions import HarnessRunPipelineOperator
from airflow_provider_harness.triggers.executions import HarnessExecutionTrigger

pytestmark = pytest.mark.integration

LIST_PATH = "/pipeline/api/pipelines/execution/summary"
DETAILS_PATH = "/pipeline/api/pipelines/execution/v2/"


@pytest.fixture
def harness(harness_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``harness_default`` -> the emulator, with coalesced polls and no transport retries."""
    conn = harness_emulator.connection_dict()
    conn["extra"].update({"max_retries": 0, "coalesce_polls": True, "requests_per_minute": 100_000})
    monkeypatch.setenv("AIRFLOW_CONN_HARNESS_DEFAULT", json.dumps(conn))
    return harness_emulator


def trigger(execution_id: str) -> HarnessExecutionTrigger:
    return HarnessExecutionTrigger(execution_id, poll_interval=0.05, deadline=time.time() + 120)


async def wait_for(condition: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(condition):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def approve_all(harness: Any, execution_ids: list[str]) -> None:
    for execution_id in execution_ids:
        await asyncio.to_thread(harness.approve, execution_id, "gate")


async def test_triggers_of_one_project_share_the_list_and_each_get_their_event(harness: Any) -> None:
    harness.create_pipeline(gated_pipeline_yaml("held"))
    ids = [harness.execute("held") for _ in range(20)]
    for execution_id in ids:
        harness.wait_for_status(execution_id, {"ApprovalWaiting"}, timeout=60)
    harness.clear_counters()
    tasks = [asyncio.ensure_future(run_trigger(trigger(e))) for e in ids]
    # every trigger polls about 20 times a second; the list is read at most every 25 ms for all of them
    await wait_for(lambda: harness.request_count(LIST_PATH, "POST") >= 10, "ten list polls")
    assert harness.request_count(DETAILS_PATH, "GET") == 0, "running executions come from the list"
    await approve_all(harness, ids)
    events = await asyncio.gather(*tasks)
    await close_shared_async_clients()
    assert sorted(e["execution_id"] for e in events) == sorted(ids)
    assert {e["status"] for e in events} == {"success"}
    assert all(e["stages"] and "Deploy: Success" in e["stages"] for e in events)
    lists, details = harness.request_count(LIST_PATH, "POST"), harness.request_count(DETAILS_PATH, "GET")
    assert details == 0, f"the ended list tells the outcomes: no call per completion ({details})"
    polls = lists + details
    assert polls < 20 * lists, "twenty triggers did not cost twenty requests per poll"


async def test_executions_the_list_does_not_show_are_read_one_by_one(harness: Any) -> None:
    harness.create_pipeline(gated_pipeline_yaml("held"))
    ids = [harness.execute("held") for _ in range(3)]
    for execution_id in ids:
        harness.wait_for_status(execution_id, {"ApprovalWaiting"}, timeout=60)
    empty = {"status": "SUCCESS", "data": {"content": [], "last": True, "totalPages": 1}, "metaData": None}
    harness.inject_fault(
        "error",
        status=200,
        path_prefix=LIST_PATH,
        count=None,
        body=json.dumps(empty),
        content_type="application/json",
    )  # the list sees nothing, as for another module's executions or a permission gap
    harness.clear_counters()
    tasks = [asyncio.ensure_future(run_trigger(trigger(e))) for e in ids]
    await wait_for(lambda: harness.request_count(DETAILS_PATH, "GET") >= 6, "details reads")
    await approve_all(harness, ids)
    events = await asyncio.gather(*tasks)
    await close_shared_async_clients()
    assert {e["status"] for e in events} == {"success"}


async def test_a_cancelled_trigger_leaves_the_shared_poller_working(harness: Any) -> None:
    harness.create_pipeline(gated_pipeline_yaml("held"))
    ids = [harness.execute("held") for _ in range(4)]
    for execution_id in ids:
        harness.wait_for_status(execution_id, {"ApprovalWaiting"}, timeout=60)
    harness.inject_fault("latency", delay_ms=200, path_prefix=LIST_PATH, count=None)  # refreshes take a while
    harness.clear_counters()
    victim = asyncio.ensure_future(run_trigger(trigger(ids[0])))
    others = [asyncio.ensure_future(run_trigger(trigger(e))) for e in ids[1:]]
    await wait_for(lambda: harness.request_count(LIST_PATH, "POST") >= 1, "a list refresh in flight")
    victim.cancel()  # killed or reassigned while it waited for the shared refresh
    with pytest.raises(asyncio.CancelledError):
        await victim
    await wait_for(lambda: harness.request_count(LIST_PATH, "POST") >= 3, "more refreshes")
    await approve_all(harness, ids[1:])
    events = await asyncio.gather(*others)
    await close_shared_async_clients()
    assert {e["status"] for e in events} == {"success"}
    assert harness.execution(ids[0])["status"] == "ApprovalWaiting"  # cancelling aborted nothing


@pytest.mark.parametrize("followers", [1, 10])
async def test_by_default_a_project_lists_only_once_its_triggers_outnumber_the_pages(
    harness: Any, monkeypatch: pytest.MonkeyPatch, followers: int
) -> None:
    conn = harness.connection_dict()
    conn["extra"].update({"max_retries": 0, "requests_per_minute": 100_000})  # coalesce_polls unset: auto
    monkeypatch.setenv("AIRFLOW_CONN_HARNESS_DEFAULT", json.dumps(conn))
    harness.create_pipeline(gated_pipeline_yaml("held"))
    ids = [harness.execute("held") for _ in range(followers)]
    for execution_id in ids:
        harness.wait_for_status(execution_id, {"ApprovalWaiting"}, timeout=60)
    harness.clear_counters()
    tasks = [asyncio.ensure_future(run_trigger(trigger(e))) for e in ids]
    polls = 10 * followers
    await wait_for(
        lambda: (
            harness.request_count(LIST_PATH, "POST") + harness.request_count(DETAILS_PATH, "GET") >= polls
        ),
        f"{polls} status reads",
    )
    lists, details = harness.request_count(LIST_PATH, "POST"), harness.request_count(DETAILS_PATH, "GET")
    if followers == 1:
        assert lists == 0, "a lone trigger keeps its own details call: one list page would cost as much"
    else:
        assert lists >= 1 and details <= 3, f"ten triggers share lists ({lists} lists, {details} details)"
    await approve_all(harness, ids)
    events = await asyncio.gather(*tasks)
    await close_shared_async_clients()
    assert sorted(e["execution_id"] for e in events) == sorted(ids)
    assert {e["status"] for e in events} == {"success"}


async def test_adaptive_polling_reads_the_typical_duration_once_and_ends(
    harness: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = harness.connection_dict()
    conn["extra"].update({"max_retries": 0, "coalesce_polls": False})  # every list call is the duration read
    monkeypatch.setenv("AIRFLOW_CONN_HARNESS_DEFAULT", json.dumps(conn))
    harness.create_pipeline(gated_pipeline_yaml("held"))
    first = harness.execute("held")
    harness.wait_for_status(first, {"ApprovalWaiting"}, timeout=60)
    harness.approve(first, step="gate")
    harness.wait_for_status(first, timeout=60)
    second = harness.execute("held")
    harness.wait_for_status(second, {"ApprovalWaiting"}, timeout=60)
    harness.clear_counters()
    adaptive = HarnessExecutionTrigger(
        second, pipeline_id="held", poll_interval=0.05, max_poll_interval=0.2, deadline=time.time() + 120
    )
    assert adaptive.serialize()[1]["max_poll_interval"] == 0.2
    task = asyncio.ensure_future(run_trigger(adaptive))
    await wait_for(lambda: harness.request_count(LIST_PATH, "POST") >= 1, "the typical duration read")
    await approve_all(harness, [second])
    event = await task
    await close_shared_async_clients()
    assert event["status"] == "success"
    assert harness.request_count(LIST_PATH, "POST") == 1


def test_adaptive_polling_on_the_worker(harness: Any) -> None:
    harness.create_pipeline(OK_PIPELINE)
    op = HarnessRunPipelineOperator(
        task_id="run", pipeline_id="ok", poll_interval=0.02, max_poll_interval=0.1, deferrable=False
    )
    log = recorded(op)
    assert op.execute(context(TaskInstance())) and "ended Success" in log.text
    with pytest.raises(ValueError, match="max_poll_interval: must be at least poll_interval"):
        HarnessRunPipelineOperator(
            task_id="bad", pipeline_id="ok", poll_interval=5, max_poll_interval=1
        ).execute(context(TaskInstance("bad")))
