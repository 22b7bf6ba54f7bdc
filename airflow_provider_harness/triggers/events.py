"""Harness execution events by polling: an asset watcher trigger and the outcome sensor's trigger.

``HarnessExecutionEventTrigger`` (a ``BaseEventTrigger``) watches one Harness project and yields one
``TriggerEvent`` per newly finished execution that passes its filter (pipelines, end statuses, module).
Airflow turns each event into an asset event on every asset the trigger watches; the payload (the
asset event's ``extra["payload"]``) is Harness's notification ``eventData`` read the way the webhook
receiver reads a delivered one (same keys, same ``dedupeKey``) with ``"source": "poll"``, so a DAG
scheduled on a ``harness://`` asset runs whichever way the event arrived::

    from airflow.sdk import DAG
    from airflow_provider_harness.triggers.events import harness_event_asset

    deploys = harness_event_asset("harness://ACCOUNT/default/payments/deploy_service", statuses=["Success"])
    with DAG("after_deploy", schedule=[deploys]):
        ...

Cost: ONE list call per project per poll (``POST …/execution/summary``, newest ``endTs`` first, terminal
statuses only), whatever the number of pipelines in the filter; a second page only when more than a
page (50) of executions ended within the look-back window and since the last poll.

Watermark: which executions were already emitted is kept across triggerer restarts, in the asset's
state store on Airflow 3.3+ (key ``harness_event_watermark.<org>.<project>.<digest>``) and in an Airflow
Variable of that name on 3.0 - 3.2. The first start emits what finishes from then on. The watermark of a
poll is saved ``commit_delay`` seconds after its events were handed to the triggerer (time for them to
reach the metadata DB), so a restart never loses an event; only an event emitted in those last seconds
before a restart or crash can be emitted again. See docs/events.md.

``HarnessExecutionOutcomeTrigger`` is its single-event sibling for a deferred
:class:`~airflow_provider_harness.sensors.events.HarnessExecutionOutcomeSensor`: the same scan from a
fixed time, one event for the first matching execution, or ``timeout`` / ``error``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from airflow.triggers.base import BaseEventTrigger, BaseTrigger, TriggerEvent

from airflow_provider_harness.airflow_compat import AIRFLOW_VERSION
from airflow_provider_harness.client.execution_feed import (
    DEFAULT_LOOKBACK_MS,
    DEFAULT_MAX_PAGES,
    DEFAULT_PAGE_SIZE,
    ExecutionFilter,
    FeedWatermark,
    terminal_statuses,
)
from airflow_provider_harness.connection_fields import DEFAULT_CONN_ID
from airflow_provider_harness.triggers.execution_event import EVENT_STATUSES

if TYPE_CHECKING:
    from airflow.sdk import Asset

    from airflow_provider_harness.client.execution_feed import FeedPoll
    from airflow_provider_harness.client.transport import AsyncHarnessClient

#: Prefix of the asset state store key / Variable that holds a watcher's watermark.
WATERMARK_KEY_PREFIX = "harness_event_watermark"
#: The most a watcher waits between attempts while Harness or the connection keeps failing.
MAX_RETRY_SECONDS = 300.0
#: An outcome event's statuses are those of the execution trigger's events (one definition).
OUTCOME_EVENT_STATUSES = EVENT_STATUSES


# ---------------------------------------------------------------------------------------------------
# Where the watermark lives
# ---------------------------------------------------------------------------------------------------


class WatermarkStore(Protocol):
    """Keeps a watcher's watermark (JSON) across triggerer restarts."""

    where: str

    async def load(self) -> list[Any]:
        """Every stored value (one per watched asset on 3.3; none when nothing was saved yet)."""
        ...

    async def save(self, value: dict[str, Any]) -> None: ...


