"""Harness notification bodies: what parses, what is refused (status + code), and the asset payload shape.

Bodies follow ``harness-api.md`` §11 (the documented examples, NON_EMPTY fields, epoch-second ``startTs``
/``endTs``, ``TriggerFailed`` with milliseconds and no identifiers).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from airflow_provider_harness.client.notifications import (
    EVENT_TYPES,
    STAGE_EVENTS,
    STEP_EVENTS,
    TRIGGER_EVENTS,
    HarnessNotification,
    NotificationError,
    parse_notification,
)

#: The documented PipelineFailed example (harness-api.md §11), with real-looking identifiers.
PIPELINE_FAILED: dict[str, Any] = {
    "eventData": {
        "accountIdentifier": "px7xd_BFRCi-pfWPYXVjvw",
        "orgIdentifier": "default",
        "projectIdentifier": "payments",
        "pipelineIdentifier": "deploy_service",
        "pipelineName": "Deploy service",
        "planExecutionId": "puqa4ivwRzGDUrYJdrcPbg",
        "executionUrl": "https://app.harness.io/ng/#/account/px7xd_BFRCi-pfWPYXVjvw/cd/orgs/default/projects/"
        "payments/pipelines/deploy_service/executions/puqa4ivwRzGDUrYJdrcPbg/pipeline",
        "pipelineUrl": "https://app.harness.io/ng/#/account/px7xd_BFRCi-pfWPYXVjvw/cd/orgs/default/projects/"
        "payments/pipelines/deploy_service/pipeline-studio",
        "eventType": "PipelineFailed",
        "nodeStatus": "failed",
        "triggeredBy": {"triggerType": "MANUAL", "name": "NAME", "email": "someone@example.com"},
        "moduleInfo": {},
        "startTime": "Tue Aug 20 08:25:04 GMT 2024",
        "startTs": 1724142304,
        "endTime": "Tue Aug 20 08:25:18 GMT 2024",
        "errorMessage": "Shell Script execution failed. Please check execution logs.",
        "endTs": 1724142318,
    }
}

#: The documented StageSuccess example (no errorMessage, stageIdentifier present).
STAGE_SUCCESS: dict[str, Any] = {
    "eventData": {
        "accountIdentifier": "acc",
        "orgIdentifier": "default",
        "projectIdentifier": "payments",
        "pipelineIdentifier": "deploy_service",
        "pipelineName": "deploy_service",
        "planExecutionId": "exec1",
        "stageIdentifier": "qq",
        "stepName": "qq",
        "stageName": "qq",
        "eventType": "StageSuccess",
        "nodeStatus": "completed",
        "triggeredBy": {"triggerType": "MANUAL", "name": "NAME", "email": "EMAIL_ID"},
        "startTime": "Tue Aug 20 08:38:40 GMT 2024",
        "startTs": 1724143120,
        "endTime": "Tue Aug 20 08:38:44 GMT 2024",
        "endTs": 1724143124,
    }
}

#: TriggerFailed as documented: no identifiers, no execution, startTs in milliseconds.
TRIGGER_FAILED: dict[str, Any] = {
    "eventData": {
        "pipelineUrl": "https://app.harness.io/ng/#/account/acc/cd/orgs/default/projects/payments/pipelines/"
        "deploy_service/pipeline-studio",
        "triggerActivityUrl": "https://app.harness.io/ng/#/account/acc/cd/orgs/default/projects/payments/"
        "pipelines/deploy_service/triggers/on_push/activity-history",
        "triggerUrl": "https://app.harness.io/ng/#/account/acc/cd/orgs/default/projects/payments/pipelines/"
        "deploy_service/triggers/on_push/detail",
        "triggerName": "on push",
        "triggerIdentifier": "on_push",
        "triggerType": "Webhook",
        "triggerSubType": "CUSTOM",
        "eventType": "TriggerFailed",
        "startTime": "Fri Aug 22 13:21:11 GMT 2025",
        "startTs": 1755868871597,
        "errorMessage": "Failed while requesting Pipeline Execution through Trigger",
    }
}

MINIMAL_BY_TYPE: dict[str, dict[str, Any]] = {}
for _event in sorted(EVENT_TYPES - TRIGGER_EVENTS):
    _data: dict[str, Any] = {
        "accountIdentifier": "acc",
        "orgIdentifier": "default",
        "projectIdentifier": "payments",
        "pipelineIdentifier": "deploy_service",
        "planExecutionId": "exec1",
        "eventType": _event,
        "startTs": 1724142304,
    }
    if _event in STAGE_EVENTS:
        _data["stageIdentifier"] = "deploy"
    if _event in STEP_EVENTS:
        _data["stageIdentifier"] = "deploy"
        _data["stepIdentifier"] = "rollout"
    MINIMAL_BY_TYPE[_event] = {"eventData": _data}
MINIMAL_BY_TYPE["TriggerFailed"] = TRIGGER_FAILED


def body(document: Any) -> bytes:
    return json.dumps(document).encode()


def with_data(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of ``base`` with eventData fields changed (value ``...`` removes the field)."""
    document = copy.deepcopy(base)
    for key, value in changes.items():
        if value is ...:
            document["eventData"].pop(key, None)
        else:
            document["eventData"][key] = value
    return document


