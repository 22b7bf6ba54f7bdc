"""Request building, decoding, retries and the shared async pool (client/transport.py).

Sync tests use ``httpx.MockTransport``; the async tests run the same rules in a real event loop
(pytest-asyncio) with the same mock transport answering coroutines.
"""

from __future__ import annotations

import asyncio
import json
import random
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_harness.client import transport
from airflow_provider_harness.client.call import ApiCall
from airflow_provider_harness.client.config import HarnessConfig, Secret
from airflow_provider_harness.client.errors import (
    HarnessAuthenticationError,
    HarnessError,
    HarnessInvalidRequestError,
    HarnessNotFoundError,
    HarnessRateLimitError,
    HarnessServerError,
    HarnessTransportError,
)
from airflow_provider_harness.client.transport import (
    AsyncHarnessClient,
    HarnessClient,
    RetryPolicy,
    build_request,
    close_shared_async_clients,
    decode,
    shared_async_http,
)

KEY = "pat.acc123.tokenid.s3cr3tvalue"
NO_WAIT = RetryPolicy(max_retries=5, base_delay=0, max_delay=0, retry_after_cap=0)
OK = {"status": "SUCCESS", "data": {"ok": True}, "metaData": None, "correlationId": "c"}
NGINX_502 = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"

Handler = Callable[[httpx.Request], httpx.Response]


def make_config(**kwargs: Any) -> HarnessConfig:
    values: dict[str, Any] = {"account_id": "acc123", "api_key": Secret(KEY)}
    values.update(kwargs)
    return HarnessConfig(**values)


def sync_client(handler: Handler, policy: RetryPolicy = NO_WAIT, **config: Any) -> HarnessClient:
    return HarnessClient(make_config(**config), policy, transport=httpx.MockTransport(handler))


def async_client(handler: Handler, policy: RetryPolicy = NO_WAIT, **config: Any) -> AsyncHarnessClient:
    return AsyncHarnessClient(make_config(**config), policy, transport=httpx.MockTransport(handler))


class Script:
    """A handler answering a scripted sequence of responses/exceptions, recording requests."""

    def __init__(self, *steps: httpx.Response | Exception | Callable[[], httpx.Response]) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps[min(len(self.requests), len(self.steps)) - 1]
        if isinstance(step, Exception):
            raise step
        if callable(step) and not isinstance(step, httpx.Response):
            return step()
        return step

    @property
    def count(self) -> int:
        return len(self.requests)


def ok() -> httpx.Response:
    return httpx.Response(200, json=OK)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """Record the backoff delays instead of sleeping (sync and async)."""
    recorded: list[float] = []

    async def fake_async_sleep(seconds: float) -> None:
        recorded.append(seconds)

    monkeypatch.setattr(transport, "_sleep", recorded.append)
    monkeypatch.setattr(transport, "_async_sleep", fake_async_sleep)
    yield recorded


# --------------------------------------------------------------------------------------------------
# build_request
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "path", "url"),
    [
        ("https://app.harness.io", "/ng/api/organizations", "https://app.harness.io/ng/api/organizations"),
        (
            "https://app.harness.io",
            "/gateway/log-service/blob",
            "https://app.harness.io/gateway/log-service/blob",
        ),
        (
            "https://h.example.com/gateway",
            "/ng/api/projects",
            "https://h.example.com/gateway/ng/api/projects",
        ),
        (
            "https://h.example.com/gateway",
            "/gateway/log-service/blob",
            "https://h.example.com/gateway/log-service/blob",
        ),
        (
            "https://h.example.com/gateway/",
            "/gateway/pipeline/api/webhook/custom/v2",
            "https://h.example.com/gateway/pipeline/api/webhook/custom/v2",
        ),
        ("https://h.example.com/gateway", "/gatewayx/y", "https://h.example.com/gateway/gatewayx/y"),
        ("https://app.harness.io", "ng/api/organizations", "https://app.harness.io/ng/api/organizations"),
        ("http://127.0.0.1:7457", "/v1/orgs", "http://127.0.0.1:7457/v1/orgs"),
        ("https://h.example.com/prefix/gateway", "/gateway/x", "https://h.example.com/prefix/gateway/x"),
    ],
)
def test_url_joining(base: str, path: str, url: str) -> None:
    request = build_request(make_config(base_url=base), ApiCall("GET", path, account="none"))
    assert str(request.url) == url


