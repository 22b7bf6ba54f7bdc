"""Custom webhook triggers (``harness-api.md`` §10): receive, queue, process a moment later.

``POST /pipeline/api/webhook/custom/v2?...`` and ``POST /pipeline/api/webhook/custom/{token}/v3?...`` answer
at once with ``eventCorrelationId``; ``webhook_delay_seconds`` (emulated) later the event is matched against
the trigger's payload/header conditions and the pipeline starts.  Until then
``GET /pipeline/api/webhook/triggerExecutionDetails/{eventId}`` answers 400 ``INVALID_REQUEST`` exactly as
Harness does.  The delay counts from each event's receipt with the *current* setting, so lowering it (e.g.
to 0) releases events already queued.

Every trigger the emulator creates has a custom webhook token, as every trigger created on Harness today
does, so its URL is the v3 one and the tokenless URLs (``.../custom/v2`` and the oldest ``.../custom``) are
refused with Harness's message (``harness-api.md`` §10.1).  A trigger made tokenless through
``DELETE /_emulator/triggers/{id}/token`` (like one created before the tokens) is reached by the v2 URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from typing import TYPE_CHECKING, Any, Final

from airflow_provider_harness.emulator.envelopes import HarnessError
from airflow_provider_harness.emulator.httpcall import Call, Route
from airflow_provider_harness.emulator.model import now_ms
from airflow_provider_harness.emulator.plan import parse_input_yaml

if TYPE_CHECKING:
    from airflow_provider_harness.emulator.app import Emulator

log = logging.getLogger(__name__)


#: Harness's refusal of a tokenless custom webhook URL for a trigger that has a token [SRC
#: ``TriggerWebhookValidator``], answered 400 ``INVALID_REQUEST`` with the ``Invalid request:`` template.
TOKENLESS_URL_REFUSED: Final = (
    "This webhook url is no longer supported for newly created custom webhook triggers. "
    "We are migrating to new webhook urls using custom webhook tokens in the url."
)


def event_not_processed(event_id: str) -> HarnessError:
    """What Harness answers while a webhook event is still queued (or unknown)."""
    return HarnessError.invalid_request(
        f"Trigger event history doesn't exist for event with eventId {event_id}"
    )


def condition_matches(operator: str, actual: Any, expected: Any) -> bool:
    """Evaluate one trigger payload/header condition (Harness ``ConditionOperator``).

    >>> condition_matches("In", "b", "a, b"), condition_matches("StartsWith", "main-1", "main")
    (True, True)
    """
    left = "" if actual is None else str(actual)
    right = "" if expected is None else str(expected)
    values = [v.strip() for v in right.split(",")]
    checks = {
        "Equals": lambda: left == right,
        "NotEquals": lambda: left != right,
        "In": lambda: left in values,
        "NotIn": lambda: left not in values,
        "StartsWith": lambda: left.startswith(right),
        "EndsWith": lambda: left.endswith(right),
        "Contains": lambda: right in left,
        "DoesNotContain": lambda: right not in left,
        "Regex": lambda: re.search(right, left) is not None,
    }
    check = checks.get(operator)
    return bool(check()) if check else False


class WebhookApi:
    """Inbound custom webhooks and the event-tracking endpoints."""

    def __init__(self, core: Emulator) -> None:
        self.core = core
        self._tasks: set[asyncio.Task[None]] = set()
        self._settings_changed = asyncio.Event()

    def routes(self) -> list[Route]:
        """Webhook routes (public or optional API key, like Harness)."""
        w = "/pipeline/api/webhook"
        return [
            Route("POST", f"{w}/custom", self.custom_legacy, auth="optional"),
            Route("POST", f"{w}/custom/v2", self.custom_v2, auth="optional"),
            Route("POST", f"{w}/custom/{{webhookToken}}/v3", self.custom_v3, auth="optional"),
            Route("GET", f"{w}/triggerExecutionDetails/{{eventId}}", self.execution_details, auth="none"),
            Route("GET", f"{w}/triggerProcessingDetails", self.processing_details, auth="none"),
        ]

    def clear(self) -> None:
        """Cancel queued event processing (reset)."""
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()

    def settings_changed(self) -> None:
        """Re-evaluate the delay of queued events (``webhook_delay_seconds`` or ``time_scale`` changed)."""
        changed, self._settings_changed = self._settings_changed, asyncio.Event()
        changed.set()

    def resume_pending(self) -> None:
        """Re-queue events that were received but not processed before a restart."""
        for event in self.core.store.webhook_events.values():
            if not event.get("processed"):
                self._schedule(event["eventId"])

    # ---- receiving -------------------------------------------------------------------------------
    async def custom_legacy(self, call: Call) -> Any:
        return (await self._receive(call, None))["eventCorrelationId"]

    async def custom_v2(self, call: Call) -> Any:
        return await self._receive(call, None)

    async def custom_v3(self, call: Call) -> Any:
        return await self._receive(call, call.params["webhookToken"])

    async def _receive(self, call: Call, token: str | None) -> dict[str, Any]:
        account = call.query("accountIdentifier") or ""
        org = call.query("orgIdentifier") or ""
        project = call.query("projectIdentifier") or ""
        pipeline = call.query("pipelineIdentifier") or None
        trigger = call.query("triggerIdentifier") or None
        if not account:
            raise HarnessError.validation([("accountIdentifier", "must not be null")])
        if call.account and call.account != account:
            raise HarnessError.invalid_token()
        candidates: list[tuple[tuple[str, ...], str]] = []
        first_has_token = False
        for scope, record in self.core.pipelines.triggers_of(account, org, project, pipeline):
            entity = record["entity"]
            if entity["type"] != "Webhook" or record.get("webhookType") != "Custom" or not entity["enabled"]:
                continue
            if trigger and entity["identifier"] != trigger:
                continue
            if token is not None and record.get("token") != token:
                continue
            if not candidates:
                first_has_token = bool(record.get("token"))
            candidates.append((scope, entity["identifier"]))
        if not candidates:
            where = f"Account:{account}, Org: {org}, Project: {project}"
            if pipeline:
                where += f", Pipeline: {pipeline}"
            if trigger:
                where += f", Trigger: {trigger}"
            raise HarnessError.invalid_request(f"No enabled custom trigger found for {where}")
        if token is None and first_has_token:  # Harness checks the first matching trigger only
            raise HarnessError.invalid_request(TOKENLESS_URL_REFUSED)
        payload = await call.text()
        event_id = self.core.ids.object_id()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in call.scope["headers"]}
        headers.pop("x-api-key", None)
        event = {
            "eventId": event_id,
            "accountIdentifier": account,
            "orgIdentifier": org,
            "projectIdentifier": project,
            "candidates": [[list(scope), identifier] for scope, identifier in candidates],
            "payload": payload,
            "headers": headers,
            "eventCreatedAt": now_ms(),
            "processed": False,
        }
        self.core.store.webhook_events[event_id] = event
        self.core.store.mark_dirty()
        self._schedule(event_id)
        base = self.core.settings.base_url
        first_pipeline = candidates[0][0][3]
        return {
            "eventCorrelationId": event_id,
            "apiUrl": (
                f"{base}/gateway/pipeline/api/webhook/triggerExecutionDetails/{event_id}"
                f"?accountIdentifier={account}"
            ),
            "uiUrl": (
                f"{base}/ng/#/account/{account}/cd/orgs/{org}/projects/{project}/deployments"
                f"?pipelineIdentifier={first_pipeline}&page=0"
            ),
            "uiSetupUrl": (
                f"{base}/ng/#/account/{account}/cd/orgs/{org}/projects/{project}/pipelines/{first_pipeline}"
                "/pipeline-studio/"
            ),
        }

    # ---- processing ------------------------------------------------------------------------------
    def _schedule(self, event_id: str) -> None:
        task = asyncio.get_running_loop().create_task(self._process_later(event_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _process_later(self, event_id: str) -> None:
        while True:
            event = self.core.store.webhook_events.get(event_id)
            if event is None or event.get("processed"):
                return
            settings = self.core.settings
            delay = max(settings.min_step_seconds, settings.wall_seconds(settings.webhook_delay_seconds))
            remaining = event["eventCreatedAt"] / 1000 + delay - time.time()
            if remaining <= 0:
                break
            changed = self._settings_changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)
        try:
            self._process(event)
        except Exception:
            log.exception("webhook event %s could not be processed", event_id)
            event.update(
                processed=True,
                status="EXCEPTION_WHILE_PROCESSING",
                exceptionOccured=True,
                message="Exception while processing the event",
            )
        self.core.store.mark_dirty()

    def _process(self, event: dict[str, Any]) -> None:
        payload_text = event["payload"]
        try:
            payload = json.loads(payload_text) if payload_text.strip() else {}
        except json.JSONDecodeError:
            payload = payload_text
        status, message = (
            "NO_MATCHING_TRIGGER_FOR_PAYLOAD_CONDITIONS",
            "No trigger matched the payload conditions",
        )
        for scope_list, identifier in event["candidates"]:
            scope = tuple(scope_list)
            record = self.core.store.get("trigger", scope, identifier)
            if record is None or not record["entity"]["enabled"]:
                continue
            trigger_spec = ((record["spec"].get("source") or {}).get("spec") or {}).get("spec") or {}
            if not self._conditions_match(
                trigger_spec.get("headerConditions"), event["headers"], headers=True
            ):
                status, message = (
                    "NO_MATCHING_TRIGGER_FOR_HEADER_CONDITIONS",
                    "No trigger matched the header conditions",
                )
                continue
            if not self._conditions_match(trigger_spec.get("payloadConditions"), payload, headers=False):
                continue
            event.update(triggerIdentifier=identifier, pipelineIdentifier=scope[3])
            self._start(event, scope, record, payload)
            return
        event.update(processed=True, status=status, message=message, exceptionOccured=False)

    def _conditions_match(self, conditions: Any, source: Any, *, headers: bool) -> bool:
        for condition in conditions or []:
            if not isinstance(condition, dict):
                continue
            key = str(condition.get("key") or "")
            if headers:
                actual = source.get(key.lower())
            else:
                path = key
                for prefix in ("<+trigger.payload.", "<+eventPayload."):
                    if path.startswith(prefix):
                        path = path[len(prefix) :].rstrip(">")
                actual = source
                for part in path.split("."):
                    actual = actual.get(part) if isinstance(actual, dict) else None
            if not condition_matches(
                str(condition.get("operator") or "Equals"), actual, condition.get("value")
            ):
                return False
        return True

    def _start(
        self, event: dict[str, Any], scope: tuple[str, ...], record: dict[str, Any], payload: Any
    ) -> None:
        spec = record["spec"]
        account, org, project, pipeline_id = scope
        pipelines = self.core.pipelines
        layers: list[Any] = []
        for ref in spec.get("inputSetRefs") or []:
            layers.append(
                parse_input_yaml(pipelines.input_set((account, org, project), pipeline_id, ref)["yaml"])
            )
        input_yaml = spec.get("inputYaml") or ""
        layers.append(parse_input_yaml(input_yaml) if isinstance(input_yaml, str) else None)
        trigger_ref = f"{account}/{org}/{project}/{record['entity']['identifier']}"
        trigger_info = {
            "triggerType": "WEBHOOK_CUSTOM",
            "triggeredBy": {
                "uuid": "systemUser",
                "identifier": record["entity"]["identifier"],
                "extraInfo": {
                    "execution_trigger_tag_needed_for_abort": f"{account}:{org}:{project}:{pipeline_id}",
                    "triggerRef": trigger_ref,
                    "eventCorrelationId": event["eventId"],
                },
            },
            "isRerun": False,
        }
        try:
            execution = self.core.executions.launch(
                account=account,
                org=org,
                project=project,
                pipeline_id=pipeline_id,
                inputs=layers,
                input_yaml=input_yaml if isinstance(input_yaml, str) else "",
                trigger_info=trigger_info,
                trigger_payload=payload,
            )
        except HarnessError as err:
            event.update(
                processed=True,
                status="INVALID_RUNTIME_INPUT_YAML",
                message=err.message,
                exceptionOccured=True,
            )
            return
        event.update(
            processed=True,
            status="TARGET_EXECUTION_REQUESTED",
            message="Pipeline execution was requested successfully",
            exceptionOccured=False,
            pipelineExecutionId=execution.id,
            runtimeInput=input_yaml or "pipeline: {}\n",
        )
        record["lastTriggerExecutionDetails"] = {
            "lastExecutionTime": execution.start_ts,
            "lastExecutionSuccessful": True,
            "message": "Pipeline execution was requested successfully",
            "planExecutionId": execution.id,
        }

    # ---- tracking --------------------------------------------------------------------------------
    def _processing_details(self, event: dict[str, Any]) -> dict[str, Any]:
        details = {
            "eventFound": True,
            "eventId": event["eventId"],
            "accountIdentifier": event["accountIdentifier"],
            "orgIdentifier": event["orgIdentifier"],
            "projectIdentifier": event["projectIdentifier"],
            "triggerIdentifier": event.get("triggerIdentifier"),
            "pipelineIdentifier": event.get("pipelineIdentifier"),
            "pipelineExecutionId": event.get("pipelineExecutionId"),
            "exceptionOccured": event.get("exceptionOccured", False),
            "status": event.get("status"),
            "message": event.get("message"),
            "payload": event["payload"],
            "eventCreatedAt": event["eventCreatedAt"],
            "runtimeInput": event.get("runtimeInput"),
        }
        return {k: v for k, v in details.items() if v is not None}

    def _processed_event(self, call: Call, event_id: str) -> dict[str, Any]:
        event = self.core.store.webhook_events.get(event_id)
        account = call.query("accountIdentifier")
        if event is None or not event.get("processed") or (account and account != event["accountIdentifier"]):
            raise event_not_processed(event_id)
        return event

    async def execution_details(self, call: Call) -> Any:
        event = self._processed_event(call, call.params["eventId"])
        execution_details = None
        execution = self.core.store.executions.get(event.get("pipelineExecutionId") or "")
        if execution is not None:
            execution_details = {"pipelineExecutionSummary": self.core.executions.summary(execution)}
        return {
            "webhookProcessingDetails": self._processing_details(event),
            "executionDetails": execution_details,
        }

    async def processing_details(self, call: Call) -> Any:
        event_id = call.query("eventId") or ""
        event = self.core.store.webhook_events.get(event_id)
        if event is None or not event.get("processed"):
            return {"eventFound": False, "eventId": event_id}
        return self._processing_details(self._processed_event(call, event_id))
