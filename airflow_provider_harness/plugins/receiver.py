"""The Harness notification receiver: a FastAPI app mounted in Airflow's API server at ``/harness-events``.

``POST /harness-events/v1/notifications`` with the header ``X-Harness-Webhook-Token: <token>`` and a
Harness notification body (``{"eventData": {...}}``) stores one Airflow asset event per active asset of
the pipeline / project (see :mod:`.asset_events`). Harness cannot sign notifications, so a shared token
authenticates them; it is read from the Airflow connection ``harness_events`` (its password; config
``[harness_events] conn_id`` names another), compared in constant time, and never logged or echoed.
The token travels in a header, never in the URL (URLs end up in access logs).

Answers, every one JSON:

====  ==========================  ==========================================================
201   ``accepted``                a new asset event on at least one asset (``assets`` lists them)
200   ``duplicate``               every matching asset already has this event: nothing stored
202   ``ignored``                 no DAG uses the pipeline's or project's asset: nothing stored
400   ``malformed``               not JSON, or not ``{"eventData": {...}}``
401   ``unauthenticated``         no token header
403   ``forbidden``               wrong token, or an account the connection does not allow
413   ``payload_too_large``       body over ``max_body_bytes`` (256 KiB unless configured)
422   ``unknown_event_type``      an event type Harness does not send
422   ``invalid_event``           a required field missing or of the wrong type
422   ``stale_event``             happened longer ago than ``max_event_age_seconds`` (7 days)
500   ``internal_error``          storing failed (the cause is in the API server log)
503   ``receiver_not_configured`` no usable connection (the detail says what to fix)
====  ==========================  ==========================================================

Errors are ``{"error": <code>, "detail": <one line>}``; nothing is stored for any of them.

>>> token_matches("s3cret-token-0123456789", ("s3cret-token-0123456789",))
True
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from airflow_provider_harness.client.notifications import NotificationError, parse_notification

if TYPE_CHECKING:
    from airflow_provider_harness.client.notifications import HarnessNotification
    from airflow_provider_harness.plugins.asset_events import RecordResult

log = logging.getLogger(__name__)

URL_PREFIX: Final = "/harness-events"
NOTIFICATIONS_PATH: Final = "/v1/notifications"
TOKEN_HEADER: Final = "X-Harness-Webhook-Token"
DEFAULT_CONN_ID: Final = "harness_events"
DEFAULT_MAX_BODY_BYTES: Final = 256 * 1024
DEFAULT_MAX_EVENT_AGE_SECONDS: Final = 7 * 24 * 3600
MIN_TOKEN_LENGTH: Final = 16
SETTINGS_CACHE_SECONDS: Final = 5.0
EXTRA_KEYS: Final = frozenset({"previous_token", "max_body_bytes", "max_event_age_seconds", "accounts"})


class ReceiverNotConfigured(Exception):
    """The receiver's connection is missing or unusable; ``str()`` says what to fix (never a value)."""


