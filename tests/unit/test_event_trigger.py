"""HarnessExecutionEventTrigger, HarnessExecutionOutcomeTrigger and HarnessExecutionOutcomeSensor against the
fake execution list of ``test_execution_feed.py`` (httpx.MockTransport), in a real event loop.

Waits are on states (requests seen, events collected, watermark saved), never on durations.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from test_execution_feed import API_KEY, SCOPE, T0, FakeExecutionList, make_config
from test_executions_fakes import FakeTaskInstance, make_context
from test_executions_operators import recorded

from airflow_provider_harness.client.execution_feed import FeedWatermark
from airflow_provider_harness.hooks.harness import HarnessHook
from airflow_provider_harness.operators.executions import HarnessExecutionError
from airflow_provider_harness.sensors.events import HarnessExecutionOutcomeSensor
from airflow_provider_harness.triggers import events as events_module
from airflow_provider_harness.triggers.events import (
    AssetStateWatermarkStore,
    HarnessExecutionEventTrigger,
    HarnessExecutionOutcomeTrigger,
    MemoryWatermarkStore,
    VariableWatermarkStore,
    harness_event_asset,
)

try:
    from airflow.sdk.exceptions import AirflowSensorTimeout, TaskDeferred
except ImportError:  # Airflow 3.0
    from airflow.exceptions import AirflowSensorTimeout, TaskDeferred  # type: ignore[no-redef]


def watcher(**kwargs: Any) -> HarnessExecutionEventTrigger:
    kwargs.setdefault("org_id", "default")
    kwargs.setdefault("project_id", "proj")
    kwargs.setdefault("poll_interval", 0.005)
    return HarnessExecutionEventTrigger(**kwargs)


def wire(trigger: Any, fake: FakeExecutionList, store: Any = None) -> Any:
    """The trigger's client talks to ``fake``; its watermark lives in ``store``; returns its log."""
    client = fake.async_client()

    async def get_client() -> Any:
        return client, dict(SCOPE)

    trigger._get_client = get_client
    if isinstance(trigger, HarnessExecutionEventTrigger):
        trigger.watermark_store = store if store is not None else MemoryWatermarkStore()
        trigger.commit_delay = 0.0
    return recorded(trigger)


async def wait_for(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.002)


@contextlib.asynccontextmanager
async def running(trigger: HarnessExecutionEventTrigger) -> AsyncIterator[list[dict[str, Any]]]:
    """Run the watcher in a task, collecting event payloads; cancel it (and check it re-raises) after."""
    collected: list[dict[str, Any]] = []

    async def consume() -> None:
        async for event in trigger.run():
            collected.append(event.payload)

    task = asyncio.create_task(consume())
    try:
        yield collected
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def event_ids(events: list[dict[str, Any]]) -> list[str]:
    return [e["planExecutionId"] for e in events]


# ---- construction ---------------------------------------------------------------------------------


def test_kwargs_are_deterministic_json_safe_and_secret_free() -> None:
    from airflow.triggers.base import BaseEventTrigger

    a = watcher(pipelines=["deploy", "build"], statuses=["success", "FAILED"], module="CD")
    b = watcher(pipelines=["build", "deploy", "deploy"], statuses=["Failed", "Success"], module="cd")
    classpath, kwargs = a.serialize()
    assert classpath == "airflow_provider_harness.triggers.events.HarnessExecutionEventTrigger"
    assert kwargs == b.serialize()[1]
    text = json.dumps(kwargs)
    assert API_KEY not in text and "api_key" not in text and "pat." not in text
    assert HarnessExecutionEventTrigger(**json.loads(text)).serialize() == (classpath, kwargs)
    assert BaseEventTrigger.hash(classpath, kwargs) == BaseEventTrigger.hash(classpath, b.serialize()[1])
    assert isinstance(a, BaseEventTrigger)
    # No timestamp, uuid or other per-parse value: building it twice gives the very same kwargs.
    assert watcher(pipelines=["deploy"]).serialize() == watcher(pipelines=["deploy"]).serialize()


