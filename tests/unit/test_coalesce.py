"""The project poller of coalesced polling: single-flight list refreshes, freshness, details fallback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from airflow_provider_harness.client.coalesce import ProjectPoller
from airflow_provider_harness.client.executions import ExecutionSnapshot
from airflow_provider_harness.client.statuses import NON_TERMINAL_STATUSES

SCOPE = {"orgIdentifier": "o", "projectIdentifier": "p"}


class FakeClient:
    """Lists ``running`` (after a pause, so concurrent askers overlap); answers details for anything."""

    def __init__(self, running: list[str]) -> None:
        self.running = running
        self.lists: list[dict[str, Any]] = []
        self.details: list[str] = []
        self.release = asyncio.Event()

    async def paginate(self, call: Any, *, page_size: int, limit: int | None = None) -> AsyncIterator[Any]:
        self.lists.append(dict(call.params))
        await self.release.wait()
        for execution_id in self.running:
            yield {"planExecutionId": execution_id, "pipelineIdentifier": "p", "status": "Running"}

    async def send(self, call: Any) -> ExecutionSnapshot:
        execution_id = call.path.rsplit("/", 1)[-1]
        self.details.append(execution_id)
        return ExecutionSnapshot(execution_id, "p", "Success")


class Ending(FakeClient):
    """Lists ``running`` as running; the ended list (``endTs`` descending) shows everything else."""

    everything = ("other", "a", "b", "c")

    async def paginate(self, call: Any, *, page_size: int, limit: int | None = None) -> AsyncIterator[Any]:
        self.lists.append(dict(call.params))
        ended = call.params.get("sort") == "endTs,DESC"
        for execution_id in self.everything:
            if (execution_id in self.running) != ended:
                status = "Success" if ended else "Running"
                yield {"planExecutionId": execution_id, "pipelineIdentifier": "p", "status": status}


async def test_concurrent_askers_share_one_list_and_the_rest_read_details() -> None:
    client = FakeClient(["a", "b", "c"])
    now = [100.0]
    poller = ProjectPoller(client, SCOPE, clock=lambda: now[0])  # type: ignore[arg-type]
    asks = [asyncio.ensure_future(poller.status(e, max_age=5.0)) for e in ("a", "b", "c", "gone")]
    await asyncio.sleep(0)
    client.release.set()
    snapshots = await asyncio.gather(*asks)
    assert len(client.lists) == 1
    assert sorted(client.lists[0]["status"]) == sorted(NON_TERMINAL_STATUSES)
    assert [s.status for s in snapshots] == ["Running", "Running", "Running", "Success"]
    assert client.details == ["gone"] and poller.served_from_list == 3

    now[0] = 104.0  # still fresh: no new list
    assert (await poller.status("a", max_age=5.0)).status == "Running"
    now[0] = 106.0  # stale: one refresh
    assert (await poller.status("a", max_age=5.0)).status == "Running"
    assert len(client.lists) == 2


async def test_a_cancelled_asker_does_not_cancel_the_shared_refresh() -> None:
    client = FakeClient(["a", "b"])
    poller = ProjectPoller(client, SCOPE)  # type: ignore[arg-type]
    victim = asyncio.ensure_future(poller.status("a", max_age=5.0))
    other = asyncio.ensure_future(poller.status("b", max_age=5.0))
    await asyncio.sleep(0)
    victim.cancel()
    with pytest.raises(asyncio.CancelledError):
        await victim
    client.release.set()
    assert (await other).status == "Running"
    assert len(client.lists) == 1 and poller.running.keys() == {"a", "b"}


async def test_a_failed_refresh_reaches_every_asker_and_the_next_ask_lists_again() -> None:
    class Failing(FakeClient):
        attempts = 0

        async def paginate(
            self, call: Any, *, page_size: int, limit: int | None = None
        ) -> AsyncIterator[Any]:
            self.attempts += 1
            if self.attempts == 1:
                raise ConnectionError("boom")
            async for item in super().paginate(call, page_size=page_size, limit=limit):
                yield item

    client = Failing(["a"])
    client.release.set()
    poller = ProjectPoller(client, SCOPE)  # type: ignore[arg-type]
    results = await asyncio.gather(*(poller.status("a", 5.0) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    assert (await poller.status("a", 5.0)).status == "Running"
    assert client.attempts == 2  # one shared failed refresh, then one new refresh


async def test_executions_that_left_the_running_set_come_from_one_ended_list() -> None:
    client = Ending(["a", "b", "c"])
    now = [0.0]
    poller = ProjectPoller(client, SCOPE, clock=lambda: now[0])  # type: ignore[arg-type]
    first = await asyncio.gather(*(poller.status(e, 1.0) for e in ("a", "b", "c")))
    assert {s.status for s in first} == {"Running"}
    # the followers sleep between polls: their executions are the ones the poller parses and watches
    sleeping = [asyncio.ensure_future(poller.sleep(e, 3600.0, check_every=3600.0)) for e in ("a", "b", "c")]
    await asyncio.sleep(0)
    client.running = ["c"]  # a and b ended
    now[0] = 2.0
    done = [await poller.status(e, 1.0) for e in ("a", "b", "c")]
    assert [s.status for s in done] == ["Success", "Success", "Running"]
    assert client.details == []  # the ended list told the outcome: no call per completion
    assert [c.get("sort") for c in client.lists] == ["startTs,DESC", "startTs,DESC", "endTs,DESC"]
    now[0] = 300.0  # kept for a follower that asks late
    assert (await poller.status("a", 1.0)).status == "Success"
    assert client.details == []
    now[0] = 700.0  # then dropped by the next refresh: memory stays bounded
    assert (await poller.status("c", 1.0)).status == "Running"
    assert "a" not in poller.ended and "b" not in poller.ended
    for sleeper in sleeping:
        sleeper.cancel()
    await asyncio.gather(*sleeping, return_exceptions=True)


async def test_only_followed_executions_are_parsed_and_unchanged_ones_are_not_parsed_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow_provider_harness.client import coalesce

    parsed: list[str] = []
    real_parse = coalesce.parse_summary

    def counting_parse(item: Any) -> ExecutionSnapshot:
        parsed.append(item["planExecutionId"])
        return real_parse(item)

    monkeypatch.setattr(coalesce, "parse_summary", counting_parse)
    client = Ending(["a", "b", "c"])
    now = [0.0]
    poller = ProjectPoller(client, SCOPE, clock=lambda: now[0])  # type: ignore[arg-type]
    await poller.status("a", 1.0)
    assert parsed == ["a"] and poller.running.keys() == {"a", "b", "c"}  # b, c: listed, not parsed
    for moment in (2.0, 4.0):
        now[0] = moment
        assert (await poller.status("a", 1.0)).status == "Running"
    assert parsed == ["a"] and len(client.lists) == 3  # still running the same stage: reused


async def test_a_refresh_that_sees_an_execution_end_wakes_its_sleeping_follower_at_once() -> None:
    client = Ending(["a", "b", "c"])
    now = [0.0]
    poller = ProjectPoller(client, SCOPE, clock=lambda: now[0])  # type: ignore[arg-type]
    await poller.status("a", 1.0)
    sleepers = {e: asyncio.ensure_future(poller.sleep(e, 3600.0, 3600.0)) for e in ("a", "b", "c")}
    await asyncio.sleep(0)
    client.running = ["b", "c"]  # a ended
    now[0] = 2.0
    assert (await poller.status("b", 1.0)).status == "Running"  # b's poll refreshes the list
    await asyncio.wait_for(sleepers["a"], timeout=60)  # woken, an hour early
    assert (await poller.status("a", 1.0)).status == "Success"
    assert not sleepers["b"].done() and not sleepers["c"].done()
    for sleeper in (sleepers["b"], sleepers["c"]):
        sleeper.cancel()
    await asyncio.gather(sleepers["b"], sleepers["c"], return_exceptions=True)
    assert poller._sleepers == {} and poller._end_checker is None  # cancelled followers leave nothing behind


async def test_a_sleeping_follower_wakes_after_its_interval_when_nothing_ends() -> None:
    poller = ProjectPoller(Ending(["a"]), SCOPE)  # type: ignore[arg-type]
    loop = asyncio.get_running_loop()
    started = loop.time()
    await poller.sleep("a", 0.05, check_every=3600.0)
    assert loop.time() - started >= 0.05 and poller._sleepers == {}


async def test_followers_that_all_poll_at_once_are_woken_by_the_pollers_own_list() -> None:
    """Triggers started together poll together; an end in between is still seen within ``max_age``."""
    client = Ending(["a", "b"])
    poller = ProjectPoller(client, SCOPE)  # type: ignore[arg-type]
    await poller.status("a", max_age=0.05)
    sleepers = {e: asyncio.ensure_future(poller.sleep(e, 3600.0, check_every=0.05)) for e in ("a", "b")}
    await asyncio.sleep(0)
    client.running = ["b"]  # a ends; nobody asks
    await asyncio.wait_for(sleepers["a"], timeout=60)
    assert (await poller.status("a", max_age=3600.0)).status == "Success"
    assert not sleepers["b"].done() and client.details == []
    sleepers["b"].cancel()
    await asyncio.gather(sleepers["b"], return_exceptions=True)
    assert poller._end_checker is None


async def test_auto_a_lone_follower_keeps_its_own_details_call() -> None:
    """``coalesce_polls`` unset: one trigger in a busy project must not drain the project's list."""
    client = Ending(["a", "b", "c"])
    poller = ProjectPoller(client, SCOPE)  # type: ignore[arg-type]
    assert (await poller.status("a", max_age=5.0, always=False)).status == "Success"
    assert client.details == ["a"] and client.lists == []


