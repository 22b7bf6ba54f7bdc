"""Custom webhooks in the client (no Airflow): URL parsing and redaction, the post call, event outcomes,
payload/header checks, the trigger read through the resource table. All on ``httpx.MockTransport``."""

from __future__ import annotations

import pickle

import httpx
import pytest
from test_webhooks_fakes import API_KEY, BASE, PENDING, TOKEN, WebhookHarness, harness_error, ok, webhook_url

from airflow_provider_harness.client import resources, webhooks
from airflow_provider_harness.client.errors import HarnessInvalidRequestError, HarnessServerError
from airflow_provider_harness.client.transport import HarnessClient, RetryPolicy

SCOPE = {"orgIdentifier": "default", "projectIdentifier": "proj"}


# ---- the URL -----------------------------------------------------------------------------------------


def test_v3_url_parses_and_never_shows_its_token() -> None:
    url = webhooks.WebhookUrl.parse(webhook_url())
    assert url.version == "v3" and url.token == TOKEN and url.reveal() == webhook_url()
    assert (url.account_id, url.org_id, url.project_id, url.pipeline_id, url.trigger_id) == (
        "acc",
        "default",
        "proj",
        "deploy",
        "on_push",
    )
    assert url.redacted == webhook_url("***")
    for shown in (
        repr(url),
        str(url),
        f"{url}",
        str(url.public()),
        repr(webhooks.TriggerDetails("t", "T", None, True, url)),
    ):
        assert TOKEN not in shown
    assert url.public() == {
        "url": webhook_url("***"),
        "version": "v3",
        "token_in_url": True,
        "account_id": "acc",
        "org_id": "default",
        "project_id": "proj",
        "pipeline_id": "deploy",
        "trigger_id": "on_push",
    }
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(url)
    assert url.secrets() == (TOKEN,)


@pytest.mark.parametrize(
    ("text", "version", "custom"),
    [
        (webhook_url(None), "v2", True),
        (f"{BASE}/pipeline/api/webhook/custom?accountIdentifier=acc", "legacy", True),
        (f"{BASE}/gateway/pipeline/api/webhook?accountIdentifier=acc", "other", False),
        (f"{BASE}/somewhere/else/s3cr3tpart?x=1", "other", False),
    ],
)
def test_other_url_shapes(text: str, version: str, custom: bool) -> None:
    url = webhooks.WebhookUrl.parse(text)
    assert (url.version, url.is_custom, url.token) == (version, custom, None)
    if version == "other":
        assert "s3cr3tpart" not in url.redacted and "x=1" not in url.redacted


def test_not_a_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError) as info:
        webhooks.WebhookUrl.parse("ftp:/" + TOKEN)
    assert TOKEN not in str(info.value)
    assert webhooks.parse_webhook_url("not a url") is None and webhooks.parse_webhook_url(None) is None


def test_redact_webhook_text_in_curl_commands() -> None:
    curl = f"curl -X POST -H 'X-Api-Key: sample_api_key' --url '{webhook_url()}' -d '{{}}'"
    assert webhooks.redact_webhook_text(curl) == curl.replace(TOKEN, "***")
    assert webhooks.redact_webhook_text(webhook_url(None)) == webhook_url(None)


# ---- trigger details -------------------------------------------------------------------------------


def test_trigger_details_call_and_parse() -> None:
    fake = WebhookHarness()
    details = webhooks.get_trigger_details(fake.client(), SCOPE, "on_push", "deploy")
    (request,) = fake.requests
    assert request.url.path == "/pipeline/api/triggers/on_push/details"
    assert dict(request.url.params) == {
        "orgIdentifier": "default",
        "projectIdentifier": "proj",
        "targetIdentifier": "deploy",
        "accountIdentifier": "acc",
    }
    assert (details.identifier, details.type, details.enabled, details.webhook_source) == (
        "on_push",
        "Webhook",
        True,
        "CUSTOM",
    )
    assert details.webhook is not None and details.webhook.version == "v3"
    assert webhooks.postable_url(details, "on_push", "deploy") is details.webhook
    assert TOKEN not in str(details.public()) and details.public()["webhook_url"] == webhook_url("***")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"enabled": False}, "is disabled in Harness"),
        ({"trigger_type": "Scheduled"}, r"has no webhook URL \(type Scheduled\)"),
    ],
)
def test_triggers_that_cannot_be_fired(change: dict[str, object], message: str) -> None:
    fake = WebhookHarness(**change)  # type: ignore[arg-type]
    details = webhooks.get_trigger_details(fake.client(), SCOPE, "on_push", "deploy")
    with pytest.raises(ValueError, match=f"trigger_id: trigger 'on_push' of pipeline 'deploy' {message}"):
        webhooks.postable_url(details, "on_push", "deploy")