class TestAccountPlacement:
    def test_query(self) -> None:
        request = build_request(make_config(), ApiCall("GET", "/ng/api/organizations"))
        assert request.url.params["accountIdentifier"] == "acc123"
        assert "Harness-Account" not in request.headers

    def test_query_not_overridden_when_given(self) -> None:
        request = build_request(make_config(), ApiCall("GET", "/x", params={"accountIdentifier": "other"}))
        assert request.url.params.get_list("accountIdentifier") == ["other"]

    def test_header(self) -> None:
        request = build_request(make_config(), ApiCall("GET", "/v1/orgs", account="header"))
        assert request.headers["Harness-Account"] == "acc123"
        assert "accountIdentifier" not in request.url.params

    def test_log(self) -> None:
        request = build_request(make_config(), ApiCall("GET", "/gateway/log-service/token", account="log"))
        assert request.url.params["accountID"] == "acc123"

    def test_none(self) -> None:
        request = build_request(
            make_config(), ApiCall("POST", "/gateway/pipeline/api/webhook/custom/v2", account="none")
        )
        assert not request.url.params
        assert "Harness-Account" not in request.headers


class TestHeadersAndBody:
    def test_auth_and_identity_headers(self) -> None:
        request = build_request(make_config(), ApiCall("GET", "/ng/api/organizations"))
        assert request.headers["x-api-key"] == KEY
        assert request.headers["User-Agent"].startswith("airflow-provider-harness/")
        assert request.headers["Accept"] == "application/json"

    def test_text_accept(self) -> None:
        request = build_request(make_config(), ApiCall("GET", "/blob", response="text"))
        assert request.headers["Accept"].startswith("text/plain")

    def test_params_flattened(self) -> None:
        call = ApiCall(
            "POST",
            "/pipeline/api/pipeline/execute/retry/p",
            params={"retryStages": ["a", "b"], "runAllStages": True, "skip": None, "n": 3, "t": ("x",)},
        )
        request = build_request(make_config(), call)
        assert request.url.params.get_list("retryStages") == ["a", "b"]
        assert request.url.params["runAllStages"] == "true"
        assert "skip" not in request.url.params
        assert request.url.params["n"] == "3"
        assert request.url.params["t"] == "x"

    def test_json_body(self) -> None:
        request = build_request(make_config(), ApiCall("POST", "/x", json={"filterType": "PipelineSetup"}))
        assert request.headers["Content-Type"] == "application/json"
        assert json.loads(request.content) == {"filterType": "PipelineSetup"}

    def test_yaml_body(self) -> None:
        request = build_request(make_config(), ApiCall("POST", "/x", content="pipeline:\n  identifier: p\n"))
        assert request.headers["Content-Type"] == "application/yaml"
        assert request.content == b"pipeline:\n  identifier: p\n"

    def test_content_type_override(self) -> None:
        call = ApiCall("POST", "/x", content="{}", content_type="application/json")
        assert build_request(make_config(), call).headers["Content-Type"] == "application/json"

    def test_no_body(self) -> None:
        request = build_request(make_config(), ApiCall("GET", "/x"))
        assert request.content == b""
        assert "Content-Type" not in request.headers

    def test_extra_and_call_headers(self) -> None:
        config = make_config(extra_headers={"X-Trace": "1"})
        request = build_request(config, ApiCall("PUT", "/x", headers={"If-Match": "W/5"}))
        assert request.headers["X-Trace"] == "1"
        assert request.headers["If-Match"] == "W/5"


class TestAbsoluteUrls:
    def test_same_origin_gets_credentials(self) -> None:
        config = make_config(base_url="https://h.example.com/gateway")
        request = build_request(
            config, ApiCall("GET", "https://h.example.com/storage/x?sig=1", account="query")
        )
        assert request.headers["x-api-key"] == KEY
        assert request.url.params["accountIdentifier"] == "acc123"

    def test_foreign_origin_never_gets_the_key(self) -> None:
        config = make_config(extra_headers={"X-Trace": "1"})
        call = ApiCall("GET", "https://storage.googleapis.com/bucket/logs.zip?sig=abc", account="header")
        request = build_request(config, call)
        assert "x-api-key" not in request.headers
        assert "Harness-Account" not in request.headers
        assert "X-Trace" not in request.headers
        assert "accountIdentifier" not in request.url.params
        assert request.url.params["sig"] == "abc"

    def test_display_path_of_absolute_url_drops_query(self) -> None:
        def handler(request: httpx.Request) -> httpx.Response:
            return httpx.Response(403, text="")

        client = sync_client(handler)
        with pytest.raises(HarnessError) as info:
            client.send(ApiCall("GET", "https://storage.example.com/b/x?sig=SIGNATURE", response="text"))
        assert "SIGNATURE" not in str(info.value)
        assert "https://storage.example.com/b/x" in str(info.value)


