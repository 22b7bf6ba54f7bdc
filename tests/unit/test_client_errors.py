"""Every error shape Harness, its edge and proxies send (harness-api.md §1.2, §2, §14, §15).

Table-driven over :func:`error_from_response` and, end to end, through ``HarnessClient.send`` with an
``httpx.MockTransport`` answering the same bodies.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from airflow_provider_harness.client.call import ApiCall
from airflow_provider_harness.client.config import HarnessConfig, Secret
from airflow_provider_harness.client.errors import (
    HarnessAuthenticationError,
    HarnessConflictError,
    HarnessEndpointNotFoundError,
    HarnessError,
    HarnessInvalidRequestError,
    HarnessNotFoundError,
    HarnessPermissionError,
    HarnessRateLimitError,
    HarnessServerError,
    HarnessTransportError,
    classify,
    error_from_response,
    parse_error_body,
    redact,
)
from airflow_provider_harness.client.transport import HarnessClient, RetryPolicy

CID = "0966b802-1e13-4d7c-b677-c9969a3c4500"
NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1>"
    "</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


def error_dto(code: str, message: str, **extra: Any) -> str:
    body: dict[str, Any] = {
        "status": "ERROR",
        "code": code,
        "message": message,
        "correlationId": CID,
        "detailedMessage": None,
        "responseMessages": [
            {"code": code, "level": "ERROR", "message": message, "exception": None, "failureTypes": []}
        ],
        "metadata": None,
    }
    body.update(extra)
    return json.dumps(body)


def failure_dto(code: str, message: str, errors: Any = None) -> str:
    return json.dumps(
        {"status": "FAILURE", "code": code, "message": message, "correlationId": CID, "errors": errors}
    )


@dataclass
class Case:
    id: str
    status: int
    body: str
    cls: type[HarnessError]
    message: str
    code: str | None = None
    correlation_id: str | None = None
    permission: str | None = None
    call_permission: str | None = None
    hint: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


CASES = [
    Case(
        "error-dto-401-invalid-token",
        401,
        error_dto("INVALID_TOKEN", "Token is not valid."),
        HarnessAuthenticationError,
        "Harness rejected the API key: Token is not valid.",
        "INVALID_TOKEN",
        CID,
        hint="Check the API key (connection password or HARNESS_API_KEY) and that it is a valid, unexpired "
        "key of account 'acc123'",
    ),
    Case(
        "error-dto-401-expired",
        401,
        error_dto("EXPIRED_TOKEN", "Token expired."),
        HarnessAuthenticationError,
        "Harness rejected the API key: Token expired.",
        "EXPIRED_TOKEN",
        CID,
    ),
    Case(
        "401-empty-body-from-edge",
        401,
        "",
        HarnessAuthenticationError,
        "Harness rejected the API key",
    ),
    Case(
        "403-access-denied-with-permission-checks",
        403,
        error_dto(
            "NG_ACCESS_DENIED",
            "User not Authorized: Missing permission core_pipeline_execute on pipeline with identifier p1",
            failedPermissionChecks=[
                {
                    "permission": "core_pipeline_execute",
                    "resourceScope": {
                        "accountIdentifier": "acc123",
                        "orgIdentifier": "o",
                        "projectIdentifier": "p",
                    },
                    "resourceType": "PIPELINE",
                    "resourceIdentifier": "p1",
                    "permitted": False,
                },
                {"permission": "core_pipeline_view", "resourceType": "PIPELINE", "permitted": True},
            ],
        ),
        HarnessPermissionError,
        "Permission denied by Harness: User not Authorized: Missing permission core_pipeline_execute on "
        "pipeline with identifier p1",
        "NG_ACCESS_DENIED",
        CID,
        permission="core_pipeline_execute",
        call_permission="core_pipeline_view",
        hint="The API key needs the 'core_pipeline_execute' permission in this scope",
    ),
    Case(
        "403-without-permission-checks-names-call-permission",
        403,
        error_dto("NG_ACCESS_DENIED", "User not Authorized"),
        HarnessPermissionError,
        "Permission denied by Harness: User not Authorized",
        "NG_ACCESS_DENIED",
        CID,
        permission="core_organization_view",
        call_permission="core_organization_view",
        hint="The API key needs the 'core_organization_view' permission in this scope",
    ),
    Case(
        "403-empty-body-no-permission-known",
        403,
        "",
        HarnessPermissionError,
        "Permission denied by Harness",
        hint="The API key lacks a permission this call needs in this scope",
    ),
    Case(
        "404-entity-not-found",
        404,
        error_dto("ENTITY_NOT_FOUND", "Pipeline with the given ID: p does not exist or has been deleted."),
        HarnessNotFoundError,
        "Pipeline with the given ID: p does not exist or has been deleted.",
        "ENTITY_NOT_FOUND",
        CID,
    ),
    Case(
        "400-failure-resource-not-found-exception",
        400,
        failure_dto("RESOURCE_NOT_FOUND_EXCEPTION", "Organization with identifier [x] not found"),
        HarnessNotFoundError,
        "Organization with identifier [x] not found",
        "RESOURCE_NOT_FOUND_EXCEPTION",
        CID,
    ),
    Case(
        "400-connector-not-found",
        400,
        failure_dto(
            "RESOURCE_NOT_FOUND_EXCEPTION",
            "Connector with identifier [simple_test] not found in project [demo_project] and org "
            "[test_organization].",
        ),
        HarnessNotFoundError,
        "Connector with identifier [simple_test] not found in project [demo_project] and org "
        "[test_organization].",
        "RESOURCE_NOT_FOUND_EXCEPTION",
        CID,
    ),
    Case(
        "400-duplicate-field",
        400,
        error_dto("DUPLICATE_FIELD", "An organization with identifier [my_org] is already present"),
        HarnessConflictError,
        "An organization with identifier [my_org] is already present",
        "DUPLICATE_FIELD",
        CID,
    ),
    Case(
        "400-invalid-request-missing-pipeline-is-not-found",
        400,
        error_dto(
            "INVALID_REQUEST",
            "Invalid request: Pipeline with the given ID: p does not exist or has been deleted",
        ),
        HarnessNotFoundError,
        "Invalid request: Pipeline with the given ID: p does not exist or has been deleted",
        "INVALID_REQUEST",
        CID,
    ),
    Case(
        "400-invalid-request",
        400,
        error_dto("INVALID_REQUEST", "Invalid request: You need to select the stage to retry!!"),
        HarnessInvalidRequestError,
        "Invalid request: You need to select the stage to retry!!",
        "INVALID_REQUEST",
        CID,
    ),
    Case(
        "400-webhook-event-not-processed-yet-stays-invalid-request",
        400,
        error_dto(
            "INVALID_REQUEST",
            "Invalid request: Trigger event history doesn't exist for event with eventId 6323",
        ),
        HarnessInvalidRequestError,
        "Invalid request: Trigger event history doesn't exist for event with eventId 6323",
        "INVALID_REQUEST",
        CID,
    ),
    Case(
        "400-jersey-unknown-route-is-no-endpoint",
        400,
        failure_dto("RESOURCE_NOT_FOUND_EXCEPTION", "HTTP 404 Not Found"),
        HarnessEndpointNotFoundError,
        "Harness has no endpoint GET /ng/api/x (HTTP 404 Not Found from Jersey)",
        "RESOURCE_NOT_FOUND_EXCEPTION",
        CID,
        hint="The server may be an older self-managed Harness without this API (upgrade it or use an API "
        "it has), or the Harness URL (connection host or HARNESS_BASE_URL) points at something other than "
        "the Harness API",
    ),
    Case(
        "400-failure-validation-with-errors",
        400,
        failure_dto(
            "INVALID_REQUEST",
            "identifier: can be 128 characters long and can only contain alphanumeric, underscore and $ "
            "characters, and not start with a number or $",
            errors=[{"fieldId": "identifier", "error": "can be 128 characters long"}],
        ),
        HarnessInvalidRequestError,
        "identifier: can be 128 characters long and can only contain alphanumeric, underscore and $ "
        "characters, and not start with a number or $",
        "INVALID_REQUEST",
        CID,
    ),
    Case(
        "400-failure-only-errors-list",
        400,
        failure_dto("INVALID_REQUEST", "", errors=[{"fieldId": "name", "error": "cannot be empty"}]),
        HarnessInvalidRequestError,
        "name: cannot be empty",
        "INVALID_REQUEST",
        CID,
    ),
    Case(
        "400-scm-rate-limit-explanation",
        400,
        json.dumps(
            {
                "status": "ERROR",
                "code": "EXPLANATION",
                "message": "API rate limit exceeded for user ID 87853032.",
                "correlationId": CID,
                "detailedMessage": None,
                "responseMessages": [
                    {
                        "code": "EXPLANATION",
                        "level": "INFO",
                        "message": "API rate limit exceeded for user ID 87853032.",
                    },
                    {
                        "code": "SCM_UNAUTHORIZED",
                        "level": "ERROR",
                        "message": "Received exception while pushing",
                    },
                ],
            }
        ),
        HarnessInvalidRequestError,
        "API rate limit exceeded for user ID 87853032.",
        "EXPLANATION",
        CID,
    ),
    Case(
        "400-message-only-in-response-messages",
        400,
        json.dumps(
            {
                "status": "ERROR",
                "code": "GENERAL_ERROR",
                "message": None,
                "correlationId": CID,
                "responseMessages": [
                    {"code": "GENERAL_ERROR", "level": "ERROR", "message": "Something broke"}
                ],
            }
        ),
        HarnessInvalidRequestError,
        "Something broke",
        "GENERAL_ERROR",
        CID,
    ),
    Case(
        "400-too-many-requests-code",
        400,
        error_dto("TOO_MANY_REQUESTS", "Too many requests"),
        HarnessRateLimitError,
        "Harness rate limit hit: Too many requests",
        "TOO_MANY_REQUESTS",
        CID,
    ),
    Case(
        "429-empty-body",
        429,
        "",
        HarnessRateLimitError,
        "Harness rate limit hit: too many requests",
        hint="Harness allows about 1000 API requests per minute per API key; "
        "poll less often or spread the load",
    ),
    Case(
        "429-plain-text",
        429,
        "Too Many Requests\n",
        HarnessRateLimitError,
        "Harness rate limit hit: Too Many Requests",
    ),
    Case(
        "429-html",
        429,
        "<html><head><title>429 Too Many Requests</title></head><body>rate limited</body></html>",
        HarnessRateLimitError,
        "Harness rate limit hit: too many requests",
    ),
    Case(
        "429-google-front-end-page",
        429,
        "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n"
        "  <title>429</title>\n  429 Too Many Requests",
        HarnessRateLimitError,
        "Harness rate limit hit: too many requests",
    ),
    Case(
        "502-html-from-proxy",
        502,
        NGINX_502,
        HarnessServerError,
        "Harness or a proxy in front of it answered with an HTML error page '502 Bad Gateway'",
        hint="The service may be down or a proxy/load balancer is failing; try again later, and check the "
        "proxy settings if it persists",
    ),
    Case(
        "502-html-h1-only",
        502,
        "<!DOCTYPE html><body><h1>Bad <b>Gateway</b></h1></body>",
        HarnessServerError,
        "Harness or a proxy in front of it answered with an HTML error page 'Bad Gateway'",
    ),
    Case(
        "503-empty",
        503,
        "",
        HarnessServerError,
        "Harness or a proxy in front of it answered with an empty body",
    ),
    Case(
        "504-plain-text",
        504,
        "upstream request timeout",
        HarnessServerError,
        "Harness or a proxy in front of it answered with 'upstream request timeout'",
    ),
    Case(
        "500-unknown-error-dto",
        500,
        error_dto("UNKNOWN_ERROR", "Oops, something went wrong on our end. Please contact Harness Support."),
        HarnessServerError,
        "Oops, something went wrong on our end. Please contact Harness Support.",
        "UNKNOWN_ERROR",
        CID,
    ),
    Case(
        "goa-iacm-bad-request",
        400,
        json.dumps(
            {
                "name": "bad_request",
                "id": "123abc",
                "message": "workspace name is required",
                "temporary": False,
                "timeout": False,
                "fault": False,
            }
        ),
        HarnessInvalidRequestError,
        "workspace name is required",
        "bad_request",
        "123abc",
    ),
    Case(
        "goa-iacm-not-found-by-status",
        404,
        json.dumps(
            {
                "name": "not_found",
                "id": "x9",
                "message": "workspace not found",
                "temporary": False,
                "timeout": False,
                "fault": False,
            }
        ),
        HarnessNotFoundError,
        "workspace not found",
        "not_found",
        "x9",
    ),
    Case(
        "goa-iacm-fault",
        500,
        json.dumps(
            {
                "name": "fault",
                "id": "f1",
                "message": "internal",
                "temporary": True,
                "timeout": False,
                "fault": True,
            }
        ),
        HarnessServerError,
        "internal",
        "fault",
        "f1",
    ),
    Case(
        "log-service-error-msg",
        400,
        json.dumps({"error_msg": "key is not valid"}),
        HarnessInvalidRequestError,
        "key is not valid",
    ),
    Case(
        "log-service-error-msg-401",
        401,
        json.dumps({"error_msg": "token expired"}),
        HarnessAuthenticationError,
        "Harness rejected the API key: token expired",
    ),
    Case(
        "dropwizard-int-code",
        400,
        json.dumps({"code": 400, "message": "Unable to process JSON"}),
        HarnessInvalidRequestError,
        "Unable to process JSON",
    ),
    Case(
        "dropwizard-404-unknown-route-is-no-endpoint",
        404,
        json.dumps({"code": 404, "message": "HTTP 404 Not Found"}),
        HarnessEndpointNotFoundError,
        "Harness has no endpoint GET /ng/api/x (HTTP 404 Not Found from Jersey)",
    ),
    Case(
        "log-service-404-blob-is-not-found",
        404,
        json.dumps({"error_msg": "cannot find blob with key acc/pipeline/x"}),
        HarnessNotFoundError,
        "cannot find blob with key acc/pipeline/x",
    ),
    Case(
        "problem-json",
        422,
        json.dumps({"type": "about:blank", "title": "Unprocessable", "detail": "bad field x"}),
        HarnessInvalidRequestError,
        "bad field x",
    ),
    Case(
        "edge-404-html-unknown-route",
        404,
        "<html><head><title>404 Not Found</title></head></html>",
        HarnessEndpointNotFoundError,
        "No such Harness endpoint (HTML page '404 Not Found')",
        hint="Check the Harness URL (connection host or HARNESS_BASE_URL): it is the API address such as "
        "https://app.harness.io, or https://harness.example.com/gateway for a self-managed Harness",
    ),
    Case("409-conflict", 409, json.dumps({"message": "changed"}), HarnessConflictError, "changed"),
    Case(
        "json-with-entity-id-and-name-is-not-goa",
        409,
        json.dumps({"id": "abc", "name": "my pipeline", "message": "changed meanwhile"}),
        HarnessConflictError,
        "changed meanwhile",
    ),
    Case("412-precondition", 412, "", HarnessConflictError, "Harness refused the request"),
    Case("json-string-body", 400, json.dumps("just a string"), HarnessInvalidRequestError, "just a string"),
    Case(
        "json-list-body", 400, json.dumps([1, 2]), HarnessInvalidRequestError, "Harness refused the request"
    ),
    Case(
        "408-request-timeout",
        408,
        "",
        HarnessServerError,
        "Harness or a proxy in front of it answered with an empty body",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_error_from_response(case: Case) -> None:
    error = error_from_response(
        case.status,
        case.body,
        method="GET",
        path="/ng/api/x",
        permission=case.call_permission,
        account_id="acc123",
        key_account="acc123",
    )
    assert type(error) is case.cls
    assert error.message == case.message
    assert error.code == case.code
    assert error.http_status == case.status
    assert error.correlation_id == case.correlation_id
    if case.hint is not None:
        assert error.hint == case.hint
    if isinstance(error, HarnessPermissionError) or case.permission:
        assert isinstance(error, HarnessPermissionError)
        assert error.permission == case.permission
    text = str(error)
    assert "\n" not in text and "\r" not in text
    assert text.startswith(case.message.rstrip("."))
    assert f"HTTP {case.status}" in text
    assert "GET /ng/api/x" in text
    if case.correlation_id:
        assert f"correlationId={case.correlation_id}" in text
    if case.code:
        assert case.code in text


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_same_errors_through_the_client(case: Case) -> None:
    """The transport turns each response into the same exception (no retries: budget 0)."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(case.status, text=case.body)

    config = HarnessConfig(account_id="acc123", api_key=Secret("pat.acc123.t.s"))
    client = HarnessClient(config, RetryPolicy(0, 0, 0), transport=httpx.MockTransport(handler))
    with pytest.raises(case.cls) as info:
        client.send(ApiCall("GET", "/ng/api/x", permission=case.call_permission))
    assert info.value.message == case.message
    assert info.value.attempts == 1