def test_it_is_an_asset_watcher_trigger_on_a_harness_uri() -> None:
    from airflow.sdk import AssetWatcher

    AssetWatcher(name="w", trigger=watcher())  # Airflow refuses triggers that are not BaseEventTrigger
    asset = harness_event_asset(
        "harness://acc/default/payments/deploy", statuses=["Success"], poll_interval=60
    )
    assert asset.uri == "harness://acc/default/payments/deploy"
    (watch,) = asset.watchers
    assert watch.name == "harness_poll_default_payments_deploy"
    kwargs = watch.trigger.serialize()[1]  # type: ignore[union-attr]
    assert (kwargs["account_id"], kwargs["org_id"], kwargs["project_id"]) == ("acc", "default", "payments")
    assert kwargs["pipelines"] == ["deploy"] and kwargs["statuses"] == ["Success"]
    assert kwargs["poll_interval"] == 60.0
    project = HarnessExecutionEventTrigger.from_asset_uri("harness://acc/default/payments", pipelines=["a"])
    assert project.filter.pipelines == ("a",)
    with pytest.raises(ValueError, match="already names pipeline"):
        HarnessExecutionEventTrigger.from_asset_uri("harness://acc/default/payments/deploy", pipelines=["x"])
    with pytest.raises(ValueError, match="poll_interval"):
        watcher(poll_interval=0)


def test_the_watermark_key_ignores_polling_options_but_not_the_filter() -> None:
    key = watcher(pipelines=["deploy"]).watermark_key("acc", SCOPE)
    assert key.startswith("harness_event_watermark.default.proj.")
    assert watcher(pipelines=["deploy"], poll_interval=99, page_size=5).watermark_key("acc", SCOPE) == key
    assert watcher(pipelines=["build"]).watermark_key("acc", SCOPE) != key
    assert watcher(pipelines=["deploy"], harness_conn_id="other").watermark_key("acc", SCOPE) != key


# ---- the watch ------------------------------------------------------------------------------------


async def test_one_event_per_new_execution_and_one_list_call_per_poll() -> None:
    fake = FakeExecutionList()
    fake.add("deploy", end_ts=T0)  # ended before the watch: never emitted
    trigger = watcher(pipelines=["deploy", "build", "test"], statuses=["Success", "Failed"])
    log = wire(trigger, fake)
    async with running(trigger) as events:
        await wait_for(lambda: trigger.polls >= 1, "the first poll")
        expected = []
        for pipeline, status in [
            ("deploy", "Success"),
            ("build", "Failed"),
            ("test", "Aborted"),
            ("x", "Success"),
        ]:
            row = fake.add(pipeline, status, end_ts=T0 * 2 + len(fake.rows))  # long after the start
            if pipeline != "x" and status != "Aborted":
                expected.append(row.id)
        await wait_for(lambda: len(events) >= 2, "two events")
        polls = trigger.polls
        await wait_for(lambda: trigger.polls >= polls + 3, "three more polls")
    assert event_ids(events) == expected  # once each, oldest first, only what the filter keeps
    assert trigger.calls == trigger.polls  # ONE list call per poll for three pipelines
    assert all("pipelineIdentifier" not in q for q in fake.requests)
    assert events[0]["eventType"] == "PipelineSuccess" and events[1]["eventType"] == "PipelineFailed"
    assert all(e["source"] == "poll" and e["accountIdentifier"] == "acc" for e in events)
    assert API_KEY not in log.text