# --------------------------------------------------------------------------------------------------
# decode
# --------------------------------------------------------------------------------------------------


class TestDecode:
    def decode(self, response: httpx.Response, call: ApiCall[Any] | None = None) -> Any:
        return decode(make_config(), call or ApiCall("GET", "/x"), response)

    def test_envelope_data(self) -> None:
        assert self.decode(httpx.Response(200, json=OK)) == {"ok": True}

    def test_envelope_null_data(self) -> None:
        assert self.decode(httpx.Response(200, json={"status": "SUCCESS", "data": None})) is None

    def test_parse_applied(self) -> None:
        call: ApiCall[bool] = ApiCall("GET", "/x", parse=lambda data: data["ok"])
        assert self.decode(httpx.Response(200, json=OK), call) is True

    def test_json_kind(self) -> None:
        call = ApiCall("GET", "/v1/orgs", response="json")
        assert self.decode(httpx.Response(200, json=[{"org": {"identifier": "a"}}]), call) == [
            {"org": {"identifier": "a"}}
        ]

    def test_text_kind(self) -> None:
        call = ApiCall("GET", "/blob", response="text")
        assert self.decode(httpx.Response(200, text="line1\nline2"), call) == "line1\nline2"

    def test_empty_body_is_none(self) -> None:
        assert self.decode(httpx.Response(204)) is None
        assert self.decode(httpx.Response(200, text="  ")) is None

    def test_html_200_instead_of_json(self) -> None:
        with pytest.raises(HarnessServerError) as info:
            self.decode(
                httpx.Response(200, text="<!doctype html><html><head><title>Harness</title></head></html>")
            )
        assert str(info.value) == (
            "Harness answered HTTP 200 with an HTML page 'Harness' instead of JSON (HTTP 200, GET "
            "/x). Check the "
            "Harness URL (connection host or HARNESS_BASE_URL): it is the API address such as "
            "https://app.harness.io, or https://harness.example.com/gateway for a self-managed Harness"
        )

    def test_text_200_instead_of_json(self) -> None:
        with pytest.raises(HarnessServerError, match="answered HTTP 200 with text instead of JSON"):
            self.decode(httpx.Response(200, text="hello"))

    def test_json_without_envelope(self) -> None:
        with pytest.raises(HarnessServerError, match="without its usual response envelope"):
            self.decode(httpx.Response(200, json={"content": []}))
        with pytest.raises(HarnessServerError, match="without its usual response envelope"):
            self.decode(httpx.Response(200, json={"status": "FAILED"}))

    @pytest.mark.parametrize("status", [301, 302, 307, 308])
    def test_redirect_is_an_error_naming_the_target(self, status: int) -> None:
        response = httpx.Response(status, headers={"Location": "https://login.example.com/sso"})
        with pytest.raises(HarnessInvalidRequestError) as info:
            self.decode(response)
        assert str(info.value).startswith(
            f"Harness redirected the request to https://login.example.com/sso (HTTP {status}, GET /x). "
            "Check the Harness URL"
        )

    def test_secret_echoed_by_server_is_redacted(self) -> None:
        body = {"status": "ERROR", "code": "INVALID_TOKEN", "message": f"Token {KEY} is not valid"}
        with pytest.raises(HarnessAuthenticationError) as info:
            self.decode(httpx.Response(401, json=body))
        assert KEY not in str(info.value)
        assert "Token *** is not valid" in str(info.value)

    def test_call_secrets_redacted_from_path_and_message(self) -> None:
        call = ApiCall(
            "POST", "/gateway/pipeline/api/webhook/custom/TOKEN123/v3", account="none", secrets=("TOKEN123",)
        )
        with pytest.raises(HarnessError) as info:
            self.decode(httpx.Response(400, json={"message": "bad webhook TOKEN123"}), call)
        assert "TOKEN123" not in str(info.value)
        assert info.value.path == "/gateway/pipeline/api/webhook/custom/***/v3"


# --------------------------------------------------------------------------------------------------
# retry rules
# --------------------------------------------------------------------------------------------------

REPEATABLE = ApiCall("GET", "/ng/api/organizations")
STARTS_SOMETHING = ApiCall("POST", "/pipeline/api/pipeline/execute/p", content="", repeatable=False)


