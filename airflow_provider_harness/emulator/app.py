"""The emulator's ASGI application: routing, auth, rate limiting, faults, envelopes and the catch-all.

Request flow (non-admin paths): count -> fault -> rate limit (per API key, before anything else, as
Harness's edge does) -> route (``/gateway`` prefix optional) -> auth -> handler -> envelope.  Any
unexpected exception becomes Harness's ``UNKNOWN_ERROR`` body (HTTP 500) and is logged here, never a
traceback on the wire.

>>> from airflow_provider_harness.emulator.settings import EmulatorSettings
>>> emulator = Emulator(EmulatorSettings(time_scale=0.01))
>>> emulator.settings.account_id
'emulatoraccount'
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from starlette.responses import Response

from airflow_provider_harness.emulator.envelopes import (
    GOA_CONTENT_TYPE,
    HarnessError,
    dumps,
    goa_error_body,
    success_body,
    success_body_raw,
)
from airflow_provider_harness.emulator.faults import (
    EDGE_429_BODY,
    Fault,
    FaultInjector,
    RateLimiter,
    html_error_page,
)
from airflow_provider_harness.emulator.httpcall import Call, RawData, Route
from airflow_provider_harness.emulator.model import IdFactory
from airflow_provider_harness.emulator.routing import Router
from airflow_provider_harness.emulator.settings import EmulatorSettings
from airflow_provider_harness.emulator.store import Store

log = logging.getLogger("airflow_provider_harness.emulator")

ADMIN_PREFIX = "/_emulator"
_JSON = b"application/json"
_NOT_FOUND = HarnessError("RESOURCE_NOT_FOUND_EXCEPTION", "HTTP 404 Not Found", kind="FAILURE")


class Emulator:
    """One emulator instance: state, engine and the ASGI callable that serves it.

    Run it with any ASGI server, e.g. ``uvicorn.run(Emulator(), port=8181)``; or use
    :func:`airflow_provider_harness.emulator.server.run_emulator`.
    """

    def __init__(self, settings: EmulatorSettings | None = None) -> None:
        # Imported here so that ``--help`` and plain imports of the package stay cheap.
        from airflow_provider_harness.emulator.admin import AdminApi
        from airflow_provider_harness.emulator.engine import Engine
        from airflow_provider_harness.emulator.executions import ExecutionApi
        from airflow_provider_harness.emulator.iacm import IacmApi
        from airflow_provider_harness.emulator.logs import LogApi
        from airflow_provider_harness.emulator.notifications import Notifier
        from airflow_provider_harness.emulator.pipelines import PipelineApi
        from airflow_provider_harness.emulator.resources import ResourceApi
        from airflow_provider_harness.emulator.webhooks import WebhookApi

        self.settings = settings or EmulatorSettings()
        self.store = Store(self.settings.state_file)
        self.ids = IdFactory()
        self.faults = FaultInjector()
        self.limiter = RateLimiter()
        self.request_counts: dict[str, int] = {}
        self.started_at = time.time()
        self.notifier = Notifier(self)
        self.engine = Engine(self)
        self.resources = ResourceApi(self)
        self.pipelines = PipelineApi(self)
        self.executions = ExecutionApi(self)
        self.logs = LogApi(self)
        self.webhooks = WebhookApi(self)
        self.iacm = IacmApi(self)
        self.admin = AdminApi(self)
        self.router = Router()
        self.admin_router = Router()
        for api in (self.resources, self.pipelines, self.executions, self.logs, self.webhooks, self.iacm):
            for route in api.routes():
                self.router.add(route.method, route.path, route)
        for route in self.admin.routes():
            self.admin_router.add(route.method, route.path, route)
        self._background: list[asyncio.Task[Any]] = []
        self._prepared = False

    def prepare(self) -> None:
        """Load the state file, or apply the seed, and create the configured projects.

        Called before serving (so a broken state or seed file fails fast with a clear message) and again,
        as a no-op, at start-up.
        """
        if self._prepared:
            return
        from airflow_provider_harness.emulator.envelopes import HarnessError
        from airflow_provider_harness.emulator.seed import apply_seed, ensure_projects

        try:
            loaded = self.store.load()
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise StartupError(f"cannot read the state file {self.store.path}: {exc}") from exc
        try:
            if not loaded and self.settings.seed:
                apply_seed(self, self.settings.seed)
            ensure_projects(self)
        except HarnessError as exc:
            raise StartupError(f"cannot apply the seed: {exc.code}: {exc.message}") from exc
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise StartupError(f"cannot apply the seed {self.settings.seed!r}: {exc}") from exc
        self._prepared = True

    # ---- lifecycle -------------------------------------------------------------------------------
    async def startup(self) -> None:
        """Prepare the data, resume running executions and queued webhook events, do overdue IaCM
        time-to-live work, start autosave and the IaCM time-to-live loop."""
        self.prepare()
        self.engine.resume_all()
        self.webhooks.resume_pending()
        self.iacm.startup()
        if self.store.path is not None:
            self._background.append(asyncio.create_task(self.store.autosave_loop()))
        self._background.append(asyncio.create_task(self.iacm.ttl_loop()))

    async def shutdown(self) -> None:
        """Stop background work and write the state file one last time."""
        for task in self._background:
            task.cancel()
        self._background.clear()
        await self.engine.stop()
        await self.notifier.close()
        self.store.save_now()

    def reset(self) -> None:
        """Forget all data, faults, counters and deliveries (settings are kept)."""
        self.engine.cancel_all()
        self.store.reset()
        self.faults.clear()
        self.limiter.reset()
        self.request_counts.clear()
        self.notifier.clear()
        self.webhooks.clear()
        self.executions.clear_caches()
        self.logs.clear()
        self.iacm.reset()

    # ---- auth ------------------------------------------------------------------------------------
    def authenticate(self, call: Call, *, optional: bool = False) -> None:
        """Check ``x-api-key`` and resolve the account (``Harness-Account`` > ``account`` >
        ``accountIdentifier`` query > path); raise Harness's 401/400 errors."""
        key = call.header("x-api-key")
        if not key:
            if optional:
                return
            raise HarnessError.invalid_token()
        key_account = self.settings.api_keys.get(key)
        if key_account is None:
            raise HarnessError.invalid_token()
        account = (
            call.header("harness-account")
            or call.query("account")
            or call.query("accountIdentifier")
            or call.params.get("accountIdentifier")
        )
        if not account:
            raise HarnessError.invalid_request("Account detail is not present in the request")
        if account != key_account:
            raise HarnessError.invalid_token()
        call.account = account
        call.api_key = key

    # ---- ASGI ------------------------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("emulator startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self.shutdown()
                finally:
                    await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        if path.startswith(ADMIN_PREFIX):
            await self._dispatch(self.admin_router, scope, receive, send, path, method, admin=True)
            return
        counts = self.request_counts
        count_key = f"{method} {path}"
        counts[count_key] = counts.get(count_key, 0) + 1
        if self.faults.faults:
            fault = self.faults.take(method, path)
            if fault is not None and await self._apply_fault(fault, send):
                return
        settings = self.settings
        if settings.rate_limit:
            key = _raw_header(scope, b"x-api-key") or _client_ip(scope)
            if not self.limiter.allow(
                key,
                limit=settings.rate_limit,
                window=settings.rate_limit_window_seconds,
                now=time.monotonic(),
            ):
                await self._send_429(send)
                return
        if path.startswith("/gateway/"):
            path = path[8:]
        await self._dispatch(self.router, scope, receive, send, path, method, admin=False)

    async def _dispatch(
        self,
        router: Router,
        scope: dict[str, Any],
        receive: Any,
        send: Any,
        path: str,
        method: str,
        admin: bool,
    ) -> None:
        route: Route | None = None
        try:
            match = router.match(method, path)
            if match is None:
                if admin:
                    await _send(send, 404, dumps({"error": f"no admin endpoint {method} {path}"}))
                    return
                raise _NOT_FOUND
            if match is ...:
                if admin:
                    await _send(send, 405, dumps({"error": f"method {method} not allowed on {path}"}))
                    return
                raise HarnessError("INVALID_REQUEST", "HTTP 405 Method Not Allowed", http_status=405)
            route, params = match
            call = Call(scope, receive, path, params)
            auth = route.auth
            if auth == "api":
                self.authenticate(call)
            elif auth == "optional":
                self.authenticate(call, optional=True)
            result = await route.handler(call)
            if isinstance(result, RawData):
                await _send(send, 200, success_body_raw(result.json))
            elif isinstance(result, Response):
                await result(scope, receive, send)
            else:
                await _send(send, 200, success_body(result))
        except HarnessError as err:
            await _send_error(send, err, route)
        except Exception:
            log.exception("unexpected error answering %s %s", method, path)
            with contextlib.suppress(Exception):
                await _send_error(send, HarnessError.unknown(), route)

    # ---- edge behaviour --------------------------------------------------------------------------
    async def _send_429(self, send: Any) -> None:
        headers: list[tuple[bytes, bytes]] = []
        if self.settings.rate_limit_retry_after is not None:
            headers.append((b"retry-after", str(self.settings.rate_limit_retry_after).encode()))
        await _send(send, 429, EDGE_429_BODY.encode(), b"text/html; charset=UTF-8", headers)

    async def _apply_fault(self, fault: Fault, send: Any) -> bool:
        """Answer with the fault; ``False`` when the request should go on (latency only)."""
        if fault.delay_ms:
            await asyncio.sleep(fault.delay_ms / 1000)
        kind = fault.kind
        if kind == "latency":
            return False
        status = fault.status or 500
        if fault.body is not None:
            media = (fault.content_type or "text/plain").encode()
            await _send(send, status, fault.body.encode(), media)
        elif kind == "rate_limit":
            await self._send_429(send)
        elif kind == "html":
            await _send(send, status, html_error_page(status).encode(), b"text/html")
        elif kind == "error":
            err = HarnessError.unknown()
            await _send(send, status, dumps(err.body()))
        elif kind == "drop":
            await _drop_connection(send)
        return True