@dataclass(frozen=True)
class ReceiverSettings:
    """What the receiver checks, read from its connection (tokens are never in ``repr``).

    >>> ReceiverSettings.from_connection("harness_events", "a" * 16, {"accounts": ["acc"]})
    ReceiverSettings(max_body_bytes=262144, max_event_age_seconds=604800, accounts=frozenset({'acc'}))
    """

    tokens: tuple[str, ...] = field(repr=False)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_event_age_seconds: int = DEFAULT_MAX_EVENT_AGE_SECONDS
    accounts: frozenset[str] | None = None

    @classmethod
    def from_connection(
        cls, conn_id: str, password: str | None, extra: Mapping[str, Any]
    ) -> ReceiverSettings:
        """Password = the token; extra (optional): ``previous_token`` (accepted too, for a rotation),
        ``max_body_bytes``, ``max_event_age_seconds``, ``accounts`` (allowed account identifiers)."""
        where = f"Airflow connection {conn_id!r}"
        unknown = sorted(set(extra) - EXTRA_KEYS)
        if unknown:
            raise ReceiverNotConfigured(
                f"{where}: unknown extra key(s) {unknown}; allowed: {sorted(EXTRA_KEYS)}"
            )
        tokens = []
        for name, value in (("password", password), ("extra previous_token", extra.get("previous_token"))):
            if value is None or value == "":
                if name == "password":
                    raise ReceiverNotConfigured(f"{where}: set its password to the webhook token")
                continue
            if not isinstance(value, str) or len(value) < MIN_TOKEN_LENGTH:
                raise ReceiverNotConfigured(
                    f"{where}: the {name} must be a token of at least {MIN_TOKEN_LENGTH} characters"
                )
            tokens.append(value)
        limits = {}
        for name, default in (
            ("max_body_bytes", DEFAULT_MAX_BODY_BYTES),
            ("max_event_age_seconds", DEFAULT_MAX_EVENT_AGE_SECONDS),
        ):
            value = extra.get(name, default)
            if type(value) is not int or value <= 0:
                raise ReceiverNotConfigured(f"{where}: extra {name} must be a positive integer")
            limits[name] = value
        accounts = extra.get("accounts")
        if accounts is not None and (
            not isinstance(accounts, list) or not accounts or not all(isinstance(a, str) for a in accounts)
        ):
            raise ReceiverNotConfigured(f"{where}: extra accounts must be a non-empty list of account ids")
        return cls(
            tokens=tuple(tokens),
            accounts=frozenset(accounts) if accounts is not None else None,
            **limits,
        )


def token_matches(presented: str, tokens: Collection[str]) -> bool:
    """Constant-time check of a presented token against each accepted one (``hmac.compare_digest``).

    Both sides are hashed first, so the comparison time depends on neither value nor length, and every
    accepted token is compared (no early exit).
    """
    digest = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).digest()
    matched = False
    for token in tokens:
        expected = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        matched |= hmac.compare_digest(digest, expected)
    return matched


class ConnectionSettings:
    """Reads :class:`ReceiverSettings` from an Airflow connection, cached for a few seconds.

    The cache spares the secrets backend a lookup per notification; a changed token applies within
    ``cache_seconds``.
    """

    def __init__(self, conn_id: str | None = None, cache_seconds: float = SETTINGS_CACHE_SECONDS) -> None:
        self.conn_id = conn_id or configured_conn_id()
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._cached: tuple[float, ReceiverSettings | ReceiverNotConfigured] | None = None

    def clear(self) -> None:
        """Forget the cached settings (the next request reads the connection again)."""
        with self._lock:
            self._cached = None

    def __call__(self) -> ReceiverSettings:
        with self._lock:
            cached = self._cached
        if cached is None or time.monotonic() >= cached[0]:
            cached = (time.monotonic() + self.cache_seconds, self._load())
            with self._lock:
                self._cached = cached
        if isinstance(cached[1], ReceiverNotConfigured):
            raise cached[1]
        return cached[1]

    def _load(self) -> ReceiverSettings | ReceiverNotConfigured:
        from airflow.exceptions import AirflowNotFoundException
        from airflow.models.connection import Connection

        try:
            conn = Connection.get_connection_from_secrets(self.conn_id)
        except AirflowNotFoundException:
            return ReceiverNotConfigured(
                f"create the Airflow connection {self.conn_id!r} with the webhook token as its password"
            )
        try:
            extra = conn.extra_dejson if conn.extra else {}
            return ReceiverSettings.from_connection(self.conn_id, conn.password, extra)
        except ReceiverNotConfigured as err:
            return err


def configured_conn_id() -> str:
    """``[harness_events] conn_id`` from the Airflow configuration, else ``harness_events``."""
    from airflow.configuration import conf

    return str(conf.get("harness_events", "conn_id", fallback=DEFAULT_CONN_ID) or DEFAULT_CONN_ID)


Store = Callable[["HarnessNotification", float], "RecordResult"]


def _default_store(notification: HarnessNotification, now: float) -> RecordResult:
    from airflow_provider_harness.plugins.asset_events import record_notification

    return record_notification(notification, now=now)


