"""Coalesced status polling: one list call per project serves every trigger of the process in that project.

A trigger reads its execution's status through the :class:`ProjectPoller` of its project (per event
loop, connection pool, Harness, account, API key digest, org and project). By default (``coalesce_polls``
unset) the poller lists only while that is :meth:`~ProjectPoller.worth_listing` (more followers than the
list has pages), else each trigger keeps its one details GET per poll; ``coalesce_polls: true`` always
lists, ``false`` bypasses the poller. The poller answers from its latest list of the
project's *running* executions (``POST /pipeline/api/pipelines/execution/summary`` filtered to the
non-terminal statuses, every page) when it is at most ``max_age`` seconds old, and refreshes it once for
all the triggers that ask meanwhile (single flight). Executions that left the running set since the last
refresh are read from one list of the project's newest ended executions (``endTs`` descending), so the
list tells their outcome too, without a call per completion. An execution neither list shows - it has not
reached the list yet, or the list cannot see it (another module, a permission gap) - is read with its own
details call, so every trigger still gets a full snapshot. Requests then grow with projects, not with
executions or completions.

A follower sleeps between polls through :meth:`ProjectPoller.sleep`. While followers sleep, the poller
reads the project's newly ended executions every ``check_every`` seconds (one short list, newest end
first, down to the newest end it read before) and wakes the followers of those that ended, so an end is
seen within about ``check_every`` (half a poll interval for a trigger) of happening. The running list,
which tells stage progress, is read only when a follower polls and the last one is older than its
``max_age`` (one poll interval for a trigger).

The poller keeps no per-trigger state beyond a sleeping follower's wake-up future: a trigger that is
cancelled (killed, reassigned, triggerer restart) leaves nothing behind; the refresh it was waiting for is
shielded and serves the others.

>>> poller = ProjectPoller(None, {"orgIdentifier": "o", "projectIdentifier": "p"})  # type: ignore[arg-type]
>>> poller.fresh(max_age=10.0, now=0.0)
False
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import Callable, Hashable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from airflow_provider_harness.client.executions import (
    ExecutionSnapshot,
    list_executions_call,
    parse_summary,
    status_fetcher,
)
from airflow_provider_harness.client.statuses import NON_TERMINAL_STATUSES, TERMINAL_STATUSES

if TYPE_CHECKING:
    from airflow_provider_harness.client.transport import AsyncHarnessClient

#: The most running executions one list refresh reads in a project (bounded memory).
MAX_LISTED = 20_000
LIST_PAGE_SIZE = 100
#: Ended executions read beyond those that left the running set (others of the project end meanwhile).
ENDED_SLACK = 200
#: Page size of an ended list beyond the executions looked for (the ends read are the newest first).
ENDED_PAGE_SLACK = 20
#: The most ended executions one check between polls reads (more ends than this are left to the polls).
ENDED_CHECK_LIMIT = LIST_PAGE_SIZE
#: How long an ended execution's snapshot is kept for a follower that asks late (dropped by the next
#: refresh after that; a later ask reads the execution's details).
ENDED_KEEP_SECONDS = 600.0


class ProjectPoller:
    """The running executions of one project, listed at most once per ``max_age`` for all its followers."""

    def __init__(
        self,
        client: AsyncHarnessClient,
        scope: Mapping[str, str],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.scope = dict(scope)
        self.clock = clock
        #: The running executions of the last list: for those a follower waits for, the snapshot and the
        #: progress key it was parsed at (reused while unchanged); None for the others (not parsed, not kept).
        self.running: dict[str, tuple[Hashable, ExecutionSnapshot] | None] = {}
        #: Followers asking right now, by execution id (with the sleepers: whose items a refresh parses).
        self._askers: dict[str, int] = {}
        self.ended: dict[str, tuple[ExecutionSnapshot, float]] = {}
        self.listed_at: float | None = None
        self.served_from_list = 0
        self._refresh: asyncio.Future[None] | None = None
        #: Followers sleeping until their next poll, by execution id (see :meth:`sleep`).
        self._sleepers: dict[str, list[asyncio.Future[None]]] = {}
        self._sleeping = 0
        self._asking = 0
        #: Pages the last running list took (what one refresh costs, in requests).
        self.pages = 1
        #: Whether some follower asked for lists whatever they cost (``coalesce_polls: true``).
        self.always = False
        self._check_every: float | None = None
        self._end_checker: asyncio.Future[None] | None = None

    @property
    def followers(self) -> int:
        """Followers of this project now: sleeping between polls or asking."""
        return self._sleeping + self._asking

    def worth_listing(self) -> bool:
        """Whether a refresh costs fewer requests than the followers' own details calls (``auto``):
        a single trigger in a project of a thousand running executions keeps its one call per poll."""
        return self.always or self.followers > self.pages

    def fresh(self, max_age: float, now: float | None = None) -> bool:
        """Whether the last list is at most ``max_age`` seconds old."""
        if self.listed_at is None:
            return False
        return (self.clock() if now is None else now) - self.listed_at <= max_age

    async def status(self, execution_id: str, max_age: float, *, always: bool = True) -> ExecutionSnapshot:
        """The execution's snapshot: from a list at most ``max_age`` old, else from its details call.

        With ``always`` false (``auto``), a stale list is refreshed only when that is
        :meth:`worth_listing`; otherwise this execution is read with its own details call.
        """
        self.always = self.always or always
        self._asking += 1
        self._askers[execution_id] = self._askers.get(execution_id, 0) + 1
        try:
            if execution_id in self.ended:  # an end is final: no list needed
                self.served_from_list += 1
                return self.ended[execution_id][0]
            if not self.fresh(max_age):
                if not self.worth_listing():
                    return await status_fetcher()(self.client, self.scope, execution_id)
                await self._refreshed()
            listed = self.running.get(execution_id)
            snapshot = listed[1] if listed is not None else None
            if snapshot is None and execution_id in self.ended:
                snapshot = self.ended[execution_id][0]
            if snapshot is not None:
                self.served_from_list += 1
                return snapshot
            return await status_fetcher()(self.client, self.scope, execution_id)
        finally:
            self._asking -= 1
            if self._askers[execution_id] > 1:
                self._askers[execution_id] -= 1
            else:
                del self._askers[execution_id]

    async def _refreshed(self) -> None:
        if self._refresh is None or self._refresh.done():
            self._refresh = asyncio.ensure_future(self._list())
        await asyncio.shield(self._refresh)

    async def _list(self) -> None:
        running: dict[str, tuple[Hashable, ExecutionSnapshot] | None] = {}
        call = list_executions_call(self.scope, statuses=NON_TERMINAL_STATUSES)
        started = self.clock()
        async for item in self.client.paginate(call, page_size=LIST_PAGE_SIZE, limit=MAX_LISTED):
            execution_id = item.get("planExecutionId") if isinstance(item, Mapping) else None
            if not isinstance(execution_id, str) or not execution_id:
                raise ValueError("Harness listed an execution without planExecutionId")
            if execution_id not in self._sleepers and execution_id not in self._askers:
                running[execution_id] = None  # nobody here follows it: only its id is kept
                continue
            key = progress_key(item)
            before = self.running.get(execution_id)
            running[execution_id] = before if before and before[0] == key else (key, parse_summary(item))
        left = {
            e
            for e in self.running
            if e not in running and e not in self.ended and (e in self._sleepers or e in self._askers)
        }
        if left:
            await self._read_ends(left, limit=len(left) + ENDED_SLACK, started=started)
        # ended executions are kept a while for followers that ask late, then dropped: memory stays bounded
        self.ended = {k: v for k, v in self.ended.items() if started - v[1] <= ENDED_KEEP_SECONDS}
        self.running = running
        self.pages = max(1, -(-len(running) // LIST_PAGE_SIZE))
        self.listed_at = started  # the lists show the state when they were asked for

    async def _read_ends(
        self, wanted: set[str], *, limit: int, started: float, since: int | None = None
    ) -> int:
        """Read the project's newest ended executions (``endTs`` descending) until every one of ``wanted``
        is found, ``limit`` items are read or (with ``since``) an end at or before ``since`` is reached;
        record the wanted ones and wake their sleepers. Returns the newest end time read (or ``since``)."""
        call = list_executions_call(self.scope, statuses=TERMINAL_STATUSES)
        call = replace(call, params={**call.params, "sort": "endTs,DESC"})
        missing = set(wanted)
        newest = since or 0
        size = min(LIST_PAGE_SIZE, len(missing) + ENDED_PAGE_SLACK)
        async with contextlib.aclosing(self.client.paginate(call, page_size=size, limit=limit)) as items:
            async for item in items:
                if not isinstance(item, Mapping):
                    continue
                end_ts = item.get("endTs")
                if isinstance(end_ts, int):
                    if since is not None and end_ts <= since:
                        break  # read by an earlier check
                    newest = max(newest, end_ts)
                execution_id = item.get("planExecutionId")
                if execution_id in missing:  # only what a follower here waits for is parsed
                    missing.discard(execution_id)
                    self._record_end(parse_summary(item), started)
                    if not missing and since is None:
                        break
        return newest

    def _record_end(self, snapshot: ExecutionSnapshot, at: float) -> None:
        self.ended[snapshot.execution_id] = (snapshot, at)
        self.running.pop(snapshot.execution_id, None)
        for waiter in self._sleepers.pop(snapshot.execution_id, ()):
            if not waiter.done():
                waiter.set_result(None)

    async def sleep(self, execution_id: str, seconds: float, check_every: float) -> None:
        """Wait ``seconds``, or less: the first read that shows ``execution_id`` ended wakes the follower at
        once, rather than at its next poll. While followers sleep, the poller checks the project's newly
        ended executions every ``check_every`` seconds (the smallest one asked) on its own, so followers
        that all poll at once are still woken in between. A cancelled sleeper leaves nothing behind; the
        checks stop with the last sleeper.
        """
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        timer = loop.call_later(seconds, _wake, waiter)
        sleepers = self._sleepers.setdefault(execution_id, [])
        sleepers.append(waiter)
        self._sleeping += 1
        self._check_every = min(self._check_every or check_every, check_every)
        if self._end_checker is None or self._end_checker.done():
            self._end_checker = asyncio.ensure_future(self._check_ends_while_followers_sleep())
        try:
            await waiter
        finally:
            timer.cancel()
            self._sleeping -= 1
            if waiter in sleepers:
                sleepers.remove(waiter)
            if not sleepers and self._sleepers.get(execution_id) is sleepers:
                del self._sleepers[execution_id]
            if not self._sleepers and self._end_checker is not None:
                self._end_checker.cancel()
                self._end_checker = None
                self._check_every = None

    async def _check_ends_while_followers_sleep(self) -> None:
        """Every ``_check_every`` seconds while followers sleep, read the project's newly ended executions
        (one short page, newest first, down to the newest end the last check read) and wake the followers
        of those that ended; the running list is left to the followers' own polls. Errors reach followers
        on their own polls, so here they only delay the next check."""
        since: int | None = None
        while self._sleepers and self._check_every:
            every = self._check_every
            await asyncio.sleep(every)
            waiting = {e for e in self._sleepers if e not in self.ended}
            if not waiting or not self.worth_listing():
                continue
            try:
                since = await self._read_ends(
                    waiting, limit=ENDED_CHECK_LIMIT, started=self.clock(), since=since
                )
            except Exception:  # the followers' own polls report it; CancelledError passes
                continue


def progress_key(item: Mapping[str, Any]) -> Hashable:
    """What changes in a listed execution while it runs: its status and times, and each stage node's. An
    item with the key of the last parse is the same snapshot, so it is not parsed again.

    >>> progress_key({"status": "Running", "startTs": 1, "layoutNodeMap": {"n1": {"status": "Running"}}})
    ('Running', 1, None, (('n1', 'Running', None, None),))
    """
    nodes = item.get("layoutNodeMap")
    stages: tuple[tuple[Any, ...], ...] = ()
    if isinstance(nodes, Mapping):
        stages = tuple(
            (uuid, node.get("status"), node.get("startTs"), node.get("endTs"))
            for uuid, node in nodes.items()
            if isinstance(node, Mapping)
        )
    return (item.get("status"), item.get("startTs"), item.get("endTs"), stages)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


_POLLERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[Any, ...], ProjectPoller]] = (
    weakref.WeakKeyDictionary()
)


def project_poller(client: AsyncHarnessClient, scope: Mapping[str, str]) -> ProjectPoller:
    """This event loop's poller for the client's Harness, account and key, and ``scope``'s project (and
    its connection pool: a client with a transport of its own, as in tests, gets a poller of its own)."""
    config = client.config
    key = (
        id(client.http),
        config.base_url,
        config.account_id,
        config.key_digest,
        str(scope.get("orgIdentifier", "")),
        str(scope.get("projectIdentifier", "")),
    )
    pollers = _POLLERS.setdefault(asyncio.get_running_loop(), {})
    poller = pollers.get(key)
    if poller is None:
        poller = pollers[key] = ProjectPoller(client, scope)
    return poller


def coalesced_fetcher(max_age: float, *, always: bool = True) -> Any:
    """A status fetcher (``(client, scope, execution_id) -> snapshot``) reading through the project poller,
    accepting a list at most ``max_age`` seconds old (``always`` false: only when worth it)."""

    async def fetch(
        client: AsyncHarnessClient, scope: Mapping[str, str], execution_id: str
    ) -> ExecutionSnapshot:
        return await project_poller(client, scope).status(execution_id, max_age, always=always)

    return fetch


__all__ = ["ProjectPoller", "coalesced_fetcher", "project_poller"]