async def test_a_restart_neither_loses_nor_repeats_events() -> None:
    fake = FakeExecutionList()
    store = MemoryWatermarkStore()
    first = watcher()
    wire(first, fake, store)
    async with running(first) as before:
        await wait_for(lambda: store.saves >= 1, "the first watermark")
        start = FeedWatermark.from_json(store.value)
        assert start is not None
        a = fake.add(end_ts=start.floor_ts + 1)
        b = fake.add(end_ts=start.floor_ts + 1)  # the same end time
        await wait_for(lambda: len(before) == 2, "two events")
        await wait_for(lambda: len((store.value or {}).get("seen", [])) == 2, "the watermark with both")
    # The triggerer is down: executions end meanwhile.
    c = fake.add(end_ts=start.floor_ts + 1)
    d = fake.add(end_ts=start.floor_ts + 5)
    second = watcher()
    log = wire(second, fake, store)
    async with running(second) as after:
        await wait_for(lambda: len(after) >= 2, "the executions that ended while down")
        e = fake.add(end_ts=start.floor_ts + 9)
        await wait_for(lambda: len(after) >= 3, "one more")
        polls = second.polls
        await wait_for(lambda: second.polls >= polls + 3, "three more polls")
    assert event_ids(before) == sorted([a.id, b.id])
    assert event_ids(after) == [*sorted([c.id, d.id]), e.id]
    assert "resumed" in log.text


async def test_the_watermark_is_saved_only_after_its_events_were_handed_over() -> None:
    fake = FakeExecutionList()
    order: list[str] = []

    class RecordingStore(MemoryWatermarkStore):
        async def save(self, value: dict[str, Any]) -> None:
            order.append("save " + ",".join(sorted(i for i, _ in value["seen"])))
            await super().save(value)

    trigger = watcher()
    wire(trigger, fake, RecordingStore())
    trigger.commit_delay = 0.01

    async def consume() -> None:
        async for event in trigger.run():
            order.append("event " + event.payload["planExecutionId"])

    task = asyncio.create_task(consume())
    await wait_for(lambda: len(order) >= 1, "the first save")
    row = fake.add(end_ts=T0 * 2)
    await wait_for(lambda: any(o.startswith("save ") and row.id in o for o in order), "the save")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert order.index(f"event {row.id}") < next(i for i, o in enumerate(order) if o == f"save {row.id}")


async def test_transient_errors_are_tolerated_and_lasting_ones_never_end_the_watch() -> None:
    fake = FakeExecutionList()
    trigger = watcher()
    log = wire(trigger, fake)
    async with running(trigger) as events:
        await wait_for(lambda: trigger.polls >= 1, "the first poll")
        unavailable = httpx.Response(503, text="upstream connect error")
        denied = httpx.Response(
            401, json={"status": "ERROR", "code": "INVALID_TOKEN", "message": "Token invalid"}
        )
        fake.errors = [unavailable, unavailable, unavailable, denied]
        row = fake.add(end_ts=T0 * 2)
        await wait_for(lambda: len(events) == 1, "the event after the errors", timeout=30)
    assert event_ids(events) == [row.id]
    assert "still watching" in log.text and "Token invalid" in log.text


async def test_cancellation_is_never_swallowed_while_polling_or_saving() -> None:
    fake = FakeExecutionList()
    gate = asyncio.Event()

    class SlowStore(MemoryWatermarkStore):
        async def save(self, value: dict[str, Any]) -> None:
            gate.set()
            await asyncio.sleep(3600)

    trigger = watcher()
    wire(trigger, fake, SlowStore())
    task: asyncio.Task[Any] = asyncio.create_task(anext(trigger.run()))  # type: ignore[arg-type]
    await gate.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_an_unreadable_watermark_starts_afresh_from_now() -> None:
    fake = FakeExecutionList()
    fake.add(end_ts=T0)
    store = MemoryWatermarkStore({"v": 42})
    trigger = watcher()
    log = wire(trigger, fake, store)
    async with running(trigger) as events:
        await wait_for(lambda: trigger.polls >= 2, "two polls")
    assert events == [] and FeedWatermark.from_json(store.value) is not None
    assert "unreadable watermark" in log.text


