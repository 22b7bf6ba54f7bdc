"""Outbound notifications: ``notificationRules`` with a ``Webhook`` method get ``{"eventData": ...}``.

Payloads follow ``harness-api.md`` §11: NON_EMPTY fields only, ``startTs``/``endTs`` in epoch **seconds**,
``startTime``/``endTime`` as Java ``Date.toString()`` text, ``nodeStatus`` from the node's status.  Every
delivery (and its outcome) is recorded for tests (``GET /_emulator/notifications``).

>>> java_date(0)
'Thu Jan 01 00:00:00 GMT 1970'
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from airflow_provider_harness.emulator.harness_rules import notification_node_status
from airflow_provider_harness.emulator.model import Execution, Node, now_ms

if TYPE_CHECKING:
    from airflow_provider_harness.emulator.app import Emulator

log = logging.getLogger(__name__)

PIPELINE_EVENTS: Final = frozenset(
    {"PipelineStart", "PipelineEnd", "PipelineSuccess", "PipelineFailed", "PipelinePaused"}
)
STAGE_EVENTS: Final = frozenset({"StageStart", "StageSuccess", "StageFailed"})
MAX_RECORDED_DELIVERIES: Final = 10_000


def java_date(epoch_ms: int) -> str:
    """Java ``Date.toString()`` in GMT, as Harness writes ``startTime``/``endTime``."""
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%a %b %d %H:%M:%S GMT %Y")


def _non_empty(value: Any) -> Any:
    if isinstance(value, dict):
        cleaned = {k: _non_empty(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        return [_non_empty(v) for v in value]
    return value


class Notifier:
    """Matches events against an execution's notification rules and POSTs them (fire and forget)."""

    def __init__(self, core: Emulator) -> None:
        self.core = core
        self.deliveries: list[dict[str, Any]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._client: Any = None

    def clear(self) -> None:
        """Forget recorded deliveries."""
        self.deliveries.clear()

    async def close(self) -> None:
        """Wait briefly for deliveries in flight, then close the HTTP client."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=2)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def emit(
        self, execution: Execution, event_type: str, *, stage: Node | None = None, step: Node | None = None
    ) -> None:
        """Send ``event_type`` to every matching webhook rule of the execution."""
        targets = [rule for rule in execution.notification_rules if _matches(rule, event_type, stage)]
        if not targets:
            return
        payload = {"eventData": self.event_data(execution, event_type, stage, step)}
        for rule in targets:
            spec = (rule.get("notificationMethod") or {}).get("spec") or {}
            url = spec.get("webhookUrl")
            if not url:
                continue
            headers = {"Content-Type": "application/json", "Accept": "*/*"}
            for key, value in (spec.get("headers") or {}).items():
                headers[str(key)] = str(value)
            record: dict[str, Any] = {
                "id": self.core.ids.uuid(),
                "rule": rule.get("identifier") or rule.get("name"),
                "url": url,
                "eventType": event_type,
                "planExecutionId": execution.id,
                "payload": payload,
                "queuedAt": now_ms(),
                "statusCode": None,
                "error": None,
            }
            self.deliveries.append(record)
            del self.deliveries[:-MAX_RECORDED_DELIVERIES]
            task = asyncio.get_running_loop().create_task(self._deliver(record, headers))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, record: dict[str, Any], headers: dict[str, str]) -> None:
        import httpx  # only paid when a pipeline has webhook notifications

        if self._client is None:
            self._client = httpx.AsyncClient(timeout=10.0)
        try:
            response = await self._client.post(record["url"], json=record["payload"], headers=headers)
            record["statusCode"] = response.status_code
            if response.status_code >= 300:
                log.info("notification to %s answered %s", record["url"], response.status_code)
        except Exception as exc:  # non-2xx or errors are only logged, as Harness does
            record["error"] = f"{type(exc).__name__}: {exc}"
            log.info("notification to %s failed: %s", record["url"], record["error"])
        record["deliveredAt"] = now_ms()

    def event_data(
        self, execution: Execution, event_type: str, stage: Node | None, step: Node | None
    ) -> dict[str, Any]:
        """The ``WebhookNotificationEvent`` for one event."""
        base = self.core.settings.base_url
        node = step or stage
        pipeline_url = (
            f"{base}/ng/#/account/{execution.account}/{execution.module}/orgs/{execution.org}/projects/"
            f"{execution.project}/pipelines/{execution.pipeline_id}"
        )
        status = node.status if node is not None else execution.status
        if event_type in ("PipelineStart", "StageStart"):
            node_status = "started"
        else:
            node_status = notification_node_status(status)
        start_ms = node.start_ts if node is not None and node.start_ts else execution.start_ts
        end_ms = node.end_ts if node is not None else execution.end_ts
        triggered_by = execution.trigger_info.get("triggeredBy") or {}
        failure = (node.failure if node is not None else execution.failure) or {}
        data: dict[str, Any] = {
            "accountIdentifier": execution.account,
            "orgIdentifier": execution.org,
            "projectIdentifier": execution.project,
            "pipelineIdentifier": execution.pipeline_id,
            "pipelineName": execution.pipeline_name,
            "planExecutionId": execution.id,
            "stageIdentifier": stage.identifier if stage is not None else None,
            "stepIdentifier": step.identifier if step is not None else None,
            "executionUrl": f"{pipeline_url}/executions/{execution.id}/pipeline",
            "pipelineUrl": f"{pipeline_url}/pipeline-studio",
            "stepName": node.name if node is not None else None,
            "stageName": stage.name if stage is not None else None,
            "eventType": event_type,
            "nodeStatus": node_status,
            "triggeredBy": {
                "triggerType": execution.trigger_info.get("triggerType"),
                "name": triggered_by.get("identifier"),
                "email": (triggered_by.get("extraInfo") or {}).get("email"),
            },
            "moduleInfo": {},
            "startTime": java_date(start_ms),
            "startTs": start_ms // 1000,
            "tag": execution.tags,
        }
        if event_type not in ("PipelineStart", "StageStart") and end_ms:
            data["endTime"] = java_date(end_ms)
            data["endTs"] = end_ms // 1000
        if event_type in ("PipelineFailed", "StageFailed", "StepFailed", "PipelineEnd") and failure.get(
            "message"
        ):
            data["errorMessage"] = failure["message"]
        result: dict[str, Any] = _non_empty(data)
        return result


def _matches(rule: dict[str, Any], event_type: str, stage: Node | None) -> bool:
    if not isinstance(rule, dict) or rule.get("enabled", True) is False:
        return False
    method = rule.get("notificationMethod") or {}
    if method.get("type") != "Webhook":
        return False
    for event in rule.get("pipelineEvents") or []:
        kind = (event or {}).get("type")
        if kind == "AllEvents":
            return True
        if kind != event_type:
            continue
        if event_type in STAGE_EVENTS:
            for_stages = event.get("forStages") or ["AllStages"]
            if "AllStages" in for_stages or (stage is not None and stage.identifier in for_stages):
                return True
            continue
        return True
    return False