class TestEnvelopeFailureWithHttp200:
    """A FAILURE/ERROR envelope with HTTP 200 is an error, classified by code."""

    @pytest.mark.parametrize(
        ("body", "cls", "code"),
        [
            (
                failure_dto("RESOURCE_NOT_FOUND_EXCEPTION", "Secret with identifier [s] is not found"),
                HarnessNotFoundError,
                "RESOURCE_NOT_FOUND_EXCEPTION",
            ),
            (
                error_dto("DUPLICATE_FIELD", "Connector [c] already exists"),
                HarnessConflictError,
                "DUPLICATE_FIELD",
            ),
            (error_dto("INVALID_TOKEN", "Token is not valid."), HarnessAuthenticationError, "INVALID_TOKEN"),
            (json.dumps({"status": "ERROR", "message": "no code here"}), HarnessInvalidRequestError, "ERROR"),
            (json.dumps({"status": "FAILURE"}), HarnessInvalidRequestError, "FAILURE"),
        ],
    )
    def test_classified_by_code(self, body: str, cls: type[HarnessError], code: str) -> None:
        def handler(request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, text=body)

        config = HarnessConfig(account_id="acc123", api_key=Secret("pat.acc123.t.s"))
        client = HarnessClient(config, RetryPolicy(0, 0, 0), transport=httpx.MockTransport(handler))
        with pytest.raises(cls) as info:
            client.send(ApiCall("GET", "/ng/api/x"))
        assert info.value.code == code
        assert info.value.http_status == 200
        assert "HTTP 200" in str(info.value)

    def test_failure_message_default(self) -> None:
        error = error_from_response(
            200, json.dumps({"status": "FAILURE"}), method="GET", path="/p", envelope_status="FAILURE"
        )
        assert error.message == "Harness reported a failure"