# ---- where the watermark lives ----------------------------------------------------------------------


class FakeAccessor:
    def __init__(self, value: Any = None) -> None:
        self.values: dict[str, Any] = {} if value is None else {"k": value}

    async def aget(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        self.values[key] = value


class FakeAccessors:
    """Airflow 3.3's AssetStateStoreAccessors for several watched assets."""

    def __init__(self, *accessors: FakeAccessor) -> None:
        self._by_name = {f"asset{i}": a for i, a in enumerate(accessors)}

    def _single_accessor(self) -> FakeAccessor:
        if len(self._by_name) != 1:
            raise ValueError("several")
        return next(iter(self._by_name.values()))


async def test_the_asset_state_store_is_used_and_every_watched_asset_gets_the_watermark() -> None:
    old = FeedWatermark.starting_at(T0).to_json()
    new = FeedWatermark.starting_at(T0 + 5).to_json()
    one, two = FakeAccessor(old), FakeAccessor(new)
    trigger = watcher()
    trigger.asset_state_store = FakeAccessors(one, two)  # type: ignore[assignment]
    store = trigger._choose_store("k")
    assert isinstance(store, AssetStateWatermarkStore) and store.where == "asset state store, key k"
    assert events_module._best(await store.load()) == FeedWatermark.from_json(new)  # the most advanced
    await store.save({"v": 1, "floor": [1, ""], "high": 1, "seen": []})
    assert one.values["k"] == two.values["k"] == {"v": 1, "floor": [1, ""], "high": 1, "seen": []}


def test_before_airflow_3_3_an_airflow_variable_keeps_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.execution_time import task_runner

    trigger = watcher()
    assert isinstance(trigger._choose_store("k"), MemoryWatermarkStore)  # not in a triggerer
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", object(), raising=False)
    monkeypatch.setattr(events_module, "AIRFLOW_VERSION", (3, 0, 6))
    store = trigger._choose_store("harness_event_watermark.x")
    assert isinstance(store, VariableWatermarkStore)
    assert store.where == "Airflow Variable harness_event_watermark.x"
    monkeypatch.setattr(events_module, "AIRFLOW_VERSION", (3, 3, 2))
    assert isinstance(trigger._choose_store("k"), MemoryWatermarkStore)  # 3.3 watchers get the asset store


async def test_the_variable_store_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk import Variable

    saved: dict[str, Any] = {}
    monkeypatch.setattr(Variable, "get", classmethod(lambda cls, key, default=None: saved.get(key, default)))
    monkeypatch.setattr(
        Variable, "set", classmethod(lambda cls, key, value, description=None: saved.__setitem__(key, value))
    )
    store = VariableWatermarkStore("harness_event_watermark.x")
    assert await store.load() == []
    mark = FeedWatermark.starting_at(T0).to_json()
    await store.save(mark)
    assert json.loads(saved["harness_event_watermark.x"]) == mark
    assert await store.load() == [mark]


async def test_a_connection_for_another_account_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "harness", "host": "https://harness.test", "password": API_KEY}
    conn["extra"] = {"account_id": "acc", "org_id": "default", "project_id": "proj"}  # type: ignore[assignment]
    monkeypatch.setenv("AIRFLOW_CONN_HARNESS_DEFAULT", json.dumps(conn))
    trigger = HarnessExecutionEventTrigger.from_asset_uri("harness://other/default/proj")
    with pytest.raises(
        ValueError, match="is for Harness account 'acc', but the watched asset names account 'other'"
    ):
        await trigger._get_client()
    _client, scope = await HarnessExecutionEventTrigger.from_asset_uri(
        "harness://acc/default/p2"
    )._get_client()
    assert scope == {"orgIdentifier": "default", "projectIdentifier": "p2"}


# ---- the outcome trigger ----------------------------------------------------------------------------


