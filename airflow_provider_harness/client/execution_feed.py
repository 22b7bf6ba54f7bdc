"""Newly finished executions of a project since a watermark, and their notification-shaped payload.

The feed behind the polling event trigger and the outcome sensor. One poll is ONE list call per project
(``POST /pipeline/api/pipelines/execution/summary``, harness-api.md §6.2) for every pipeline of the filter,
sorted ``endTs,DESC`` and restricted to terminal statuses; a further page is read only when every item of
the page finished after the watermark (so the next page may still hold new ones), up to ``max_pages``.

The watermark (:class:`FeedWatermark`) is ``(endTs, planExecutionId)`` plus the ids already emitted in a
short look-back window below the newest ``endTs`` seen: equal timestamps are told apart by the id, and an
execution that shows up in the list a little late (its ``endTs`` older than one already seen) is still
emitted once. The set is bounded; what falls out of it raises the floor, so nothing is emitted twice.

Each new execution becomes the ``eventData`` Harness posts to a notification webhook (harness-api.md §11),
plus ``"source": "poll"`` (:func:`event_payload`). No Airflow import.

>>> flt = ExecutionFilter.build(pipelines=["deploy"], statuses=["success", "FAILED"])
>>> flt.pipelines, flt.statuses
(('deploy',), ('Failed', 'Success'))
>>> mark = FeedWatermark.starting_at(1_000)
>>> mark.is_new(1_000, "a"), mark.is_new(999, "b")
(True, False)
>>> later = mark.advanced([("a", 1_000)], observed_high=1_000, lookback_ms=60_000)
>>> later.is_new(1_000, "a"), later.is_new(1_000, "b")
(False, True)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from airflow_provider_harness.client.call import ApiCall
from airflow_provider_harness.client.executions import (
    PERMISSION_VIEW,
    ExecutionSnapshot,
    execution_url,
    list_executions_call,
    parse_summary,
)
from airflow_provider_harness.client.identifiers import validate_identifier
from airflow_provider_harness.client.statuses import (
    BROKEN_STATUSES,
    NODE_STATUS_BY_DISPLAY,
    TERMINAL_STATUSES,
    normalize_status,
)

if TYPE_CHECKING:
    from airflow_provider_harness.client.config import HarnessConfig
    from airflow_provider_harness.client.transport import AsyncHarnessClient, HarnessClient

Scope = Mapping[str, str]

#: Newest finished first: the page that holds what finished since the last poll is the first one.
FEED_SORT: Final = "endTs,DESC"
DEFAULT_PAGE_SIZE: Final = 50
DEFAULT_MAX_PAGES: Final = 20
#: Ids emitted within this window below the newest endTs seen are remembered (late list entries).
DEFAULT_LOOKBACK_MS: Final = 60_000
#: At most this many ids are remembered; the oldest ones fall out and raise the floor instead.
DEFAULT_MAX_SEEN: Final = 500
#: Version of the JSON the watermark is stored as.
WATERMARK_VERSION: Final = 1

#: Harness sends ``PipelineFailed`` for the "broke" statuses (harness-api.md §7.2), ``PipelineSuccess``
#: for ``Success``; every other end (``Aborted``, ``IgnoreFailed``, ``Suspended``, ``Skipped``) is only a
#: ``PipelineEnd``.
PIPELINE_FAILED_STATUSES: Final = frozenset(BROKEN_STATUSES - {"Aborted"})


# ---------------------------------------------------------------------------------------------------
# Filter
# ---------------------------------------------------------------------------------------------------


def _names(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def terminal_statuses(value: str | Iterable[str] | None, *, field_name: str = "statuses") -> tuple[str, ...]:
    """Normalise a list of terminal statuses (either vocabulary, any case), sorted and de-duplicated.

    >>> terminal_statuses(["SUCCEEDED", "aborted"])
    ('Aborted', 'Success')
    >>> terminal_statuses(["Running"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: statuses: 'Running' is not a terminal Harness execution status; choose from ['Aborted', ...]
    """
    result = set()
    for raw in _names(value):
        name = normalize_status(raw)
        if name not in TERMINAL_STATUSES:
            raise ValueError(
                f"{field_name}: {raw!r} is not a terminal Harness execution status; "
                f"choose from {sorted(TERMINAL_STATUSES)}"
            )
        result.add(name)
    return tuple(sorted(result))


@dataclass(frozen=True)
class ExecutionFilter:
    """Which finished executions count: pipelines (empty = every pipeline of the project), terminal
    statuses (empty = every terminal status) and a Harness module (``cd``, ``ci``...; None = any).

    Build it with :meth:`build`, which validates and normalises (sorted, de-duplicated), so two equal
    filters serialise identically.

    >>> ExecutionFilter.build(pipelines=["b", "a", "a"], module="CI").kwargs()
    {'pipelines': ['a', 'b'], 'statuses': None, 'module': 'ci'}
    """

    pipelines: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    module: str | None = None

    @classmethod
    def build(
        cls,
        pipelines: str | Iterable[str] | None = None,
        statuses: str | Iterable[str] | None = None,
        module: str | None = None,
    ) -> ExecutionFilter:
        """Validate the parts; ``ValueError`` names the field and the fix."""
        names = sorted(
            {validate_identifier(p, field="pipelines", allow_dollar=False) for p in _names(pipelines)}
        )
        mod = None
        if module is not None and str(module).strip():
            mod = str(module).strip().lower()
            if not mod.replace("_", "").isalnum():
                raise ValueError(f"module: {module!r} is not a Harness module name such as 'cd' or 'ci'")
        return cls(tuple(names), terminal_statuses(statuses), mod)

    def kwargs(self) -> dict[str, Any]:
        """JSON-safe, deterministic form (trigger kwargs)."""
        return {
            "pipelines": list(self.pipelines) or None,
            "statuses": list(self.statuses) or None,
            "module": self.module,
        }

    def list_statuses(self) -> list[str]:
        """The ``status`` values of the list call: the filter's, else every terminal status."""
        return sorted(self.statuses or TERMINAL_STATUSES)

    def matches(self, snapshot: ExecutionSnapshot, item: Mapping[str, Any] | None = None) -> bool:
        """Whether a finished execution passes (``item``, the raw summary, gives the module list)."""
        if not snapshot.terminal:
            return False
        if self.pipelines and snapshot.pipeline_id not in self.pipelines:
            return False
        if self.statuses and snapshot.status not in self.statuses:
            return False
        if self.module is not None:
            raw = (item or {}).get("modules")
            modules = [str(m).lower() for m in raw] if isinstance(raw, list) else []
            if not modules and snapshot.module:
                modules = [snapshot.module.lower()]
            if self.module not in modules:
                return False
        return True

    def describe(self) -> str:
        """One phrase for log lines.

        >>> ExecutionFilter.build(pipelines=["deploy"], statuses=["Failed"]).describe()
        'pipeline deploy, status Failed'
        """
        parts = [
            ("pipeline " + ", ".join(self.pipelines)) if self.pipelines else "every pipeline",
            ("status " + ", ".join(self.statuses)) if self.statuses else "every end status",
        ]
        if self.module:
            parts.append(f"module {self.module}")
        return ", ".join(parts)


# ---------------------------------------------------------------------------------------------------
# Watermark
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedWatermark:
    """What has been emitted: every execution with ``(endTs, id) <= (floor_ts, floor_id)`` and every id
    in ``seen`` (pairs ``(id, endTs)``, all above the floor, sorted by ``(endTs, id)``).

    ``high_ts`` is the newest ``endTs`` any list answer showed; the floor follows it at ``lookback_ms``
    distance, so ``seen`` only holds the ids of that window (and at most ``max_seen`` of them).

    >>> mark = FeedWatermark.starting_at(5_000)
    >>> FeedWatermark.from_json(mark.to_json()) == mark
    True
    """

    floor_ts: int
    floor_id: str = ""
    high_ts: int = 0
    seen: tuple[tuple[str, int], ...] = field(default=())

    @classmethod
    def starting_at(cls, epoch_ms: int) -> FeedWatermark:
        """A watermark that treats everything that ended before ``epoch_ms`` as already emitted."""
        return cls(floor_ts=int(epoch_ms), floor_id="", high_ts=int(epoch_ms))

    def is_new(self, end_ts: int, execution_id: str) -> bool:
        """Not yet emitted: above the floor and not among the remembered ids."""
        if (end_ts, execution_id) <= (self.floor_ts, self.floor_id):
            return False
        return all(seen_id != execution_id for seen_id, _ in self.seen)

    def advanced(
        self,
        emitted: Iterable[tuple[str, int]],
        observed_high: int | None,
        *,
        lookback_ms: int = DEFAULT_LOOKBACK_MS,
        max_seen: int = DEFAULT_MAX_SEEN,
        floor_at_least: tuple[int, str] | None = None,
    ) -> FeedWatermark:
        """The watermark after emitting ``emitted`` (``(id, endTs)`` pairs) when the list showed
        ``observed_high`` as its newest ``endTs``; ``floor_at_least`` raises the floor (a truncated scan)."""
        high = max(self.high_ts, observed_high if observed_high is not None else self.high_ts)
        floor = max((self.floor_ts, self.floor_id), (high - max(0, int(lookback_ms)), ""))
        if floor_at_least is not None:
            floor = max(floor, floor_at_least)
        kept: dict[str, int] = {}
        for seen_id, end_ts in (*self.seen, *emitted):
            if (end_ts, seen_id) > floor:
                kept[seen_id] = end_ts
        ordered = sorted(kept.items(), key=lambda pair: (pair[1], pair[0]))
        overflow = len(ordered) - max(0, int(max_seen))
        if overflow > 0:
            dropped_id, dropped_ts = ordered[overflow - 1]
            floor = max(floor, (dropped_ts, dropped_id))
            ordered = ordered[overflow:]
        return FeedWatermark(floor[0], floor[1], high, tuple(ordered))

    def to_json(self) -> dict[str, Any]:
        """JSON-safe form (the asset state store / Variable value)."""
        return {
            "v": WATERMARK_VERSION,
            "floor": [self.floor_ts, self.floor_id],
            "high": self.high_ts,
            "seen": [[seen_id, end_ts] for seen_id, end_ts in self.seen],
        }

    @classmethod
    def from_json(cls, data: Any) -> FeedWatermark | None:
        """Read :meth:`to_json` output back; None for anything else (an unknown version included)."""
        if not isinstance(data, Mapping) or data.get("v") != WATERMARK_VERSION:
            return None
        try:
            floor_ts, floor_id = data["floor"]
            seen = tuple(
                sorted(((str(i), int(t)) for i, t in data.get("seen") or []), key=lambda p: (p[1], p[0]))
            )
            return cls(int(floor_ts), str(floor_id), int(data.get("high", floor_ts)), seen)
        except (KeyError, TypeError, ValueError):
            return None

    def describe(self) -> str:
        """When the watermark stands, for log lines.

        >>> FeedWatermark.starting_at(0).describe()
        'executions that ended after 1970-01-01T00:00:00.000Z'
        """
        return f"executions that ended after {iso_ms(self.floor_ts)}"


def iso_ms(epoch_ms: int) -> str:
    """Epoch milliseconds as an ISO 8601 UTC string with milliseconds."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


# ---------------------------------------------------------------------------------------------------
# The scan: one list call per page, pages only as far as needed
# ---------------------------------------------------------------------------------------------------


def feed_call(scope: Scope, flt: ExecutionFilter) -> ApiCall[Any]:
    """The list call of one poll: terminal statuses, newest ``endTs`` first, one pipeline server-side.

    >>> call = feed_call({"orgIdentifier": "o", "projectIdentifier": "p"}, ExecutionFilter.build(["deploy"]))
    >>> call.params["sort"], call.params["pipelineIdentifier"], len(call.params["status"])
    ('endTs,DESC', 'deploy', 10)
    """
    pipeline = flt.pipelines[0] if len(flt.pipelines) == 1 else None
    call = list_executions_call(scope, pipeline, statuses=flt.list_statuses())
    params = dict(call.params)
    params["sort"] = FEED_SORT
    return replace(call, params=params, permission=PERMISSION_VIEW)


@dataclass(frozen=True)
class FinishedExecution:
    """One newly finished execution that passed the filter: the parsed snapshot and the raw summary."""

    snapshot: ExecutionSnapshot
    summary: Mapping[str, Any]

    @property
    def execution_id(self) -> str:
        return self.snapshot.execution_id

    @property
    def end_ts(self) -> int:
        return self.snapshot.end_ts or 0


@dataclass(frozen=True)
class FeedPoll:
    """What one poll found: new executions (oldest first), the advanced watermark, and its cost."""

    new: tuple[FinishedExecution, ...]
    watermark: FeedWatermark
    calls: int
    listed: int
    truncated: bool = False
    oldest_listed_ts: int | None = None


class FeedScan:
    """The pure part of one poll: which page to ask for next and what the answers mean.

    Drive it with :func:`poll_feed` / :func:`apoll_feed` (or any loop calling :meth:`next_call`,
    sending the call and handing the decoded page to :meth:`take`), then read :meth:`result`.

    >>> scan = FeedScan({"orgIdentifier": "o", "projectIdentifier": "p"}, FeedWatermark.starting_at(10),
    ...                 ExecutionFilter.build())
    >>> scan.next_call().params["page"], scan.next_call().params["size"]
    (0, 50)
    >>> scan.take({"content": [{"planExecutionId": "e1", "pipelineIdentifier": "x", "status": "Success",
    ...                         "endTs": 20}], "last": True}, {})
    >>> [e.execution_id for e in scan.result().new], scan.next_call() is None
    (['e1'], True)
    """

    def __init__(
        self,
        scope: Scope,
        watermark: FeedWatermark,
        flt: ExecutionFilter,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        max_pages: int = DEFAULT_MAX_PAGES,
        lookback_ms: int = DEFAULT_LOOKBACK_MS,
        max_seen: int = DEFAULT_MAX_SEEN,
    ) -> None:
        if page_size < 1 or max_pages < 1:
            raise ValueError("page_size and max_pages must be at least 1")
        self.call = feed_call(scope, flt)
        assert self.call.page is not None
        self.shape = self.call.page
        self.watermark = watermark
        self.flt = flt
        self.page_size = min(int(page_size), self.shape.max_size)
        self.max_pages = int(max_pages)
        self.lookback_ms = int(lookback_ms)
        self.max_seen = int(max_seen)
        self.pages = 0
        self.listed = 0
        self.done = False
        self.truncated = False
        self._index = self.shape.first_index
        self._new: dict[str, FinishedExecution] = {}
        self._listed_ids: set[str] = set()
        self._high: int | None = None
        self._oldest: int | None = None

    def next_call(self) -> ApiCall[Any] | None:
        """The call for the next page, or None when the scan is complete."""
        if self.done:
            return None
        return self.call.with_page(self._index, self.page_size)

    def take(self, data: Any, headers: Mapping[str, str]) -> None:
        """Record one decoded page (``data`` of the Spring page) and decide whether another is needed."""
        items = self.shape.items(data)
        self.pages += 1
        reached_floor = False
        fresh = 0
        for item in items:
            if not isinstance(item, Mapping):
                continue
            try:
                snapshot = parse_summary(item)
            except ValueError:
                continue
            end_ts = snapshot.end_ts
            if not snapshot.terminal or end_ts is None:
                continue  # not finished (yet): it shows up again once Harness records its end
            if snapshot.execution_id in self._listed_ids:
                continue  # the list moved between pages (new ends push items down)
            self._listed_ids.add(snapshot.execution_id)
            fresh += 1
            self.listed += 1
            self._high = end_ts if self._high is None else max(self._high, end_ts)
            self._oldest = end_ts if self._oldest is None else min(self._oldest, end_ts)
            if end_ts < self.watermark.floor_ts:
                reached_floor = True
                continue
            if self.watermark.is_new(end_ts, snapshot.execution_id) and self.flt.matches(snapshot, item):
                self._new[snapshot.execution_id] = FinishedExecution(snapshot, item)
        more = self.shape.has_more(data, headers, self._index, self.page_size, len(items))
        if reached_floor or not more or (items and fresh == 0):
            self.done = True
        elif self.pages >= self.max_pages:
            self.done = True
            self.truncated = True
        else:
            self._index += 1

    def result(self) -> FeedPoll:
        """New executions oldest first, and the watermark that includes them."""
        new = tuple(sorted(self._new.values(), key=lambda e: (e.end_ts, e.execution_id)))
        floor_at_least = (self._oldest, "") if self.truncated and self._oldest is not None else None
        watermark = self.watermark.advanced(
            [(e.execution_id, e.end_ts) for e in new],
            self._high,
            lookback_ms=self.lookback_ms,
            max_seen=self.max_seen,
            floor_at_least=floor_at_least,
        )
        return FeedPoll(new, watermark, self.pages, self.listed, self.truncated, self._oldest)


def poll_feed(client: HarnessClient, scan: FeedScan) -> FeedPoll:
    """Run a scan with the sync client (one list call per page read)."""
    while (call := scan.next_call()) is not None:
        data, headers = client.send_raw(call)
        scan.take(data, headers)
    return scan.result()


async def apoll_feed(client: AsyncHarnessClient, scan: FeedScan) -> FeedPoll:
    """Async twin of :func:`poll_feed` (the triggers' path)."""
    while (call := scan.next_call()) is not None:
        data, headers = await client.send_raw(call)
        scan.take(data, headers)
    return scan.result()


# ---------------------------------------------------------------------------------------------------
# The payload: Harness's notification eventData
# ---------------------------------------------------------------------------------------------------


def java_date(epoch_ms: int) -> str:
    """``Date.toString()`` in GMT, as Harness writes ``startTime`` / ``endTime``.

    >>> java_date(1724142304000)
    'Tue Aug 20 08:25:04 GMT 2024'
    """
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%a %b %d %H:%M:%S GMT %Y")


def event_type_for(status: str) -> str:
    """The pipeline-end notification a Harness rule for that outcome would get.

    >>> event_type_for("Success"), event_type_for("Errored"), event_type_for("Aborted")
    ('PipelineSuccess', 'PipelineFailed', 'PipelineEnd')
    """
    name = normalize_status(status)
    if name == "Success":
        return "PipelineSuccess"
    if name in PIPELINE_FAILED_STATUSES:
        return "PipelineFailed"
    return "PipelineEnd"


def node_status_for(status: str) -> str:
    """Harness's ``nodeStatus`` (``PipelineNotificationUtils.getNodeStatus``: others are ``started``).

    >>> node_status_for("IgnoreFailed"), node_status_for("ApprovalRejected"), node_status_for("Skipped")
    ('completed', 'rejected', 'started')
    """
    return NODE_STATUS_BY_DISPLAY.get(normalize_status(status), "started")


def _non_empty(value: Any) -> Any:
    """Harness serialises notifications with ``NON_EMPTY``: no nulls, empty strings, lists or maps."""
    if isinstance(value, Mapping):
        cleaned = {k: _non_empty(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        return [_non_empty(v) for v in value]
    return value


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def event_payload(
    execution: FinishedExecution | Mapping[str, Any],
    config: HarnessConfig,
    *,
    scope: Scope | None = None,
    source: str = "poll",
) -> dict[str, Any]:
    """The ``eventData`` a Harness pipeline notification webhook carries for this execution's end, plus
    ``"source"``; ``startTs``/``endTs`` in epoch seconds, empty fields left out (harness-api.md §11).

    >>> from airflow_provider_harness.client.config import HarnessConfig, Secret
    >>> cfg = HarnessConfig(account_id="acc", api_key=Secret("k"), base_url="https://app.harness.io/gateway")
    >>> payload = event_payload({"planExecutionId": "e1", "pipelineIdentifier": "deploy", "name": "Deploy",
    ...     "orgIdentifier": "default", "projectIdentifier": "proj", "status": "Failed", "modules": ["cd"],
    ...     "startTs": 1724142304000, "endTs": 1724142318000, "failureInfo": {"message": "boom"}}, cfg)
    >>> [payload[k] for k in ("eventType", "nodeStatus", "endTs", "errorMessage", "source")]
    ['PipelineFailed', 'failed', 1724142318, 'boom', 'poll']
    >>> payload["executionUrl"]
    'https://app.harness.io/ng/#/account/acc/cd/orgs/default/projects/proj/pipelines/deploy/executions/e1/pipeline'
    """
    if isinstance(execution, FinishedExecution):
        snapshot, item = execution.snapshot, execution.summary
    else:
        item = execution
        snapshot = parse_summary(item)
    org = snapshot.org_id or (scope or {}).get("orgIdentifier") or config.org_id or ""
    project = snapshot.project_id or (scope or {}).get("projectIdentifier") or config.project_id or ""
    url = execution_url(
        config,
        org_id=org,
        project_id=project,
        pipeline_id=snapshot.pipeline_id,
        execution_id=snapshot.execution_id,
        module=snapshot.module,
    )
    trigger_info = _mapping(item.get("executionTriggerInfo"))
    triggered_by = _mapping(trigger_info.get("triggeredBy"))
    tags = [
        {"key": str(t.get("key")), "value": str(t.get("value") or "")}
        for t in item.get("tags") or []
        if isinstance(t, Mapping) and t.get("key")
    ]
    data: dict[str, Any] = {
        "accountIdentifier": config.account_id,
        "orgIdentifier": org,
        "projectIdentifier": project,
        "pipelineIdentifier": snapshot.pipeline_id,
        "pipelineName": snapshot.name or snapshot.pipeline_id,
        "planExecutionId": snapshot.execution_id,
        "executionUrl": url,
        "pipelineUrl": url.rsplit("/executions/", 1)[0] + "/pipeline-studio",
        "eventType": event_type_for(snapshot.status),
        "nodeStatus": node_status_for(snapshot.status),
        "triggeredBy": {
            "triggerType": trigger_info.get("triggerType"),
            "name": triggered_by.get("identifier"),
            "email": _mapping(triggered_by.get("extraInfo")).get("email"),
        },
        "tag": tags,
    }
    if snapshot.start_ts is not None:
        data["startTime"] = java_date(snapshot.start_ts)
        data["startTs"] = snapshot.start_ts // 1000
    if snapshot.end_ts is not None:
        data["endTime"] = java_date(snapshot.end_ts)
        data["endTs"] = snapshot.end_ts // 1000
    if snapshot.status not in ("Success", "IgnoreFailed") and snapshot.failure_message:
        data["errorMessage"] = snapshot.failure_message
    payload: dict[str, Any] = _non_empty(data)
    payload["source"] = source
    return payload


def asset_event_payload(
    execution: FinishedExecution | Mapping[str, Any],
    config: HarnessConfig,
    *,
    scope: Scope | None = None,
) -> dict[str, Any]:
    """What the polling trigger emits (an asset event's ``extra["payload"]``) and the outcome sensor
    returns: :func:`event_payload` read through :mod:`~airflow_provider_harness.client.notifications`, the
    webhook receiver's reader, so both sources give the same keys (``None`` where Harness says nothing),
    ``"source": "poll"`` and the same ``dedupeKey`` for the same execution end. Without that module (or
    if it refuses the data) the plain ``eventData`` plus ``source`` is returned.
    """
    data = event_payload(execution, config, scope=scope)
    try:
        from airflow_provider_harness.client.notifications import parse_notification
    except ImportError:  # pragma: no cover - shipped together
        return data
    event_data = {key: value for key, value in data.items() if key != "source"}
    try:
        shared: dict[str, Any] = parse_notification({"eventData": event_data}).event_payload(source="poll")
    except ValueError:  # NotificationError: e.g. no startTs; keep the event rather than drop it
        return data
    return shared


def summarize(executions: Sequence[FinishedExecution]) -> str:
    """``e1 (deploy, Success), e2 (deploy, Failed)`` for log lines."""
    return ", ".join(f"{e.execution_id} ({e.snapshot.pipeline_id}, {e.snapshot.status})" for e in executions)


__all__ = [
    "DEFAULT_LOOKBACK_MS",
    "DEFAULT_MAX_PAGES",
    "DEFAULT_MAX_SEEN",
    "DEFAULT_PAGE_SIZE",
    "FEED_SORT",
    "PIPELINE_FAILED_STATUSES",
    "ExecutionFilter",
    "FeedPoll",
    "FeedScan",
    "FeedWatermark",
    "FinishedExecution",
    "apoll_feed",
    "asset_event_payload",
    "event_payload",
    "event_type_for",
    "feed_call",
    "iso_ms",
    "java_date",
    "node_status_for",
    "poll_feed",
    "summarize",
    "terminal_statuses",
]