async def test_auto_lists_once_the_followers_outnumber_the_pages_a_list_takes() -> None:
    client = Ending(["a", "b", "c"])
    poller = ProjectPoller(client, SCOPE)  # type: ignore[arg-type]
    sleepers = [asyncio.ensure_future(poller.sleep(e, 3600.0, check_every=3600.0)) for e in ("b", "c")]
    await asyncio.sleep(0)
    assert poller.followers == 2 and poller.pages == 1
    assert (await poller.status("a", max_age=5.0, always=False)).status == "Running"
    assert client.details == [] and len(client.lists) == 1
    for sleeper in sleepers:
        sleeper.cancel()
    await asyncio.gather(*sleepers, return_exceptions=True)
    assert poller.followers == 0


async def test_an_execution_whose_stage_moved_is_parsed_again() -> None:
    class Moving(Ending):
        stage_status = "Running"

        async def paginate(
            self, call: Any, *, page_size: int, limit: int | None = None
        ) -> AsyncIterator[Any]:
            async for item in super().paginate(call, page_size=page_size, limit=limit):
                nodes = {"n1": {"nodeIdentifier": "build", "status": self.stage_status}}
                yield {**item, "layoutNodeMap": nodes, "startingNodeId": "n1"}

    client = Moving(["a"])
    now = [0.0]
    poller = ProjectPoller(client, SCOPE, clock=lambda: now[0])  # type: ignore[arg-type]
    assert [s.status for s in (await poller.status("a", 1.0)).stages] == ["Running"]
    client.stage_status = "Success"
    now[0] = 2.0
    assert [s.status for s in (await poller.status("a", 1.0)).stages] == ["Success"]


