"""The log service (``harness-api.md`` §13), reachable with or without the ``/gateway`` prefix.

* ``GET /log-service/token?accountID=A`` with ``x-api-key`` -> plain-text token;
* ``GET /log-service/blob?accountID=A&key=K`` -> NDJSON lines of a *finished* step (404 while running);
* ``GET /log-service/stream?accountID=A&key=K`` -> SSE while the step runs, then ``event: error``/``eof``;
* ``POST /log-service/blob/download?accountID=A&prefix=P`` -> ``{link, status, expires, message}`` (``queued``
  on the first call, ``success`` afterwards); the link serves a zip of every key under the prefix.

Errors are the log service's own ``{"error_msg": "..."}`` bodies.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import io
import json
import secrets
import time
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from starlette.responses import Response, StreamingResponse

from airflow_provider_harness.emulator.httpcall import Call, Route, json_response, text_response
from airflow_provider_harness.emulator.model import Execution, Node

if TYPE_CHECKING:
    from airflow_provider_harness.emulator.app import Emulator

TOKEN_TTL_SECONDS: Final = 3600
STREAM_POLL_SECONDS: Final = 0.05
PING_SECONDS: Final = 10.0


def _error(status: int, message: str) -> Response:
    return json_response({"error_msg": message}, status)


class LogApi:
    """Log-service endpoints over the execution logs the engine writes."""

    def __init__(self, core: Emulator) -> None:
        self.core = core
        self._secret = secrets.token_bytes(32)
        self._downloads: dict[tuple[str, str], dict[str, Any]] = {}
        self._waiters: dict[tuple[str, str], set[asyncio.Event]] = {}

    def routes(self) -> list[Route]:
        """Log-service routes (the app strips ``/gateway`` first)."""
        return [
            Route("GET", "/log-service/token", self.token, auth="self"),
            Route("GET", "/log-service/blob", self.blob, auth="self"),
            Route("GET", "/log-service/stream", self.stream, auth="self"),
            Route("POST", "/log-service/blob/download", self.download, auth="self"),
            Route("GET", "/storage/harness-download/{account}/{name}", self.archive, auth="none"),
        ]

    def clear(self) -> None:
        """Forget pending downloads."""
        self._downloads.clear()

    # ---- auth ------------------------------------------------------------------------------------
    def _sign(self, account: str, expiry: int) -> str:
        digest = hmac.new(self._secret, f"{account}:{expiry}".encode(), hashlib.sha256).hexdigest()[:32]
        return f"{account}.{expiry}.{digest}"

    def _token_ok(self, token: str, account: str) -> bool:
        try:
            token_account, expiry, _ = token.rsplit(".", 2)
            expires = int(expiry)
        except ValueError:
            return False
        return (
            token_account == account
            and expires > time.time()
            and hmac.compare_digest(self._sign(account, expires), token)
        )

    def _authorize(self, call: Call) -> tuple[str | None, Response | None]:
        account = call.query("accountID")
        if not account:
            return None, _error(400, "no account ID in query params")
        key = call.header("x-api-key")
        token = call.header("x-harness-token") or call.query("X-Harness-Token")
        if key:
            if self.core.settings.api_keys.get(key) != account:
                return None, _error(403, f"operation not permitted for accountID: {account}")
        elif token:
            if not self._token_ok(token, account):
                return None, _error(403, f"operation not permitted for accountID: {account}")
        else:
            return None, _error(400, "no token in header")
        return account, None

    async def token(self, call: Call) -> Response:
        account = call.query("accountID")
        if not account:
            return _error(400, "no account ID in query params")
        key = call.header("x-api-key")
        if not key or self.core.settings.api_keys.get(key) != account:
            return _error(403, "apikey in request not authorized for receiving tokens")
        return text_response(self._sign(account, int(time.time()) + TOKEN_TTL_SECONDS))

    # ---- lookups ---------------------------------------------------------------------------------
    def _locate(self, account: str, key: str) -> tuple[Execution | None, Node | None]:
        found = self.core.engine.log_index.get((account, key))
        if found is None:
            return None, None
        execution = self.core.store.executions.get(found[0])
        if execution is None:
            return None, None
        node = execution.find_node(found[1]) if found[1] else None
        return execution, node

    @staticmethod
    def _finished(execution: Execution, node: Node | None) -> bool:
        return node.terminal if node is not None else execution.terminal

    def publish(self, account: str, key: str) -> None:
        """Wake stream readers of ``key`` (called by the engine on every new line)."""
        for event in self._waiters.get((account, key), ()):
            event.set()

    # ---- endpoints -------------------------------------------------------------------------------
    async def blob(self, call: Call) -> Response:
        account, problem = self._authorize(call)
        if problem is not None or account is None:
            return problem or _error(400, "no account ID in query params")
        key = call.query("key") or ""
        execution, node = self._locate(account, key)
        if execution is None or not self._finished(execution, node) or key not in execution.logs:
            return _error(404, f"cannot find the log blob for key: {key}")
        body = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in execution.logs[key])
        return text_response(body)

    async def stream(self, call: Call) -> Response:
        account, problem = self._authorize(call)
        if problem is not None or account is None:
            return problem or _error(400, "no account ID in query params")
        key = call.query("key") or ""
        return StreamingResponse(
            self._tail(account, key),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def _tail(self, account: str, key: str) -> AsyncIterator[bytes]:
        yield b": ping\n\n"
        execution, node = self._locate(account, key)
        if execution is None or node is None or node.start_ts is None or self._finished(execution, node):
            yield b"event: error\ndata: eof\n\n"
            return
        event = asyncio.Event()
        waiters = self._waiters.setdefault((account, key), set())
        waiters.add(event)
        position = 0
        last_ping = time.monotonic()
        try:
            while True:
                lines = execution.logs.get(key, [])
                while position < len(lines):
                    yield b"data: " + json.dumps(lines[position], separators=(",", ":")).encode() + b"\n\n"
                    position += 1
                if (
                    self._finished(execution, node)
                    or self.core.store.executions.get(execution.id) is not execution
                ):
                    yield b"event: error\ndata: eof\n\n"
                    return
                event.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), STREAM_POLL_SECONDS)
                if time.monotonic() - last_ping > PING_SECONDS:
                    last_ping = time.monotonic()
                    yield b": ping\n\n"
        finally:
            waiters.discard(event)
            if not waiters:
                self._waiters.pop((account, key), None)

    async def download(self, call: Call) -> Response:
        account, problem = self._authorize(call)
        if problem is not None or account is None:
            return problem or _error(400, "no account ID in query params")
        prefix = call.query("prefix") or ""
        if not prefix:
            return _error(400, "no prefix in query params")
        entry = self._downloads.get((account, prefix))
        if entry is None:
            name = f"{self.core.ids.token()}.zip"
            entry = {"name": name, "calls": 0, "prefix": prefix}
            self._downloads[(account, prefix)] = entry
            self._downloads[(account, name)] = entry
        entry["calls"] += 1
        expires = (
            (datetime.now(UTC) + timedelta(hours=1)).isoformat(timespec="seconds").replace("+00:00", "Z")
        )
        return json_response(
            {
                "link": f"{self.core.settings.base_url}/storage/harness-download/{account}/{entry['name']}",
                "status": "queued" if entry["calls"] == 1 else "success",
                "expires": expires,
                "message": "",
            }
        )

    async def archive(self, call: Call) -> Response:
        account, name = call.params["account"], call.params["name"]
        entry = self._downloads.get((account, name))
        if entry is None:
            return _error(404, "download link is not valid or has expired")
        prefix = entry["prefix"]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for execution in self.core.store.executions.values():
                if execution.account != account:
                    continue
                for key, lines in execution.logs.items():
                    if key.startswith(prefix) and lines:
                        text = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)
                        archive.writestr(f"{key}.log", text)
        return Response(buffer.getvalue(), media_type="application/zip")
