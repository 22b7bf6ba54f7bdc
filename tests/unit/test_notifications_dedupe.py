"""The dedupe key: equal for a repeated delivery of one Harness event, different for anything else."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from test_notifications_payload import MINIMAL_BY_TYPE, PIPELINE_FAILED, STAGE_SUCCESS, TRIGGER_FAILED

from airflow_provider_harness.client.notifications import HarnessNotification, parse_notification
from airflow_provider_harness.plugins.asset_events import carries_key


def parsed(document: dict[str, Any], **changes: Any) -> HarnessNotification:
    document = copy.deepcopy(document)
    for key, value in changes.items():
        if value is ...:
            document["eventData"].pop(key, None)
        else:
            document["eventData"][key] = value
    return parse_notification(json.dumps(document).encode())


def test_a_repeat_has_the_same_key_whatever_its_formatting() -> None:
    first = parsed(PIPELINE_FAILED)
    reordered = dict(reversed(list(PIPELINE_FAILED["eventData"].items())))
    second = parse_notification(json.dumps({"eventData": reordered}, indent=2).encode())
    assert first.dedupe_key == second.dedupe_key
    assert len(first.dedupe_key) == 64 and int(first.dedupe_key, 16) >= 0  # hex: safe in a LIKE pattern


def test_fields_that_do_not_identify_the_event_do_not_change_the_key() -> None:
    key = parsed(PIPELINE_FAILED).dedupe_key
    assert parsed(PIPELINE_FAILED, pipelineName="Renamed").dedupe_key == key
    assert parsed(PIPELINE_FAILED, errorMessage="other text").dedupe_key == key
    assert parsed(PIPELINE_FAILED, nodeStatus=...).dedupe_key == key
    assert parsed(PIPELINE_FAILED, triggeredBy={"triggerType": "WEBHOOK"}).dedupe_key == key


@pytest.mark.parametrize(
    ("base", "changes"),
    [
        (PIPELINE_FAILED, {"eventType": "PipelineEnd"}),
        (PIPELINE_FAILED, {"planExecutionId": "another_execution"}),
        (PIPELINE_FAILED, {"startTs": 1724142305}),
        (PIPELINE_FAILED, {"endTs": 1724142319}),
        (PIPELINE_FAILED, {"endTs": ...}),
        (PIPELINE_FAILED, {"accountIdentifier": "other_acc"}),
        (PIPELINE_FAILED, {"orgIdentifier": "other_org"}),
        (PIPELINE_FAILED, {"projectIdentifier": "other_project"}),
        (PIPELINE_FAILED, {"pipelineIdentifier": "other_pipeline"}),
        (STAGE_SUCCESS, {"stageIdentifier": "other_stage"}),
        (MINIMAL_BY_TYPE["StepFailed"], {"stepIdentifier": "other_step"}),
        (TRIGGER_FAILED, {"triggerIdentifier": "other_trigger"}),
        (TRIGGER_FAILED, {"startTs": 1755868872597}),
    ],
    ids=lambda value: "-".join(value) if isinstance(value, dict) else None,
)
def test_anything_that_names_another_event_changes_the_key(
    base: dict[str, Any], changes: dict[str, Any]
) -> None:
    assert parsed(base).dedupe_key != parsed(base, **changes).dedupe_key


def test_stage_retries_in_another_second_are_other_events() -> None:
    first = parsed(STAGE_SUCCESS)
    retried = parsed(STAGE_SUCCESS, startTs=1724143130, endTs=1724143140)
    assert first.dedupe_key != retried.dedupe_key


def test_milliseconds_and_seconds_name_the_same_event() -> None:
    assert parsed(TRIGGER_FAILED).dedupe_key == parsed(TRIGGER_FAILED, startTs=1755868871).dedupe_key


def test_webhook_and_poll_payloads_carry_the_same_key() -> None:
    note = parsed(PIPELINE_FAILED)
    built = HarnessNotification(
        "PipelineFailed",
        "px7xd_BFRCi-pfWPYXVjvw",
        "default",
        "payments",
        "deploy_service",
        1724142304,
        plan_execution_id="puqa4ivwRzGDUrYJdrcPbg",
        end_ts=1724142318,
    )
    webhook, poll = note.event_payload("webhook"), built.event_payload("poll")
    assert webhook["dedupeKey"] == poll["dedupeKey"] == note.dedupe_key
    assert set(poll) <= set(webhook)  # the webhook also carries what Harness sent (pipelineUrl, ...)
    assert note.details and not built.details  # details (pipelineUrl, ...) are not the event's identity


def test_carries_key_finds_receiver_and_trigger_shaped_extras() -> None:
    note = parsed(PIPELINE_FAILED)
    key = note.dedupe_key
    assert carries_key(note.event_payload(), key)
    assert carries_key({"from_trigger": True, "payload": note.event_payload("poll")}, key)
    assert not carries_key({"dedupeKey": key[:-1] + "0"} if key[-1] != "0" else {"dedupeKey": "x"}, key)
    assert not carries_key({"note": f"mentions {key} in text"}, key)  # the LIKE prefilter is confirmed
    assert not carries_key({"payload": f"{key}"}, key)
    assert not carries_key(None, key) and not carries_key([key], key)
