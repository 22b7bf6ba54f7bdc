"""Store a Harness notification as Airflow asset events, at most once per asset, in the metadata DB.

One accepted notification becomes one asset event on each **active** asset (an asset some parsed DAG
references) whose URI is the pipeline's ``harness://<account>/<org>/<project>/<pipeline>`` or the project's
``harness://<account>/<org>/<project>``, through ``AssetManager.register_asset_change``: the code path of
the REST ``POST /api/v2/assets/events``, which also queues runs of the DAGs scheduled on the asset. The
event's extra is :meth:`HarnessNotification.event_payload` (``source="webhook"``).

Repeats are found in the DB, so every API server (and the poller) sees them: the asset rows are locked
(``SELECT ... FOR UPDATE`` on PostgreSQL / MySQL 8, the same ``with_row_locks`` the scheduler uses), then
the asset's events stored since the Harness event happened (less a clock-skew allowance) are searched for
the notification's ``dedupeKey`` (top level, or under ``payload`` for events a trigger emitted). SQLite
has no row locks: there, one in-process lock per key serializes concurrent copies (SQLite means a single
API server anyway).

>>> RecordResult(created=[{"name": "deploys", "uri": "harness://a/o/p/x", "eventId": 7}]).status
'accepted'
"""

from __future__ import annotations

import threading
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from airflow_provider_harness.client.notifications import HarnessNotification

#: How far Harness's clock may run ahead of the metadata DB's; widens the window searched for repeats.
CLOCK_SKEW_SECONDS: Final = 3600
_LOCK_STRIPES: Final = tuple(threading.Lock() for _ in range(64))


@dataclass
class RecordResult:
    """What storing one notification did: the assets given a new event, the assets that had it already.

    Each item is ``{"name", "uri"}`` of an asset (plus ``"eventId"`` for a new event).

    ``status`` is ``accepted`` (at least one new event), ``duplicate`` (every asset had it already) or
    ``ignored`` (no active asset has either URI: no DAG uses it, nothing stored).
    """

    created: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.created:
            return "accepted"
        return "duplicate" if self.duplicates else "ignored"


def record_notification(
    notification: HarnessNotification, *, now: float | None = None, session: Session | None = None
) -> RecordResult:
    """Store ``notification`` on its active assets (new session committed on return, unless given one)."""
    import time

    from airflow.utils.session import create_session

    stamp = time.time() if now is None else now
    lock = _LOCK_STRIPES[zlib.crc32(notification.dedupe_key.encode()) % len(_LOCK_STRIPES)]
    with lock:  # held until the commit: a concurrent copy in this process then sees the stored event
        if session is not None:
            return _record(notification, stamp, session)
        with create_session() as own:
            return _record(notification, stamp, own)


def _record(notification: HarnessNotification, now: float, session: Session) -> RecordResult:
    from airflow.assets.manager import asset_manager
    from airflow.models.asset import AssetActive, AssetEvent, AssetModel
    from airflow.utils.sqlalchemy import with_row_locks
    from sqlalchemy import Text, and_, cast, select

    payload = notification.event_payload(source="webhook")
    key = payload["dedupeKey"]
    query = (
        select(AssetModel)
        .join(AssetActive, and_(AssetActive.name == AssetModel.name, AssetActive.uri == AssetModel.uri))
        .where(AssetModel.uri.in_(notification.asset_uris))
        .order_by(AssetModel.id)  # one lock order for every API server: no deadlock
    )
    assets = list(session.scalars(with_row_locks(query, session=session, of=AssetModel)))
    since = datetime.fromtimestamp(min(notification.event_ts, now) - CLOCK_SKEW_SECONDS, tz=UTC)
    result = RecordResult()
    for asset in assets:
        seen = session.execute(
            select(AssetEvent.extra).where(
                AssetEvent.asset_id == asset.id,
                AssetEvent.timestamp >= since,
                cast(AssetEvent.extra, Text).like(f"%{key}%"),  # a hex key: no LIKE wildcards in it
            )
        ).scalars()
        if any(carries_key(extra, key) for extra in seen):
            result.duplicates.append({"name": asset.name, "uri": asset.uri})
            continue
        event = asset_manager.register_asset_change(asset=asset, extra=dict(payload), session=session)
        if event is not None:
            result.created.append({"name": asset.name, "uri": asset.uri, "eventId": int(event.id)})
    return result


def carries_key(extra: Any, key: str) -> bool:
    """Whether an asset event's extra is this Harness event: the receiver's, or a trigger's ``payload``.

    >>> carries_key({"payload": {"dedupeKey": "ab"}, "from_trigger": True}, "ab")
    True
    """
    if not isinstance(extra, dict):
        return False
    payload = extra.get("payload")
    return extra.get("dedupeKey") == key or (isinstance(payload, dict) and payload.get("dedupeKey") == key)


__all__ = ["CLOCK_SKEW_SECONDS", "RecordResult", "carries_key", "record_notification"]