class TestAuthenticationHints:
    def test_key_of_another_account(self) -> None:
        error = error_from_response(
            401,
            error_dto("INVALID_TOKEN", "Token is not valid."),
            method="GET",
            path="/p",
            account_id="acc_b",
            key_account="acc_a",
        )
        assert error.hint == (
            "The API key belongs to account 'acc_a' but the connection names account 'acc_b'; fix "
            "the account "
            "id or use a key of that account"
        )

    def test_no_account_known(self) -> None:
        error = error_from_response(401, "", method="GET", path="/p")
        assert error.hint == "Check the API key (connection password or HARNESS_API_KEY)"


class TestClassify:
    @pytest.mark.parametrize(
        ("status", "code", "cls"),
        [
            (400, "RESOURCE_NOT_FOUND_EXCEPTION", HarnessNotFoundError),
            (404, "ENTITY_NOT_FOUND", HarnessNotFoundError),
            (404, "RESOURCE_NOT_FOUND", HarnessNotFoundError),
            (400, "CONNECTOR_NOT_FOUND_EXCEPTION", HarnessNotFoundError),
            (500, "ENTITY_NOT_FOUND", HarnessNotFoundError),
            (401, None, HarnessAuthenticationError),
            (400, "INVALID_CREDENTIAL", HarnessAuthenticationError),
            (403, None, HarnessPermissionError),
            (403, "ACCESS_DENIED", HarnessPermissionError),
            (429, None, HarnessRateLimitError),
            (400, "DUPLICATE_FIELD", HarnessConflictError),
            (409, None, HarnessConflictError),
            (500, None, HarnessServerError),
            (502, None, HarnessServerError),
            (599, None, HarnessServerError),
            (404, None, HarnessNotFoundError),
            (400, None, HarnessInvalidRequestError),
            (415, "MEDIA_NOT_SUPPORTED", HarnessInvalidRequestError),
            (None, None, HarnessInvalidRequestError),
        ],
    )
    def test_classify(self, status: int | None, code: str | None, cls: type[HarnessError]) -> None:
        assert classify(status, code) is cls

    def test_hierarchy(self) -> None:
        for cls in (
            HarnessAuthenticationError,
            HarnessPermissionError,
            HarnessNotFoundError,
            HarnessConflictError,
            HarnessInvalidRequestError,
            HarnessRateLimitError,
            HarnessServerError,
            HarnessTransportError,
            HarnessEndpointNotFoundError,
        ):
            assert issubclass(cls, HarnessError)
            assert issubclass(cls, Exception)

    def test_no_endpoint_is_not_a_missing_resource(self) -> None:
        """Callers that treat not-found as "create it" / "already gone" must not catch it."""
        assert not issubclass(HarnessEndpointNotFoundError, HarnessNotFoundError)
        assert not issubclass(HarnessEndpointNotFoundError, HarnessInvalidRequestError)

    @pytest.mark.parametrize(
        ("status", "code", "message", "kind", "cls"),
        [
            (400, "RESOURCE_NOT_FOUND_EXCEPTION", "HTTP 404 Not Found", "json", HarnessEndpointNotFoundError),
            (200, "RESOURCE_NOT_FOUND_EXCEPTION", "HTTP 404 Not Found", "json", HarnessEndpointNotFoundError),
            (404, None, "HTTP 404 Not Found", "json", HarnessEndpointNotFoundError),
            (404, None, "HTML page '404 Not Found'", "html", HarnessEndpointNotFoundError),
            (404, None, "404 page not found", "text", HarnessEndpointNotFoundError),
            (404, None, None, "empty", HarnessEndpointNotFoundError),
            (404, None, "cannot find blob", "json", HarnessNotFoundError),
            (404, "ENTITY_NOT_FOUND", "HTTP 404 Not Found: /x", "json", HarnessNotFoundError),
            (
                400,
                "RESOURCE_NOT_FOUND_EXCEPTION",
                "Organization with identifier [x] not found",
                "json",
                HarnessNotFoundError,
            ),
            (
                400,
                "INVALID_REQUEST",
                "Invalid request: Pipeline with the given ID: p does not exist or has been deleted",
                "json",
                HarnessNotFoundError,
            ),
            (
                400,
                "INVALID_REQUEST",
                "Invalid request: This execution has undergone Pipeline Rollback, and "
                "hence cannot be retried.",
                "json",
                HarnessInvalidRequestError,
            ),
            (
                400,
                "INVALID_REQUEST",
                "Invalid request: Trigger event history doesn't exist for event with eventId X",
                "json",
                HarnessInvalidRequestError,
            ),
            (400, "INVALID_REQUEST", "HTTP 404 Not Found", "json", HarnessInvalidRequestError),
            (
                400,
                "DUPLICATE_FIELD",
                "Pipeline [p] ... already exists or has been deleted.",
                "json",
                HarnessConflictError,
            ),
        ],
    )
    def test_classify_by_message(
        self, status: int, code: str | None, message: str | None, kind: str, cls: type[HarnessError]
    ) -> None:
        assert classify(status, code, message, kind=kind) is cls