class MemoryWatermarkStore:
    """Keeps the watermark in this process only (tests, ``dag.test()``, no store available)."""

    where = "memory only (not kept across restarts)"

    def __init__(self, value: dict[str, Any] | None = None) -> None:
        self.value = value
        self.saves = 0

    async def load(self) -> list[Any]:
        return [] if self.value is None else [self.value]

    async def save(self, value: dict[str, Any]) -> None:
        self.value = value
        self.saves += 1


class AssetStateWatermarkStore:
    """Airflow 3.3+: the asset state store the triggerer injects (``asset_state_store``); with several
    watched assets every one of them gets the value."""

    def __init__(self, accessors: Any, key: str) -> None:
        self.key = key
        self._accessors = _single_accessors(accessors)
        self.where = f"asset state store, key {key}"

    async def load(self) -> list[Any]:
        values = []
        for accessor in self._accessors:
            value = await accessor.aget(self.key)
            if value is not None:
                values.append(value)
        return values

    async def save(self, value: dict[str, Any]) -> None:
        for accessor in self._accessors:
            await accessor.aset(self.key, value)


def _single_accessors(accessors: Any) -> list[Any]:
    """The per-asset accessors of an ``AssetStateStoreAccessors`` (one per watched asset)."""
    try:
        return [accessors._single_accessor()]
    except ValueError:  # several watched assets share this trigger (equal kwargs)
        found = [*getattr(accessors, "_by_name", {}).values(), *getattr(accessors, "_by_uri", {}).values()]
        return found or [accessors]
    except AttributeError:  # a plain accessor (tests)
        return [accessors]


