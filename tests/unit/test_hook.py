"""HarnessHook: connection parsing, env fallback, async config, clients and test_connection.

Connections are fake objects (or ``AIRFLOW_CONN_*`` variables, as Airflow's own provider tests do);
``test_connection`` talks to a tiny HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from airflow_provider_harness.airflow_compat import AIRFLOW_VERSION, AirflowNotFoundException, BaseHook
from airflow_provider_harness.client.config import DEFAULT_BASE_URL, HarnessConfig
from airflow_provider_harness.client.transport import AsyncHarnessClient, HarnessClient
from airflow_provider_harness.hooks import harness as hook_module
from airflow_provider_harness.hooks.harness import (
    KNOWN_EXTRAS,
    HarnessHook,
    base_url_from_connection,
    config_from_connection,
)

KEY = "pat.acc123.tokenid.s3cr3tvalue"
HARNESS_ENV = (
    "HARNESS_ACCOUNT_ID",
    "HARNESS_API_KEY",
    "HARNESS_BASE_URL",
    "HARNESS_ORG_ID",
    "HARNESS_PROJECT_ID",
)


@dataclass
class FakeConnection:
    """What the hook reads from an Airflow connection."""

    conn_id: str = "harness_default"
    conn_type: str = "harness"
    host: str | None = None
    port: int | None = None
    schema: str | None = None
    login: str | None = None
    password: str | None = KEY
    extra_dejson: dict[str, Any] = field(default_factory=lambda: {"account_id": "acc123"})


def parse(**kwargs: Any) -> HarnessConfig:
    return config_from_connection(FakeConnection(**kwargs), "harness_default")


@pytest.fixture(autouse=True)
def no_harness_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in HARNESS_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Connections served to HarnessHook.get_connection / aget_connection; absent ids raise not-found."""
    table: dict[str, Any] = {}

    def lookup(conn_id: str) -> Any:
        if conn_id not in table:
            raise AirflowNotFoundException(f"The conn_id `{conn_id}` isn't defined")
        return table[conn_id]

    async def alookup(conn_id: str) -> Any:
        return lookup(conn_id)

    monkeypatch.setattr(HarnessHook, "get_connection", classmethod(lambda cls, conn_id: lookup(conn_id)))
    if hasattr(BaseHook, "aget_connection"):
        monkeypatch.setattr(
            HarnessHook, "aget_connection", classmethod(lambda cls, conn_id: alookup(conn_id))
        )
    return table


# --------------------------------------------------------------------------------------------------
# connection -> config
# --------------------------------------------------------------------------------------------------


class TestBaseUrl:
    @pytest.mark.parametrize(
        ("host", "port", "schema", "expected"),
        [
            (None, None, None, DEFAULT_BASE_URL),
            ("", None, None, DEFAULT_BASE_URL),
            ("app.harness.io", None, None, "https://app.harness.io"),
            ("https://app.harness.io", None, None, "https://app.harness.io"),
            ("https://app.harness.io/", None, None, "https://app.harness.io"),
            ("harness.example.com/gateway", None, None, "https://harness.example.com/gateway"),
            ("https://harness.example.com/gateway/", None, None, "https://harness.example.com/gateway"),
            ("harness.example.com", 8443, None, "https://harness.example.com:8443"),
            ("https://harness.example.com", 8443, None, "https://harness.example.com:8443"),
            ("harness.example.com/gateway", 8443, None, "https://harness.example.com:8443/gateway"),
            ("http://10.0.0.5:8080", 9999, None, "http://10.0.0.5:8080"),
            ("http://127.0.0.1", 7457, None, "http://127.0.0.1:7457"),
            # URI form: harness://:KEY@harness.example.com:8443/gateway -> schema "gateway"
            ("harness.example.com", 8443, "gateway", "https://harness.example.com:8443/gateway"),
            ("harness.example.com", None, "/gateway/", "https://harness.example.com/gateway"),
            # a leftover schema of another connection type is not a path
            ("harness.example.com", None, "public", "https://harness.example.com"),
            ("harness.example.com/gateway", None, "gateway", "https://harness.example.com/gateway"),
            ("  https://app3.harness.io  ", None, None, "https://app3.harness.io"),
            ("https://app.harness.io/ng/account/acc123/home", None, None, "https://app.harness.io"),
        ],
    )
    def test_host_port_schema(
        self, host: str | None, port: int | None, schema: str | None, expected: str
    ) -> None:
        assert parse(host=host, port=port, schema=schema).base_url == expected

    def test_base_url_helper_none_without_host(self) -> None:
        assert base_url_from_connection(FakeConnection()) is None

    def test_bad_scheme(self) -> None:
        with pytest.raises(ValueError, match=r"^Connection 'harness_default': base_url: 'ftp://h' must be"):
            parse(host="ftp://h")

    def test_bad_port_in_host(self) -> None:
        with pytest.raises(ValueError, match=r"^Connection 'harness_default': host: .* invalid port"):
            parse(host="https://h.example.com:notaport")