class TestParseErrorBody:
    def test_html_without_title(self) -> None:
        assert parse_error_body("<html><body>oops</body></html>")[0] == "HTML page without a title"

    def test_long_text_truncated(self) -> None:
        message = parse_error_body("x" * 1000)[0]
        assert message is not None and len(message) == 300

    def test_whitespace_collapsed(self) -> None:
        assert parse_error_body("  bad\n\n gateway  ")[0] == "bad gateway"

    def test_invalid_json_starting_with_brace_is_text(self) -> None:
        assert parse_error_body("{not json")[0] == "{not json"

    def test_nested_error_object(self) -> None:
        assert parse_error_body(json.dumps({"error": {"message": "nested"}}))[0] == "nested"


class TestMessageFormat:
    def test_one_line_with_all_details(self) -> None:
        error = HarnessNotFoundError(
            "Project with orgIdentifier [o] and identifier [p] not found.",
            code="ENTITY_NOT_FOUND",
            http_status=404,
            correlation_id="c1",
            method="GET",
            path="/ng/api/projects/p",
            hint="Check it",
            attempts=3,
        )
        assert str(error) == (
            "Project with orgIdentifier [o] and identifier [p] not found (ENTITY_NOT_FOUND, HTTP 404, "
            "GET /ng/api/projects/p, after 3 attempts, correlationId=c1). Check it"
        )

    def test_multiline_message_folded(self) -> None:
        error = HarnessServerError("line one\nline two\r\n  three", http_status=500)
        assert str(error) == "line one line two three (HTTP 500)"

    def test_ellipsis_kept(self) -> None:
        assert str(HarnessError("wait...", http_status=400)) == "wait... (HTTP 400)"

    def test_bare_message(self) -> None:
        assert str(HarnessError("plain")) == "plain"

    def test_attributes(self) -> None:
        error = HarnessError("m")
        assert (error.code, error.http_status, error.correlation_id, error.attempts) == (None, None, None, 1)
        assert error.maybe_applied is False

    def test_pickle_roundtrip_keeps_attributes(self) -> None:
        error = error_from_response(
            403, error_dto("NG_ACCESS_DENIED", "denied"), method="GET", path="/p", permission="core_x_view"
        )
        error.attempts = 2
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is HarnessPermissionError
        assert str(copy) == str(error)
        assert copy.permission == "core_x_view"
        assert copy.attempts == 2