def test_git_webhook_trigger_is_not_fired() -> None:
    details = webhooks.parse_trigger_details(
        {
            "identifier": "gh",
            "type": "Webhook",
            "enabled": True,
            "webhookUrl": f"{BASE}/gateway/pipeline/api/webhook?accountIdentifier=acc",
            "webhookDetails": {"webhookSourceRepo": "GITHUB"},
        }
    )
    with pytest.raises(ValueError, match=r"not a custom webhook trigger \(its webhook is for GITHUB"):
        webhooks.postable_url(details, "gh", "deploy")


def test_trigger_read_through_the_resource_table_gives_the_webhook_url() -> None:
    call = resources.get_call("trigger", SCOPE, "on_push", parent="deploy", details=True)
    assert call.path == "/pipeline/api/triggers/on_push/details"
    assert (
        resources.get_call("trigger", SCOPE, "on_push", parent="deploy").path
        == "/pipeline/api/triggers/on_push"
    )
    with pytest.raises(ValueError, match="details: Harness has no details read for a pipeline"):
        resources.get_call("pipeline", SCOPE, "p", details=True)
    fake = WebhookHarness()
    ref = resources.ResourceRef(resources.resource_kind("trigger"), SCOPE, "on_push", "deploy")
    resource = resources.get(fake.client(), ref, details=True)
    assert resource is not None
    assert resource.entity == {
        "trigger": {"name": "On push", "identifier": "on_push", "pipelineIdentifier": "deploy"}
    }
    assert resource.webhook_url is not None and resource.webhook_url.redacted == webhook_url("***")
    assert TOKEN not in repr(resource) and TOKEN not in str(resource.public())


def test_listed_triggers_come_with_the_token_redacted() -> None:
    item = {
        "identifier": "on_push",
        "webhookUrl": webhook_url(),
        "webhookCurlCommand": f"curl --url '{webhook_url()}'",
    }
    entity = resources.list_item_entity("trigger", item)
    assert TOKEN not in str(entity)
    assert entity["webhookUrl"] == webhook_url("***")
    assert item["webhookUrl"] == webhook_url(), "the item itself is not changed"


