"""The execution feed (client/execution_feed.py) against a fake execution list (httpx.MockTransport).

The fake answers ``POST /pipeline/api/pipelines/execution/summary`` as harness-api.md §6.2/§3.2 describe:
``status`` / ``pipelineIdentifier`` filters, ``sort=endTs,DESC``, ``page``/``size``, a Spring ``Page``.
``test_event_trigger.py`` imports it.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from airflow_provider_harness.client.config import HarnessConfig, Secret
from airflow_provider_harness.client.execution_feed import (
    ExecutionFilter,
    FeedScan,
    FeedWatermark,
    apoll_feed,
    asset_event_payload,
    event_payload,
    feed_call,
    poll_feed,
)
from airflow_provider_harness.client.statuses import TERMINAL_STATUSES
from airflow_provider_harness.client.transport import AsyncHarnessClient, HarnessClient

API_KEY = "pat.acc.tokenid.FEEDSECRETVALUE99"
SCOPE = {"orgIdentifier": "default", "projectIdentifier": "proj"}
LIST_PATH = "/pipeline/api/pipelines/execution/summary"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms


def make_config(**overrides: Any) -> HarnessConfig:
    values: dict[str, Any] = {
        "account_id": "acc",
        "api_key": Secret(API_KEY),
        "base_url": "https://harness.test/gateway",
        "org_id": "default",
        "project_id": "proj",
        "max_retries": 0,
        "retry_base_delay": 0.01,
        "retry_max_delay": 0.02,
    }
    values.update(overrides)
    return HarnessConfig(**values)


@dataclass
class Row:
    id: str
    pipeline: str
    status: str
    start_ts: int
    end_ts: int | None
    modules: list[str] = field(default_factory=lambda: ["cd"])
    failure: str | None = None
    order: int = 0

    def summary(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "pipelineIdentifier": self.pipeline,
            "orgIdentifier": "default",
            "projectIdentifier": "proj",
            "planExecutionId": self.id,
            "name": self.pipeline.replace("_", " ").title(),
            "status": self.status,
            "tags": [{"key": "team", "value": "payments"}],
            "executionTriggerInfo": {
                "triggerType": "MANUAL",
                "triggeredBy": {"identifier": "Jane", "extraInfo": {"email": "jane@example.com"}},
            },
            "modules": self.modules,
            "startTs": self.start_ts,
            "layoutNodeMap": {},
            "runSequence": self.order,
        }
        if self.end_ts is not None:
            data["endTs"] = self.end_ts
        if self.failure:
            data["failureInfo"] = {"message": self.failure, "failureTypeList": [], "responseMessages": []}
        return data


class FakeExecutionList:
    """An execution list endpoint over ``rows``; ``requests`` records the query of every list call."""

    def __init__(self, *, shuffle_ties: bool = False, seed: int = 7) -> None:
        self.rows: list[Row] = []
        self.requests: list[dict[str, list[str]]] = []
        self.errors: list[httpx.Response] = []  # answered (in order) before the real list
        self.shuffle_ties = shuffle_ties
        self._random = random.Random(seed)
        self._counter = 0

    def add(
        self,
        pipeline: str = "deploy",
        status: str = "Success",
        end_ts: int | None = None,
        *,
        start_ts: int | None = None,
        modules: list[str] | None = None,
        failure: str | None = None,
        execution_id: str | None = None,
    ) -> Row:
        self._counter += 1
        row = Row(
            execution_id or f"exec{self._counter:04d}",
            pipeline,
            status,
            start_ts if start_ts is not None else (end_ts or T0) - 5_000,
            end_ts,
            modules if modules is not None else ["cd"],
            failure,
            self._counter,
        )
        self.rows.append(row)
        return row

    def calls(self) -> int:
        return len(self.requests)

    def handler(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["x-api-key"] == API_KEY
        if request.url.path.removeprefix("/gateway") != LIST_PATH or request.method != "POST":
            return httpx.Response(404, json={"status": "ERROR", "code": "RESOURCE_NOT_FOUND_EXCEPTION"})
        query = parse_qs(urlsplit(str(request.url)).query)
        self.requests.append(query)
        if self.errors:
            return self.errors.pop(0)
        assert json.loads(request.content) == {"filterType": "PipelineExecution"}
        statuses = set(query.get("status", []))
        pipeline = query.get("pipelineIdentifier", [None])[0]
        rows = [
            r
            for r in self.rows
            if (not statuses or r.status in statuses) and (pipeline is None or r.pipeline == pipeline)
        ]
        field_name, direction = query.get("sort", ["startTs,DESC"])[0].split(",")
        attr = {"endTs": "end_ts", "startTs": "start_ts"}[field_name]
        ties = {r.id: self._random.random() if self.shuffle_ties else r.order for r in rows}
        rows.sort(key=lambda r: (getattr(r, attr) or 0, ties[r.id]), reverse=direction == "DESC")
        page, size = int(query.get("page", ["0"])[0]), int(query.get("size", ["10"])[0])
        window = rows[page * size : (page + 1) * size]
        total_pages = max(1, -(-len(rows) // size))
        data = {
            "content": [r.summary() for r in window],
            "totalElements": len(rows),
            "totalPages": total_pages,
            "number": page,
            "size": size,
            "numberOfElements": len(window),
            "first": page == 0,
            "last": page >= total_pages - 1,
            "empty": not window,
        }
        return httpx.Response(200, json={"status": "SUCCESS", "data": data, "correlationId": "c"})

    def client(self, **config: Any) -> HarnessClient:
        return HarnessClient(make_config(**config), transport=httpx.MockTransport(self.handler))

    def async_client(self, **config: Any) -> AsyncHarnessClient:
        return AsyncHarnessClient(make_config(**config), transport=httpx.MockTransport(self.handler))


def poll(
    fake: FakeExecutionList, mark: FeedWatermark, flt: ExecutionFilter | None = None, **scan_options: Any
) -> Any:
    scan = FeedScan(SCOPE, mark, flt or ExecutionFilter.build(), **scan_options)
    return poll_feed(fake.client(), scan)


def ids(result: Any) -> list[str]:
    return [e.execution_id for e in result.new]


# ---- the list call ----------------------------------------------------------------------------------


def test_one_list_call_per_poll_for_several_pipelines_sorted_by_end_terminal_only() -> None:
    fake = FakeExecutionList()
    fake.add("deploy", end_ts=T0 + 10)
    fake.add("build", end_ts=T0 + 20)
    fake.add("other", end_ts=T0 + 30)
    result = poll(fake, FeedWatermark.starting_at(T0), ExecutionFilter.build(["deploy", "build"]))
    assert fake.calls() == 1 and result.calls == 1
    (query,) = fake.requests
    assert query["sort"] == ["endTs,DESC"]
    assert "pipelineIdentifier" not in query  # several pipelines: filtered on our side, one call
    assert set(query["status"]) == TERMINAL_STATUSES
    assert query["orgIdentifier"] == ["default"] and query["projectIdentifier"] == ["proj"]
    assert ids(result) == ["exec0001", "exec0002"]


def test_a_single_pipeline_and_statuses_are_filtered_by_harness() -> None:
    call = feed_call(SCOPE, ExecutionFilter.build(["deploy"], ["failed", "ABORTED"]))
    assert call.params["pipelineIdentifier"] == "deploy"
    assert call.params["status"] == ["Aborted", "Failed"]
    assert call.method == "POST" and call.path == LIST_PATH and call.repeatable


# ---- watermark --------------------------------------------------------------------------------------


def test_each_execution_is_emitted_once_across_polls_oldest_first() -> None:
    fake = FakeExecutionList()
    fake.add(end_ts=T0 - 1)  # ended before the watch started: never emitted
    mark = FeedWatermark.starting_at(T0)
    seen: list[str] = []
    for round_ in range(5):
        for i in range(3):
            fake.add(end_ts=T0 + round_ * 1_000 + (2 - i) * 10)  # added newest first
        result = poll(fake, mark)
        assert [e.end_ts for e in result.new] == sorted(e.end_ts for e in result.new)
        seen += ids(result)
        mark = result.watermark
        assert ids(poll(fake, mark)) == []  # nothing new: nothing again
    assert len(seen) == len(set(seen)) == 15
    assert "exec0001" not in seen


def test_equal_end_timestamps_are_told_apart_by_id() -> None:
    fake = FakeExecutionList(shuffle_ties=True)
    for _ in range(3):
        fake.add(end_ts=T0 + 500)
    first = poll(fake, FeedWatermark.starting_at(T0))
    assert len(first.new) == 3
    # More executions with the very same endTs show up later (in any order among equals).
    fake.add(end_ts=T0 + 500, execution_id="zz_late")
    fake.add(end_ts=T0 + 500, execution_id="aa_late")
    second = poll(fake, first.watermark)
    assert sorted(ids(second)) == ["aa_late", "zz_late"]
    assert ids(poll(fake, second.watermark)) == []


def test_an_execution_listed_late_within_the_look_back_is_emitted_once() -> None:
    fake = FakeExecutionList()
    fake.add(end_ts=T0 + 50_000)
    first = poll(fake, FeedWatermark.starting_at(T0), lookback_ms=60_000)
    late = fake.add(end_ts=T0 + 10_000)  # ended earlier, but Harness lists it only now
    second = poll(fake, first.watermark, lookback_ms=60_000)
    assert ids(second) == [late.id]
    assert ids(poll(fake, second.watermark, lookback_ms=60_000)) == []
    # Beyond the look-back window a late entry is below the floor (a documented limit).
    fake.add(end_ts=T0 + 200_000)
    third = poll(fake, second.watermark, lookback_ms=60_000)
    fake.add(end_ts=T0 + 100_000)
    assert ids(poll(fake, third.watermark, lookback_ms=60_000)) == []


def test_the_remembered_ids_are_bounded_and_eviction_never_repeats() -> None:
    fake = FakeExecutionList(shuffle_ties=True)
    mark = FeedWatermark.starting_at(T0)
    emitted: list[str] = []
    for round_ in range(6):
        for _ in range(4):
            fake.add(end_ts=T0 + 1_000 + round_ % 2)  # many equal / near-equal end times
        result = poll(fake, mark, max_seen=5, lookback_ms=60_000)
        emitted += ids(result)
        mark = result.watermark
        assert len(mark.seen) <= 5
    assert len(emitted) == len(set(emitted))
    # Every execution is either emitted or covered by the floor (none is pending forever).
    for row in fake.rows:
        assert not mark.is_new(row.end_ts or 0, row.id)


def test_watermark_json_round_trip_and_junk() -> None:
    mark = FeedWatermark.starting_at(T0).advanced([("a", T0 + 5), ("b", T0 + 5)], T0 + 9)
    data = json.loads(json.dumps(mark.to_json()))
    assert FeedWatermark.from_json(data) == mark
    for junk in (None, "x", {}, {"v": 99, "floor": [1, ""]}, {"v": 1, "floor": "nope"}):
        assert FeedWatermark.from_json(junk) is None


# ---- paging -----------------------------------------------------------------------------------------


def test_paging_stops_at_the_watermark() -> None:
    fake = FakeExecutionList()
    for i in range(100):
        fake.add(end_ts=T0 - 100_000 - i)  # long before the watch
    for i in range(3):
        fake.add(end_ts=T0 + i)
    result = poll(fake, FeedWatermark.starting_at(T0), page_size=25)
    assert fake.calls() == 1 and len(result.new) == 3 and not result.truncated


def test_a_burst_reads_more_pages_only_as_far_as_needed() -> None:
    fake = FakeExecutionList()
    for i in range(100):
        fake.add(end_ts=T0 - 100_000 - i)
    for i in range(60):
        fake.add(end_ts=T0 + 1 + i)
    result = poll(fake, FeedWatermark.starting_at(T0), page_size=25)
    assert len(result.new) == 60
    assert fake.calls() == 3  # 25 + 25 + (10 new, then older ones: stop)
    assert [int(q["page"][0]) for q in fake.requests] == [0, 1, 2]


def test_the_page_bound_truncates_keeps_the_newest_and_never_repeats() -> None:
    fake = FakeExecutionList()
    for i in range(200):
        fake.add(end_ts=T0 + 1 + i)
    result = poll(fake, FeedWatermark.starting_at(T0), page_size=10, max_pages=3)
    assert fake.calls() == 3 and result.truncated
    assert len(result.new) == 30 and min(e.end_ts for e in result.new) == T0 + 171
    assert result.oldest_listed_ts == T0 + 171
    again = poll(fake, result.watermark, page_size=10, max_pages=3)
    assert ids(again) == []


def test_a_list_that_moves_between_pages_is_deduplicated() -> None:
    fake = FakeExecutionList()
    for i in range(30):
        fake.add(end_ts=T0 + 1 + i)
    scan = FeedScan(SCOPE, FeedWatermark.starting_at(T0), ExecutionFilter.build(), page_size=10)
    client = fake.client()
    data, headers = client.send_raw(scan.next_call())  # type: ignore[arg-type]
    scan.take(data, headers)
    for i in range(5):  # five more end between the two page reads and push everything down
        fake.add(end_ts=T0 + 1_000 + i)
    while (call := scan.next_call()) is not None:
        data, headers = client.send_raw(call)
        scan.take(data, headers)
    result = scan.result()
    assert len(ids(result)) == len(set(ids(result))) == 30
    later = poll(fake, result.watermark)
    assert len(later.new) == 5  # the five newer ones come with the next poll


def test_sync_and_async_scans_agree() -> None:
    fake = FakeExecutionList()
    for i in range(40):
        fake.add("deploy" if i % 2 else "build", end_ts=T0 + i)
    flt = ExecutionFilter.build(["deploy"])
    sync_result = poll(fake, FeedWatermark.starting_at(T0), flt, page_size=7)

    async def run() -> Any:
        client = fake.async_client()
        try:
            return await apoll_feed(client, FeedScan(SCOPE, FeedWatermark.starting_at(T0), flt, page_size=7))
        finally:
            await client.aclose()

    async_result = asyncio.run(run())
    assert ids(sync_result) == ids(async_result) and sync_result.watermark == async_result.watermark


# ---- filter -----------------------------------------------------------------------------------------


def test_filter_statuses_module_and_unfinished_rows() -> None:
    fake = FakeExecutionList()
    fake.add("deploy", "Success", T0 + 1, modules=["ci"])
    keep = fake.add("deploy", "Failed", T0 + 2, modules=["cd", "ci"])
    fake.add("deploy", "Aborted", T0 + 3, modules=["cd"])
    fake.add("deploy", "Running", None)  # not finished: never emitted
    fake.add("deploy", "Success", None)  # terminal but no endTs yet: waits for Harness to record it
    flt = ExecutionFilter.build(statuses=["Failed", "Success"], module="cd")
    result = poll(fake, FeedWatermark.starting_at(T0), flt)
    assert ids(result) == [keep.id]
    assert set(fake.requests[0]["status"]) == {"Failed", "Success"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"statuses": ["Running"]}, "statuses: 'Running' is not a terminal Harness execution status"),
        ({"pipelines": ["1bad"]}, "pipelines"),
        ({"module": "c d"}, "module: 'c d' is not a Harness module name"),
    ],
)
def test_filter_validation_names_the_field(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ExecutionFilter.build(**kwargs)


def test_filter_is_normalised_so_equal_filters_serialise_alike() -> None:
    a = ExecutionFilter.build(["b", "a"], ["SUCCEEDED", "failed"], "CD")
    b = ExecutionFilter.build(("a", "b", "a"), ["Failed", "Success"], "cd")
    assert a == b and a.kwargs() == b.kwargs() == {
        "pipelines": ["a", "b"],
        "statuses": ["Failed", "Success"],
        "module": "cd",
    }


# ---- payload ----------------------------------------------------------------------------------------

NOTIFICATION_FIELDS = {  # harness-api.md §11 (pipeline-level events carry no stage/step fields)
    "accountIdentifier",
    "orgIdentifier",
    "projectIdentifier",
    "pipelineIdentifier",
    "pipelineName",
    "planExecutionId",
    "executionUrl",
    "pipelineUrl",
    "eventType",
    "nodeStatus",
    "triggeredBy",
    "startTime",
    "startTs",
    "endTime",
    "endTs",
    "errorMessage",
    "tag",
}


@pytest.mark.parametrize(
    ("status", "event_type", "node_status"),
    [
        ("Success", "PipelineSuccess", "completed"),
        ("IgnoreFailed", "PipelineEnd", "completed"),
        ("Failed", "PipelineFailed", "failed"),
        ("Errored", "PipelineFailed", "failed"),
        ("Aborted", "PipelineEnd", "aborted"),
        ("Expired", "PipelineFailed", "expired"),
        ("ApprovalRejected", "PipelineFailed", "rejected"),
        ("AbortedByFreeze", "PipelineFailed", "started"),  # §11: other engine statuses -> started
    ],
)
def test_payload_has_the_notification_event_data_shape(
    status: str, event_type: str, node_status: str
) -> None:
    row = Row("e1", "deploy_service", status, T0 + 1_234, T0 + 65_678, ["cd"], "Shell Script failed")
    payload = event_payload(row.summary(), make_config())
    assert set(payload) - {"source"} <= NOTIFICATION_FIELDS
    assert payload["source"] == "poll"
    assert payload["eventType"] == event_type and payload["nodeStatus"] == node_status
    assert payload["accountIdentifier"] == "acc" and payload["planExecutionId"] == "e1"
    assert (payload["orgIdentifier"], payload["projectIdentifier"]) == ("default", "proj")
    assert payload["pipelineIdentifier"] == "deploy_service" and payload["pipelineName"] == "Deploy Service"
    assert payload["startTs"] == (T0 + 1_234) // 1000 and payload["endTs"] == (T0 + 65_678) // 1000
    assert payload["endTime"] == "Thu Jan 01 00:01:05 GMT 2026"
    assert payload["executionUrl"] == (
        "https://harness.test/ng/#/account/acc/cd/orgs/default/projects/proj/pipelines/deploy_service"
        "/executions/e1/pipeline"
    )
    assert payload["pipelineUrl"].endswith("/pipelines/deploy_service/pipeline-studio")
    assert payload["triggeredBy"] == {"triggerType": "MANUAL", "name": "Jane", "email": "jane@example.com"}
    assert payload["tag"] == [{"key": "team", "value": "payments"}]
    assert ("errorMessage" in payload) == (status not in ("Success", "IgnoreFailed"))
    assert None not in payload.values() and "" not in payload.values()  # NON_EMPTY, like Harness
    assert API_KEY not in json.dumps(payload)


def test_payload_leaves_out_empty_fields() -> None:
    summary = {"planExecutionId": "e2", "pipelineIdentifier": "p", "status": "Success", "endTs": T0}
    payload = event_payload(summary, make_config(), scope=SCOPE)
    assert "triggeredBy" not in payload and "tag" not in payload and "startTs" not in payload
    assert payload["orgIdentifier"] == "default" and payload["pipelineName"] == "p"


def test_the_asset_event_payload_is_what_the_webhook_receiver_makes_of_the_same_event() -> None:
    notifications = pytest.importorskip("airflow_provider_harness.client.notifications")
    row = Row("e1", "deploy_service", "Failed", T0 + 1_234, T0 + 65_678, ["cd"], "Shell Script failed")
    event_data = event_payload(row.summary(), make_config())
    event_data.pop("source")
    received = notifications.parse_notification({"eventData": event_data}).event_payload(source="webhook")
    polled = asset_event_payload(row.summary(), make_config())
    assert polled == {**received, "source": "poll"}
    assert polled["dedupeKey"] == received["dedupeKey"] and polled["endTs"] == (T0 + 65_678) // 1000
    # Data the receiver would refuse (no startTs) still makes an event: the plain eventData.
    bare = {"planExecutionId": "e2", "pipelineIdentifier": "p", "status": "Success", "endTs": T0}
    assert asset_event_payload(bare, make_config(), scope=SCOPE)["source"] == "poll"