def test_redact() -> None:
    assert (
        redact("/gateway/webhook/custom/tok123/v3?x=tok123", ["tok123", ""])
        == "/gateway/webhook/custom/***/v3?x=***"
    )
    assert redact("nothing", []) == "nothing"


PIPELINE_GONE = error_dto(
    "INVALID_REQUEST", "Invalid request: Pipeline with the given ID: build does not exist or has been deleted"
)
API_KEY = "pat.acc123.tokid.s3cretvalue"


def _client(status: int, body: str) -> tuple[HarnessClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, text=body)

    config = HarnessConfig(
        account_id="acc123", api_key=Secret(API_KEY), org_id="default", project_id="payments"
    )
    return HarnessClient(config, RetryPolicy(0, 0, 0), transport=httpx.MockTransport(handler)), seen


class TestNotFoundNamesTheScope:
    """A wrong org/project reads as a missing pipeline: the error names where the request looked."""

    def test_run_in_a_missing_project_is_not_found_naming_account_org_project(self) -> None:
        client, _ = _client(400, PIPELINE_GONE)
        call: ApiCall[Any] = ApiCall(
            "POST",
            "/pipeline/api/pipeline/execute/build",
            params={"orgIdentifier": "default", "projectIdentifier": "nope"},
            repeatable=False,
        )
        with pytest.raises(HarnessNotFoundError) as info:
            client.send(call)
        error = info.value
        assert error.code == "INVALID_REQUEST" and error.http_status == 400
        assert error.scope == {"account": "acc123", "org": "default", "project": "nope"}
        assert str(error) == (
            "Invalid request: Pipeline with the given ID: build does not exist or has been deleted "
            "(INVALID_REQUEST, HTTP 400, POST /pipeline/api/pipeline/execute/build, "
            f"correlationId={CID}). Harness looked in account 'acc123', organization 'default', project "
            "'nope'; if that is the wrong organization or project, check org_id/project_id on the task or "
            "the connection's defaults (extras org_id/project_id, or HARNESS_ORG_ID/HARNESS_PROJECT_ID)"
        )
        assert "s3cretvalue" not in str(error) and "tokid" not in str(error)
        assert error.maybe_applied is False

    def test_scope_is_what_the_request_sent_not_the_connection_defaults(self) -> None:
        client, seen = _client(
            404, error_dto("ENTITY_NOT_FOUND", "Pipeline with the given ID: x does not exist")
        )
        with pytest.raises(HarnessNotFoundError) as info:
            client.send(
                ApiCall(
                    "GET",
                    "/pipeline/api/pipelines/x",
                    params={"orgIdentifier": "o2", "projectIdentifier": "p2"},
                )
            )
        assert info.value.scope == {"account": "acc123", "org": "o2", "project": "p2"}
        assert seen[0].url.params["projectIdentifier"] == "p2"

    def test_v1_scope_comes_from_the_path(self) -> None:
        client, _ = _client(404, error_dto("ENTITY_NOT_FOUND", "Pipeline p not found"))
        with pytest.raises(HarnessNotFoundError) as info:
            client.send(ApiCall("GET", "/v1/orgs/o1/projects/p1/pipelines/p", account="header"))
        assert info.value.scope == {"account": "acc123", "org": "o1", "project": "p1"}
        assert "organization 'o1', project 'p1'" in str(info.value)

    def test_account_level_not_found_names_the_account(self) -> None:
        client, _ = _client(
            400, failure_dto("RESOURCE_NOT_FOUND_EXCEPTION", "Organization with identifier [x] not found")
        )
        with pytest.raises(HarnessNotFoundError) as info:
            client.send(ApiCall("GET", "/ng/api/organizations/x"))
        assert (
            info.value.hint
            == "Harness looked in account 'acc123'; check the identifier and the connection's account id"
        )

    async def test_async_client_names_the_scope_too(self) -> None:
        from airflow_provider_harness.client.transport import AsyncHarnessClient

        async def handler(request: httpx.Request) -> httpx.Response:
            return httpx.Response(400, text=PIPELINE_GONE)

        config = HarnessConfig(account_id="acc123", api_key=Secret(API_KEY))
        client = AsyncHarnessClient(config, RetryPolicy(0, 0, 0), transport=httpx.MockTransport(handler))
        try:
            with pytest.raises(HarnessNotFoundError) as info:
                await client.send(
                    ApiCall(
                        "POST",
                        "/pipeline/api/pipeline/execute/build",
                        params={"orgIdentifier": "default", "projectIdentifier": "nope"},
                        repeatable=False,
                    )
                )
        finally:
            await client.aclose()
        assert "project 'nope'" in str(info.value)

    def test_scope_survives_pickling(self) -> None:
        client, _ = _client(400, PIPELINE_GONE)
        with pytest.raises(HarnessNotFoundError) as info:
            client.send(
                ApiCall(
                    "POST",
                    "/pipeline/api/pipeline/execute/build",
                    params={"orgIdentifier": "o", "projectIdentifier": "p"},
                    repeatable=False,
                )
            )
        copy = pickle.loads(pickle.dumps(info.value))
        assert copy.scope == info.value.scope and str(copy) == str(info.value)


