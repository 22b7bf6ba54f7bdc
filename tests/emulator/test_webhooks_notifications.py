"""Custom webhook triggers (v2, v3), event tracking, and outbound notification webhooks."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from emulator_kit import Api, pipeline_yaml, shell, stage

TRIGGER = """\
trigger:
  name: on push
  identifier: on_push
  enabled: true
  orgIdentifier: default
  projectIdentifier: emulator_project
  pipelineIdentifier: hooked
  source:
    type: Webhook
    spec:
      type: Custom
      spec:
        payloadConditions:
          - key: <+trigger.payload.branch>
            operator: Equals
            value: main
        headerConditions: []
  inputYaml: |
    pipeline:
      identifier: hooked
      variables:
        - name: branch
          type: String
          value: <+trigger.payload.branch>
"""


def hooked_pipeline() -> str:
    return pipeline_yaml(
        "hooked",
        [stage("s", [shell("say", "echo branch <+pipeline.variables.branch>")])],
        variables=[{"name": "branch", "type": "String", "value": "<+input>"}],
    )


@pytest.fixture
def trigger(api: Api) -> dict[str, Any]:
    api.create_pipeline(hooked_pipeline())
    created = api.post(
        "/pipeline/api/triggers",
        params={"targetIdentifier": "hooked"},
        content=TRIGGER,
        headers={"content-type": "application/yaml"},
    )
    assert created.status_code == 200, created.text
    details = api.get("/pipeline/api/triggers/on_push/details", params={"targetIdentifier": "hooked"})
    return dict(details.json()["data"])


HOLD_EVENTS = 10**9  # webhook_delay_seconds that keeps events queued until the test lowers it


def _assert_pending(api: Api, event_id: str) -> None:
    path = f"/pipeline/api/webhook/triggerExecutionDetails/{event_id}"
    first = api.client.get(path, params={"accountIdentifier": api.handle.account_id})
    assert first.status_code == 400
    assert first.json()["code"] == "INVALID_REQUEST"
    assert first.json()["message"] == (
        f"Invalid request: Trigger event history doesn't exist for event with eventId {event_id}"
    )


def _processed(api: Api, event_id: str) -> dict[str, Any]:
    """Release queued events (the delay applies to them with the current setting) and wait for this one."""
    api.handle.set_settings(webhook_delay_seconds=0)
    path = f"/pipeline/api/webhook/triggerExecutionDetails/{event_id}"
    deadline = time.monotonic() + 30
    while True:
        response = httpx.get(
            f"{api.handle.base_url}{path}", params={"accountIdentifier": api.handle.account_id}
        )
        if response.status_code == 200:
            return dict(response.json()["data"])
        assert time.monotonic() < deadline, response.text
        time.sleep(0.01)


def _pending_then_done(api: Api, event_id: str) -> dict[str, Any]:
    _assert_pending(api, event_id)
    return _processed(api, event_id)


def _v2_query(trigger: str = "on_push") -> dict[str, str]:
    return {
        "accountIdentifier": "emulatoraccount",
        "orgIdentifier": "default",
        "projectIdentifier": "emulator_project",
        "pipelineIdentifier": "hooked",
        "triggerIdentifier": trigger,
    }


def test_trigger_crud_and_webhook_url(api: Api, trigger: dict[str, Any]) -> None:
    assert trigger["type"] == "Webhook" and trigger["enabled"] is True
    url = trigger["webhookUrl"]
    assert url.startswith(f"{api.handle.base_url}/gateway/pipeline/api/webhook/custom/")
    assert "/v3?accountIdentifier=emulatoraccount" in url and "triggerIdentifier=on_push" in url
    listed = api.get("/pipeline/api/triggers", params={"targetIdentifier": "hooked"}).json()["data"]
    assert listed["totalItems"] == 1
    duplicate = api.post(
        "/pipeline/api/triggers",
        params={"targetIdentifier": "hooked"},
        content=TRIGGER,
        headers={"content-type": "application/yaml"},
    )
    assert duplicate.status_code == 400 and duplicate.json()["code"] == "DUPLICATE_FIELD"
    missing = api.get("/pipeline/api/triggers/ghost", params={"targetIdentifier": "hooked"})
    assert missing.status_code == 404 and missing.json()["code"] == "ENTITY_NOT_FOUND"


def test_v3_webhook_starts_the_pipeline_a_moment_later(api: Api, trigger: dict[str, Any]) -> None:
    api.handle.set_settings(webhook_delay_seconds=HOLD_EVENTS)  # queued until _processed lowers it
    response = httpx.post(trigger["webhookUrl"], json={"branch": "main"})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    event_id = data["eventCorrelationId"]
    assert len(event_id) == 24 and int(event_id, 16) >= 0
    assert data["apiUrl"].endswith(f"/triggerExecutionDetails/{event_id}?accountIdentifier=emulatoraccount")
    assert "uiUrl" in data and "uiSetupUrl" in data
    details = _pending_then_done(api, event_id)
    processing = details["webhookProcessingDetails"]
    assert processing["status"] == "TARGET_EXECUTION_REQUESTED"
    assert processing["eventFound"] is True and processing["triggerIdentifier"] == "on_push"
    execution_id = processing["pipelineExecutionId"]
    summary = details["executionDetails"]["pipelineExecutionSummary"]
    assert summary["planExecutionId"] == execution_id
    assert summary["executionTriggerInfo"]["triggerType"] == "WEBHOOK_CUSTOM"
    assert summary["executionTriggerInfo"]["triggeredBy"]["extraInfo"]["eventCorrelationId"] == event_id
    assert api.wait(execution_id)["status"] == "Success"


def test_v2_url_is_refused_for_a_trigger_with_a_token(api: Api, trigger: dict[str, Any]) -> None:
    """harness-api.md §10.1: triggers created today have a token; their tokenless URLs are refused."""
    assert "/v3?" in trigger["webhookUrl"]
    expected = {
        "status": "ERROR",
        "code": "INVALID_REQUEST",
        "message": "Invalid request: This webhook url is no longer supported for newly created custom "
        "webhook triggers. We are migrating to new webhook urls using custom webhook tokens in the url.",
    }
    for path in ("/gateway/pipeline/api/webhook/custom/v2", "/pipeline/api/webhook/custom"):
        response = httpx.post(f"{api.handle.base_url}{path}", params=_v2_query(), json={"branch": "main"})
        assert response.status_code == 400, (path, response.text)
        body = response.json()
        assert {key: body[key] for key in expected} == expected
        assert body["responseMessages"][0]["message"] == expected["message"]
        assert "data" not in body
    without_trigger = {k: v for k, v in _v2_query().items() if k != "triggerIdentifier"}
    response = httpx.post(f"{api.handle.base_url}/pipeline/api/webhook/custom/v2", params=without_trigger)
    assert response.status_code == 400 and response.json()["message"] == expected["message"]
    v3 = httpx.post(trigger["webhookUrl"], json={"branch": "main"})  # the v3 URL still works
    assert v3.status_code == 200
    _processed(api, v3.json()["data"]["eventCorrelationId"])
    assert api.handle.execution_count("hooked") == 1  # the refused calls queued nothing


def test_v2_webhook_of_a_tokenless_trigger_and_conditions(api: Api, trigger: dict[str, Any]) -> None:
    api.handle.set_settings(webhook_delay_seconds=HOLD_EVENTS)
    url = api.handle.admin("DELETE", "triggers/on_push/token?pipeline=hooked")["webhookUrl"]
    assert url.startswith(f"{api.handle.base_url}/gateway/pipeline/api/webhook/custom/v2?")
    details = api.get("/pipeline/api/triggers/on_push/details", params={"targetIdentifier": "hooked"})
    assert details.json()["data"]["webhookUrl"] == url
    v3 = httpx.post(trigger["webhookUrl"], json={"branch": "main"})  # its old token is gone
    assert v3.status_code == 400 and v3.json()["code"] == "INVALID_REQUEST"
    matched = httpx.post(url, json={"branch": "main"}).json()["data"]["eventCorrelationId"]
    ignored = httpx.post(url, json={"branch": "feature"}).json()["data"]["eventCorrelationId"]
    _assert_pending(api, matched)
    _assert_pending(api, ignored)
    assert _processed(api, matched)["webhookProcessingDetails"]["status"] == "TARGET_EXECUTION_REQUESTED"
    skipped = _processed(api, ignored)
    assert skipped["webhookProcessingDetails"]["status"] == "NO_MATCHING_TRIGGER_FOR_PAYLOAD_CONDITIONS"
    assert skipped["executionDetails"] is None
    assert api.handle.execution_count("hooked") == 1


def test_webhook_without_matching_trigger(api: Api, trigger: dict[str, Any]) -> None:
    query = {
        "accountIdentifier": api.handle.account_id,
        "orgIdentifier": "default",
        "projectIdentifier": "emulator_project",
        "pipelineIdentifier": "hooked",
        "triggerIdentifier": "nope",
    }
    response = httpx.post(f"{api.handle.base_url}/pipeline/api/webhook/custom/v2", params=query, json={})
    assert response.status_code == 400
    assert response.json()["message"] == (
        "Invalid request: No enabled custom trigger found for Account:emulatoraccount, Org: default, "
        "Project: emulator_project, Pipeline: hooked, Trigger: nope"
    )
    wrong_token = trigger["webhookUrl"].replace("/custom/", "/custom/x").split("?")
    response = httpx.post(
        wrong_token[0], params=dict(p.split("=") for p in wrong_token[1].split("&")), json={}
    )
    assert response.status_code == 400


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        self.received.append(
            {"path": self.path, "headers": dict(self.headers), "body": json.loads(self.rfile.read(length))}
        )
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def _all_delivered(api: Api, execution: str, received: list[dict[str, Any]]) -> None:
    """Wait until the receiver got every delivery the emulator queued for a finished execution.

    The emulator records each delivery when it queues it, synchronously with the status change, so once
    the execution is terminal the list is complete: no "wait a bit longer in case more arrive" is needed.
    """
    queued = api.handle.notifications(plan_execution_id=execution)
    deadline = time.monotonic() + 30
    while len(received) < len(queued):
        assert time.monotonic() < deadline, (len(received), [d["eventType"] for d in queued])
        time.sleep(0.01)
    assert len(received) == len(queued)


def test_notifications_are_posted_to_the_webhook(
    api: Api, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = receiver
    rules = [
        {
            "name": "all",
            "identifier": "all",
            "pipelineEvents": [{"type": "AllEvents"}],
            "notificationMethod": {
                "type": "Webhook",
                "spec": {"webhookUrl": url, "headers": {"X-Token": "t"}},
            },
            "enabled": True,
        }
    ]
    text = pipeline_yaml(
        "notified",
        [stage("ok", [shell("fine", "echo fine")]), stage("bad", [shell("boom", "exit 2")])],
        notificationRules=rules,
    )
    api.create_pipeline(text)
    execution = api.run("notified")
    api.wait(execution)
    _all_delivered(api, execution, received)
    events = {r["body"]["eventData"]["eventType"]: r["body"]["eventData"] for r in received}
    assert set(events) == {
        "PipelineStart",
        "StageStart",
        "StageSuccess",
        "StageFailed",
        "StepFailed",
        "PipelineFailed",
        "PipelineEnd",
    }
    assert all(r["headers"].get("X-Token") == "t" for r in received)
    start = events["PipelineStart"]
    assert start["nodeStatus"] == "started" and start["planExecutionId"] == execution
    assert "endTs" not in start and "stageIdentifier" not in start and "errorMessage" not in start
    assert start["startTs"] < 10**11  # epoch seconds, not ms
    assert start["startTime"].endswith(time.strftime("%Y", time.gmtime())) and " GMT " in start["startTime"]
    assert start["triggeredBy"]["triggerType"] == "MANUAL"
    failed = events["PipelineFailed"]
    assert failed["nodeStatus"] == "failed"
    assert failed["errorMessage"] == "Shell Script execution failed. Please check execution logs."
    assert failed["endTs"] >= failed["startTs"]
    assert failed["executionUrl"].endswith(f"/pipelines/notified/executions/{execution}/pipeline")
    stage_failed = events["StageFailed"]
    assert (stage_failed["stageIdentifier"], stage_failed["stageName"], stage_failed["stepName"]) == (
        "bad",
        "bad name",
        "bad name",
    )
    assert events["StepFailed"]["stepIdentifier"] == "boom"
    assert all(v not in (None, "", [], {}) for e in events.values() for v in e.values())  # NON_EMPTY
    recorded = api.handle.notifications(plan_execution_id=execution)
    assert {d["eventType"] for d in recorded} == set(events)
    assert all(d["statusCode"] == 200 for d in recorded if d.get("deliveredAt"))


def test_notification_rules_filter_events_and_stages(
    api: Api, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = receiver
    rules = [
        {
            "name": "some",
            "identifier": "some",
            "pipelineEvents": [
                {"type": "PipelineSuccess"},
                {"type": "StageSuccess", "forStages": ["second"]},
            ],
            "notificationMethod": {"type": "Webhook", "spec": {"webhookUrl": url}},
        },
        {
            "name": "off",
            "identifier": "off",
            "enabled": False,
            "pipelineEvents": [{"type": "AllEvents"}],
            "notificationMethod": {"type": "Webhook", "spec": {"webhookUrl": url}},
        },
    ]
    text = pipeline_yaml(
        "filtered",
        [stage("first", [shell("a", "echo a")]), stage("second", [shell("b", "echo b")])],
        notificationRules=rules,
    )
    api.create_pipeline(text)
    execution = api.run("filtered")
    api.wait(execution)
    _all_delivered(api, execution, received)
    kinds = sorted(
        (r["body"]["eventData"]["eventType"], r["body"]["eventData"].get("stageIdentifier")) for r in received
    )
    assert kinds == [("PipelineSuccess", None), ("StageSuccess", "second")]