def create_app(
    settings: Callable[[], ReceiverSettings] | None = None,
    store: Store | None = None,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """The receiver app (mounted at ``/harness-events`` by the plugin); parts replaceable for tests."""
    load_settings = settings or ConnectionSettings()
    save = store or _default_store
    app = FastAPI(
        title="Harness events receiver",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @app.get("/v1/health")
    async def health() -> JSONResponse:
        """Unauthenticated liveness check: the receiver is mounted (says nothing about its settings)."""
        return JSONResponse({"status": "ok"})

    @app.post(NOTIFICATIONS_PATH)
    async def receive(request: Request) -> JSONResponse:
        client = request.client.host if request.client else "?"
        try:
            config = await run_in_threadpool(load_settings)
        except ReceiverNotConfigured as err:
            log.error("Harness notification from %s refused: receiver not configured: %s", client, err)
            return _error(503, "receiver_not_configured", str(err))
        presented = request.headers.get(TOKEN_HEADER)
        if not presented:
            log.warning("Harness notification from %s refused: no %s header", client, TOKEN_HEADER)
            return _error(401, "unauthenticated", f"send the webhook token in the {TOKEN_HEADER} header")
        if not token_matches(presented, config.tokens):
            log.warning("Harness notification from %s refused: wrong token", client)
            return _error(403, "forbidden", f"the {TOKEN_HEADER} header does not hold a valid token")
        body = await _read_bounded(request, config.max_body_bytes)
        if body is None:
            log.warning(
                "Harness notification from %s refused: body over %d bytes", client, config.max_body_bytes
            )
            return _error(413, "payload_too_large", f"the body is over {config.max_body_bytes} bytes")
        try:
            notification = parse_notification(body)
        except NotificationError as err:
            log.warning("Harness notification from %s refused (%s): %s", client, err.code, err)
            return _error(err.status, err.code, str(err))
        described = _describe(notification)
        if config.accounts is not None and notification.account_id not in config.accounts:
            log.warning("Harness notification %s from %s refused: account not allowed", described, client)
            return _error(403, "forbidden", f"account {notification.account_id!r} is not allowed here")
        now = clock()
        if notification.event_ts < now - config.max_event_age_seconds:
            log.warning("Harness notification %s from %s refused: stale", described, client)
            return _error(
                422,
                "stale_event",
                f"the event happened more than {config.max_event_age_seconds} seconds ago "
                f"(startTs/endTs {notification.event_ts})",
            )
        try:
            result = await run_in_threadpool(save, notification, now)
        except Exception:
            log.exception("Harness notification %s from %s: storing it failed", described, client)
            return _error(500, "internal_error", "the event could not be stored; see the API server log")
        body_out: dict[str, Any] = {
            "status": result.status,
            "eventType": notification.event_type,
            "dedupeKey": notification.dedupe_key,
        }
        if result.status == "accepted":
            body_out["assets"] = result.created
            if result.duplicates:
                body_out["duplicates"] = result.duplicates
            log.info("Harness notification %s stored on %s", described, [a["uri"] for a in result.created])
            return JSONResponse(body_out, status_code=201)
        if result.status == "duplicate":
            body_out["duplicates"] = result.duplicates
            log.info("Harness notification %s is a repeat: nothing stored", described)
            return JSONResponse(body_out, status_code=200)
        body_out["detail"] = (
            f"no DAG uses {' or '.join(notification.asset_uris)}: nothing stored "
            "(schedule a DAG on one of these assets to receive these events)"
        )
        log.info("Harness notification %s ignored: no DAG uses its assets", described)
        return JSONResponse(body_out, status_code=202)

    return app


async def _read_bounded(request: Request, limit: int) -> bytes | None:
    """The body, or ``None`` as soon as it is over ``limit`` bytes (declared or actually sent)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _error(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status)


def _describe(notification: HarnessNotification) -> str:
    node = notification.step_id or notification.stage_id or notification.trigger_id
    execution = notification.plan_execution_id or "-"
    return f"{notification.event_type} {notification.pipeline_asset_uri} {execution}" + (
        f" {node}" if node else ""
    )


__all__ = [
    "DEFAULT_CONN_ID",
    "NOTIFICATIONS_PATH",
    "TOKEN_HEADER",
    "URL_PREFIX",
    "ConnectionSettings",
    "ReceiverNotConfigured",
    "ReceiverSettings",
    "configured_conn_id",
    "create_app",
    "token_matches",
]
