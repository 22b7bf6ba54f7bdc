"""The receiver app without a DB: authentication, limits, answers, and secrets kept out of logs/answers.

The store is a fake that records what it was asked to store; the DB side is in
tests/integration/test_receiver_db.py.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient
from test_notifications_payload import PIPELINE_FAILED, STAGE_SUCCESS

from airflow_provider_harness.client.notifications import HarnessNotification
from airflow_provider_harness.plugins import receiver as receiver_module
from airflow_provider_harness.plugins.asset_events import RecordResult
from airflow_provider_harness.plugins.receiver import (
    DEFAULT_MAX_BODY_BYTES,
    TOKEN_HEADER,
    ReceiverNotConfigured,
    ReceiverSettings,
    create_app,
    token_matches,
)

TOKEN = "unit-test-token-9f8e7d6c5b4a"
OLD_TOKEN = "unit-test-old-token-0a1b2c3d"
URL = "/v1/notifications"
NOW = 1724142400.0  # a little after PIPELINE_FAILED happened


class FakeStore:
    def __init__(self, result: RecordResult | None = None, error: Exception | None = None) -> None:
        self.calls: list[tuple[HarnessNotification, float]] = []
        self.result = result or RecordResult(
            created=[{"name": "harness://a", "uri": "harness://a", "eventId": 1}]
        )
        self.error = error

    def __call__(self, notification: HarnessNotification, now: float) -> RecordResult:
        self.calls.append((notification, now))
        if self.error is not None:
            raise self.error
        return self.result


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


def make_client(
    store: FakeStore, settings: ReceiverSettings | Exception | None = None, now: float = NOW
) -> TestClient:
    def load() -> ReceiverSettings:
        if isinstance(settings, Exception):
            raise settings
        return settings or ReceiverSettings(tokens=(TOKEN,))

    return TestClient(create_app(settings=load, store=store, clock=lambda: now))


@pytest.fixture
def client(store: FakeStore) -> Iterator[TestClient]:
    with make_client(store) as test_client:
        yield test_client


def post(
    client: TestClient, document: Any = PIPELINE_FAILED, token: str | None = TOKEN, **kwargs: Any
) -> Any:
    headers = dict(kwargs.pop("headers", {}))
    if token is not None:
        headers[TOKEN_HEADER] = token
    if "content" not in kwargs:
        kwargs["content"] = json.dumps(document).encode()
        headers.setdefault("Content-Type", "application/json")
    return client.post(URL, headers=headers, **kwargs)


# --------------------------------------------------------------------------------------------------
# token check
# --------------------------------------------------------------------------------------------------


def test_token_matches_uses_hmac_compare_digest_on_every_token(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(receiver_module.hmac, "compare_digest", spy)
    assert token_matches(TOKEN, (TOKEN, OLD_TOKEN)) is True
    assert len(calls) == 2, "no early exit: every accepted token is compared"
    assert all(len(a) == len(b) == 32 for a, b in calls), "hashed first: equal lengths whatever the input"
    assert TOKEN.encode() not in {a for a, _ in calls} | {b for _, b in calls}
    calls.clear()
    assert token_matches("wrong", (TOKEN, OLD_TOKEN)) is False
    assert len(calls) == 2
    assert token_matches(OLD_TOKEN, (TOKEN, OLD_TOKEN)) is True
    assert token_matches("", (TOKEN,)) is False
    assert token_matches(TOKEN, ()) is False


def test_receiver_checks_the_header_with_compare_digest(
    monkeypatch: pytest.MonkeyPatch, store: FakeStore
) -> None:
    used: list[int] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        used.append(1)
        return real(a, b)

    monkeypatch.setattr(receiver_module.hmac, "compare_digest", spy)
    with make_client(store) as client:
        assert post(client).status_code == 201
    assert used


# --------------------------------------------------------------------------------------------------
# answers
# --------------------------------------------------------------------------------------------------


def test_accepted_is_201_with_the_assets_and_the_key(client: TestClient, store: FakeStore) -> None:
    response = post(client)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "accepted" and body["eventType"] == "PipelineFailed"
    assert body["assets"] == [{"name": "harness://a", "uri": "harness://a", "eventId": 1}]
    ((notification, now),) = store.calls
    assert body["dedupeKey"] == notification.dedupe_key
    assert notification.plan_execution_id == "puqa4ivwRzGDUrYJdrcPbg" and now == NOW


def test_duplicate_is_200_and_ignored_is_202(store: FakeStore) -> None:
    store.result = RecordResult(duplicates=[{"name": "n", "uri": "harness://acc/default/p/d"}])
    with make_client(store) as client:
        response = post(client)
    assert (response.status_code, response.json()["status"]) == (200, "duplicate")
    store.result = RecordResult()
    with make_client(store) as client:
        response = post(client)
    assert (response.status_code, response.json()["status"]) == (202, "ignored")
    assert (
        "no DAG uses harness://px7xd_BFRCi-pfWPYXVjvw/default/payments/deploy_service or "
        in (response.json()["detail"])
    )


def test_health_needs_no_token_and_says_nothing(client: TestClient) -> None:
    response = client.get("/v1/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_no_openapi_or_docs_are_served(client: TestClient) -> None:
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert client.get(path).status_code == 404


def test_other_methods_are_405(client: TestClient) -> None:
    assert client.get(URL).status_code == 405
    assert client.put(URL, headers={TOKEN_HEADER: TOKEN}, content=b"{}").status_code == 405


BAD_REQUESTS = [
    # (id, kwargs for post(), status, error code)
    ("no-token", {"token": None}, 401, "unauthenticated"),
    ("empty-token", {"token": ""}, 401, "unauthenticated"),
    ("wrong-token", {"token": "unit-test-token-9f8e7d6c5b4b"}, 403, "forbidden"),
    ("token-in-query", {"token": None, "params": {"token": TOKEN}}, 401, "unauthenticated"),
    ("bearer", {"token": None, "headers": {"Authorization": f"Bearer {TOKEN}"}}, 401, "unauthenticated"),
    ("not-json", {"content": b"eventType=PipelineSuccess"}, 400, "malformed"),
    ("empty-body", {"content": b""}, 400, "malformed"),
    ("no-eventData", {"document": {"event": "x"}}, 400, "malformed"),
    ("unknown-event", {"document": {"eventData": {**STAGE_SUCCESS["eventData"], "eventType": "Done"}}}, 422,
     "unknown_event_type"),
    ("missing-field", {"document": {"eventData": {"eventType": "PipelineStart"}}}, 422, "invalid_event"),
    ("oversized", {"content": b" " * (DEFAULT_MAX_BODY_BYTES + 1)}, 413, "payload_too_large"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "status", "code"), [b[1:] for b in BAD_REQUESTS], ids=[b[0] for b in BAD_REQUESTS]
)
def test_bad_requests_are_refused_and_nothing_is_stored(
    client: TestClient, store: FakeStore, kwargs: dict[str, Any], status: int, code: str
) -> None:
    kwargs = dict(kwargs)
    document = kwargs.pop("document", PIPELINE_FAILED)
    response = post(client, document, **kwargs)
    assert response.status_code == status, response.text
    assert response.json()["error"] == code
    assert response.json()["detail"]
    assert store.calls == []


def test_unauthenticated_requests_are_refused_before_the_body_is_read(
    client: TestClient, store: FakeStore
) -> None:
    """A caller without the token gets 401/403, not 413/400: the body is never read for them."""
    huge = b"x" * (DEFAULT_MAX_BODY_BYTES * 4)
    assert post(client, token=None, content=huge).status_code == 401
    assert post(client, token="nope", content=huge).status_code == 403


def test_oversized_chunked_body_is_cut_at_the_limit(store: FakeStore) -> None:
    settings = ReceiverSettings(tokens=(TOKEN,), max_body_bytes=1024)
    sent: list[int] = []

    def chunks() -> Iterator[bytes]:
        for _ in range(1000):
            sent.append(1)
            yield b" " * 512

    with make_client(store, settings) as client:
        response = post(client, content=chunks())  # no Content-Length: chunked
    assert response.status_code == 413 and response.json()["error"] == "payload_too_large"
    assert store.calls == []


def test_a_body_exactly_at_the_limit_is_read(store: FakeStore) -> None:
    raw = json.dumps(PIPELINE_FAILED).encode()
    settings = ReceiverSettings(tokens=(TOKEN,), max_body_bytes=len(raw))
    with make_client(store, settings) as client:
        assert post(client, content=raw).status_code == 201
    settings = ReceiverSettings(tokens=(TOKEN,), max_body_bytes=len(raw) - 1)
    with make_client(store, settings) as client:
        assert post(client, content=raw).status_code == 413


def test_previous_token_is_accepted_during_a_rotation(store: FakeStore) -> None:
    settings = ReceiverSettings(tokens=(TOKEN, OLD_TOKEN))
    with make_client(store, settings) as client:
        assert post(client, token=OLD_TOKEN).status_code == 201
        assert post(client, token=TOKEN).status_code == 201


def test_accounts_allow_list(store: FakeStore) -> None:
    settings = ReceiverSettings(tokens=(TOKEN,), accounts=frozenset({"someone_else"}))
    with make_client(store, settings) as client:
        response = post(client)
    assert response.status_code == 403 and response.json()["error"] == "forbidden"
    assert "px7xd_BFRCi-pfWPYXVjvw" in response.json()["detail"]
    assert store.calls == []


def test_stale_events_are_422_and_recent_or_future_ones_accepted(store: FakeStore) -> None:
    week = 7 * 24 * 3600
    with make_client(store, now=1724142318 + week + 1) as client:
        response = post(client)
    assert (response.status_code, response.json()["error"]) == (422, "stale_event")
    assert store.calls == []
    with make_client(store, now=1724142318 + week - 1) as client:
        assert post(client).status_code == 201
    with make_client(store, now=1724142318 - 3600) as client:  # Harness's clock ahead of ours
        assert post(client).status_code == 201


def test_not_configured_is_503_naming_the_fix(store: FakeStore) -> None:
    problem = ReceiverNotConfigured("create the Airflow connection 'harness_events' with the webhook token")
    with make_client(store, problem) as client:
        response = post(client)
    assert response.status_code == 503
    assert response.json() == {"error": "receiver_not_configured", "detail": str(problem)}
    assert store.calls == []


def test_a_store_failure_is_500_without_details(store: FakeStore, caplog: pytest.LogCaptureFixture) -> None:
    store.error = RuntimeError("database is locked (sqlite3.OperationalError)")
    with make_client(store) as client:
        response = post(client)
    assert response.status_code == 500
    assert response.json() == {
        "error": "internal_error",
        "detail": "the event could not be stored; see the API server log",
    }
    assert "database is locked" in caplog.text  # the cause is in the server log


# --------------------------------------------------------------------------------------------------
# secrets never leave
# --------------------------------------------------------------------------------------------------


def test_the_token_is_never_in_answers_or_logs(store: FakeStore, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    near_miss = TOKEN[:-1] + "X"
    answers = []
    with make_client(store) as client:
        for token in (TOKEN, near_miss, None):
            for document in (PIPELINE_FAILED, {"eventData": {"eventType": "Nope"}}):
                answers.append(post(client, document, token=token).text)
        answers.append(post(client, content=b"{" + TOKEN.encode()).text)
    text = "\n".join(answers) + caplog.text
    assert TOKEN not in text and near_miss not in text


def test_settings_repr_hides_tokens() -> None:
    settings = ReceiverSettings.from_connection("harness_events", TOKEN, {"previous_token": OLD_TOKEN})
    assert settings.tokens == (TOKEN, OLD_TOKEN)
    assert TOKEN not in repr(settings) and OLD_TOKEN not in repr(settings)


# --------------------------------------------------------------------------------------------------
# settings from the connection
# --------------------------------------------------------------------------------------------------


def test_settings_defaults() -> None:
    settings = ReceiverSettings.from_connection("harness_events", TOKEN, {})
    assert settings == ReceiverSettings(tokens=(TOKEN,))
    assert (settings.max_body_bytes, settings.max_event_age_seconds, settings.accounts) == (
        256 * 1024,
        7 * 24 * 3600,
        None,
    )


def test_settings_from_extra() -> None:
    extra = {"max_body_bytes": 4096, "max_event_age_seconds": 60, "accounts": ["a1", "a2"]}
    settings = ReceiverSettings.from_connection("harness_events", TOKEN, extra)
    assert (settings.max_body_bytes, settings.max_event_age_seconds) == (4096, 60)
    assert settings.accounts == frozenset({"a1", "a2"})


@pytest.mark.parametrize(
    ("password", "extra", "message"),
    [
        (None, {}, "set its password to the webhook token"),
        ("", {}, "set its password to the webhook token"),
        ("short", {}, "the password must be a token of at least 16 characters"),
        (TOKEN, {"previous_token": "short"}, "the extra previous_token must be a token of at least 16"),
        (TOKEN, {"max_body_byte": 1}, "unknown extra key(s) ['max_body_byte']"),
        (TOKEN, {"max_body_bytes": "1000"}, "extra max_body_bytes must be a positive integer"),
        (TOKEN, {"max_body_bytes": 0}, "extra max_body_bytes must be a positive integer"),
        (TOKEN, {"max_event_age_seconds": True}, "extra max_event_age_seconds must be a positive integer"),
        (TOKEN, {"accounts": "acc"}, "extra accounts must be a non-empty list"),
        (TOKEN, {"accounts": []}, "extra accounts must be a non-empty list"),
    ],
)
def test_unusable_connections_say_what_to_fix_without_values(
    password: str | None, extra: dict[str, Any], message: str
) -> None:
    with pytest.raises(ReceiverNotConfigured) as caught:
        ReceiverSettings.from_connection("harness_events", password, extra)
    assert message in str(caught.value)
    assert "Airflow connection 'harness_events'" in str(caught.value)
    assert "short" not in str(caught.value).replace("'short'", "")


# --------------------------------------------------------------------------------------------------
# the plugin
# --------------------------------------------------------------------------------------------------


def test_plugin_mounts_a_lazy_app_at_harness_events() -> None:
    from airflow_provider_harness.plugins.harness_events import HarnessEventsPlugin, LazyReceiverApp

    (entry,) = HarnessEventsPlugin.fastapi_apps
    assert entry["url_prefix"] == "/harness-events" and HarnessEventsPlugin.name == "harness_events"
    assert isinstance(entry["app"], LazyReceiverApp)


def test_lazy_app_builds_the_receiver_on_first_request(
    monkeypatch: pytest.MonkeyPatch, store: FakeStore
) -> None:
    from airflow_provider_harness.plugins.harness_events import LazyReceiverApp

    built: list[int] = []

    def fake_create_app() -> Any:
        built.append(1)
        return create_app(settings=lambda: ReceiverSettings(tokens=(TOKEN,)), store=store, clock=lambda: NOW)

    monkeypatch.setattr(receiver_module, "create_app", fake_create_app)
    lazy = LazyReceiverApp()
    assert built == []
    with TestClient(lazy) as client:  # type: ignore[arg-type]
        assert client.get("/v1/health").status_code == 200
        assert post(client).status_code == 201
    assert built == [1]


def test_the_plugin_module_stays_cheap_to_import() -> None:
    """Every Airflow process loads the plugin: beyond Airflow's own plugin base, importing it loads only
    the plugin module itself (no FastAPI app, receiver, DB code or client)."""
    import ast
    import subprocess
    import sys

    code = """
import sys
try:
    from airflow.sdk.plugins_manager import AirflowPlugin
except ImportError:
    from airflow.plugins_manager import AirflowPlugin
before = set(sys.modules)
import airflow_provider_harness.plugins.harness_events
print(sorted(set(sys.modules) - before))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    added = set(ast.literal_eval(out.stdout.strip().splitlines()[-1]))
    assert "airflow_provider_harness.plugins.harness_events" in added
    assert added <= {
        "airflow_provider_harness",
        "airflow_provider_harness.plugins",
        "airflow_provider_harness.plugins.harness_events",
    }, out.stdout + out.stderr


@pytest.mark.parametrize(
    "name",
    [
        "airflow_provider_harness.plugins.receiver",
        "airflow_provider_harness.plugins.asset_events",
        "airflow_provider_harness.plugins.harness_events",
    ],
)
def test_plugin_docstring_examples(name: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0, name