# ---- payload and headers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "body"),
    [
        (None, b"{}"),
        ("", b"{}"),
        ({"branch": "main", "n": 1}, b'{"branch": "main", "n": 1}'),
        ([1, 2], b"[1, 2]"),
        ('{"a": [1, 2]}', b'{"a": [1, 2]}'),
        ("a: 1\nb:\n  - x\n", b'{"a": 1, "b": ["x"]}'),
    ],
)
def test_payload_forms(value: object, body: bytes) -> None:
    assert webhooks.webhook_payload(value) == body


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('{"a": 1,}', r"payload: not valid JSON at line 1, column 9"),
        ("a: [1\nb: 2", r"payload: not valid YAML at line 2, column 2"),
        ("just words", "payload: expected a JSON object or array .* got str"),
        (42, "payload: expected a dict, a list, or JSON/YAML text, got int"),
        ({"when": object()}, "payload: cannot be sent as JSON"),
        ({"x": float("nan")}, "payload: cannot be sent as JSON"),
    ],
)
def test_bad_payload_names_the_field(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        webhooks.webhook_payload(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"X-Api-Key": API_KEY}, "headers: do not put X-Api-Key in headers"),
        ({"bad name": "x"}, "headers: 'bad name' is not a valid HTTP header name"),
        ({"Content-Length": "3"}, "headers: 'Content-Length' is set by HTTP itself"),
        ({"X-A": "a\r\nX-B: b"}, r"headers.X-A: a header value cannot contain a line break"),
        ({"X-A": ["x"]}, "headers.X-A: expected text or a number, got list"),
        ("[1]", "headers: expected a dict of header names to values, got list"),
        ("{nope", "headers: not valid JSON at line 1, column 2"),
    ],
)
def test_bad_headers_name_the_field(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        webhooks.webhook_headers(value)
    assert API_KEY not in str(info.value)


# ---- the post --------------------------------------------------------------------------------------


def _client(fake: WebhookHarness, retries: int = 0) -> HarnessClient:
    return HarnessClient(
        fake.client().config,
        RetryPolicy(max_retries=retries, base_delay=0.001, max_delay=0.002),
        transport=httpx.MockTransport(fake.handler),
    )


def test_post_sends_the_payload_once_without_the_api_key_unless_asked() -> None:
    fake = WebhookHarness()
    client = fake.client()
    url = webhooks.WebhookUrl.parse(webhook_url())
    call = webhooks.webhook_post_call(url, b'{"branch": "main"}', {"X-Event": "deploy"})
    assert call.repeatable is False and call.account == "none" and call.secrets == (TOKEN,)
    assert TOKEN not in repr(url)
    receipt = webhooks.post_webhook(client, call)
    assert receipt.event_id and not receipt.unrecognized
    (post,) = fake.posts()
    assert "x-api-key" not in post.headers and post.headers["X-Event"] == "deploy"
    assert post.headers["content-type"] == "application/json" and post.read() == b'{"branch": "main"}'
    assert str(post.url) == webhook_url(), "the URL is used exactly as Harness gives it"
    webhooks.post_webhook(client, call, send_api_key=True)
    assert fake.posts()[-1].headers["x-api-key"] == API_KEY
    client.send(webhooks.trigger_details_call(SCOPE, "on_push", "deploy"))
    assert fake.requests[-1].headers["x-api-key"] == API_KEY, "the hook is gone after the post"


def test_a_lost_answer_is_never_resent_and_the_error_hides_the_token() -> None:
    fake = WebhookHarness()
    fake.inject("POST /gateway/pipeline/api/webhook/custom/", httpx.Response(502, text="bad gateway"))
    call = webhooks.webhook_post_call(webhooks.WebhookUrl.parse(webhook_url()), b"{}")
    with pytest.raises(HarnessServerError) as info:
        webhooks.post_webhook(_client(fake, retries=3), call)
    assert len(fake.posts()) == 1
    assert info.value.maybe_applied is True
    assert TOKEN not in str(info.value) and "/custom/***/v3" in str(info.value)
    assert "it was not sent again" in str(info.value)


def test_a_connection_that_never_opened_is_retried() -> None:
    fake = WebhookHarness()
    attempts: list[int] = []

    def refuse_once(request: httpx.Request) -> httpx.Response:
        if not attempts:
            attempts.append(1)
            raise httpx.ConnectError("refused", request=request)
        return fake.handler(request)

    client = HarnessClient(
        fake.client().config,
        RetryPolicy(max_retries=2, base_delay=0.001, max_delay=0.002),
        transport=httpx.MockTransport(refuse_once),
    )
    call = webhooks.webhook_post_call(webhooks.WebhookUrl.parse(webhook_url()), b"{}")
    assert webhooks.post_webhook(client, call).event_id
    assert len(fake.posts()) == 1


def test_refusal_message_hides_the_token() -> None:
    fake = WebhookHarness()
    call = webhooks.webhook_post_call(webhooks.WebhookUrl.parse(webhook_url("wrong" + TOKEN)), b"{}")
    with pytest.raises(HarnessInvalidRequestError) as info:
        webhooks.post_webhook(fake.client(), call)
    assert "unknown webhook" in str(info.value) and TOKEN not in str(info.value)


@pytest.mark.parametrize(
    ("data", "event_id", "unrecognized"),
    [
        (
            {"eventCorrelationId": "632394c7b018985c661747be", "apiUrl": "u"},
            "632394c7b018985c661747be",
            False,
        ),
        ("632394c7b018985c661747be", "632394c7b018985c661747be", False),
        ({"eventCorrelationId": "UNRECOGNIZED_WEBHOOK"}, None, True),
        ({}, None, False),
        (None, None, False),
    ],
)
def test_receipt(data: object, event_id: str | None, unrecognized: bool) -> None:
    receipt = webhooks.parse_webhook_receipt(data)
    assert (receipt.event_id, receipt.unrecognized) == (event_id, unrecognized)


# ---- the event -------------------------------------------------------------------------------------


EVENT = "632394c7b018985c661747be"


def _event_client(*responses: httpx.Response) -> HarnessClient:
    fake = WebhookHarness()
    fake.inject("GET /pipeline/api/webhook/triggerExecutionDetails/", *responses)
    return fake.client()


def _processed(status: str, message: str = "m", execution: str | None = None) -> httpx.Response:
    processing = {
        "eventFound": True,
        "eventId": EVENT,
        "status": status,
        "message": message,
        "exceptionOccured": False,
    }
    details = None
    if execution:
        processing["pipelineExecutionId"] = execution
        details = {
            "pipelineExecutionSummary": {
                "planExecutionId": execution,
                "pipelineIdentifier": "deploy",
                "status": "Running",
                "modules": ["ci"],
            }
        }
    return ok({"webhookProcessingDetails": processing, "executionDetails": details})


def test_event_pending_is_harness_400_invalid_request() -> None:
    event = webhooks.read_webhook_event(
        _event_client(harness_error(400, "INVALID_REQUEST", PENDING.format(EVENT))), EVENT
    )
    assert event.pending and not event.started
    assert event.describe() == f"Webhook event {EVENT} is still queued in Harness"


def test_other_400_on_the_event_is_an_error() -> None:
    client = _event_client(harness_error(400, "INVALID_REQUEST", "Invalid request: something else"))
    with pytest.raises(HarnessInvalidRequestError, match="something else"):
        webhooks.read_webhook_event(client, EVENT)


def test_event_started_an_execution() -> None:
    event = webhooks.read_webhook_event(
        _event_client(_processed("TARGET_EXECUTION_REQUESTED", execution="x1")), EVENT
    )
    assert event.started and event.execution_id == "x1" and event.outcome == "TARGET_EXECUTION_REQUESTED"
    assert event.execution is not None and event.execution.module == "ci"
    assert event.describe() == f"Webhook event {EVENT} started execution x1 (TARGET_EXECUTION_REQUESTED)"


@pytest.mark.parametrize(
    ("outcome", "reason"),
    [
        ("TRIGGER_DID_NOT_MATCH_METADATA_CONDITION", "the trigger's conditions did not match the event"),
        ("NO_MATCHING_TRIGGER_FOR_PAYLOAD_CONDITIONS", "the trigger's conditions did not match the event"),
        ("NO_MATCHING_TRIGGER_FOR_HEADER_CONDITIONS", "the trigger's conditions did not match the event"),
        ("INVALID_RUNTIME_INPUT_YAML", "the trigger's runtime inputs could not be resolved"),
        ("NO_ENABLED_CUSTOM_TRIGGER_FOUND", "no enabled trigger took the event"),
        ("EXCEPTION_WHILE_PROCESSING", "Harness failed while processing the event"),
        ("SOMETHING_NEW", "an outcome this provider does not know"),
        ("TARGET_EXECUTION_REQUESTED", "named no pipeline execution"),
    ],
)
def test_event_that_started_nothing_names_outcome_and_message(outcome: str, reason: str) -> None:
    event = webhooks.read_webhook_event(_event_client(_processed(outcome, "Harness says why")), EVENT)
    assert not event.pending and not event.started
    text = event.describe()
    assert text.startswith(f"Webhook event {EVENT} started no pipeline execution: {outcome} (")
    assert reason in text and text.endswith("): Harness says why")
    assert event.did_not_match == ("MATCH" in outcome)


def test_a_stray_execution_id_does_not_make_a_failed_outcome_started() -> None:
    event = webhooks.read_webhook_event(
        _event_client(_processed("INVALID_RUNTIME_INPUT_YAML", execution="x1")), EVENT
    )
    assert not event.started and event.execution_id is None


def test_event_id_is_checked_before_it_goes_in_a_path() -> None:
    with pytest.raises(ValueError, match="is not a Harness webhook event id"):
        webhooks.event_details_call("../../x")
    assert webhooks.event_details_call(EVENT).path == f"/pipeline/api/webhook/triggerExecutionDetails/{EVENT}"


# ---- executions a trigger started ----------------------------------------------------------------------


def test_find_trigger_executions_filters_type_trigger_and_time() -> None:
    fake = WebhookHarness()
    old = fake.add_execution(["Success"], trigger="on_push", event_id="e0")
    fake.add_execution(["Success"])  # manual
    fake.add_execution(["Running"], trigger="other", event_id="e9")
    new = fake.add_execution(["Running"], trigger="on_push", event_id="e1")
    found = webhooks.find_trigger_executions(
        fake.client(), SCOPE, "deploy", "on_push", started_after_ms=old.start_ts + 1
    )
    assert [(f.snapshot.execution_id, f.trigger_type, f.event_id) for f in found] == [
        (new.id, "WEBHOOK_CUSTOM", "e1")
    ]
    body = fake.requests[0].read()
    assert b'"triggerTypes": ["WEBHOOK_CUSTOM"]' in body and b'"triggerIdentifiers": ["on_push"]' in body


def test_set_notes_call() -> None:
    call = webhooks.set_notes_call(SCOPE, "x1", "airflow:d/r/t/-1 try=1")
    assert (call.method, call.path, call.params["notesForPipelineExecution"]) == (
        "PUT",
        "/pipeline/api/pipelines/execution/x1/notes",
        "airflow:d/r/t/-1 try=1",
    )
