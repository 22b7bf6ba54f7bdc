"""Coalesced status polling: one list call per project serves every trigger of the process in that project.

With ``coalesce_polls`` on the connection, a trigger reads its execution's status through the
:class:`ProjectPoller` of its project (per event loop, Harness, account, API key digest, org and project)
instead of one details GET per execution per poll. The poller answers from its latest list of the
project's *running* executions (``POST /pipeline/api/pipelines/execution/summary`` filtered to the
non-terminal statuses, every page) when it is at most ``max_age`` seconds old, and refreshes it once for
all the triggers that ask meanwhile (single flight). An execution the list does not show - it ended, has
not reached the list yet, or the list cannot see it (another module, a permission gap) - is read with its
own details call, so every trigger still gets a full snapshot. Requests then grow with projects and
completions, not with executions.

The poller holds no per-trigger state: a trigger that is cancelled (killed, reassigned, triggerer
restart) leaves nothing behind; the refresh it was waiting for is shielded and serves the others.

>>> poller = ProjectPoller(None, {"orgIdentifier": "o", "projectIdentifier": "p"})  # type: ignore[arg-type]
>>> poller.fresh(max_age=10.0, now=0.0)
False
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_harness.client.executions import (
    ExecutionSnapshot,
    fetch_execution_status,
    list_executions_call,
    parse_summary,
)
from airflow_provider_harness.client.statuses import NON_TERMINAL_STATUSES

if TYPE_CHECKING:
    from airflow_provider_harness.client.transport import AsyncHarnessClient

#: The most running executions one list refresh reads in a project (bounded memory).
MAX_LISTED = 20_000
LIST_PAGE_SIZE = 100


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
        self.running: dict[str, ExecutionSnapshot] = {}
        self.listed_at: float | None = None
        self.list_calls = 0
        self.detail_calls = 0
        self.served_from_list = 0
        self._refresh: asyncio.Future[None] | None = None

    def fresh(self, max_age: float, now: float | None = None) -> bool:
        """Whether the last list is at most ``max_age`` seconds old."""
        if self.listed_at is None:
            return False
        return (self.clock() if now is None else now) - self.listed_at <= max_age

    async def status(self, execution_id: str, max_age: float) -> ExecutionSnapshot:
        """The execution's snapshot: from a list at most ``max_age`` old, else from its details call."""
        if not self.fresh(max_age):
            await self._refreshed()
        snapshot = self.running.get(execution_id)
        if snapshot is not None:
            self.served_from_list += 1
            return snapshot
        self.detail_calls += 1
        return await fetch_execution_status(self.client, self.scope, execution_id)

    async def _refreshed(self) -> None:
        if self._refresh is None or self._refresh.done():
            self._refresh = asyncio.ensure_future(self._list())
        await asyncio.shield(self._refresh)

    async def _list(self) -> None:
        running: dict[str, ExecutionSnapshot] = {}
        call = list_executions_call(self.scope, statuses=NON_TERMINAL_STATUSES)
        started = self.clock()
        self.list_calls += 1
        async for item in self.client.paginate(call, page_size=LIST_PAGE_SIZE, limit=MAX_LISTED):
            snapshot = parse_summary(item)
            running[snapshot.execution_id] = snapshot
        self.running = running
        self.listed_at = started  # the list shows the state when it was asked for


_POLLERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, ...], ProjectPoller]] = (
    weakref.WeakKeyDictionary()
)


def project_poller(client: AsyncHarnessClient, scope: Mapping[str, str]) -> ProjectPoller:
    """This event loop's poller for the client's Harness, account and key, and ``scope``'s project."""
    config = client.config
    digest = hashlib.sha256(config.api_key.reveal().encode()).hexdigest()[:16]
    key = (
        config.base_url,
        config.account_id,
        digest,
        str(scope.get("orgIdentifier", "")),
        str(scope.get("projectIdentifier", "")),
    )
    pollers = _POLLERS.setdefault(asyncio.get_running_loop(), {})
    poller = pollers.get(key)
    if poller is None:
        poller = pollers[key] = ProjectPoller(client, scope)
    return poller


def coalesced_fetcher(max_age: float) -> Any:
    """A status fetcher (``(client, scope, execution_id) -> snapshot``) reading through the project poller,
    accepting a list at most ``max_age`` seconds old."""

    async def fetch(
        client: AsyncHarnessClient, scope: Mapping[str, str], execution_id: str
    ) -> ExecutionSnapshot:
        return await project_poller(client, scope).status(execution_id, max_age)

    return fetch


__all__ = ["ProjectPoller", "coalesced_fetcher", "project_poller"]
