"""A scripted fake Harness for custom webhook tests (``httpx.MockTransport``), and checks of the fake itself.

It serves what :class:`HarnessWebhookTriggerOperator` uses, shaped like harness-api.md §10: trigger details
(``webhookUrl`` with a v3 token), the custom webhook post (answer: ``eventCorrelationId``), the event
(400 ``INVALID_REQUEST`` "Trigger event history doesn't exist" while pending, then the ``FinalStatus``),
execution details (status advancing one step per GET), the execution list with ``executionTriggerInfo``,
notes (GET/PUT) and ``AbortAll``.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from airflow_provider_harness.client.config import HarnessConfig, Secret
from airflow_provider_harness.client.transport import AsyncHarnessClient, HarnessClient

API_KEY = "pat.acc.tokenid.TOPSECRETKEYVALUE42"
TOKEN = "Wh00kT0kenS3cretValue_x"
BASE = "https://harness.test"
PENDING = "Invalid request: Trigger event history doesn't exist for event with eventId {}"


def make_config(**overrides: Any) -> HarnessConfig:
    values: dict[str, Any] = {
        "account_id": "acc",
        "api_key": Secret(API_KEY),
        "base_url": BASE,
        "org_id": "default",
        "project_id": "proj",
        "max_retries": 0,
        "retry_base_delay": 0.01,
        "retry_max_delay": 0.02,
    }
    values.update(overrides)
    return HarnessConfig(**values)


def ok(data: Any) -> httpx.Response:
    return httpx.Response(
        200, json={"status": "SUCCESS", "data": data, "metaData": None, "correlationId": "c"}
    )


def harness_error(status: int, code: str, message: str) -> httpx.Response:
    kind = "ERROR" if status >= 500 else "FAILURE"
    return httpx.Response(
        status, json={"status": kind, "code": code, "message": message, "correlationId": "c"}
    )


def webhook_url(token: str | None = TOKEN, trigger: str = "on_push", pipeline: str = "deploy") -> str:
    query = (
        f"accountIdentifier=acc&orgIdentifier=default&projectIdentifier=proj"
        f"&pipelineIdentifier={pipeline}&triggerIdentifier={trigger}"
    )
    middle = f"{token}/v3" if token else "v2"
    return f"{BASE}/gateway/pipeline/api/webhook/custom/{middle}?{query}"


@dataclass
class FakeExecution:
    id: str
    pipeline: str
    script: list[str]
    trigger: str | None
    event_id: str | None
    start_ts: int
    notes: str = ""
    index: int = 0

    @property
    def status(self) -> str:
        return self.script[min(self.index, len(self.script) - 1)]

    def summary(self) -> dict[str, Any]:
        info: dict[str, Any] = {"triggerType": "MANUAL", "triggeredBy": {"identifier": "someone"}}
        if self.trigger:
            info = {
                "triggerType": "WEBHOOK_CUSTOM",
                "triggeredBy": {
                    "uuid": "systemUser",
                    "identifier": self.trigger,
                    "extraInfo": {"eventCorrelationId": self.event_id},
                },
                "isRerun": False,
            }
        return {
            "planExecutionId": self.id,
            "pipelineIdentifier": self.pipeline,
            "orgIdentifier": "default",
            "projectIdentifier": "proj",
            "status": self.status,
            "startTs": self.start_ts,
            "modules": ["cd"],
            "executionTriggerInfo": info,
            "notesExistForPlanExecutionId": bool(self.notes),
        }


@dataclass
class FakeEvent:
    id: str
    payload: str
    headers: dict[str, str]
    outcome: str  # a FinalStatus; TARGET_EXECUTION_REQUESTED starts an execution when processed
    pending_reads: int
    reads: int = 0
    execution_id: str | None = None


@dataclass
class WebhookHarness:
    """Scripted Harness: ``outcome`` / ``pending_reads`` apply to the next posted events."""

    trigger: str = "on_push"
    pipeline: str = "deploy"
    token: str | None = TOKEN
    trigger_type: str = "Webhook"
    enabled: bool = True
    outcome: str = "TARGET_EXECUTION_REQUESTED"
    outcome_message: str | None = None
    pending_reads: int = 0
    #: Posts whose answer is lost (502) after Harness queued - and, when not pending, processed - the event.
    lose_answers: int = 0
    execution_script: list[str] = field(default_factory=lambda: ["Running", "Success"])
    events: dict[str, FakeEvent] = field(default_factory=dict)
    executions: dict[str, FakeExecution] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    faults: dict[str, list[httpx.Response]] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _clock: Any = field(default_factory=lambda: itertools.count(int(time.time() * 1000), 1000))

    # ---- helpers used by tests -------------------------------------------------------------------

    def client(self, **config: Any) -> HarnessClient:
        return HarnessClient(make_config(**config), transport=httpx.MockTransport(self.handler))

    def async_client(self) -> AsyncHarnessClient:
        return AsyncHarnessClient(make_config(), transport=httpx.MockTransport(self.handler))

    def inject(self, key: str, *responses: httpx.Response) -> None:
        """Answer the next requests whose ``METHOD path-prefix`` matches ``key`` with ``responses``."""
        self.faults.setdefault(key, []).extend(responses)

    def posts(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == "POST" and "/webhook/custom" in r.url.path]

    def count(self, method: str, prefix: str) -> int:
        return sum(1 for r in self.requests if r.method == method and r.url.path.startswith(prefix))

    def add_execution(
        self, script: list[str], *, trigger: str | None = None, event_id: str | None = None, notes: str = ""
    ) -> FakeExecution:
        execution = FakeExecution(
            f"exec{next(self._ids)}", self.pipeline, list(script), trigger, event_id, next(self._clock), notes
        )
        self.executions[execution.id] = execution
        return execution

    def release(self) -> None:
        """Process every queued event at its next read."""
        for event in self.events.values():
            event.pending_reads = 0

    # ---- the API -----------------------------------------------------------------------------------

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        for key, queue in self.faults.items():
            method, prefix = key.split(" ", 1)
            if queue and request.method == method and path.startswith(prefix):
                return queue.pop(0)
        if request.method == "GET" and path == f"/pipeline/api/triggers/{self.trigger}/details":
            return self._details(request)
        if request.method == "POST" and path.startswith("/gateway/pipeline/api/webhook/custom/"):
            return self._post(request)
        if request.method == "GET" and path.startswith("/pipeline/api/webhook/triggerExecutionDetails/"):
            return self._event(path.rsplit("/", 1)[1])
        if request.method == "GET" and path.startswith("/pipeline/api/pipelines/execution/v2/"):
            execution = self.executions.get(path.rsplit("/", 1)[1])
            if execution is None:
                return harness_error(404, "ENTITY_NOT_FOUND", "Plan Execution Summary does not exist")
            summary = execution.summary()
            execution.index += 1
            return ok({"pipelineExecutionSummary": summary})
        if request.method == "POST" and path == "/pipeline/api/pipelines/execution/summary":
            return self._list(request)
        if path.startswith("/pipeline/api/pipelines/execution/") and path.endswith("/notes"):
            execution = self.executions[path.split("/")[-2]]
            if request.method == "PUT":
                execution.notes = request.url.params["notesForPipelineExecution"]
            return ok({"notes": execution.notes})
        if request.method == "PUT" and path.startswith("/pipeline/api/pipeline/execute/interrupt/"):
            execution = self.executions[path.rsplit("/", 1)[1]]
            execution.script, execution.index = ["Aborted"], 0
            return ok({"id": "i1", "type": "AbortAll", "planExecutionId": execution.id})
        return httpx.Response(599, text=f"unscripted {request.method} {path}")

    def _details(self, request: httpx.Request) -> httpx.Response:
        assert request.url.params["targetIdentifier"] == self.pipeline
        url = webhook_url(self.token, self.trigger, self.pipeline) if self.trigger_type == "Webhook" else None
        data: dict[str, Any] = {
            "name": "On push",
            "identifier": self.trigger,
            "type": self.trigger_type,
            "enabled": self.enabled,
            "yaml": f"trigger:\n  name: On push\n  identifier: {self.trigger}\n"
            "  pipelineIdentifier: deploy\n",
            "webhookDetails": {"webhookSecret": None, "webhookSourceRepo": "CUSTOM"} if url else None,
            "webhookUrl": url,
            "webhookCurlCommand": f"curl -X POST --url '{url}' -d '{{}}'" if url else None,
        }
        return ok(data)

    def _post(self, request: httpx.Request) -> httpx.Response:
        expected = f"/gateway/pipeline/api/webhook/custom/{self.token}/v3" if self.token else None
        if self.token and request.url.path != expected:
            return harness_error(
                400, "INVALID_REQUEST", f"Invalid request: unknown webhook {request.url.path}"
            )
        event_id = f"{next(self._ids):024x}"
        self.events[event_id] = FakeEvent(
            event_id,
            request.read().decode(),
            {k.lower(): v for k, v in request.headers.items()},
            self.outcome,
            self.pending_reads,
        )
        if self.lose_answers:
            self.lose_answers -= 1
            if not self.pending_reads:
                self._event(event_id)  # processed at once: the pipeline started
            return httpx.Response(502, text="<html><title>502 Bad Gateway</title></html>")
        return ok(
            {
                "eventCorrelationId": event_id,
                "apiUrl": f"{BASE}/gateway/pipeline/api/webhook/triggerExecutionDetails/{event_id}",
            }
        )

    def _event(self, event_id: str) -> httpx.Response:
        event = self.events.get(event_id)
        if event is None or event.reads < event.pending_reads:
            if event is not None:
                event.reads += 1
            return harness_error(400, "INVALID_REQUEST", PENDING.format(event_id))
        processing: dict[str, Any] = {
            "eventFound": True,
            "eventId": event_id,
            "accountIdentifier": "acc",
            "orgIdentifier": "default",
            "projectIdentifier": "proj",
            "triggerIdentifier": self.trigger,
            "pipelineIdentifier": self.pipeline,
            "exceptionOccured": False,
            "status": event.outcome,
            "message": self.outcome_message or "Pipeline execution was requested successfully",
            "payload": event.payload,
        }
        details = None
        if event.outcome == "TARGET_EXECUTION_REQUESTED":
            if event.execution_id is None:
                execution = self.add_execution(self.execution_script, trigger=self.trigger, event_id=event_id)
                event.execution_id = execution.id
            processing["pipelineExecutionId"] = event.execution_id
            details = {"pipelineExecutionSummary": self.executions[event.execution_id].summary()}
        return ok({"webhookProcessingDetails": processing, "executionDetails": details})

    def _list(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.read() or b"{}")
        types = set(body.get("triggerTypes") or [])
        triggers = set(body.get("triggerIdentifiers") or [])
        items = [
            e.summary()
            for e in sorted(self.executions.values(), key=lambda e: e.start_ts, reverse=True)
            if e.pipeline == request.url.params.get("pipelineIdentifier", e.pipeline)
            and (not types or e.summary()["executionTriggerInfo"]["triggerType"] in types)
            and (not triggers or e.trigger in triggers)
        ]
        size = int(request.url.params.get("size", 50))
        index = int(request.url.params.get("page", 0))
        chunk = items[index * size : (index + 1) * size]
        return ok({"content": chunk, "last": (index + 1) * size >= len(items), "totalElements": len(items)})


# ---- tests of the fake itself ------------------------------------------------------------------------


def test_fake_event_is_pending_then_starts_one_execution() -> None:
    fake = WebhookHarness(pending_reads=1)
    client = fake.client()
    posted = client.http.post(webhook_url(), json={"a": 1}).json()["data"]
    event_path = f"{BASE}/pipeline/api/webhook/triggerExecutionDetails/{posted['eventCorrelationId']}"
    pending = client.http.get(event_path)
    assert pending.status_code == 400 and "history doesn't exist" in pending.json()["message"]
    first = client.http.get(event_path).json()["data"]
    again = client.http.get(event_path).json()["data"]
    assert first["webhookProcessingDetails"]["status"] == "TARGET_EXECUTION_REQUESTED"
    assert (
        first["webhookProcessingDetails"]["pipelineExecutionId"]
        == again["webhookProcessingDetails"]["pipelineExecutionId"]
    )
    assert len(fake.executions) == 1


def test_fake_refuses_a_wrong_token_and_lists_by_trigger() -> None:
    fake = WebhookHarness()
    client = fake.client()
    assert client.http.post(webhook_url("wrong"), json={}).status_code == 400
    fake.add_execution(["Success"])  # manual
    fake.add_execution(["Running"], trigger="on_push", event_id="e1")
    listed = client.http.post(
        f"{BASE}/pipeline/api/pipelines/execution/summary",
        params={"pipelineIdentifier": "deploy"},
        json={"filterType": "PipelineExecution", "triggerTypes": ["WEBHOOK_CUSTOM"]},
    ).json()["data"]["content"]
    assert [item["executionTriggerInfo"]["triggeredBy"]["identifier"] for item in listed] == ["on_push"]