@pytest.mark.parametrize(
    ("first", "repeatable", "attempts"),
    [
        (httpx.Response(429, text=""), True, 2),
        (httpx.Response(429, text=""), False, 2),
        (httpx.Response(500, text=""), True, 2),
        (httpx.Response(500, text=""), False, 1),
        (httpx.Response(502, text=NGINX_502), True, 2),
        (httpx.Response(502, text=NGINX_502), False, 1),
        (httpx.Response(503, text=""), True, 2),
        (httpx.Response(504, text="upstream timeout"), True, 2),
        (httpx.Response(408, text=""), True, 2),
        (httpx.ConnectError("refused"), True, 2),
        (httpx.ConnectError("refused"), False, 2),
        (httpx.ConnectTimeout("connect timed out"), False, 2),
        (httpx.PoolTimeout("pool"), False, 2),
        (httpx.ProxyError("407 Proxy Authentication Required"), False, 2),
        (httpx.ReadTimeout("timed out"), True, 2),
        (httpx.ReadTimeout("timed out"), False, 1),
        (httpx.WriteTimeout("timed out"), False, 1),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."), True, 2),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."), False, 1),
        (httpx.ReadError("connection reset"), False, 1),
        (httpx.Response(400, json={"code": "INVALID_REQUEST", "message": "bad"}), True, 1),
        (httpx.Response(401, json={"code": "INVALID_TOKEN", "message": "Token is not valid."}), True, 1),
        (httpx.Response(403, text=""), True, 1),
        (httpx.Response(404, json={"code": "ENTITY_NOT_FOUND", "message": "gone"}), True, 1),
        (httpx.Response(400, json={"code": "DUPLICATE_FIELD", "message": "dup"}), True, 1),
        (httpx.Response(200, text="<html><title>Harness</title></html>"), True, 1),
        (httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"), True, 1),
    ],
    ids=lambda value: (
        value
        if isinstance(value, bool | int)
        else (f"{value.status_code}" if isinstance(value, httpx.Response) else type(value).__name__)
    ),
)
def test_retry_rules(first: httpx.Response | Exception, repeatable: bool, attempts: int) -> None:
    """One failure then success: retried (2 requests) or final at once (1 request)."""
    script = Script(first, ok)
    call = REPEATABLE if repeatable else STARTS_SOMETHING
    client = sync_client(script)
    if attempts == 2:
        assert client.send(call) == {"ok": True}
    else:
        with pytest.raises(HarnessError):
            client.send(call)
    assert script.count == attempts