class StartupError(RuntimeError):
    """The state file or the seed cannot be loaded."""


async def _send(
    send: Any,
    status: int,
    body: bytes,
    content_type: bytes = _JSON,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    if extra_headers:
        headers.extend(extra_headers)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_error(send: Any, err: HarnessError, route: Route | None) -> None:
    """Answer ``err`` in the error shape of ``route`` (NG bodies when no route matched)."""
    if route is not None and route.errors == "goa":
        await _send(send, err.http_status, dumps(goa_error_body(err)), GOA_CONTENT_TYPE)
    else:
        await _send(send, err.http_status, dumps(err.body()))


async def _drop_connection(send: Any) -> None:
    """Close the connection without a response (uvicorn: abort the transport behind ``send``)."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is not None:
        transport.abort()
        if cycle is not None and hasattr(cycle, "disconnected"):
            cycle.disconnected = True
        for _ in range(3):
            await asyncio.sleep(0)
        return
    # Other servers: promise a body and break off mid-way.
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4096")]})
    await send({"type": "http.response.body", "body": b"{", "more_body": True})
    raise ConnectionAbortedError("emulator fault: connection dropped")


def _raw_header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _client_ip(scope: dict[str, Any]) -> str:
    client = scope.get("client")
    return f"ip:{client[0]}" if client else "ip:unknown"


def all_routes(emulator: Emulator) -> list[Route]:
    """Every public route (used by tests and docs)."""
    return [
        route
        for api in (
            emulator.resources,
            emulator.pipelines,
            emulator.executions,
            emulator.logs,
            emulator.webhooks,
            emulator.iacm,
        )
        for route in api.routes()
    ]
