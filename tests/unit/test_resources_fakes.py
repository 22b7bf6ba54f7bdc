"""Test helpers for the resource tests: a scripted Harness API on ``httpx.MockTransport``.

``FakeApi().on("GET", "/ng/api/projects/p", not_found())`` answers the next matching request with that
response; every request is recorded (method, path, query, body) so tests can assert what was - or was
not - sent. No tests live here.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import structlog.testing

from airflow_provider_harness.client.config import HarnessConfig, Secret
from airflow_provider_harness.client.transport import HarnessClient, RetryPolicy

ACCOUNT = "acc123"
API_KEY = "pat.acc123.tok.secretpart"

Responder = httpx.Response | Callable[[httpx.Request], httpx.Response]


def config(**overrides: Any) -> HarnessConfig:
    values: dict[str, Any] = {
        "account_id": ACCOUNT,
        "api_key": Secret(API_KEY),
        "base_url": "https://harness.test",
        "max_retries": 0,
    }
    values.update(overrides)
    return HarnessConfig(**values)


def ok(data: Any) -> httpx.Response:
    return httpx.Response(
        200, json={"status": "SUCCESS", "data": data, "metaData": None, "correlationId": "c-1"}
    )


def failure(code: str, message: str, status: int = 400, kind: str = "FAILURE") -> httpx.Response:
    body = {"status": kind, "code": code, "message": message, "correlationId": "c-2", "errors": None}
    return httpx.Response(status, json=body)


def not_found(message: str = "Resource with identifier [x] not found") -> httpx.Response:
    """Harness's usual missing-entity answer from ng-manager: HTTP 400 FAILURE RESOURCE_NOT_FOUND_EXCEPTION."""  # noqa: E501
    return failure("RESOURCE_NOT_FOUND_EXCEPTION", message)


def entity_not_found(
    message: str = "Pipeline with the given ID: p does not exist or has been deleted.",
) -> httpx.Response:
    """pipeline-service / projects: HTTP 404 ERROR ENTITY_NOT_FOUND."""
    return failure("ENTITY_NOT_FOUND", message, 404, "ERROR")


def duplicate(message: str = "already exists") -> httpx.Response:
    return failure("DUPLICATE_FIELD", message, 400, "ERROR")


def page(items: list[Any], index: int, size: int, total: int) -> dict[str, Any]:
    pages = (total + size - 1) // size
    return {"content": items, "pageIndex": index, "pageSize": size, "totalItems": total, "totalPages": pages}


@dataclass
class Seen:
    method: str
    path: str
    params: dict[str, list[str]]
    content_type: str | None
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def text(self) -> str:
        return self.body.decode("utf-8")

    def param(self, name: str) -> str | None:
        values = self.params.get(name)
        return values[0] if values else None


class FakeApi:
    """Scripted answers per ``(method, path)``, used in order; unscripted requests fail the test loudly."""

    def __init__(self) -> None:
        self.script: dict[tuple[str, str], list[Responder]] = {}
        self.requests: list[Seen] = []

    def on(self, method: str, path: str, *responses: Responder) -> FakeApi:
        self.script.setdefault((method, path), []).extend(responses)
        return self

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params: dict[str, list[str]] = {}
        for key, value in request.url.params.multi_items():
            params.setdefault(key, []).append(value)
        self.requests.append(
            Seen(
                request.method, request.url.path, params, request.headers.get("content-type"), request.read()
            )
        )
        queue = self.script.get((request.method, request.url.path))
        if not queue:
            return httpx.Response(599, text=f"unscripted {request.method} {request.url.path}")
        responder = queue.pop(0) if len(queue) > 1 else queue[0]
        return responder(request) if callable(responder) else responder

    @property
    def calls(self) -> list[tuple[str, str]]:
        return [(seen.method, seen.path) for seen in self.requests]

    def client(self, **config_overrides: Any) -> HarnessClient:
        return HarnessClient(
            config(**config_overrides), RetryPolicy(max_retries=0), transport=httpx.MockTransport(self)
        )


@contextlib.contextmanager
def log_lines(caplog: pytest.LogCaptureFixture) -> Iterator[list[str]]:
    """Messages operators logged: structlog (Airflow 3.1+ task logger) and stdlib logging (3.0)."""
    lines: list[str] = []
    with caplog.at_level(logging.DEBUG), structlog.testing.capture_logs() as entries:
        yield lines
    lines.extend(str(entry.get("event")) for entry in entries)
    lines.extend(record.getMessage() for record in caplog.records)