async def test_checks_between_polls_read_only_the_ends_since_the_last_check() -> None:
    class Ends(FakeClient):
        ends: list[tuple[str, int]] = [("other", 1000)]  # newest first
        read = 0

        async def paginate(
            self, call: Any, *, page_size: int, limit: int | None = None
        ) -> AsyncIterator[Any]:
            self.lists.append(dict(call.params))
            if call.params.get("sort") != "endTs,DESC":
                for execution_id in self.running:
                    yield {"planExecutionId": execution_id, "pipelineIdentifier": "p", "status": "Running"}
                return
            for execution_id, end_ts in self.ends[:limit]:
                self.read += 1
                yield {"planExecutionId": execution_id, "pipelineIdentifier": "p", "status": "Success",
                       "endTs": end_ts}  # fmt: skip

    client = Ends(["x", "y"])
    poller = ProjectPoller(client, SCOPE)  # type: ignore[arg-type]
    await asyncio.gather(poller.status("x", 3600.0), poller.status("y", 3600.0))
    sleepers = {e: asyncio.ensure_future(poller.sleep(e, 3600.0, check_every=0.01)) for e in ("x", "y")}
    await wait_until(lambda: client.read >= 1)  # a first check read the newest end: nothing to wake
    client.ends = [("x", 2000), ("other", 1000)]
    await asyncio.wait_for(sleepers["x"], timeout=60)
    assert (await poller.status("x", 3600.0)).status == "Success"
    assert not sleepers["y"].done() and client.details == []

    def checks() -> int:
        return sum(c.get("sort") == "endTs,DESC" for c in client.lists)

    reads, checks_before = client.read, checks()
    await wait_until(lambda: checks() >= checks_before + 2)
    # each later check stops at the first end it already read: one item, not the whole page
    assert client.read - reads <= checks() - checks_before
    sleepers["y"].cancel()
    await asyncio.gather(sleepers["y"], return_exceptions=True)


async def wait_until(condition: Any, timeout: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def test_the_pollers_own_reads_go_through_the_installed_status_fetcher() -> None:
    from airflow_provider_harness.client import executions

    seen: list[str] = []

    async def fetcher(client: Any, scope: Any, execution_id: str) -> ExecutionSnapshot:
        seen.append(execution_id)
        return ExecutionSnapshot(execution_id, "p", "Queued")

    poller = ProjectPoller(Ending(["a"]), SCOPE)  # type: ignore[arg-type]
    previous = executions.use_status_fetcher(fetcher)
    try:
        assert (await poller.status("a", max_age=5.0, always=False)).status == "Queued"
    finally:
        executions.use_status_fetcher(previous)
    assert seen == ["a"]