class TestExtras:
    def test_all_fields(self) -> None:
        cfg = parse(
            extra_dejson={
                "account_id": "acc123",
                "org_id": "default",
                "project_id": "proj",
                "verify_ssl": True,
                "timeout": 12.5,
                "proxy": "http://proxy:3128",
                "max_retries": 2,
            }
        )
        assert (cfg.account_id, cfg.org_id, cfg.project_id) == ("acc123", "default", "proj")
        assert (cfg.verify, cfg.timeout, cfg.proxy, cfg.max_retries) == (True, 12.5, "http://proxy:3128", 2)
        assert cfg.api_key.reveal() == KEY

    def test_defaults(self) -> None:
        cfg = parse()
        assert (cfg.org_id, cfg.project_id, cfg.verify, cfg.timeout, cfg.proxy, cfg.max_retries) == (
            None,
            None,
            True,
            30.0,
            None,
            5,
        )

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [("30", 30.0), ("2.5", 2.5), (" 7 ", 7.0), (10, 10.0), (1.5, 1.5)],
    )
    def test_timeout_from_form_strings(self, raw: Any, expected: float) -> None:
        assert parse(extra_dejson={"account_id": "a", "timeout": raw}).timeout == expected

    @pytest.mark.parametrize(("raw", "expected"), [("3", 3), (0, 0), ("0", 0), ("2.0", 2), (20, 20)])
    def test_max_retries_from_form_strings(self, raw: Any, expected: int) -> None:
        assert parse(extra_dejson={"account_id": "a", "max_retries": raw}).max_retries == expected

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [("false", False), ("False", False), ("0", False), ("no", False), ("off", False), (False, False),
         ("true", True), ("TRUE", True), ("1", True), ("yes", True), (True, True), (1, True), (0, False)],
    )  # fmt: skip
    def test_verify_ssl_from_form_strings(self, raw: Any, expected: bool) -> None:
        assert parse(extra_dejson={"account_id": "a", "verify_ssl": raw}).verify is expected

    def test_ca_bundle(self) -> None:
        assert (
            parse(extra_dejson={"account_id": "a", "ca_bundle": "/etc/ssl/ca.pem"}).verify
            == "/etc/ssl/ca.pem"
        )
        cfg = parse(extra_dejson={"account_id": "a", "ca_bundle": "/etc/ssl/ca.pem", "verify_ssl": "false"})
        assert cfg.verify is False

    @pytest.mark.parametrize(
        ("extra", "message"),
        [
            ({"timeout": "soon"}, "extra 'timeout': expected a number, got 'soon'"),
            ({"timeout": "-3"}, "extra 'timeout': must not be negative, got '-3'"),
            ({"timeout": "0"}, "timeout: must be a positive number of seconds, got 0.0"),
            ({"timeout": "nan"}, "extra 'timeout': expected a number, got 'nan'"),
            ({"timeout": True}, "extra 'timeout': expected a number, got True"),
            ({"max_retries": "2.5"}, "extra 'max_retries': expected a whole number, got '2.5'"),
            ({"max_retries": "many"}, "extra 'max_retries': expected a whole number, got 'many'"),
            ({"max_retries": 50}, "extra 'max_retries': must be at most 20, got 50"),
            ({"verify_ssl": "maybe"}, "extra 'verify_ssl': expected true or false, got 'maybe'"),
            ({"org_id": "my-org"}, "org_id: 'my-org' is not a valid Harness identifier"),
            ({"project_id": "1proj"}, "project_id: '1proj' is not a valid Harness identifier"),
            ({"proxy": "proxy:3128"}, "proxy: expected a URL"),
        ],
    )
    def test_bad_values_name_connection_and_field(self, extra: dict[str, Any], message: str) -> None:
        with pytest.raises(ValueError) as info:
            parse(extra_dejson={"account_id": "a", **extra})
        text = str(info.value)
        assert text.startswith("Connection 'harness_default'")
        assert message in text
        assert KEY not in text

    def test_unknown_extras_rejected(self) -> None:
        with pytest.raises(ValueError) as info:
            parse(extra_dejson={"account_id": "a", "org": "default", "verify": False})
        assert str(info.value) == (
            f"Connection 'harness_default': unknown extra field(s) ['org', 'verify']; known fields are "
            f"{sorted(KNOWN_EXTRAS)}"
        )

    def test_empty_form_values_mean_default(self) -> None:
        cfg = parse(
            extra_dejson={
                "account_id": "acc123",
                "org_id": "",
                "project_id": None,
                "verify_ssl": None,
                "ca_bundle": "",
                "timeout": "",
                "proxy": None,
                "max_retries": None,
                "something_old": "",
            }
        )
        assert (cfg.org_id, cfg.verify, cfg.timeout, cfg.proxy, cfg.max_retries) == (
            None,
            True,
            30.0,
            None,
            5,
        )

    def test_prefixed_extras_of_older_forms(self) -> None:
        cfg = parse(
            extra_dejson={"extra__harness__account_id": "acc123", "extra__harness__org_id": "default"}
        )
        assert (cfg.account_id, cfg.org_id) == ("acc123", "default")

    def test_string_values_stripped(self) -> None:
        cfg = parse(extra_dejson={"account_id": " acc123 ", "org_id": " default "})
        assert (cfg.account_id, cfg.org_id) == ("acc123", "default")

    def test_extra_not_an_object(self) -> None:
        with pytest.raises(ValueError, match="extra must be a JSON object"):
            parse(extra_dejson=["x"])