class TestFinalErrors:
    def test_budget_exhausted_counts_attempts(self) -> None:
        script = Script(httpx.Response(503, text=""))
        client = sync_client(script, RetryPolicy(3, 0, 0))
        with pytest.raises(HarnessServerError) as info:
            client.send(REPEATABLE)
        assert script.count == 4
        assert info.value.attempts == 4
        assert "after 4 attempts" in str(info.value)

    def test_zero_retries(self) -> None:
        script = Script(httpx.Response(503, text=""))
        with pytest.raises(HarnessServerError) as info:
            sync_client(script, RetryPolicy(0, 0, 0)).send(REPEATABLE)
        assert script.count == 1
        assert "attempts" not in str(info.value)

    def test_budget_from_config(self) -> None:
        script = Script(httpx.Response(429, text=""))
        client = HarnessClient(
            make_config(max_retries=2, retry_base_delay=0, retry_max_delay=0),
            transport=httpx.MockTransport(script),
        )
        assert client.retry == RetryPolicy(2, 0, 0)
        with pytest.raises(HarnessRateLimitError):
            client.send(REPEATABLE)
        assert script.count == 3

    def test_read_timeout_on_start_marks_maybe_applied(self) -> None:
        script = Script(httpx.ReadTimeout("timed out"))
        with pytest.raises(HarnessTransportError) as info:
            sync_client(script).send(STARTS_SOMETHING)
        error = info.value
        assert script.count == 1
        assert error.request_sent is True
        assert error.maybe_applied is True
        assert str(error).endswith(
            "The request may have reached Harness and taken effect; it was not sent again"
        )

    def test_server_error_on_start_marks_maybe_applied(self) -> None:
        script = Script(httpx.Response(502, text=NGINX_502))
        with pytest.raises(HarnessServerError) as info:
            sync_client(script).send(STARTS_SOMETHING)
        assert info.value.maybe_applied is True
        assert script.count == 1

    def test_connect_error_on_start_is_not_maybe_applied(self) -> None:
        script = Script(httpx.ConnectError("refused"))
        with pytest.raises(HarnessTransportError) as info:
            sync_client(script, RetryPolicy(2, 0, 0)).send(STARTS_SOMETHING)
        assert script.count == 3
        assert info.value.request_sent is False
        assert info.value.maybe_applied is False
        assert "may have reached" not in str(info.value)

    def test_repeatable_read_timeout_is_not_maybe_applied(self) -> None:
        script = Script(httpx.ReadTimeout("timed out"))
        with pytest.raises(HarnessTransportError) as info:
            sync_client(script, RetryPolicy(1, 0, 0)).send(REPEATABLE)
        assert info.value.maybe_applied is False
        assert script.count == 2

    def test_rate_limit_on_start_is_retried_and_not_maybe_applied(self) -> None:
        script = Script(httpx.Response(429, text=""))
        with pytest.raises(HarnessRateLimitError) as info:
            sync_client(script, RetryPolicy(2, 0, 0)).send(STARTS_SOMETHING)
        assert script.count == 3
        assert info.value.maybe_applied is False

    def test_tls_error_names_fix_and_is_not_retried(self) -> None:
        script = Script(httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"))
        with pytest.raises(HarnessTransportError) as info:
            sync_client(script).send(REPEATABLE)
        assert info.value.retryable is False
        assert "ca_bundle" in str(info.value)

    def test_parse_errors_are_not_retried(self) -> None:
        script = Script(ok)

        def parse(data: Any) -> Any:
            raise KeyError("missing")

        with pytest.raises(KeyError):
            sync_client(script).send(ApiCall("GET", "/x", parse=parse))
        assert script.count == 1


class TestBackoff:
    def test_exponential_with_jitter(self) -> None:
        policy = RetryPolicy(max_retries=10, base_delay=1.0, max_delay=30.0)
        random.seed(7)
        for index, ceiling in [(0, 1), (1, 2), (2, 4), (3, 8), (4, 16), (5, 30), (9, 30), (200, 30)]:
            for _ in range(20):
                delay = policy.delay(index)
                assert ceiling / 2 <= delay <= ceiling

    def test_jitter_varies(self) -> None:
        policy = RetryPolicy(base_delay=1.0, max_delay=30.0)
        assert len({round(policy.delay(3), 6) for _ in range(20)}) > 1

    def test_retry_after_wins_when_longer(self) -> None:
        policy = RetryPolicy(base_delay=1.0, max_delay=30.0, retry_after_cap=120.0)
        assert policy.delay(0, retry_after=45.0) == 45.0
        assert policy.delay(0, retry_after=500.0) == 120.0
        assert policy.delay(0, retry_after=0.0) <= 1.0

    def test_zero_delays(self) -> None:
        assert RetryPolicy(base_delay=0, max_delay=0).delay(5) == 0

    def test_sleeps_between_attempts(self, sleeps: list[float]) -> None:
        script = Script(httpx.Response(503, text=""), httpx.Response(503, text=""), ok)
        client = sync_client(script, RetryPolicy(max_retries=5, base_delay=1.0, max_delay=30.0))
        assert client.send(REPEATABLE) == {"ok": True}
        assert len(sleeps) == 2
        assert 0.5 <= sleeps[0] <= 1.0
        assert 1.0 <= sleeps[1] <= 2.0

    def test_retry_after_seconds_honoured(self, sleeps: list[float]) -> None:
        script = Script(httpx.Response(429, headers={"Retry-After": "7"}), ok)
        sync_client(script, RetryPolicy(max_retries=5, base_delay=0.1, max_delay=1.0)).send(REPEATABLE)
        assert sleeps == [7.0]

    def test_retry_after_http_date_honoured(self, sleeps: list[float]) -> None:
        when = datetime.now(UTC) + timedelta(seconds=20)
        script = Script(httpx.Response(429, headers={"Retry-After": format_datetime(when, usegmt=True)}), ok)
        sync_client(script, RetryPolicy(max_retries=5, base_delay=0.1, max_delay=1.0)).send(REPEATABLE)
        assert len(sleeps) == 1 and 15 <= sleeps[0] <= 21

    def test_garbage_retry_after_ignored(self, sleeps: list[float]) -> None:
        script = Script(httpx.Response(503, headers={"Retry-After": "soon"}), ok)
        sync_client(script, RetryPolicy(max_retries=5, base_delay=0.1, max_delay=0.1)).send(REPEATABLE)
        assert len(sleeps) == 1 and sleeps[0] <= 0.1

    def test_no_sleep_after_final_failure(self, sleeps: list[float]) -> None:
        script = Script(httpx.Response(503, text=""))
        with pytest.raises(HarnessServerError):
            sync_client(script, RetryPolicy(2, 0.1, 0.1)).send(REPEATABLE)
        assert len(sleeps) == 2


# --------------------------------------------------------------------------------------------------
# the four failures that must each give one clear line
# --------------------------------------------------------------------------------------------------

BAD_KEY = httpx.Response(
    401,
    json={
        "status": "ERROR",
        "code": "INVALID_TOKEN",
        "message": "Token is not valid.",
        "correlationId": "corr-401",
        "detailedMessage": None,
        "responseMessages": [{"code": "INVALID_TOKEN", "level": "ERROR", "message": "Token is not valid."}],
        "metadata": None,
    },
)
UNKNOWN_ORG = httpx.Response(
    400,
    json={
        "status": "FAILURE",
        "code": "RESOURCE_NOT_FOUND_EXCEPTION",
        "message": "Organization with identifier [nope] not found",
        "correlationId": "corr-400",
        "errors": None,
    },
)

ONE_LINE = [
    (
        "bad-api-key",
        BAD_KEY,
        HarnessAuthenticationError,
        "Harness rejected the API key: Token is not valid (INVALID_TOKEN, HTTP 401, GET "
        "/ng/api/organizations/nope, "
        "correlationId=corr-401). Check the API key (connection password or HARNESS_API_KEY) and "
        "that it is a "
        "valid, unexpired key of account 'acc123'",
    ),
    (
        "unknown-org",
        UNKNOWN_ORG,
        HarnessNotFoundError,
        "Organization with identifier [nope] not found (RESOURCE_NOT_FOUND_EXCEPTION, HTTP 400, "
        "GET /ng/api/organizations/nope, correlationId=corr-400). Harness looked in account 'acc123'; "
        "check the identifier and the connection's account id",
    ),
    (
        "429-storm",
        httpx.Response(429, text=""),
        HarnessRateLimitError,
        "Harness rate limit hit: too many requests (HTTP 429, GET /ng/api/organizations/nope, "
        "after 6 attempts). "
        "Harness allows about 1000 API requests per minute per API key; poll less often or spread the load",
    ),
    (
        "proxy-html-502",
        httpx.Response(502, text=NGINX_502, headers={"Content-Type": "text/html"}),
        HarnessServerError,
        "Harness or a proxy in front of it answered with an HTML error page '502 Bad Gateway' (HTTP 502, "
        "GET /ng/api/organizations/nope, after 6 attempts). The service may be down or a "
        "proxy/load balancer is "
        "failing; try again later, and check the proxy settings if it persists",
    ),
]


@pytest.mark.parametrize(("name", "response", "cls", "line"), ONE_LINE, ids=[c[0] for c in ONE_LINE])
def test_one_clear_line(name: str, response: httpx.Response, cls: type[HarnessError], line: str) -> None:
    script = Script(response)
    with pytest.raises(cls) as info:
        sync_client(script).send(ApiCall("GET", "/ng/api/organizations/nope"))
    assert str(info.value) == line
    assert "\n" not in str(info.value)
    # The exception does not chain httpx internals: its traceback shows only our frames.
    error = info.value
    assert error.__cause__ is None and error.__suppress_context__
    formatted = "".join(traceback.format_exception(error))
    assert "httpx" not in formatted.replace("httpx.", "")
    assert formatted.strip().splitlines()[-1] == f"{type(error).__module__}.{cls.__name__}: {line}"


def test_unreachable_host_is_one_line() -> None:
    script = Script(httpx.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(HarnessTransportError) as info:
        sync_client(script, RetryPolicy(1, 0, 0)).send(ApiCall("GET", "/ng/api/organizations"))
    assert str(info.value) == (
        "Could not reach Harness at https://app.harness.io (ConnectError: [Errno 111] Connection refused) "
        "(GET /ng/api/organizations, after 2 attempts). Check the Harness URL, network access and proxy "
        "settings (connection proxy, HTTPS_PROXY, NO_PROXY)"
    )
    assert info.value.__suppress_context__


def test_timeout_message() -> None:
    script = Script(httpx.ReadTimeout("The read operation timed out"))
    with pytest.raises(HarnessTransportError) as info:
        sync_client(script, RetryPolicy(0, 0, 0), timeout=12).send(REPEATABLE)
    assert str(info.value).startswith(
        "Harness at https://app.harness.io did not answer within 12s (ReadTimeout) (GET "
        "/ng/api/organizations)"
    )


# --------------------------------------------------------------------------------------------------
# the async path, in a real event loop
# --------------------------------------------------------------------------------------------------


class TestAsync:
    async def test_send(self) -> None:
        script = Script(ok)
        client = async_client(script)
        assert await client.send(ApiCall("GET", "/ng/api/organizations/default")) == {"ok": True}
        assert script.requests[0].headers["x-api-key"] == KEY
        assert script.requests[0].url.params["accountIdentifier"] == "acc123"
        await client.aclose()

    async def test_same_request_as_sync(self) -> None:
        call = ApiCall("POST", "/pipeline/api/pipelines/list", params={"page": 0}, json={"filterType": "x"})
        sync_script, async_script = Script(ok), Script(ok)
        sync_client(sync_script).send(call)
        await async_client(async_script).send(call)
        a, b = sync_script.requests[0], async_script.requests[0]
        assert (a.method, str(a.url), a.content) == (b.method, str(b.url), b.content)
        assert {k: v for k, v in a.headers.items()} == {k: v for k, v in b.headers.items()}

    async def test_retries_then_succeeds(self, sleeps: list[float]) -> None:
        script = Script(httpx.Response(429, text=""), httpx.ConnectError("refused"), httpx.Response(503), ok)
        client = async_client(script, RetryPolicy(5, 0.01, 0.01))
        assert await client.send(REPEATABLE) == {"ok": True}
        assert script.count == 4
        assert len(sleeps) == 3

    async def test_start_not_repeated_after_read_timeout(self) -> None:
        script = Script(httpx.ReadTimeout("timed out"), ok)
        with pytest.raises(HarnessTransportError) as info:
            await async_client(script).send(STARTS_SOMETHING)
        assert script.count == 1
        assert info.value.maybe_applied is True

    async def test_start_retried_after_connect_error(self) -> None:
        script = Script(httpx.ConnectError("refused"), ok)
        assert await async_client(script).send(STARTS_SOMETHING) == {"ok": True}
        assert script.count == 2

    async def test_429_storm_one_line(self) -> None:
        script = Script(httpx.Response(429, text=""))
        with pytest.raises(HarnessRateLimitError) as info:
            await async_client(script).send(ApiCall("GET", "/ng/api/organizations/nope"))
        assert str(info.value) == ONE_LINE[2][3]
        assert script.count == 6

    async def test_html_502_one_line(self) -> None:
        script = Script(httpx.Response(502, text=NGINX_502))
        with pytest.raises(HarnessServerError) as info:
            await async_client(script).send(ApiCall("GET", "/ng/api/organizations/nope"))
        assert str(info.value) == ONE_LINE[3][3]

    async def test_async_handler_coroutine(self) -> None:
        async def handler(request: httpx.Request) -> httpx.Response:
            await asyncio.sleep(0)
            return ok()

        client = AsyncHarnessClient(make_config(), NO_WAIT, transport=httpx.MockTransport(handler))
        assert await client.send(REPEATABLE) == {"ok": True}

    async def test_real_sleep_is_awaited(self) -> None:
        """The async path yields to the loop while backing off (other tasks run meanwhile)."""
        script = Script(httpx.Response(503), ok)
        ticks: list[int] = []

        async def ticker() -> None:
            for i in range(3):
                ticks.append(i)
                await asyncio.sleep(0)

        client = async_client(script, RetryPolicy(2, 0.02, 0.02))
        await asyncio.gather(client.send(REPEATABLE), ticker())
        assert ticks == [0, 1, 2]


class TestSharedAsyncPool:
    async def test_same_client_within_a_loop(self) -> None:
        config = make_config()
        a, b = AsyncHarnessClient(config), AsyncHarnessClient(make_config(account_id="other"))
        assert a.http is b.http
        assert a.http is shared_async_http(config)
        await close_shared_async_clients()

    async def test_different_network_settings_get_different_pools(self) -> None:
        a = AsyncHarnessClient(make_config())
        b = AsyncHarnessClient(make_config(timeout=5))
        c = AsyncHarnessClient(make_config(verify=False))
        assert len({id(a.http), id(b.http), id(c.http)}) == 3
        await close_shared_async_clients()

    async def test_not_closed_when_a_trigger_finishes(self) -> None:
        first = AsyncHarnessClient(make_config())
        pool = first.http
        await first.aclose()
        assert not pool.is_closed
        second = AsyncHarnessClient(make_config())
        assert second.http is pool
        await close_shared_async_clients()
        assert pool.is_closed
        assert AsyncHarnessClient(make_config()).http is not pool
        await close_shared_async_clients()

    def test_different_loops_get_different_pools(self) -> None:
        async def grab() -> httpx.AsyncClient:
            return AsyncHarnessClient(make_config()).http

        first = asyncio.run(grab())
        second = asyncio.run(grab())
        assert first is not second

    def test_requires_running_loop(self) -> None:
        with pytest.raises(RuntimeError):
            shared_async_http(make_config())

    async def test_private_transport_is_closed_by_aclose(self) -> None:
        client = async_client(Script(ok))
        http = client.http
        assert http is not shared_async_http(client.config)
        await client.aclose()
        assert http.is_closed
        await close_shared_async_clients()


# --------------------------------------------------------------------------------------------------
# proxies and TLS settings reach httpx
# --------------------------------------------------------------------------------------------------


def _proxy_url(client: httpx.Client | httpx.AsyncClient, url: str) -> str | None:
    pool = client._transport_for_url(httpx.URL(url))  # type: ignore[union-attr]
    proxy = getattr(getattr(pool, "_pool", None), "_proxy_url", None)
    return None if proxy is None else f"{proxy.scheme.decode()}://{proxy.host.decode()}:{proxy.port}"


class TestProxy:
    def test_proxy_env_vars_respected(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("HTTPS_PROXY", "http://envproxy:3128")
        monkeypatch.setenv("NO_PROXY", "internal.example.com")
        client = HarnessClient(make_config())
        assert client.http.trust_env is True
        assert _proxy_url(client.http, "https://app.harness.io/ng/api") == "http://envproxy:3128"
        assert _proxy_url(client.http, "https://internal.example.com/ng/api") is None
        client.close()

    def test_explicit_proxy(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("HTTPS_PROXY", raising=False)
        monkeypatch.delenv("https_proxy", raising=False)
        monkeypatch.delenv("ALL_PROXY", raising=False)
        monkeypatch.delenv("all_proxy", raising=False)
        client = HarnessClient(make_config(proxy="http://corp-proxy:8080"))
        assert _proxy_url(client.http, "https://app.harness.io/ng/api") == "http://corp-proxy:8080"
        client.close()

    def test_no_proxy_by_default(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        client = HarnessClient(make_config())
        assert _proxy_url(client.http, "https://app.harness.io/ng/api") is None
        client.close()

    async def test_async_pool_respects_env_and_explicit_proxy(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("HTTPS_PROXY", "http://envproxy:3128")
        env_pool = AsyncHarnessClient(make_config()).http
        explicit_pool = AsyncHarnessClient(make_config(proxy="http://corp-proxy:8080")).http
        assert env_pool.trust_env is True
        assert _proxy_url(env_pool, "https://app.harness.io/x") == "http://envproxy:3128"
        assert _proxy_url(explicit_pool, "https://app.harness.io/x") == "http://corp-proxy:8080"
        await close_shared_async_clients()

    def test_injected_transport_ignores_env_proxy(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("HTTPS_PROXY", "http://envproxy:3128")
        script = Script(ok)
        assert sync_client(script).send(REPEATABLE) == {"ok": True}


class TestTls:
    def test_verify_false(self) -> None:
        client = HarnessClient(make_config(verify=False))
        assert client.http is not None
        client.close()

    def test_ca_bundle_missing_names_field(self) -> None:
        client = HarnessClient(make_config(verify="/nonexistent/ca.pem"))
        with pytest.raises(ValueError, match=r"^ca_bundle: '/nonexistent/ca\.pem' does not exist"):
            _ = client.http

    def test_ca_bundle_file_becomes_ssl_context(self, tmp_path: Any) -> None:
        import certifi

        bundle = tmp_path / "ca.pem"
        bundle.write_text(Path(certifi.where()).read_text())
        verify = transport.httpx_verify(str(bundle))
        import ssl

        assert isinstance(verify, ssl.SSLContext)
        assert transport.httpx_verify(str(bundle)) is verify  # cached
        client = HarnessClient(make_config(verify=str(bundle)))
        assert client.http is not None
        client.close()


def test_client_context_manager_closes() -> None:
    with sync_client(Script(ok)) as client:
        http = client.http
        client.send(REPEATABLE)
    assert http.is_closed


def test_redirects_not_followed() -> None:
    """A redirect could carry the API key to another host: never followed."""
    script = Script(httpx.Response(302, headers={"Location": "https://evil.example.com/"}), ok)
    with pytest.raises(HarnessInvalidRequestError):
        sync_client(script).send(REPEATABLE)
    assert script.count == 1


async def test_async_requests_in_flight_are_bounded_by_the_pool_gate() -> None:
    """Hundreds of concurrent polls wait on the gate, never more than the pool size in flight at once."""
    in_flight = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.001)
        in_flight -= 1
        return httpx.Response(200, json={"status": "SUCCESS", "data": {"ok": True}})

    client = AsyncHarnessClient(make_config(), transport=httpx.MockTransport(handler))
    call: ApiCall[Any] = ApiCall("GET", "/ng/api/organizations/default")
    results = await asyncio.gather(*(client.send(call) for _ in range(transport.MAX_ASYNC_CONNECTIONS * 3)))
    await client.aclose()
    assert results == [{"ok": True}] * (transport.MAX_ASYNC_CONNECTIONS * 3)
    assert 1 < peak <= transport.MAX_ASYNC_CONNECTIONS