def outcome(**kwargs: Any) -> HarnessExecutionOutcomeTrigger:
    kwargs.setdefault("after", (T0 + 1_000) / 1000)
    kwargs.setdefault("org_id", "default")
    kwargs.setdefault("project_id", "proj")
    kwargs.setdefault("poll_interval", 0.005)
    kwargs.setdefault("pipelines", ["deploy"])
    kwargs.setdefault("statuses", ["Success"])
    return HarnessExecutionOutcomeTrigger(**kwargs)


async def only_event(trigger: HarnessExecutionOutcomeTrigger) -> dict[str, Any]:
    events = [event.payload async for event in trigger.run()]
    assert len(events) == 1, "the trigger must yield exactly one event"
    return events[0]


async def test_outcome_trigger_yields_the_first_matching_execution_after_the_time() -> None:
    fake = FakeExecutionList()
    fake.add("deploy", "Success", T0)  # before `after`
    fake.add("deploy", "Aborted", T0 + 2_000)  # not a wanted status
    fake.add("build", "Success", T0 + 2_500)  # another pipeline
    first = fake.add("deploy", "Success", T0 + 3_000)
    fake.add("deploy", "Success", T0 + 4_000)
    trigger = outcome()
    wire(trigger, fake)
    event = await only_event(trigger)
    assert event["status"] == "success" and event["execution_id"] == first.id
    assert event["harness_status"] == "Success" and event["payload"]["planExecutionId"] == first.id
    assert event["payload"]["source"] == "poll" and fake.calls() == 1
    kwargs = trigger.serialize()[1]
    assert HarnessExecutionOutcomeTrigger(**json.loads(json.dumps(kwargs))).serialize()[1] == kwargs


async def test_outcome_trigger_waits_then_reports_a_fail_status() -> None:
    fake = FakeExecutionList()
    trigger = outcome(fail_statuses=["Failed"])
    wire(trigger, fake)
    task = asyncio.create_task(only_event(trigger))
    await wait_for(lambda: fake.calls() >= 2, "two polls")
    failed = fake.add("deploy", "Failed", T0 + 5_000, failure="disk full")
    event = await task
    assert (event["status"], event["execution_id"]) == ("failed", failed.id)
    assert event["payload"]["errorMessage"] == "disk full"


async def test_outcome_trigger_timeout_and_errors() -> None:
    fake = FakeExecutionList()
    trigger = outcome(deadline=1.0)  # long past
    wire(trigger, fake)
    assert (await only_event(trigger))["status"] == "timeout"

    fake.errors = [httpx.Response(503, text="busy")] * 3
    trigger = outcome(max_consecutive_errors=3)
    wire(trigger, fake)
    event = await only_event(trigger)
    assert event["status"] == "error" and "Listing Harness executions failed" in event["message"]

    fake.errors = [httpx.Response(403, json={"status": "ERROR", "code": "NG_ACCESS_DENIED", "message": "No"})]
    trigger = outcome()
    wire(trigger, fake)
    assert (await only_event(trigger))["status"] == "error"


# ---- the sensor -------------------------------------------------------------------------------------


def sensor(fake: FakeExecutionList, **kwargs: Any) -> tuple[HarnessExecutionOutcomeSensor, Any]:
    kwargs.setdefault("task_id", "deployed")
    kwargs.setdefault("pipeline_id", "deploy")
    kwargs.setdefault("after", (T0 + 1_000) / 1000)
    kwargs.setdefault("poke_interval", 0.01)
    kwargs.setdefault("deferrable", False)
    op = HarnessExecutionOutcomeSensor(**kwargs)
    hook = HarnessHook(op.harness_conn_id, org_id=op.org_id, project_id=op.project_id)
    hook.__dict__["config"] = make_config()
    hook._client = fake.client()
    op.__dict__["hook"] = hook
    return op, recorded(op)