class TestUnknownEndpoint:
    """Jersey's "HTTP 404 Not Found" (an endpoint the server lacks) is not a missing resource."""

    def test_jersey_400_names_method_and_path(self) -> None:
        client, _ = _client(400, failure_dto("RESOURCE_NOT_FOUND_EXCEPTION", "HTTP 404 Not Found"))
        with pytest.raises(HarnessEndpointNotFoundError) as info:
            client.send(ApiCall("POST", "/ng/api/xyz", params={"orgIdentifier": "default"}))
        assert str(info.value) == (
            "Harness has no endpoint POST /ng/api/xyz (HTTP 404 Not Found from Jersey) "
            f"(RESOURCE_NOT_FOUND_EXCEPTION, HTTP 400, correlationId={CID}). The server may be an older "
            "self-managed Harness without this API (upgrade it or use an API it has), or the Harness URL "
            "(connection host or HARNESS_BASE_URL) points at something other than the Harness API"
        )
        assert not isinstance(info.value, HarnessNotFoundError)
        assert info.value.path == "/ng/api/xyz" and info.value.method == "POST"

    def test_edge_html_404(self) -> None:
        client, _ = _client(404, "<html><head><title>404 Not Found</title></head><body>nginx</body></html>")
        with pytest.raises(HarnessEndpointNotFoundError) as info:
            client.send(ApiCall("GET", "/nothing/api/here"))
        assert str(info.value).startswith(
            "No such Harness endpoint (HTML page '404 Not Found') (HTTP 404, GET /nothing/api/here). "
            "Check the Harness URL"
        )

    def test_not_retried(self) -> None:
        calls = []

        def handler(request: httpx.Request) -> httpx.Response:
            calls.append(request)
            return httpx.Response(400, text=failure_dto("RESOURCE_NOT_FOUND_EXCEPTION", "HTTP 404 Not Found"))

        config = HarnessConfig(account_id="acc123", api_key=Secret(API_KEY))
        client = HarnessClient(config, RetryPolicy(5, 0, 0), transport=httpx.MockTransport(handler))
        with pytest.raises(HarnessEndpointNotFoundError):
            client.send(ApiCall("GET", "/ng/api/xyz"))
        assert len(calls) == 1