def refused(raw: bytes | str) -> NotificationError:
    with pytest.raises(NotificationError) as caught:
        parse_notification(raw)
    return caught.value


# --------------------------------------------------------------------------------------------------
# accepted
# --------------------------------------------------------------------------------------------------


def test_documented_pipeline_failed_example() -> None:
    note = parse_notification(body(PIPELINE_FAILED))
    assert note.event_type == "PipelineFailed"
    assert (note.account_id, note.org_id, note.project_id, note.pipeline_id) == (
        "px7xd_BFRCi-pfWPYXVjvw",
        "default",
        "payments",
        "deploy_service",
    )
    assert note.plan_execution_id == "puqa4ivwRzGDUrYJdrcPbg"
    assert (note.start_ts, note.end_ts, note.event_ts) == (1724142304, 1724142318, 1724142318)
    assert note.error_message == "Shell Script execution failed. Please check execution logs."
    assert note.asset_uris == (
        "harness://px7xd_BFRCi-pfWPYXVjvw/default/payments/deploy_service",
        "harness://px7xd_BFRCi-pfWPYXVjvw/default/payments",
    )


def test_documented_stage_success_example() -> None:
    note = parse_notification(body(STAGE_SUCCESS))
    assert (note.event_type, note.stage_id, note.step_id, note.node_status) == (
        "StageSuccess",
        "qq",
        None,
        "completed",
    )


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_every_event_type_with_its_minimal_fields(event_type: str) -> None:
    note = parse_notification(body(MINIMAL_BY_TYPE[event_type]))
    assert note.event_type == event_type
    assert note.start_ts < 10**11  # epoch seconds


def test_trigger_failed_identifiers_from_pipeline_url_and_ms_to_seconds() -> None:
    note = parse_notification(body(TRIGGER_FAILED))
    assert note.asset_uris[0] == "harness://acc/default/payments/deploy_service"
    assert note.plan_execution_id is None and note.trigger_id == "on_push"
    assert note.start_ts == 1755868871  # milliseconds in the payload, seconds in the event
    payload = note.event_payload()
    assert payload["triggerIdentifier"] == "on_push" and payload["planExecutionId"] is None


def test_trigger_failed_explicit_identifiers_win_over_the_url() -> None:
    document = with_data(
        TRIGGER_FAILED,
        accountIdentifier="acc",
        orgIdentifier="default",
        projectIdentifier="other",
        pipelineIdentifier="other_pipe",
    )
    assert parse_notification(body(document)).pipeline_asset_uri == "harness://acc/default/other/other_pipe"


def test_unknown_fields_are_ignored_and_known_optional_ones_may_be_absent() -> None:
    document = with_data(STAGE_SUCCESS, newHarnessField={"x": [1]}, nodeStatus=..., pipelineName=...)
    document["somethingElse"] = True
    note = parse_notification(body(document))
    assert note.node_status is None and note.pipeline_name is None


def test_an_unknown_node_status_is_kept_not_refused() -> None:
    assert parse_notification(body(with_data(STAGE_SUCCESS, nodeStatus="queued"))).node_status == "queued"


def test_accepts_text_and_decoded_json_too() -> None:
    text = json.dumps(PIPELINE_FAILED)
    assert (
        parse_notification(text) == parse_notification(PIPELINE_FAILED) == parse_notification(text.encode())
    )


# --------------------------------------------------------------------------------------------------
# refused: 400 malformed
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "the body is empty"),
        (b"   \n", "the body is empty"),
        (b"eventType=PipelineSuccess", "the body is not JSON: Expecting value (line 1 column 1)"),
        (b'{"eventData": {"eventType": "PipelineSuccess"', "the body is not JSON"),
        (b"\xff\xfe\xfa not utf", "the body is not JSON"),
        (b"[1, 2]", 'expected a JSON object {"eventData": {...}}, got an array'),
        (b'"PipelineSuccess"', "got a string"),
        (b"{}", "eventData is nothing"),
        (b'{"data": {"eventType": "PipelineSuccess"}}', "eventData is nothing"),
        (b'{"eventData": "PipelineSuccess"}', "eventData is a string"),
        (b'{"eventData": [{}]}', "eventData is an array"),
        (b'{"eventData": {"startTs": NaN}}', "contains NaN, which is not JSON"),
        (b'{"eventData": {"eventType": "PipelineStart", "eventType": "PipelineSuccess"}}', "repeats the key"),
        (b"[" * 100_000 + b"]" * 100_000, "the body is not JSON"),
    ],
    ids=[
        "empty",
        "blank",
        "form-encoded",
        "truncated",
        "not-utf8",
        "array",
        "string",
        "empty-object",
        "no-eventData",
        "eventData-string",
        "eventData-array",
        "NaN",
        "duplicate-key",
        "deeply-nested",
    ],
)
def test_malformed_bodies_are_400(raw: bytes, message: str) -> None:
    err = refused(raw)
    assert (err.status, err.code) == (400, "malformed")
    assert message in str(err)