def test_sensor_poke_returns_the_payload_and_pushes_id_and_url() -> None:
    fake = FakeExecutionList()
    op, log = sensor(fake)
    ti = FakeTaskInstance(task_id="deployed")
    assert op.poke(make_context(ti)) is False
    assert "No Harness execution (pipeline deploy, status IgnoreFailed, Success) has ended since" in log.text
    row = fake.add("deploy", "IgnoreFailed", T0 + 2_000)
    result = op.poke(make_context(ti))
    assert result.is_done and result.xcom_value["planExecutionId"] == row.id
    assert ti.xcom["execution_id"] == row.id and ti.xcom["execution_url"].endswith(f"/{row.id}/pipeline")
    assert fake.calls() == 2  # one list call per poke


def test_sensor_fail_statuses_fail_and_other_ends_are_ignored() -> None:
    fake = FakeExecutionList()
    fake.add("deploy", "Aborted", T0 + 1_500)
    failed = fake.add("deploy", "Failed", T0 + 2_000, failure="Shell Script execution failed")
    op, _ = sensor(fake, fail_statuses=["Failed"])
    with pytest.raises(HarnessExecutionError, match=f"{failed.id} of deploy ended Failed: Shell Script"):
        op.poke(make_context(FakeTaskInstance()))


def test_sensor_transient_error_is_a_false_poke_and_bad_input_fails_first() -> None:
    fake = FakeExecutionList()
    fake.errors = [httpx.Response(502, text="bad gateway")]
    op, _ = sensor(fake)
    assert op.poke(make_context(FakeTaskInstance())) is False
    cases: list[tuple[dict[str, Any], str]] = [
        ({"statuses": ["Running"]}, "statuses: 'Running' is not a terminal"),
        ({"statuses": ["Failed"], "fail_statuses": ["failed"]}, r"fail_statuses: \['Failed'\] are also"),
        ({"after": "yesterday"}, "after: 'yesterday' is not an ISO 8601"),
        ({"pipeline_id": "1x"}, "pipelines"),
    ]
    for kwargs, message in cases:
        op, _ = sensor(fake, **kwargs)
        with pytest.raises(ValueError, match=message):
            op.poke(make_context(FakeTaskInstance()))
    assert fake.calls() == 1


def test_sensor_defers_with_the_outcome_trigger_and_resumes_from_its_event() -> None:
    fake = FakeExecutionList()
    op, _ = sensor(fake, deferrable=True, pipeline_id=["deploy", "build"], fail_statuses=["Failed"])
    ti = FakeTaskInstance()
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(make_context(ti))
    trigger = deferred.value.trigger
    assert isinstance(trigger, HarnessExecutionOutcomeTrigger)
    kwargs = trigger.serialize()[1]
    assert kwargs["pipelines"] == ["build", "deploy"] and kwargs["fail_statuses"] == ["Failed"]
    assert kwargs["statuses"] == ["IgnoreFailed", "Success"] and kwargs["after"] == (T0 + 1_000) / 1000
    assert kwargs["deadline"] is not None and API_KEY not in json.dumps(kwargs)

    payload = {"planExecutionId": "e9", "pipelineIdentifier": "deploy", "executionUrl": "https://h/e9"}
    event = {"status": "success", "execution_id": "e9", "harness_status": "Success", "payload": payload}
    assert op.execute_complete(make_context(ti), event) == payload and ti.xcom["execution_id"] == "e9"
    with pytest.raises(HarnessExecutionError, match="e9 of deploy ended Failed"):
        op.execute_complete(make_context(ti), {**event, "status": "failed", "harness_status": "Failed"})
    with pytest.raises(AirflowSensorTimeout):
        op.execute_complete(make_context(ti), {"status": "timeout", "message": "late"})
    with pytest.raises(HarnessExecutionError, match="boom"):
        op.execute_complete(make_context(ti), {"status": "error", "message": "boom"})
    with pytest.raises(HarnessExecutionError, match="unexpected event"):
        op.execute_complete(make_context(ti), {"status": "weird"})