class TestRequiredFields:
    def test_missing_key(self) -> None:
        with pytest.raises(ValueError) as info:
            parse(password=None)
        assert str(info.value).startswith("Connection 'harness_default': api_key: a Harness API key")
        assert "password field" in str(info.value)

    def test_missing_account(self) -> None:
        with pytest.raises(ValueError) as info:
            parse(password="plain-api-key", extra_dejson={})
        assert str(info.value).startswith("Connection 'harness_default': account_id: the Harness account id")

    def test_account_from_login(self) -> None:
        assert parse(login="fromlogin", extra_dejson={}).account_id == "fromlogin"

    def test_extra_account_wins_over_login(self) -> None:
        assert parse(login="fromlogin").account_id == "acc123"

    def test_account_from_pat_key(self) -> None:
        assert parse(extra_dejson={}).account_id == "acc123"

    def test_key_stripped(self) -> None:
        assert parse(password=f" {KEY}\n").api_key.reveal() == KEY


class TestRealAirflowConnections:
    """Connections defined as Airflow does (AIRFLOW_CONN_* JSON and URI), parsed by Airflow itself."""

    def test_json_env_connection(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv(
            "AIRFLOW_CONN_HARNESS_JSON",
            json.dumps(
                {
                    "conn_type": "harness",
                    "host": "https://harness.example.com/gateway",
                    "password": KEY,
                    "extra": {
                        "account_id": "acc123",
                        "org_id": "default",
                        "timeout": "15",
                        "verify_ssl": "false",
                    },
                }
            ),
        )
        cfg = HarnessHook("harness_json").config
        assert (cfg.base_url, cfg.account_id, cfg.org_id, cfg.timeout, cfg.verify) == (
            "https://harness.example.com/gateway",
            "acc123",
            "default",
            15.0,
            False,
        )

    def test_uri_env_connection_with_gateway_and_port(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv(
            "AIRFLOW_CONN_HARNESS_URI",
            f"harness://:{KEY}@harness.example.com:8443/gateway?account_id=acc123&project_id=proj&org_id=default",
        )
        cfg = HarnessHook("harness_uri").config
        assert cfg.base_url == "https://harness.example.com:8443/gateway"
        assert (cfg.account_id, cfg.org_id, cfg.project_id) == ("acc123", "default", "proj")
        assert cfg.api_key.reveal() == KEY


# --------------------------------------------------------------------------------------------------
# hook behaviour
# --------------------------------------------------------------------------------------------------


class TestHook:
    def test_class_attributes_for_discovery(self) -> None:
        assert HarnessHook.conn_name_attr == "harness_conn_id"
        assert HarnessHook.default_conn_name == "harness_default"
        assert HarnessHook.conn_type == "harness"
        assert HarnessHook.hook_name == "Harness"

    def test_config_from_connection(self, connections: dict[str, Any]) -> None:
        connections["harness_default"] = FakeConnection(host="harness.example.com/gateway")
        hook = HarnessHook()
        assert hook.config.base_url == "https://harness.example.com/gateway"
        assert hook.config is hook.config  # resolved once

    def test_hook_defaults_override_connection(self, connections: dict[str, Any]) -> None:
        connections["c"] = FakeConnection(
            extra_dejson={"account_id": "acc123", "org_id": "o1", "project_id": "p1"}
        )
        cfg = HarnessHook("c", org_id="o2").config
        assert (cfg.org_id, cfg.project_id) == ("o2", "p1")

    def test_invalid_hook_default(self, connections: dict[str, Any]) -> None:
        connections["harness_default"] = FakeConnection()
        with pytest.raises(ValueError, match=r"^HarnessHook: project_id: 'a b' is not a valid"):
            _ = HarnessHook(project_id="a b").config

    def test_env_fallback_when_connection_missing(
        self, connections: dict[str, Any], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("HARNESS_ACCOUNT_ID", "envacc")
        monkeypatch.setenv("HARNESS_API_KEY", KEY)
        monkeypatch.setenv("HARNESS_BASE_URL", "https://harness.example.com/gateway")
        monkeypatch.setenv("HARNESS_ORG_ID", "default")
        monkeypatch.setenv("HARNESS_PROJECT_ID", "proj")
        cfg = HarnessHook().config
        assert (cfg.account_id, cfg.base_url, cfg.org_id, cfg.project_id) == (
            "envacc",
            "https://harness.example.com/gateway",
            "default",
            "proj",
        )

    def test_connection_wins_over_env(
        self, connections: dict[str, Any], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("HARNESS_ACCOUNT_ID", "envacc")
        monkeypatch.setenv("HARNESS_API_KEY", "pat.envacc.t.s")
        connections["harness_default"] = FakeConnection()
        assert HarnessHook().config.account_id == "acc123"

    def test_env_fallback_incomplete(
        self, connections: dict[str, Any], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("HARNESS_ACCOUNT_ID", "envacc")
        with pytest.raises(ValueError) as info:
            _ = HarnessHook("nope").config
        assert str(info.value).startswith(
            "No Airflow connection 'nope' and the HARNESS_* environment fallback is incomplete: api_key: "
        )

    def test_env_fallback_masks_key(
        self, connections: dict[str, Any], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        masked: list[Any] = []
        monkeypatch.setattr(hook_module, "mask_secret", lambda value, name=None: masked.append(value))
        monkeypatch.setenv("HARNESS_API_KEY", KEY)
        _ = HarnessHook().config
        assert KEY in masked

    def test_connection_key_and_proxy_password_masked(
        self, connections: dict[str, Any], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        masked: list[Any] = []
        monkeypatch.setattr(hook_module, "mask_secret", lambda value, name=None: masked.append(value))
        connections["harness_default"] = FakeConnection(
            extra_dejson={"account_id": "acc123", "proxy": "http://user:proxypass99@proxy:3128"}
        )
        _ = HarnessHook().config
        assert KEY in masked and "proxypass99" in masked

    def test_clients(self, connections: dict[str, Any]) -> None:
        connections["harness_default"] = FakeConnection()
        hook = HarnessHook()
        client = hook.get_client()
        assert isinstance(client, HarnessClient)
        assert client is hook.get_client() is hook.get_conn()
        assert client.config is hook.config
        assert client.retry.max_retries == 5
        client.close()

    def test_retry_budget_from_connection(self, connections: dict[str, Any]) -> None:
        connections["harness_default"] = FakeConnection(
            extra_dejson={"account_id": "acc123", "max_retries": "2"}
        )
        assert HarnessHook().get_client().retry.max_retries == 2

    def test_repr(self) -> None:
        assert repr(HarnessHook("my_conn")) == "HarnessHook(harness_conn_id='my_conn')"

    def test_no_connection_lookup_in_constructor(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def fail(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("get_connection called in __init__")

        monkeypatch.setattr(HarnessHook, "get_connection", classmethod(fail))
        HarnessHook("anything", org_id="o", project_id="p")


class TestAsyncConfig:
    async def test_aget_config_in_running_loop(self, connections: dict[str, Any]) -> None:
        connections["harness_default"] = FakeConnection(host="harness.example.com")
        hook = HarnessHook()
        cfg = await hook.aget_config()
        assert cfg.base_url == "https://harness.example.com"
        assert await hook.aget_config() is cfg
        assert hook.config is cfg

    async def test_aget_config_env_fallback(
        self, connections: dict[str, Any], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("HARNESS_API_KEY", KEY)
        assert (await HarnessHook().aget_config()).account_id == "acc123"

    async def test_aget_client_shares_pool(self, connections: dict[str, Any]) -> None:
        connections["harness_default"] = FakeConnection()
        connections["other"] = FakeConnection(extra_dejson={"account_id": "acc123", "org_id": "default"})
        first = await HarnessHook().aget_client()
        second = await HarnessHook("other").aget_client()
        assert isinstance(first, AsyncHarnessClient)
        assert first.http is second.http
        from airflow_provider_harness.client.transport import close_shared_async_clients

        await close_shared_async_clients()

    async def test_uses_aget_connection_when_available(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """On 3.1+ the async lookup is used; on 3.0 the sync one runs off the event loop thread."""
        calls: list[str] = []
        loop_thread = threading.get_ident()

        def sync_lookup(cls: Any, conn_id: str) -> Any:
            calls.append("sync-on-loop" if threading.get_ident() == loop_thread else "sync-in-thread")
            return FakeConnection()

        async def async_lookup(cls: Any, conn_id: str) -> Any:
            calls.append("async")
            return FakeConnection()

        monkeypatch.setattr(HarnessHook, "get_connection", classmethod(sync_lookup))
        if AIRFLOW_VERSION >= (3, 1, 0):
            monkeypatch.setattr(HarnessHook, "aget_connection", classmethod(async_lookup))
            await HarnessHook().aget_config()
            assert calls == ["async"]
        else:
            assert not hasattr(HarnessHook, "aget_connection")
            await HarnessHook().aget_config()
            assert calls == ["sync-in-thread"]

    async def test_hooks_looking_up_together_share_one_lookup_and_later_ones_look_again(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A triggerer starting a thousand triggers pays one connection round trip, not a thousand."""
        lookups: list[str] = []
        answers = [FakeConnection(host="first.example.com"), FakeConnection(host="second.example.com")]

        def lookup(cls: Any, conn_id: str) -> Any:
            lookups.append(conn_id)
            if len(lookups) == 2:
                raise ValueError("the secrets backend is down")
            return answers[0] if len(lookups) == 1 else answers[1]

        async def async_lookup(cls: Any, conn_id: str) -> Any:
            await asyncio.sleep(0)
            return lookup(cls, conn_id)

        monkeypatch.setattr(HarnessHook, "get_connection", classmethod(lookup))
        monkeypatch.setattr(HarnessHook, "aget_connection", classmethod(async_lookup), raising=False)
        hooks = [HarnessHook(org_id="o", project_id=f"p{i}") for i in range(50)]
        configs = await asyncio.gather(*(hook.aget_config() for hook in hooks))
        assert lookups == ["harness_default"]
        assert {c.base_url for c in configs} == {"https://first.example.com"}
        assert [c.project_id for c in configs] == [f"p{i}" for i in range(50)]  # each hook's own scope

        failed = await asyncio.gather(
            *(HarnessHook().aget_config() for _ in range(3)), return_exceptions=True
        )
        assert len(lookups) == 2 and all(isinstance(r, ValueError) for r in failed)
        assert (await HarnessHook().aget_config()).base_url == "https://second.example.com"
        assert len(lookups) == 3  # a finished lookup is not reused: a changed connection is seen

    async def test_real_airflow_lookup_in_loop(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv(
            "AIRFLOW_CONN_HARNESS_ASYNC",
            json.dumps({"conn_type": "harness", "password": KEY, "extra": {"org_id": "default"}}),
        )
        cfg = await HarnessHook("harness_async").aget_config()
        assert (cfg.account_id, cfg.org_id) == ("acc123", "default")


class TestUiMethods:
    def test_ui_field_behaviour(self) -> None:
        behaviour = HarnessHook.get_ui_field_behaviour()
        assert set(behaviour) == {"hidden_fields", "relabeling", "placeholders"}
        assert behaviour["relabeling"]["password"] == "API key"


# --------------------------------------------------------------------------------------------------
# test_connection against a local HTTP server
# --------------------------------------------------------------------------------------------------

Route = Callable[[str, str, dict[str, list[str]], dict[str, str]], tuple[int, str, dict[str, str]]]


class StubHarness:
    """A tiny Harness on 127.0.0.1 answering with ``route(method, path, query, headers)``."""

    def __init__(self, route: Route) -> None:
        stub = self
        self.route = route
        self.requests: list[tuple[str, str, dict[str, list[str]], dict[str, str]]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                headers = {k.lower(): v for k, v in self.headers.items()}
                if not headers.get("user-agent", "").startswith("airflow-provider-harness/"):
                    # Not ours: e.g. another test session's health poller that still knows this port.
                    self.send_error(404)
                    return
                stub.requests.append(("GET", parts.path, query, headers))
                status, body, extra = stub.route("GET", parts.path, query, headers)
                data = body.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in extra.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out first (on purpose, in the slow-server test)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def harness_route(
    method: str, path: str, query: dict[str, list[str]], headers: dict[str, str]
) -> tuple[int, str, dict[str, str]]:
    json_type = {"Content-Type": "application/json"}
    if headers.get("x-api-key") != KEY:
        body = {
            "status": "ERROR",
            "code": "INVALID_TOKEN",
            "message": "Token is not valid.",
            "correlationId": "c401",
        }
        return 401, json.dumps(body), json_type
    if query.get("accountIdentifier") != ["acc123"]:
        return (
            400,
            json.dumps({"status": "ERROR", "code": "INVALID_REQUEST", "message": "bad account"}),
            json_type,
        )
    if path == "/gateway/ng/api/organizations":
        data = {"content": [{"organization": {"identifier": "default"}}], "totalPages": 1}
        return 200, json.dumps({"status": "SUCCESS", "data": data, "correlationId": "c"}), json_type
    if path == "/gateway/ng/api/organizations/default":
        data = {"organization": {"identifier": "default", "name": "Default"}}
        return 200, json.dumps({"status": "SUCCESS", "data": data, "correlationId": "c"}), json_type
    if path.startswith("/gateway/ng/api/organizations/"):
        org = path.rsplit("/", 1)[1]
        body = {
            "status": "FAILURE",
            "code": "RESOURCE_NOT_FOUND_EXCEPTION",
            "message": f"Organization with identifier [{org}] not found",
            "correlationId": "c400",
            "errors": None,
        }
        return 400, json.dumps(body), json_type
    if path == "/gateway/ng/api/projects/proj" and query.get("orgIdentifier") == ["default"]:
        data = {"project": {"identifier": "proj", "orgIdentifier": "default"}}
        return 200, json.dumps({"status": "SUCCESS", "data": data, "correlationId": "c"}), json_type
    if path.startswith("/gateway/ng/api/projects/"):
        body = {
            "status": "ERROR",
            "code": "ENTITY_NOT_FOUND",
            "message": "Project with orgIdentifier [default] and identifier [x] not found",
            "correlationId": "c404",
        }
        return 404, json.dumps(body), json_type
    return 404, "<html><head><title>404 Not Found</title></head></html>", {"Content-Type": "text/html"}


@pytest.fixture
def stub() -> Iterator[StubHarness]:
    server = StubHarness(harness_route)
    yield server
    server.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TestTestConnection:
    def hook(self, connections: dict[str, Any], **conn: Any) -> HarnessHook:
        connections["harness_default"] = FakeConnection(**conn)
        return HarnessHook()

    def test_account_level_success(self, connections: dict[str, Any], stub: StubHarness) -> None:
        ok, message = self.hook(connections, host=f"{stub.url}/gateway").test_connection()
        assert ok, message
        assert message == (
            f"Connected to Harness at {stub.url}/gateway, account acc123: the account's "
            "organizations are readable"
        )
        method, path, query, _ = stub.requests[0]
        assert (method, path, query["pageSize"]) == ("GET", "/gateway/ng/api/organizations", ["1"])

    def test_org_success(self, connections: dict[str, Any], stub: StubHarness) -> None:
        hook = self.hook(
            connections,
            host=f"{stub.url}/gateway",
            extra_dejson={"account_id": "acc123", "org_id": "default"},
        )
        assert hook.test_connection() == (
            True,
            f"Connected to Harness at {stub.url}/gateway, account acc123: organization default is reachable",
        )

    def test_project_success(self, connections: dict[str, Any], stub: StubHarness) -> None:
        extra = {"account_id": "acc123", "org_id": "default", "project_id": "proj"}
        ok, message = self.hook(connections, host=f"{stub.url}/gateway", extra_dejson=extra).test_connection()
        assert ok and message.endswith("project default/proj is reachable")

    def test_bad_key_one_line(self, connections: dict[str, Any], stub: StubHarness) -> None:
        hook = self.hook(connections, host=f"{stub.url}/gateway", password="pat.acc123.tokenid.wrong")
        assert hook.test_connection() == (
            False,
            "Harness rejected the API key: Token is not valid (INVALID_TOKEN, HTTP 401, GET "
            "/ng/api/organizations, "
            "correlationId=c401). Check the API key (connection password or HARNESS_API_KEY) and "
            "that it is a "
            "valid, unexpired key of account 'acc123'",
        )
        assert len(stub.requests) == 1

    def test_unknown_org_one_line(self, connections: dict[str, Any], stub: StubHarness) -> None:
        hook = self.hook(
            connections, host=f"{stub.url}/gateway", extra_dejson={"account_id": "acc123", "org_id": "nope"}
        )
        assert hook.test_connection() == (
            False,
            "Organization with identifier [nope] not found (RESOURCE_NOT_FOUND_EXCEPTION, HTTP 400, "
            "GET /ng/api/organizations/nope, correlationId=c400). The connection's default "
            "organization 'nope' "
            "does not exist in account 'acc123' or the API key cannot see it; fix the connection "
            "extra 'org_id' "
            "(or HARNESS_ORG_ID)",
        )

    def test_unknown_project(self, connections: dict[str, Any], stub: StubHarness) -> None:
        extra = {"account_id": "acc123", "org_id": "default", "project_id": "x"}
        ok, message = self.hook(connections, host=f"{stub.url}/gateway", extra_dejson=extra).test_connection()
        assert not ok
        assert message.startswith(
            "Project with orgIdentifier [default] and identifier [x] not found (ENTITY_NOT_FOUND"
        )
        assert "fix the connection extra 'org_id'/'project_id'" in message

    def test_missing_gateway_prefix_is_explained(
        self, connections: dict[str, Any], stub: StubHarness
    ) -> None:
        ok, message = self.hook(connections, host=stub.url).test_connection()
        assert not ok
        assert message.startswith("No such Harness endpoint (HTML page '404 Not Found') (HTTP 404")
        assert "/gateway for a self-managed Harness" in message

    def test_config_error(self, connections: dict[str, Any]) -> None:
        ok, message = self.hook(
            connections, extra_dejson={"account_id": "acc123", "timeout": "x"}
        ).test_connection()
        assert (ok, message) == (
            False,
            "Connection 'harness_default' extra 'timeout': expected a number, got 'x'",
        )

    def test_unreachable_host_is_fast(self, connections: dict[str, Any]) -> None:
        hook = self.hook(connections, host=f"http://127.0.0.1:{free_port()}")
        start = time.monotonic()
        ok, message = hook.test_connection()
        elapsed = time.monotonic() - start
        assert not ok
        assert message.startswith("Could not reach Harness at http://127.0.0.1:")
        assert "(GET /ng/api/organizations, after 2 attempts)" in message
        assert elapsed < 5, f"test_connection took {elapsed:.1f}s"

    def test_slow_server_uses_short_timeout(
        self, connections: dict[str, Any], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(hook_module, "TEST_CONNECTION_TIMEOUT", 0.3)

        def slow(method: str, path: str, query: Any, headers: Any) -> tuple[int, str, dict[str, str]]:
            time.sleep(1.0)
            return 200, "{}", {}

        server = StubHarness(slow)
        try:
            hook = self.hook(
                connections, host=server.url, extra_dejson={"account_id": "acc123", "timeout": 60}
            )
            start = time.monotonic()
            ok, message = hook.test_connection()
            assert not ok
            assert "did not answer within 0.3s (ReadTimeout)" in message
            assert time.monotonic() - start < 4
        finally:
            server.close()

    def test_uses_at_most_one_retry(self, connections: dict[str, Any]) -> None:
        def always_503(method: str, path: str, query: Any, headers: Any) -> tuple[int, str, dict[str, str]]:
            return 503, "", {}

        server = StubHarness(always_503)
        try:
            ok, message = self.hook(connections, host=server.url).test_connection()
            assert not ok
            assert len(server.requests) == 2
            assert message.startswith(
                "Harness or a proxy in front of it answered with an empty body (HTTP 503"
            )
        finally:
            server.close()

    def test_env_fallback_connection_test(
        self, connections: dict[str, Any], stub: StubHarness, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("HARNESS_API_KEY", KEY)
        monkeypatch.setenv("HARNESS_BASE_URL", f"{stub.url}/gateway")
        ok, message = HarnessHook().test_connection()
        assert ok, message


def test_event_loop_not_blocked_by_aget_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """On Airflow 3.0 the sync lookup runs in a worker thread, never on the loop."""

    async def main() -> None:
        monkeypatch.setenv("HARNESS_API_KEY", KEY)
        monkeypatch.setattr(
            HarnessHook,
            "get_connection",
            classmethod(lambda cls, conn_id: (_ for _ in ()).throw(AirflowNotFoundException(conn_id))),
        )
        if hasattr(BaseHook, "aget_connection"):

            async def missing(cls: Any, conn_id: str) -> Any:
                raise AirflowNotFoundException(conn_id)

            monkeypatch.setattr(HarnessHook, "aget_connection", classmethod(missing))
        assert (await HarnessHook().aget_config()).account_id == "acc123"

    asyncio.run(main())


class TestCliConsole:
    """`airflow connections test` prints the message through rich markup; Harness messages have [x]."""

    def test_escaped_for_the_cli(self, monkeypatch: pytest.MonkeyPatch) -> None:
        rich_markup = pytest.importorskip("rich.markup")
        monkeypatch.setattr(hook_module.sys, "argv", ["airflow", "connections", "test", "harness_default"])
        message = "Organization with identifier [nope] not found [/x] [#y]"
        escaped = hook_module._for_cli_console(message)
        assert rich_markup.render(escaped).plain == message

    def test_verbatim_elsewhere(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(hook_module.sys, "argv", ["airflow", "api-server"])
        assert hook_module._for_cli_console("identifier [nope]") == "identifier [nope]"
