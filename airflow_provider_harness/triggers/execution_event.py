"""The event an execution trigger yields, in one place: its keys, statuses, how it is built and checked.

Built in the triggerer (:func:`event_payload`), checked on the worker before anything trusts it
(:func:`check_event`): by the operators' and sensors' ``execute_complete`` alike. Import-light (no Airflow):
workers import it when they resume. ::

    {"status": "success" | "failed" | "timeout" | "error", "execution_id": ..., "pipeline_id": ...,
     "org_id": ..., "project_id": ..., "harness_status": ..., "stages": ..., "message": ..., "took": ...,
     "try_number": ...}

>>> payload = event_payload("success", "e1", "done", try_number=2)
>>> check_event(payload, "e1")["try_number"]
2
>>> check_event({"status": "maybe", "execution_id": "e1"}, None)
Traceback (most recent call last):
...
airflow_provider_harness.triggers.execution_event.InvalidTriggerEvent: Invalid trigger event: status 'maybe' \
is not one of ['error', 'failed', 'success', 'timeout']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_harness.client.executions import ExecutionSnapshot

EVENT_STATUSES = frozenset({"success", "failed", "timeout", "error"})
EVENT_KEYS = frozenset(
    {
        "status",
        "execution_id",
        "pipeline_id",
        "org_id",
        "project_id",
        "harness_status",
        "stages",
        "message",
        "try_number",
        "took",
    }
)
_TEXT_KEYS = ("message", "harness_status", "stages", "pipeline_id", "org_id", "project_id", "took")


class InvalidTriggerEvent(ValueError):
    """A trigger event that is not one this provider's trigger yields (wrong keys, types, execution)."""


def event_payload(
    status: str,
    execution_id: str,
    message: str,
    snapshot: ExecutionSnapshot | None = None,
    *,
    pipeline_id: str | None = None,
    org_id: str | None = None,
    project_id: str | None = None,
    try_number: int | None = None,
) -> dict[str, Any]:
    """The event for ``status`` (one of :data:`EVENT_STATUSES`) of an execution, from its last snapshot."""
    from airflow_provider_harness.client.executions import format_duration, stage_summary

    payload: dict[str, Any] = {
        "status": status,
        "execution_id": execution_id,
        "pipeline_id": pipeline_id or (snapshot.pipeline_id if snapshot else None),
        "org_id": org_id,
        "project_id": project_id,
        "harness_status": snapshot.status if snapshot else None,
        "stages": stage_summary(snapshot) if snapshot else None,
        "message": message,
    }
    if snapshot is not None and snapshot.terminal:
        payload["took"] = format_duration(snapshot.start_ts, snapshot.end_ts)
    if try_number is not None:
        payload["try_number"] = try_number
    return payload


def check_event(event: Any, expected_execution_id: str | None) -> dict[str, Any]:
    """``event`` as a dict when it is well formed (and for ``expected_execution_id``); else
    :class:`InvalidTriggerEvent` naming what is wrong."""
    if not isinstance(event, Mapping):
        raise InvalidTriggerEvent(f"Invalid trigger event: expected a dict, got {type(event).__name__}")
    unknown = set(event) - EVENT_KEYS
    if unknown:
        raise InvalidTriggerEvent(f"Invalid trigger event: unknown keys {sorted(unknown)}")
    if "try_number" in event and (not isinstance(event["try_number"], int) or event["try_number"] < 1):
        raise InvalidTriggerEvent(f"Invalid trigger event: try_number {event['try_number']!r}")
    status = event.get("status")
    if status not in EVENT_STATUSES:
        raise InvalidTriggerEvent(
            f"Invalid trigger event: status {status!r} is not one of {sorted(EVENT_STATUSES)}"
        )
    execution_id = event.get("execution_id")
    if not isinstance(execution_id, str) or not execution_id or "/" in execution_id:
        raise InvalidTriggerEvent(f"Invalid trigger event: execution_id {execution_id!r}")
    if expected_execution_id is not None and execution_id != expected_execution_id:
        raise InvalidTriggerEvent(
            f"Invalid trigger event: it is for execution {execution_id!r}, "
            f"this task follows {expected_execution_id!r}"
        )
    for key in _TEXT_KEYS:
        if event.get(key) is not None and not isinstance(event[key], str):
            raise InvalidTriggerEvent(f"Invalid trigger event: {key} must be a string")
    return dict(event)


__all__ = ["EVENT_KEYS", "EVENT_STATUSES", "InvalidTriggerEvent", "check_event", "event_payload"]