# --------------------------------------------------------------------------------------------------
# refused: 422
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", ["PipelineExploded", "AllEvents", "pipelinesuccess", "StepSuccess"])
def test_unknown_event_types_are_422(event_type: str) -> None:
    err = refused(body(with_data(PIPELINE_FAILED, eventType=event_type)))
    assert (err.status, err.code) == (422, "unknown_event_type")
    assert repr(event_type) in str(err) and "PipelineSuccess" in str(err)


def test_missing_event_type_is_422_invalid() -> None:
    err = refused(body(with_data(PIPELINE_FAILED, eventType=...)))
    assert (err.status, err.code) == (422, "invalid_event")
    assert str(err) == "eventData.eventType is required"


@pytest.mark.parametrize(
    ("base", "changes", "message"),
    [
        (PIPELINE_FAILED, {"accountIdentifier": ...}, "eventData.accountIdentifier is required"),
        (PIPELINE_FAILED, {"orgIdentifier": ...}, "eventData.orgIdentifier is required"),
        (PIPELINE_FAILED, {"projectIdentifier": ...}, "eventData.projectIdentifier is required"),
        (PIPELINE_FAILED, {"pipelineIdentifier": ...}, "eventData.pipelineIdentifier is required"),
        (
            PIPELINE_FAILED,
            {"planExecutionId": ...},
            "eventData.planExecutionId is required for PipelineFailed",
        ),
        (PIPELINE_FAILED, {"startTs": ...}, "eventData.startTs is required"),
        (STAGE_SUCCESS, {"stageIdentifier": ...}, "eventData.stageIdentifier is required for StageSuccess"),
        (
            MINIMAL_BY_TYPE["StepFailed"],
            {"stepIdentifier": ...},
            "eventData.stepIdentifier is required for StepFailed",
        ),
        (TRIGGER_FAILED, {"triggerIdentifier": ...}, "eventData.triggerIdentifier is required"),
        (TRIGGER_FAILED, {"pipelineUrl": ..., "triggerUrl": ...}, "pipelineUrl does not name"),
        (
            TRIGGER_FAILED,
            {"pipelineUrl": "https://app.harness.io/ng/#/somewhere"},
            "pipelineUrl does not name",
        ),
        (
            PIPELINE_FAILED,
            {"accountIdentifier": 42},
            "eventData.accountIdentifier: expected a string, got a number",
        ),
        (PIPELINE_FAILED, {"orgIdentifier": ""}, "eventData.orgIdentifier: expected 1 to 256 characters"),
        (PIPELINE_FAILED, {"projectIdentifier": "1bad"}, "is not a valid Harness identifier"),
        (PIPELINE_FAILED, {"pipelineIdentifier": "a/b"}, "is not a valid Harness identifier"),
        (PIPELINE_FAILED, {"accountIdentifier": "a b"}, "is not a Harness account id"),
        (
            PIPELINE_FAILED,
            {"planExecutionId": "x/../y"},
            "eventData.planExecutionId: 'x/../y' is not a Harness",
        ),
        (PIPELINE_FAILED, {"startTs": "1724142304"}, "eventData.startTs: expected epoch seconds"),
        (PIPELINE_FAILED, {"startTs": 1724142304.5}, "eventData.startTs: expected epoch seconds"),
        (PIPELINE_FAILED, {"startTs": True}, "eventData.startTs: expected epoch seconds"),
        (PIPELINE_FAILED, {"endTs": -1}, "eventData.endTs: expected epoch seconds"),
        (
            PIPELINE_FAILED,
            {"errorMessage": {"text": "x"}},
            "eventData.errorMessage: expected a string, got an object",
        ),
        (
            PIPELINE_FAILED,
            {"executionUrl": "javascript:alert(1)"},
            "eventData.executionUrl: expected an http(s) URL",
        ),
        (
            PIPELINE_FAILED,
            {"errorMessage": "x" * 70_000},
            "eventData.errorMessage: expected 1 to 65536 characters",
        ),
        (
            STAGE_SUCCESS,
            {"stageIdentifier": ["qq"]},
            "eventData.stageIdentifier: expected a string, got an array",
        ),
    ],
)
def test_invalid_fields_are_422_naming_the_field(
    base: dict[str, Any], changes: dict[str, Any], message: str
) -> None:
    err = refused(body(with_data(base, **changes)))
    assert (err.status, err.code) == (422, "invalid_event")
    assert message in str(err)
    assert "\n" not in str(err)


