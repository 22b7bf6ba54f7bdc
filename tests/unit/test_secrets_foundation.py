"""The API key never shows: reprs, error text, pickles, logs of failing calls, env-fallback masking.

(Foundation scope: config, clients, hook, errors, transport logs. Operators, triggers and XCom are
checked by their own tests.)
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import logging
import pickle
import traceback
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from airflow_provider_harness.airflow_compat import AirflowNotFoundException
from airflow_provider_harness.client.call import ApiCall
from airflow_provider_harness.client.config import HarnessConfig, Secret
from airflow_provider_harness.client.errors import HarnessError
from airflow_provider_harness.client.transport import AsyncHarnessClient, HarnessClient, RetryPolicy
from airflow_provider_harness.hooks.harness import HarnessHook

KEY = "pat.acc123.tokenid.Zq9SuperSecretValue"
SECRET_PART = "Zq9SuperSecretValue"
PROXY_PASSWORD = "Pr0xyPassw0rd"
NO_WAIT = RetryPolicy(2, 0, 0)


def assert_clean(text: str) -> None:
    assert SECRET_PART not in text, text
    assert PROXY_PASSWORD not in text, text


def config(**kwargs: Any) -> HarnessConfig:
    return HarnessConfig(account_id="acc123", api_key=Secret(KEY), **kwargs)


def client_for(handler: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> HarnessClient:
    return HarnessClient(config(**kwargs), NO_WAIT, transport=httpx.MockTransport(handler))


def secrets_masker() -> Any:
    try:
        from airflow.sdk.log import _secrets_masker  # Airflow 3.1+
    except ImportError:  # Airflow 3.0
        from airflow.sdk.execution_time.secrets_masker import _secrets_masker
    return _secrets_masker()


class TestReprs:
    def test_config(self) -> None:
        cfg = config(proxy=f"http://user:{PROXY_PASSWORD}@proxy:3128", org_id="default")
        for text in (repr(cfg), str(cfg), f"{cfg}", f"{cfg!r}"):
            assert_clean(text)
        # field by field, the key stays a Secret (the proxy URL is a plain field, masked in logs instead)
        for text in (repr(vars(cfg)), repr(dataclasses.asdict(cfg))):
            assert SECRET_PART not in text
        assert dataclasses.asdict(cfg)["api_key"].reveal() == KEY  # only reveal() shows it

    def test_clients(self) -> None:
        assert_clean(repr(HarnessClient(config())))
        assert_clean(repr(AsyncHarnessClient(config())))
        assert_clean(repr(vars(HarnessClient(config()))))

    def test_hook(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("HARNESS_API_KEY", KEY)
        monkeypatch.setattr(
            HarnessHook,
            "get_connection",
            classmethod(lambda cls, c: (_ for _ in ()).throw(AirflowNotFoundException(c))),
        )
        hook = HarnessHook()
        _ = hook.config
        hook.get_client()
        assert_clean(repr(hook))
        assert_clean(repr(vars(hook)))

    def test_call_with_token_secret(self) -> None:
        call = ApiCall("POST", "/gateway/pipeline/api/webhook/custom/tok/v3", secrets=("tok",))
        assert KEY not in repr(call)


class TestPickling:
    def test_secret_and_config_refuse(self) -> None:
        for value in (Secret(KEY), config(), HarnessClient(config()), {"cfg": config()}):
            with pytest.raises(TypeError, match="cannot be pickled"):
                pickle.dumps(value)

    def test_hook_with_resolved_config_refuses(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("HARNESS_API_KEY", KEY)
        monkeypatch.setattr(
            HarnessHook,
            "get_connection",
            classmethod(lambda cls, c: (_ for _ in ()).throw(AirflowNotFoundException(c))),
        )
        hook = HarnessHook()
        _ = hook.config
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(hook)

    def test_deepcopy_allowed_and_shares_the_secret(self) -> None:
        cfg = config()
        clone = copy.deepcopy(cfg)
        assert clone == cfg and clone.api_key is cfg.api_key

    def test_errors_pickle_without_the_key(self) -> None:
        def handler(request: httpx.Request) -> httpx.Response:
            return httpx.Response(
                401, json={"code": "INVALID_TOKEN", "message": f"Token {KEY} is not valid."}
            )

        with pytest.raises(HarnessError) as info:
            client_for(handler).send(ApiCall("GET", "/ng/api/organizations"))
        assert_clean(pickle.dumps(info.value).decode("latin-1"))


ECHOING_FAILURES: list[tuple[str, Callable[[httpx.Request], httpx.Response]]] = [
    ("401-echo", lambda r: httpx.Response(401, json={"code": "INVALID_TOKEN", "message": f"bad key {KEY}"})),
    ("403-echo", lambda r: httpx.Response(403, json={"code": "NG_ACCESS_DENIED", "message": f"user {KEY}"})),
    ("400-echo-header", lambda r: httpx.Response(400, text=f"x-api-key: {r.headers['x-api-key']}")),
    ("502-html-echo", lambda r: httpx.Response(502, text=f"<html><title>{KEY}</title></html>")),
    ("200-html-echo", lambda r: httpx.Response(200, text=f"<html><title>{KEY}</title></html>")),
    ("302-location-echo", lambda r: httpx.Response(302, headers={"Location": f"https://x/?k={KEY}"})),
    ("envelope-echo", lambda r: httpx.Response(200, json={"status": "ERROR", "message": f"key {KEY}"})),
]


def _raise(exc: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


TRANSPORT_FAILURES = [
    ("local-protocol-echo", _raise(httpx.LocalProtocolError(f"Illegal header value b'{KEY}'"))),
    ("connect-echo", _raise(httpx.ConnectError(f"proxy http://u:{PROXY_PASSWORD}@proxy refused"))),
    ("read-timeout", _raise(httpx.ReadTimeout("timed out"))),
]


@pytest.mark.parametrize(
    ("name", "handler"), ECHOING_FAILURES + TRANSPORT_FAILURES, ids=lambda v: v if isinstance(v, str) else ""
)
def test_error_text_never_contains_secrets(
    name: str, handler: Callable[[httpx.Request], httpx.Response]
) -> None:
    client = client_for(handler, proxy=f"http://u:{PROXY_PASSWORD}@proxy:3128")
    with pytest.raises(HarnessError) as info:
        client.send(ApiCall("GET", "/ng/api/organizations"))
    error = info.value
    assert_clean(str(error))
    assert_clean(repr(error))
    assert_clean(repr(vars(error)))
    assert_clean("".join(traceback.format_exception(error)))


async def test_async_error_text_never_contains_secrets() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"code": "INVALID_TOKEN", "message": f"bad {KEY}"})

    client = AsyncHarnessClient(config(), NO_WAIT, transport=httpx.MockTransport(handler))
    with pytest.raises(HarnessError) as info:
        await client.send(ApiCall("GET", "/ng/api/organizations"))
    assert_clean(str(info.value))


def test_key_travels_only_in_the_header() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "SUCCESS", "data": None})

    client_for(handler).send(ApiCall("POST", "/x", json={"a": 1}, params={"b": 2}))
    request = seen[0]
    assert request.headers["x-api-key"] == KEY
    assert SECRET_PART not in str(request.url)
    assert SECRET_PART not in request.content.decode()


class TestLogs:
    def test_log_output_of_failing_calls(self, caplog: pytest.LogCaptureFixture) -> None:
        """Everything logged (httpx, httpcore, ours at DEBUG) while calls fail, plus the task-style
        exception log, is free of the key."""
        caplog.set_level(logging.DEBUG)
        log = logging.getLogger("airflow.task")
        for _, handler in ECHOING_FAILURES + TRANSPORT_FAILURES:
            try:
                client = client_for(handler, proxy=f"http://u:{PROXY_PASSWORD}@proxy:3128")
                client.send(ApiCall("GET", "/ng/api/organizations"))
            except HarnessError:
                log.exception("Harness call failed")
        assert "Harness call failed" in caplog.text
        assert_clean(caplog.text)
        for record in caplog.records:
            assert_clean(record.getMessage())

    def test_url_tokens_redacted_from_httpx_log(self, caplog: pytest.LogCaptureFixture) -> None:
        """httpx logs every request URL at INFO; a webhook token in the path must not reach the log."""
        caplog.set_level(logging.INFO, logger="httpx")
        token = "WebhookTok3nValue"

        def handler(request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, json={"status": "SUCCESS", "data": {"eventCorrelationId": "e1"}})

        transport = httpx.MockTransport(handler)
        client = HarnessClient(config(), NO_WAIT, transport=transport)
        client.send(
            ApiCall(
                "POST", f"/gateway/pipeline/api/webhook/custom/{token}/v3", account="none", secrets=(token,)
            )
        )
        assert "HTTP Request: POST" in caplog.text
        assert token not in caplog.text
        assert "/webhook/custom/***/v3" in caplog.text

    async def test_async_failing_call_logs(self, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.DEBUG)

        def handler(request: httpx.Request) -> httpx.Response:
            return httpx.Response(502, text=f"<html><title>{KEY}</title></html>")

        client = AsyncHarnessClient(config(), NO_WAIT, transport=httpx.MockTransport(handler))
        try:
            await client.send(ApiCall("GET", "/x"))
        except HarnessError:
            logging.getLogger("airflow.triggerer").exception("trigger failed")
        await asyncio.sleep(0)
        assert "trigger failed" in caplog.text
        assert_clean(caplog.text)


class TestMasking:
    def test_env_fallback_registers_key_with_airflow_masker(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("HARNESS_API_KEY", KEY)
        monkeypatch.setattr(
            HarnessHook,
            "get_connection",
            classmethod(lambda cls, c: (_ for _ in ()).throw(AirflowNotFoundException(c))),
        )
        _ = HarnessHook().config
        assert_clean(str(secrets_masker().redact(f"the key is {KEY}")))

    def test_connection_proxy_password_masked(self, monkeypatch: pytest.MonkeyPatch) -> None:
        conn_json = json.dumps(
            {
                "conn_type": "harness",
                "password": KEY,
                "extra": {"proxy": f"http://user:{PROXY_PASSWORD}@proxy:3128"},
            }
        )
        monkeypatch.setenv("AIRFLOW_CONN_HARNESS_MASKED", conn_json)
        _ = HarnessHook("harness_masked").config
        masker = secrets_masker()
        assert_clean(str(masker.redact(f"proxy password {PROXY_PASSWORD} and key {KEY}")))

    def test_config_errors_do_not_echo_the_key(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for bad in (f"{KEY} trailing words", f"{KEY}\nnext", f"pat.é.{SECRET_PART}"):
            with pytest.raises(ValueError) as info:
                HarnessConfig(account_id="a", api_key=Secret(bad))
            assert_clean(str(info.value))