class VariableWatermarkStore:
    """Airflow 3.0 - 3.2 (no asset state store): an Airflow Variable, read and written through the
    triggerer's supervisor like connections are."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.where = f"Airflow Variable {key}"

    async def load(self) -> list[Any]:
        from airflow.sdk import Variable
        from asgiref.sync import sync_to_async

        raw = await sync_to_async(lambda: Variable.get(self.key, default=None))()
        if raw in (None, ""):
            return []
        return [json.loads(raw) if isinstance(raw, str) else raw]

    async def save(self, value: dict[str, Any]) -> None:
        from airflow.sdk import Variable
        from asgiref.sync import sync_to_async

        text = json.dumps(value, sort_keys=True)
        description = "Watermark of a Harness execution event watcher (airflow-provider-harness)"
        await sync_to_async(lambda: Variable.set(self.key, text, description=description))()


def _under_supervisor() -> bool:
    """True inside an Airflow triggerer (task SDK comms to the supervisor are set up)."""
    try:
        from airflow.sdk.execution_time import task_runner
    except ImportError:  # pragma: no cover - the task SDK is part of every Airflow 3
        return False
    return getattr(task_runner, "SUPERVISOR_COMMS", None) is not None


def _best(values: Iterable[Any]) -> FeedWatermark | None:
    """The most advanced readable watermark among stored values."""
    marks = [m for m in (FeedWatermark.from_json(v) for v in values) if m is not None]
    return max(marks, key=lambda m: (m.floor_ts, m.floor_id, m.high_ts), default=None)


# ---------------------------------------------------------------------------------------------------
# Shared: connection, scope, one poll
# ---------------------------------------------------------------------------------------------------


class _FeedPolling:
    """What both triggers share: the async client from the connection (read in the triggerer) and the
    project scope. Needs ``harness_conn_id``, ``org_id``, ``project_id`` and a ``log``."""

    harness_conn_id: str
    org_id: str | None
    project_id: str | None
    account_id: str | None = None
    _client: AsyncHarnessClient | None = None
    _scope: dict[str, str] | None = None

    async def _get_client(self) -> tuple[AsyncHarnessClient, dict[str, str]]:
        """The async client (shared connection pool per event loop) and the project scope."""
        if self._client is None or self._scope is None:
            from airflow_provider_harness.hooks.harness import HarnessHook

            hook = HarnessHook(self.harness_conn_id, org_id=self.org_id, project_id=self.project_id)
            client = await hook.aget_client()
            scope = client.config.scope_params("project", what="Harness execution events")
            if self.account_id and client.config.account_id != self.account_id:
                raise ValueError(
                    f"connection {self.harness_conn_id!r} is for Harness account "
                    f"{client.config.account_id!r}, but the watched asset names account {self.account_id!r}"
                )
            self._client, self._scope = client, scope
        return self._client, self._scope

    def _forget_client(self) -> None:
        """Read the connection again on the next poll (it may have been fixed)."""
        self._client = None
        self._scope = None


# ---------------------------------------------------------------------------------------------------
# The asset watcher trigger
# ---------------------------------------------------------------------------------------------------


class HarnessExecutionEventTrigger(_FeedPolling, BaseEventTrigger):
    """Yield one event per newly finished Harness execution of a project (an asset watcher's trigger).

    :param harness_conn_id: the Airflow connection (only its id travels; the key is read in the triggerer).
    :param org_id: / :param project_id: the project to watch; defaults come from the connection.
    :param pipelines: pipeline identifiers to keep (None = every pipeline of the project).
    :param statuses: end statuses to keep, e.g. ``["Success"]`` (None = every terminal status).
    :param module: keep only executions whose ``modules`` contain it (``cd``, ``ci``, ...).
    :param poll_interval: seconds between polls; each poll is one list call (more pages only on bursts).
    :param account_id: when set (``from_asset_uri`` sets it), the connection must be for this account.
    :param lookback_seconds: how long below the newest end seen an execution may still show up late.
    :param page_size: / :param max_pages: list page size and the most pages one poll reads.

    Every kwarg is a plain, deterministic value (no timestamps, no secrets): Airflow identifies a watcher
    trigger by them. Transient errors (5xx, 429, network) and even lasting ones (a bad key, a missing
    project) never end the watch: the trigger logs them and polls again, backing off up to 5 minutes.

    >>> trigger = HarnessExecutionEventTrigger(org_id="default", project_id="payments",
    ...                                        pipelines=["deploy", "build"], statuses=["success"])
    >>> classpath, kwargs = trigger.serialize()
    >>> kwargs["pipelines"], kwargs["statuses"], kwargs["poll_interval"]
    (['build', 'deploy'], ['Success'], 30.0)
    """

    #: Seconds between yielding a poll's events and saving the watermark that includes them.
    commit_delay: float = 2.0

    def __init__(
        self,
        harness_conn_id: str = DEFAULT_CONN_ID,
        org_id: str | None = None,
        project_id: str | None = None,
        pipelines: list[str] | None = None,
        statuses: list[str] | None = None,
        module: str | None = None,
        poll_interval: float = 30.0,
        account_id: str | None = None,
        lookback_seconds: float = DEFAULT_LOOKBACK_MS / 1000,
        page_size: int = DEFAULT_PAGE_SIZE,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        super().__init__()
        self.harness_conn_id = harness_conn_id
        self.org_id = org_id
        self.project_id = project_id
        self.filter = ExecutionFilter.build(pipelines, statuses, module)
        self.poll_interval = float(poll_interval)
        if self.poll_interval <= 0:
            raise ValueError(f"poll_interval: must be a positive number of seconds, got {poll_interval!r}")
        self.account_id = account_id
        self.lookback_seconds = float(lookback_seconds)
        self.page_size = int(page_size)
        self.max_pages = int(max_pages)
        self._client = None
        self._scope = None
        #: Where the watermark is kept; chosen in :meth:`run` unless set before (tests).
        self.watermark_store: WatermarkStore | None = None
        #: Polls and list calls so far (for tests and the bench).
        self.polls = 0
        self.calls = 0

    @classmethod
    def from_asset_uri(cls, uri: str, **kwargs: Any) -> HarnessExecutionEventTrigger:
        """The trigger for a ``harness://<account>/<org>/<project>[/<pipeline>]`` asset.

        >>> t = HarnessExecutionEventTrigger.from_asset_uri("harness://acc/default/payments/deploy")
        >>> t.account_id, t.org_id, t.project_id, t.filter.pipelines
        ('acc', 'default', 'payments', ('deploy',))
        """
        from airflow_provider_harness.assets import parse_harness_uri

        ref = parse_harness_uri(uri)
        if ref.pipeline_id and kwargs.get("pipelines"):
            raise ValueError(f"pipelines: the asset {uri} already names pipeline {ref.pipeline_id!r}")
        if ref.pipeline_id:
            kwargs["pipelines"] = [ref.pipeline_id]
        return cls(account_id=ref.account_id, org_id=ref.org_id, project_id=ref.project_id, **kwargs)

    def __repr__(self) -> str:
        scope = f"{self.org_id or '<conn>'}/{self.project_id or '<conn>'}"
        return (
            f"<HarnessExecutionEventTrigger {scope} ({self.filter.describe()}) conn={self.harness_conn_id!r}>"
        )

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "harness_conn_id": self.harness_conn_id,
                "org_id": self.org_id,
                "project_id": self.project_id,
                **self.filter.kwargs(),
                "poll_interval": self.poll_interval,
                "account_id": self.account_id,
                "lookback_seconds": self.lookback_seconds,
                "page_size": self.page_size,
                "max_pages": self.max_pages,
            },
        )

    def watermark_key(self, account_id: str, scope: Mapping[str, str]) -> str:
        """The state store key / Variable name of this watch: same connection, account, project and
        filter -> same key (the poll interval and paging options can change without losing it).

        >>> t = HarnessExecutionEventTrigger(org_id="default", project_id="payments", pipelines=["deploy"])
        >>> t.watermark_key("acc", {"orgIdentifier": "default", "projectIdentifier": "payments"})
        'harness_event_watermark.default.payments.3b24bb99d282'
        """
        org, project = scope["orgIdentifier"], scope["projectIdentifier"]
        identity = {"conn": self.harness_conn_id, "account": account_id, "org": org, "project": project}
        identity.update(self.filter.kwargs())
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]
        return f"{WATERMARK_KEY_PREFIX}.{org}.{project}.{digest}"

    # ---- watermark -------------------------------------------------------------------------------

    def _choose_store(self, key: str) -> WatermarkStore:
        if self.watermark_store is not None:
            return self.watermark_store
        accessors = getattr(self, "asset_state_store", None)
        if accessors is not None:
            return AssetStateWatermarkStore(accessors, key)
        if AIRFLOW_VERSION < (3, 3) and _under_supervisor():
            return VariableWatermarkStore(key)
        return MemoryWatermarkStore()

    async def _load_watermark(self, store: WatermarkStore) -> FeedWatermark | None:
        """The stored watermark; None when none was saved. Retries a failing read a few times."""
        for attempt in range(3):
            try:
                values = await store.load()
            except Exception as exc:
                self.log.warning("Could not read the watermark from the %s: %s", store.where, exc)
                await asyncio.sleep(2.0**attempt)
                continue
            mark = _best(values)
            if values and mark is None:
                self.log.warning("Ignoring an unreadable watermark in the %s: %.200r", store.where, values)
            return mark
        self.log.error(
            "Could not read the watermark from the %s; starting from now (executions that ended while "
            "no triggerer ran are not emitted)",
            store.where,
        )
        return None

    async def _save_watermark(self, store: WatermarkStore, mark: FeedWatermark) -> bool:
        value = {**mark.to_json(), "watch": self.filter.describe()}
        try:
            await store.save(value)
        except Exception as exc:
            self.log.warning(
                "Could not save the watermark in the %s (events since the last save may be emitted again "
                "after a restart): %s",
                store.where,
                exc,
            )
            return False
        return True

    # ---- run -------------------------------------------------------------------------------------

    async def _connect(self) -> tuple[AsyncHarnessClient, dict[str, str]]:
        """The client and scope; while the connection cannot be used, log and try again later."""
        delay = self.poll_interval
        while True:
            try:
                return await self._get_client()
            except Exception as exc:  # a watcher must outlive a broken connection; CancelledError passes
                self._forget_client()
                self.log.error(
                    "Cannot watch Harness executions with connection %r: %s (trying again in %.0fs)",
                    self.harness_conn_id,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(MAX_RETRY_SECONDS, delay * 2)

    async def poll_once(
        self, client: AsyncHarnessClient, scope: Mapping[str, str], mark: FeedWatermark
    ) -> FeedPoll:
        """One poll: one list call (plus pages only while every item is new)."""
        from airflow_provider_harness.client.execution_feed import FeedScan, apoll_feed

        scan = FeedScan(
            scope,
            mark,
            self.filter,
            page_size=self.page_size,
            max_pages=self.max_pages,
            lookback_ms=int(self.lookback_seconds * 1000),
        )
        try:
            return await apoll_feed(client, scan)
        finally:
            self.polls += 1
            self.calls += scan.pages

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll forever; yield one event per newly finished matching execution (oldest first)."""
        from airflow_provider_harness.client.errors import HarnessError
        from airflow_provider_harness.client.execution_feed import asset_event_payload, iso_ms
        from airflow_provider_harness.client.executions import ErrorBudget, is_transient

        client, scope = await self._connect()
        store = self._choose_store(self.watermark_key(client.config.account_id, scope))
        mark = await self._load_watermark(store)
        saved: FeedWatermark | None = mark
        if mark is None:
            mark = FeedWatermark.starting_at(int(time.time() * 1000))
            saved = mark if await self._save_watermark(store, mark) else None
            resumed = "first start"
        else:
            resumed = "resumed"
        where = f"{scope['orgIdentifier']}/{scope['projectIdentifier']}"
        self.log.info(
            "Watching Harness executions of %s (%s) every %ss; %s, %s; watermark kept in the %s",
            where,
            self.filter.describe(),
            self.poll_interval,
            resumed,
            mark.describe(),
            store.where,
        )
        budget = ErrorBudget(10, 300.0)
        retry_delay = self.poll_interval
        while True:
            try:
                poll = await self.poll_once(client, scope, mark)
            except Exception as exc:  # log and go on polling: a watcher never gives up
                transient = isinstance(exc, HarnessError) and is_transient(exc)
                if transient and not budget.record_error():
                    self.log.warning(
                        "Transient error polling Harness executions of %s (%d in a row), still watching: %s",
                        where,
                        budget.count,
                        exc,
                    )
                    await asyncio.sleep(self.poll_interval)
                    continue
                self.log.error(
                    "Polling Harness executions of %s failed: %s (still watching; next try in %.0fs)",
                    where,
                    exc,
                    retry_delay,
                )
                await asyncio.sleep(retry_delay)
                retry_delay = min(MAX_RETRY_SECONDS, retry_delay * 2)
                if not transient:
                    self._forget_client()
                    client, scope = await self._connect()
                continue
            budget.record_success()
            retry_delay = self.poll_interval
            if poll.truncated and poll.oldest_listed_ts is not None:
                self.log.warning(
                    "More than %d executions of %s ended since the last poll; those that ended before %s "
                    "were skipped (raise max_pages or poll more often)",
                    poll.listed,
                    where,
                    iso_ms(poll.oldest_listed_ts),
                )
            for finished in poll.new:
                snapshot = finished.snapshot
                self.log.info(
                    "Harness execution %s of %s ended %s at %s",
                    snapshot.execution_id,
                    snapshot.pipeline_id,
                    snapshot.status,
                    iso_ms(finished.end_ts),
                )
                yield TriggerEvent(asset_event_payload(finished, client.config, scope=scope))
            waited = 0.0
            mark = poll.watermark
            if mark != saved:
                if poll.new:
                    # Let the triggerer hand the events to the metadata DB before the watermark says
                    # they were emitted: a restart in between re-emits them instead of losing them.
                    waited = self.commit_delay
                    await asyncio.sleep(waited)
                if await self._save_watermark(store, mark):
                    saved = mark  # else the next poll saves again
            await asyncio.sleep(max(0.0, self.poll_interval - waited))


def harness_event_asset(
    uri: str,
    *,
    name: str | None = None,
    watcher_name: str | None = None,
    harness_conn_id: str = DEFAULT_CONN_ID,
    statuses: list[str] | None = None,
    pipelines: list[str] | None = None,
    module: str | None = None,
    poll_interval: float = 30.0,
    **asset_kwargs: Any,
) -> Asset:
    """An ``Asset`` on a ``harness://`` URI with a polling watcher: DAGs scheduled on it run for every
    execution end the watcher finds (``pipelines`` only for a project URI).

    Example (the watcher is named ``harness_poll_default_payments_deploy``)::

        deploys = harness_event_asset("harness://acc/default/payments/deploy", statuses=["Success"])
    """
    from airflow.sdk import Asset, AssetWatcher

    from airflow_provider_harness.assets import parse_harness_uri

    ref = parse_harness_uri(uri)
    trigger = HarnessExecutionEventTrigger.from_asset_uri(
        ref.uri,
        harness_conn_id=harness_conn_id,
        statuses=statuses,
        pipelines=pipelines,
        module=module,
        poll_interval=poll_interval,
    )
    parts = [ref.org_id, ref.project_id, *([ref.pipeline_id] if ref.pipeline_id else [])]
    watcher = AssetWatcher(name=watcher_name or "harness_poll_" + "_".join(parts), trigger=trigger)
    if name is not None:
        asset_kwargs["name"] = name
    return Asset(uri=ref.uri, watchers=[watcher], **asset_kwargs)


# ---------------------------------------------------------------------------------------------------
# The outcome sensor's trigger: first matching execution that ended after a time
# ---------------------------------------------------------------------------------------------------


class HarnessExecutionOutcomeTrigger(_FeedPolling, BaseTrigger):
    """Wait for the first execution that ended at or after ``after`` with a matching status (one event).

    The deferred path of :class:`~airflow_provider_harness.sensors.events.HarnessExecutionOutcomeSensor`:
    the same scan as the event trigger, from ``after`` (so a triggerer restart finds the same execution
    again). It yields exactly one event::

        {"status": "success" | "failed" | "timeout" | "error", "execution_id": ..., "harness_status": ...,
         "payload": <notification-shaped dict or None>, "message": ...}

    ``failed`` means the first matching execution ended in one of ``fail_statuses``.

    >>> trigger = HarnessExecutionOutcomeTrigger(after=1.7e9, org_id="default", project_id="p",
    ...                                          pipelines=["deploy"], statuses=["Success"])
    >>> trigger.serialize()[1]["after"], trigger.serialize()[1]["statuses"]
    (1700000000.0, ['Success'])
    """

    def __init__(
        self,
        after: float,
        harness_conn_id: str = DEFAULT_CONN_ID,
        org_id: str | None = None,
        project_id: str | None = None,
        pipelines: list[str] | None = None,
        statuses: list[str] | None = None,
        fail_statuses: list[str] | None = None,
        module: str | None = None,
        poll_interval: float = 30.0,
        deadline: float | None = None,
        max_consecutive_errors: int = 10,
        error_budget_seconds: float = 300.0,
        page_size: int = DEFAULT_PAGE_SIZE,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        super().__init__()
        self.after = float(after)
        self.harness_conn_id = harness_conn_id
        self.org_id = org_id
        self.project_id = project_id
        self.statuses = list(terminal_statuses(statuses)) or None
        self.fail_statuses = list(terminal_statuses(fail_statuses, field_name="fail_statuses")) or None
        wanted = sorted({*(self.statuses or []), *(self.fail_statuses or [])}) or None
        self.filter = ExecutionFilter.build(pipelines, wanted, module)
        self.poll_interval = float(poll_interval)
        self.deadline = float(deadline) if deadline is not None else None
        self.max_consecutive_errors = int(max_consecutive_errors)
        self.error_budget_seconds = float(error_budget_seconds)
        self.page_size = int(page_size)
        self.max_pages = int(max_pages)
        self._client = None
        self._scope = None

    def __repr__(self) -> str:
        return f"<HarnessExecutionOutcomeTrigger ({self.filter.describe()}) after={self.after}>"

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "after": self.after,
                "harness_conn_id": self.harness_conn_id,
                "org_id": self.org_id,
                "project_id": self.project_id,
                "pipelines": self.filter.kwargs()["pipelines"],
                "statuses": self.statuses,
                "fail_statuses": self.fail_statuses,
                "module": self.filter.module,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "max_consecutive_errors": self.max_consecutive_errors,
                "error_budget_seconds": self.error_budget_seconds,
                "page_size": self.page_size,
                "max_pages": self.max_pages,
            },
        )

    def _event(self, status: str, message: str, **fields: Any) -> TriggerEvent:
        payload = {"status": status, "execution_id": None, "harness_status": None, "payload": None}
        payload.update(fields)
        payload["message"] = message
        return TriggerEvent(payload)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Yield exactly one event; never swallow ``CancelledError``."""
        from airflow_provider_harness.client.errors import HarnessError
        from airflow_provider_harness.client.execution_feed import (
            FeedScan,
            apoll_feed,
            asset_event_payload,
            iso_ms,
        )
        from airflow_provider_harness.client.executions import ErrorBudget, is_transient

        try:
            client, scope = await self._get_client()
        except (ValueError, HarnessError) as exc:
            yield self._event(
                "error", f"Cannot reach Harness with connection {self.harness_conn_id!r}: {exc}"
            )
            return
        after_ms = int(self.after * 1000)
        mark = FeedWatermark.starting_at(after_ms)
        budget = ErrorBudget(self.max_consecutive_errors, self.error_budget_seconds)
        since = iso_ms(after_ms)
        while True:
            if self.deadline is not None and time.time() >= self.deadline:
                yield self._event(
                    "timeout", f"No Harness execution ({self.filter.describe()}) ended after {since} in time"
                )
                return
            scan = FeedScan(scope, mark, self.filter, page_size=self.page_size, max_pages=self.max_pages)
            try:
                poll = await apoll_feed(client, scan)
            except HarnessError as exc:
                if is_transient(exc) and not budget.record_error():
                    self.log.warning("Transient error listing Harness executions, still waiting: %s", exc)
                    await self._sleep()
                    continue
                yield self._event("error", f"Listing Harness executions failed: {exc}")
                return
            except ValueError as exc:
                yield self._event("error", f"Unexpected answer listing Harness executions: {exc}")
                return
            budget.record_success()
            if poll.new:
                first = poll.new[0]
                status = first.snapshot.status
                outcome = "failed" if self.fail_statuses and status in self.fail_statuses else "success"
                yield self._event(
                    outcome,
                    f"Harness execution {first.execution_id} of {first.snapshot.pipeline_id} ended {status} "
                    f"at {iso_ms(first.end_ts)}",
                    execution_id=first.execution_id,
                    harness_status=status,
                    payload=asset_event_payload(first, client.config, scope=scope),
                )
                return
            # Nothing yet: later scans stop where this one did (the look-back window still covers
            # executions that show up in the list a little late).
            mark = poll.watermark
            await self._sleep()

    async def _sleep(self) -> None:
        delay = self.poll_interval
        if self.deadline is not None:
            delay = max(0.0, min(delay, self.deadline - time.time()))
        await asyncio.sleep(delay)


__all__ = [
    "OUTCOME_EVENT_STATUSES",
    "WATERMARK_KEY_PREFIX",
    "AssetStateWatermarkStore",
    "HarnessExecutionEventTrigger",
    "HarnessExecutionOutcomeTrigger",
    "MemoryWatermarkStore",
    "VariableWatermarkStore",
    "WatermarkStore",
    "harness_event_asset",
]