def test_long_values_are_cut_in_error_messages() -> None:
    err = refused(body(with_data(PIPELINE_FAILED, eventType="X" * 200)))
    assert len(str(err)) < 400


def test_constructing_directly_validates_too() -> None:
    with pytest.raises(NotificationError, match="planExecutionId is required for PipelineSuccess"):
        HarnessNotification("PipelineSuccess", "acc", "default", "payments", "deploy_service", 1)
    with pytest.raises(NotificationError, match="not a Harness notification event"):
        HarnessNotification("Deployed", "acc", "default", "payments", "deploy_service", 1)
    note = HarnessNotification(
        "PipelineSuccess",
        "acc",
        "default",
        "payments",
        "deploy_service",
        1724142304000,
        plan_execution_id="e",
    )
    assert note.start_ts == 1724142304  # milliseconds converted here too (what a poller may pass)


# --------------------------------------------------------------------------------------------------
# the asset payload
# --------------------------------------------------------------------------------------------------

ALWAYS = [
    "accountIdentifier",
    "orgIdentifier",
    "projectIdentifier",
    "pipelineIdentifier",
    "pipelineName",
    "planExecutionId",
    "eventType",
    "nodeStatus",
    "executionUrl",
    "startTs",
    "endTs",
    "errorMessage",
    "source",
    "dedupeKey",
]


def test_event_payload_shape_for_a_pipeline_event() -> None:
    note = parse_notification(body(PIPELINE_FAILED))
    payload = note.event_payload()
    details = ["pipelineUrl", "startTime", "endTime", "triggeredBy"]  # carried as Harness sent them
    assert list(payload) == ALWAYS[:-2] + details + ALWAYS[-2:]
    data = PIPELINE_FAILED["eventData"]
    assert payload == {
        **{key: data[key] for key in ALWAYS[:-2] + details},
        "source": "webhook",
        "dedupeKey": note.dedupe_key,
    }
    assert json.loads(json.dumps(payload)) == payload  # JSON-safe


def test_details_are_carried_and_type_checked() -> None:
    document = with_data(
        STAGE_SUCCESS,
        tag=[{"key": "team", "value": "payments"}, {"key": "flag"}],
        triggeredBy={"triggerType": "WEBHOOK_CUSTOM", "name": "on_push", "email": None},
    )
    payload = parse_notification(body(document)).event_payload()
    assert payload["tag"] == [{"key": "team", "value": "payments"}, {"key": "flag", "value": ""}]
    assert payload["triggeredBy"] == {"triggerType": "WEBHOOK_CUSTOM", "name": "on_push"}
    assert (payload["stageName"], payload["stepName"]) == ("qq", "qq")
    for changes, message in (
        ({"triggeredBy": "MANUAL"}, "eventData.triggeredBy: expected an object of strings"),
        ({"triggeredBy": {"name": 1}}, "eventData.triggeredBy: expected an object of strings"),
        ({"tag": {"team": "payments"}}, "eventData.tag: expected a list"),
        ({"tag": [{"value": "x"}]}, "eventData.tag: expected a list"),
        ({"pipelineUrl": "ftp://x"}, "eventData.pipelineUrl: expected an http(s) URL"),
        ({"startTime": 1724143120}, "eventData.startTime: expected a string, got a number"),
    ):
        err = refused(body(with_data(STAGE_SUCCESS, **changes)))
        assert (err.status, err.code) == (422, "invalid_event") and message in str(err), changes


def test_event_payload_has_absent_fields_as_none_and_nodes_only_when_present() -> None:
    stage = parse_notification(body(MINIMAL_BY_TYPE["StageStart"])).event_payload()
    assert stage["endTs"] is None and stage["errorMessage"] is None and stage["executionUrl"] is None
    assert stage["stageIdentifier"] == "deploy" and "stepIdentifier" not in stage
    step = parse_notification(body(MINIMAL_BY_TYPE["StepFailed"])).event_payload()
    assert (step["stageIdentifier"], step["stepIdentifier"]) == ("deploy", "rollout")
    pipeline = parse_notification(body(MINIMAL_BY_TYPE["PipelineStart"])).event_payload()
    assert not {"stageIdentifier", "stepIdentifier", "triggerIdentifier"} & set(pipeline)
    assert set(ALWAYS) <= set(pipeline)


def test_event_payload_source_poll_and_nothing_else() -> None:
    note = parse_notification(body(PIPELINE_FAILED))
    assert note.event_payload(source="poll")["source"] == "poll"
    with pytest.raises(ValueError, match="source: expected one of"):
        note.event_payload(source="email")  # type: ignore[arg-type]
