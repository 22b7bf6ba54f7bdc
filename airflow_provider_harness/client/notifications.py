"""Harness pipeline notifications (``{"eventData": {...}}``, ``harness-api.md`` §11): parse, validate, name.

A notification rule with a ``Webhook`` method makes Harness POST one JSON body per event. This module
turns such a body into a :class:`HarnessNotification`, strictly: the body must be a JSON object holding an
``eventData`` object; the event type must be one Harness sends; the fields that say *what* happened
(account, org, project, pipeline, execution, stage/step for stage/step events, ``startTs``) must be there
with the right types; known optional fields must have the right type when present. Fields this module
does not know are ignored (Harness serializes with ``NON_EMPTY`` and adds fields over time).

:meth:`HarnessNotification.event_payload` is what the webhook receiver puts in an Airflow asset event's
extra (``source="webhook"``); a poller can build a ``HarnessNotification`` from what it polled and emit
``event_payload(source="poll")``, the same keys. :attr:`HarnessNotification.dedupe_key` names one Harness
event whichever way it arrived (``source`` is not part of it).

No Airflow import.

>>> body = b'''{"eventData": {"accountIdentifier": "acc", "orgIdentifier": "default",
...   "projectIdentifier": "proj", "pipelineIdentifier": "deploy", "pipelineName": "Deploy",
...   "planExecutionId": "exec1", "eventType": "PipelineSuccess", "nodeStatus": "completed",
...   "startTs": 1724142304, "endTs": 1724142318}}'''
>>> note = parse_notification(body)
>>> note.asset_uris
('harness://acc/default/proj/deploy', 'harness://acc/default/proj')
>>> payload = note.event_payload()
>>> payload["eventType"], payload["endTs"], payload["source"]
('PipelineSuccess', 1724142318, 'webhook')
>>> len(note.dedupe_key)
64
>>> parse_notification(b'{"eventData": {"eventType": "PipelineExploded"}}')  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
airflow_provider_harness.client.notifications.NotificationError: eventData.eventType: 'PipelineExploded' ...
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from airflow_provider_harness.assets import harness_asset_uri
from airflow_provider_harness.client.identifiers import identifier_problem

PIPELINE_EVENTS: Final = frozenset(
    {"PipelineStart", "PipelineEnd", "PipelineSuccess", "PipelineFailed", "PipelinePaused"}
)
STAGE_EVENTS: Final = frozenset({"StageStart", "StageSuccess", "StageFailed"})
STEP_EVENTS: Final = frozenset({"StepFailed"})
#: Behind Harness's feature flag ``PIPE_ENABLE_TRIGGER_FAILED_NOTIFICATION``; its payload has no
#: identifiers and no execution: they are read from ``pipelineUrl``, and ``startTs`` is in milliseconds.
TRIGGER_EVENTS: Final = frozenset({"TriggerFailed"})
#: Every event type a Harness notification rule sends (``AllEvents`` is a rule setting, not an event).
EVENT_TYPES: Final = PIPELINE_EVENTS | STAGE_EVENTS | STEP_EVENTS | TRIGGER_EVENTS

#: ``nodeStatus`` values Harness writes (``PipelineNotificationUtils.getNodeStatus``). Not enforced: an
#: unknown value is kept as sent, so a new Harness status never loses an event.
NODE_STATUSES: Final = frozenset(
    {"started", "completed", "failed", "paused", "aborted", "rejected", "expired"}
)

#: Where an event came from; the key ``source`` of :meth:`HarnessNotification.event_payload`.
EventSource = Literal["webhook", "poll"]
SOURCES: Final = frozenset({"webhook", "poll"})

#: Timestamps at or above this are milliseconds (10**11 seconds is the year 5138).
_MS_THRESHOLD: Final = 10**11
_MAX_TEXT: Final = 65_536
_MAX_NAME: Final = 256
_EXECUTION_ID: Final = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_NODE_ID: Final = re.compile(r"^[A-Za-z0-9_$.-]{1,256}$")
#: ``.../ng/#/account/<acc>[/<module>]/orgs/<org>/projects/<project>/pipelines/<pipeline>/...``
_PIPELINE_URL: Final = re.compile(
    r"/account/(?P<account>[^/?#]+)(?:/[^/?#]+)?/orgs/(?P<org>[^/?#]+)/projects/(?P<project>[^/?#]+)"
    r"/pipelines/(?P<pipeline>[^/?#]+)"
)


class NotificationError(ValueError):
    """A body that is not a valid Harness notification; ``status`` is the HTTP status to answer.

    ``code`` is ``malformed`` (400: not JSON, not ``{"eventData": {...}}``), ``unknown_event_type`` (422)
    or ``invalid_event`` (422: a required field is missing or a field has the wrong type).

    >>> NotificationError("eventData is missing", code="malformed").status
    400
    """

    STATUS_BY_CODE: Final = {"malformed": 400, "unknown_event_type": 422, "invalid_event": 422}

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = self.STATUS_BY_CODE[code]


@dataclass(frozen=True)
class HarnessNotification:
    """One Harness event (pipeline, stage, step or trigger), validated on construction.

    Built by :func:`parse_notification` from a webhook body, or directly (e.g. by a poller) with the same
    fields; timestamps are epoch **seconds** (milliseconds are converted).

    >>> note = HarnessNotification("StageSuccess", "acc", "default", "proj", "deploy", 1724143120,
    ...                            plan_execution_id="exec1", stage_id="qq", end_ts=1724143124)
    >>> note.event_payload(source="poll")["stageIdentifier"]
    'qq'
    >>> HarnessNotification("StageSuccess", "acc", "default", "proj", "deploy", 1,
    ...                     plan_execution_id="exec1")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    airflow_provider_harness.client.notifications.NotificationError: eventData.stageIdentifier is required ...
    """

    event_type: str
    account_id: str
    org_id: str
    project_id: str
    pipeline_id: str
    start_ts: int
    plan_execution_id: str | None = None
    pipeline_name: str | None = None
    node_status: str | None = None
    execution_url: str | None = None
    end_ts: int | None = None
    error_message: str | None = None
    stage_id: str | None = None
    step_id: str | None = None
    trigger_id: str | None = None
    #: Carried into the payload when Harness sent them (not part of the event's identity): ``pipelineUrl``,
    #: ``stageName``, ``stepName``, ``startTime``/``endTime`` (Java date text), ``triggeredBy``, ``tag``.
    details: Mapping[str, Any] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.event_type not in EVENT_TYPES:
            raise NotificationError(
                f"eventData.eventType: {_show(self.event_type)} is not a Harness notification event; "
                f"expected one of {', '.join(sorted(EVENT_TYPES))}",
                code="unknown_event_type",
            )
        for name, value in (
            ("orgIdentifier", self.org_id),
            ("projectIdentifier", self.project_id),
            ("pipelineIdentifier", self.pipeline_id),
        ):
            problem = identifier_problem(value, allow_dollar=False)  # the harness:// asset URI's rule
            if problem:
                raise NotificationError(
                    f"eventData.{name}: {_show(value)} is not a valid Harness identifier: {problem}",
                    code="invalid_event",
                )
        try:
            harness_asset_uri(self.account_id, self.org_id, self.project_id, self.pipeline_id)
        except ValueError:
            raise NotificationError(
                f"eventData.accountIdentifier: {_show(self.account_id)} is not a Harness account id",
                code="invalid_event",
            ) from None
        for name, attribute in (("startTs", "start_ts"), ("endTs", "end_ts")):
            value = getattr(self, attribute)
            if value is None:
                continue
            if type(value) is not int or value < 0:
                raise NotificationError(
                    f"eventData.{name}: expected epoch seconds (a non-negative integer), got {_show(value)}",
                    code="invalid_event",
                )
            if value >= _MS_THRESHOLD:  # TriggerFailed sends milliseconds
                object.__setattr__(self, attribute, value // 1000)
        required = {"triggerIdentifier": self.trigger_id} if self.event_type in TRIGGER_EVENTS else {}
        if self.event_type not in TRIGGER_EVENTS:
            required["planExecutionId"] = self.plan_execution_id
        if self.event_type in STAGE_EVENTS:
            required["stageIdentifier"] = self.stage_id
        if self.event_type in STEP_EVENTS:
            required["stepIdentifier"] = self.step_id
        for name, needed in required.items():
            if needed is None:
                raise NotificationError(
                    f"eventData.{name} is required for {self.event_type}", code="invalid_event"
                )
        for name, text, pattern in (
            ("planExecutionId", self.plan_execution_id, _EXECUTION_ID),
            ("stageIdentifier", self.stage_id, _NODE_ID),
            ("stepIdentifier", self.step_id, _NODE_ID),
            ("triggerIdentifier", self.trigger_id, _NODE_ID),
        ):
            if text is not None and not (isinstance(text, str) and pattern.fullmatch(text)):
                raise NotificationError(
                    f"eventData.{name}: {_show(text)} is not a Harness identifier", code="invalid_event"
                )
        if self.execution_url is not None and not self.execution_url.startswith(("https://", "http://")):
            raise NotificationError(
                f"eventData.executionUrl: expected an http(s) URL, got {_show(self.execution_url)}",
                code="invalid_event",
            )

    # ---- naming ----------------------------------------------------------------------------------
    @property
    def pipeline_asset_uri(self) -> str:
        """``harness://<account>/<org>/<project>/<pipeline>``."""
        return harness_asset_uri(self.account_id, self.org_id, self.project_id, self.pipeline_id)

    @property
    def project_asset_uri(self) -> str:
        """``harness://<account>/<org>/<project>``."""
        return harness_asset_uri(self.account_id, self.org_id, self.project_id)

    @property
    def asset_uris(self) -> tuple[str, str]:
        """The assets this event is for: the pipeline's, then its project's."""
        return self.pipeline_asset_uri, self.project_asset_uri

    @property
    def event_ts(self) -> int:
        """When it happened, as well as the payload tells (epoch seconds): ``endTs``, else ``startTs``."""
        return max(self.start_ts, self.end_ts or 0)

    @property
    def dedupe_fields(self) -> tuple[str | int | None, ...]:
        """What makes one Harness event: where, which execution (or trigger), type, node and times."""
        return (
            self.account_id,
            self.org_id,
            self.project_id,
            self.pipeline_id,
            self.plan_execution_id,
            self.trigger_id,
            self.event_type,
            self.stage_id,
            self.step_id,
            self.start_ts,
            self.end_ts,
        )

    @property
    def dedupe_key(self) -> str:
        """SHA-256 hex of :attr:`dedupe_fields`: equal for a repeated delivery of the same event."""
        text = json.dumps(list(self.dedupe_fields), separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def event_payload(self, source: EventSource = "webhook") -> dict[str, Any]:
        """The asset event's extra: JSON-safe, the same keys from the receiver and the poller.

        Always present (``None`` when Harness did not say): ``accountIdentifier``, ``orgIdentifier``,
        ``projectIdentifier``, ``pipelineIdentifier``, ``pipelineName``, ``planExecutionId``,
        ``eventType``, ``nodeStatus``, ``executionUrl``, ``startTs``, ``endTs`` (epoch seconds),
        ``errorMessage``, ``source`` and ``dedupeKey``; ``stageIdentifier``, ``stepIdentifier`` and
        ``triggerIdentifier`` only when the event has them; :attr:`details` (``pipelineUrl``,
        ``stageName``, ``stepName``, ``startTime``, ``endTime``, ``triggeredBy``, ``tag``) as sent.
        """
        if source not in SOURCES:
            raise ValueError(f"source: expected one of {sorted(SOURCES)}, got {source!r}")
        payload: dict[str, Any] = {
            "accountIdentifier": self.account_id,
            "orgIdentifier": self.org_id,
            "projectIdentifier": self.project_id,
            "pipelineIdentifier": self.pipeline_id,
            "pipelineName": self.pipeline_name,
            "planExecutionId": self.plan_execution_id,
            "eventType": self.event_type,
            "nodeStatus": self.node_status,
            "executionUrl": self.execution_url,
            "startTs": self.start_ts,
            "endTs": self.end_ts,
            "errorMessage": self.error_message,
        }
        payload.update(copy.deepcopy(dict(self.details or {})))
        for key, value in (
            ("stageIdentifier", self.stage_id),
            ("stepIdentifier", self.step_id),
            ("triggerIdentifier", self.trigger_id),
        ):
            if value is not None:
                payload[key] = value
        payload["source"] = source
        payload["dedupeKey"] = self.dedupe_key
        return payload


def parse_notification(body: bytes | str | Mapping[str, Any]) -> HarnessNotification:
    """Parse a webhook body (raw bytes/text, or already-decoded JSON) into a validated notification.

    Raises :class:`NotificationError` (``str()`` names the field and what was expected).
    """
    document = _decode(body) if isinstance(body, (bytes, bytearray, str)) else body
    if not isinstance(document, Mapping):
        raise NotificationError(
            f'expected a JSON object {{"eventData": {{...}}}}, got {_json_type(document)}', code="malformed"
        )
    data = document.get("eventData")
    if not isinstance(data, Mapping):
        got = "nothing" if data is None else _json_type(data)
        raise NotificationError(
            f'expected {{"eventData": {{...}}}} (a Harness pipeline notification), eventData is {got}',
            code="malformed",
        )
    event_type = _text(data, "eventType", required=True, limit=_MAX_NAME)
    if event_type not in EVENT_TYPES:  # before the other fields: the clearer error for a foreign event
        raise NotificationError(
            f"eventData.eventType: {_show(event_type)} is not a Harness notification event; "
            f"expected one of {', '.join(sorted(EVENT_TYPES))}",
            code="unknown_event_type",
        )
    scope = _scope(data, event_type)
    start_ts = _timestamp(data, "startTs", required=True)
    assert start_ts is not None
    return HarnessNotification(
        event_type=event_type,
        account_id=scope["account"],
        org_id=scope["org"],
        project_id=scope["project"],
        pipeline_id=scope["pipeline"],
        start_ts=start_ts,
        plan_execution_id=_text(data, "planExecutionId", limit=_MAX_NAME),
        pipeline_name=_text(data, "pipelineName", limit=_MAX_TEXT),
        node_status=_text(data, "nodeStatus", limit=_MAX_NAME),
        execution_url=_text(data, "executionUrl", limit=_MAX_TEXT),
        end_ts=_timestamp(data, "endTs"),
        error_message=_text(data, "errorMessage", limit=_MAX_TEXT),
        stage_id=_text(data, "stageIdentifier", limit=_MAX_NAME),
        step_id=_text(data, "stepIdentifier", limit=_MAX_NAME),
        trigger_id=_text(data, "triggerIdentifier", limit=_MAX_NAME),
        details=_details(data),
    )


# ---- helpers -------------------------------------------------------------------------------------
def _decode(body: bytes | bytearray | str) -> Any:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise NotificationError(f"the JSON body repeats the key {_show(key)}", code="malformed")
            result[key] = value
        return result

    def no_constants(name: str) -> Any:
        raise NotificationError(f"the JSON body contains {name}, which is not JSON", code="malformed")

    if not body or not (body.strip() if isinstance(body, str) else bytes(body).strip()):
        raise NotificationError("the body is empty; expected a JSON notification", code="malformed")
    try:
        return json.loads(body, object_pairs_hook=no_duplicates, parse_constant=no_constants)
    except NotificationError:
        raise
    except (ValueError, RecursionError) as err:  # JSONDecodeError, UnicodeDecodeError
        reason = err.msg if isinstance(err, json.JSONDecodeError) else type(err).__name__
        where = f" (line {err.lineno} column {err.colno})" if isinstance(err, json.JSONDecodeError) else ""
        raise NotificationError(f"the body is not JSON: {reason}{where}", code="malformed") from None


#: Optional eventData fields carried into the payload as sent (type-checked).
DETAIL_TEXT_FIELDS: Final = ("pipelineUrl", "stageName", "stepName", "startTime", "endTime")


def _details(data: Mapping[str, Any]) -> dict[str, Any]:
    details: dict[str, Any] = {}
    for name in DETAIL_TEXT_FIELDS:
        value = _text(data, name, limit=_MAX_TEXT)
        if value is not None:
            details[name] = value
    if details.get("pipelineUrl") and not details["pipelineUrl"].startswith(("https://", "http://")):
        raise NotificationError(
            f"eventData.pipelineUrl: expected an http(s) URL, got {_show(details['pipelineUrl'])}",
            code="invalid_event",
        )
    triggered_by = data.get("triggeredBy")
    if triggered_by is not None:
        if not isinstance(triggered_by, Mapping) or not all(
            isinstance(v, str) or v is None for v in triggered_by.values()
        ):
            raise NotificationError(
                "eventData.triggeredBy: expected an object of strings (triggerType, name, email)",
                code="invalid_event",
            )
        details["triggeredBy"] = {str(k): v for k, v in triggered_by.items() if v not in (None, "")}
    tags = data.get("tag")
    if tags is not None:
        if not isinstance(tags, list) or not all(
            isinstance(t, Mapping)
            and isinstance(t.get("key"), str)
            and isinstance(t.get("value", ""), (str, type(None)))
            for t in tags
        ):
            raise NotificationError(
                'eventData.tag: expected a list of {"key": ..., "value": ...} strings', code="invalid_event"
            )
        details["tag"] = [{"key": t["key"], "value": t.get("value") or ""} for t in tags]
    return details


def _scope(data: Mapping[str, Any], event_type: str) -> dict[str, str]:
    fields = {
        "account": "accountIdentifier",
        "org": "orgIdentifier",
        "project": "projectIdentifier",
        "pipeline": "pipelineIdentifier",
    }
    from_url: dict[str, str] = {}
    if event_type in TRIGGER_EVENTS and any(data.get(key) is None for key in fields.values()):
        url = _text(data, "pipelineUrl", limit=_MAX_TEXT) or _text(data, "triggerUrl", limit=_MAX_TEXT)
        match = _PIPELINE_URL.search(url or "")
        if match is None:
            raise NotificationError(
                "TriggerFailed: the identifiers are missing and pipelineUrl does not name "
                ".../account/<account>/.../orgs/<org>/projects/<project>/pipelines/<pipeline>",
                code="invalid_event",
            )
        from_url = match.groupdict()
    scope: dict[str, str] = {}
    for name, key in fields.items():
        value = _text(data, key, required=not from_url, limit=_MAX_NAME)
        scope[name] = value if value is not None else from_url[name]
    return scope


def _text(data: Mapping[str, Any], field: str, *, required: bool = False, limit: int) -> Any:
    value = data.get(field)
    if value is None:
        if required:
            raise NotificationError(f"eventData.{field} is required", code="invalid_event")
        return None
    if not isinstance(value, str):
        raise NotificationError(
            f"eventData.{field}: expected a string, got {_json_type(value)}", code="invalid_event"
        )
    if not value or len(value) > limit:
        raise NotificationError(
            f"eventData.{field}: expected 1 to {limit} characters, got {len(value)}", code="invalid_event"
        )
    return value


def _timestamp(data: Mapping[str, Any], field: str, *, required: bool = False) -> int | None:
    value = data.get(field)
    if value is None:
        if required:
            raise NotificationError(f"eventData.{field} is required (epoch seconds)", code="invalid_event")
        return None
    if type(value) is not int or value < 0:
        raise NotificationError(
            f"eventData.{field}: expected epoch seconds (a non-negative integer), got {_show(value)}",
            code="invalid_event",
        )
    return value  # milliseconds are converted by HarnessNotification


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    return "a number" if isinstance(value, (int, float)) else type(value).__name__


def _show(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


__all__ = [
    "EVENT_TYPES",
    "NODE_STATUSES",
    "PIPELINE_EVENTS",
    "SOURCES",
    "STAGE_EVENTS",
    "STEP_EVENTS",
    "TRIGGER_EVENTS",
    "EventSource",
    "HarnessNotification",
    "NotificationError",
    "parse_notification",
]
