"""The request object handlers receive, route declarations and reply helpers.

Handlers are ``async def handler(call: Call) -> data``: returned data is wrapped in the NG success
envelope; a :class:`RawData` is pre-serialised ``data`` JSON; a Starlette ``Response`` is sent as is.
Errors are raised as :class:`~airflow_provider_harness.emulator.envelopes.HarnessError`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs

import yaml
from starlette.responses import Response

from airflow_provider_harness.emulator.envelopes import HarnessError, dumps

try:  # the C loader is several times faster when libyaml is present
    _YamlLoader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _YamlLoader = yaml.SafeLoader

MAX_BODY_BYTES = 8 * 1024 * 1024

AuthMode = Literal["api", "none", "optional", "self"]
#: How a route answers errors: Harness NG ``ErrorDTO``/``FailureDTO`` or goa's error body (IaCM).
ErrorStyle = Literal["ng", "goa"]


class Call:
    """One HTTP request: method, normalised path, path params, lazy query/headers/body, resolved account."""

    __slots__ = (
        "_body",
        "_headers",
        "_query",
        "account",
        "api_key",
        "method",
        "params",
        "path",
        "receive",
        "scope",
    )

    def __init__(self, scope: dict[str, Any], receive: Any, path: str, params: dict[str, str]) -> None:
        self.scope = scope
        self.receive = receive
        self.method: str = scope["method"]
        self.path = path
        self.params = params
        self.account: str = ""
        self.api_key: str | None = None
        self._query: dict[str, list[str]] | None = None
        self._headers: dict[str, str] | None = None
        self._body: bytes | None = None

    # ---- query -----------------------------------------------------------------------------------
    @property
    def query_map(self) -> dict[str, list[str]]:
        """All query parameters (repeated names keep every value)."""
        if self._query is None:
            raw = self.scope.get("query_string", b"")
            self._query = parse_qs(raw.decode("latin-1"), keep_blank_values=True) if raw else {}
        return self._query

    def query(self, name: str, default: str | None = None) -> str | None:
        """First value of a query parameter."""
        values = self.query_map.get(name)
        return values[0] if values else default

    def query_list(self, name: str) -> list[str]:
        """Every value of a repeatable query parameter (``a=1&a=2``; comma lists are split too)."""
        result: list[str] = []
        for value in self.query_map.get(name, []):
            result.extend(part for part in value.split(",") if part)
        return result

    def query_int(self, name: str, default: int) -> int:
        """An integer query parameter; a non-number is a Harness validation failure."""
        raw = self.query(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise HarnessError.validation([(name, f"'{raw}' is not a valid number")]) from None

    def query_bool(self, name: str, default: bool = False) -> bool:
        """A boolean query parameter (``true``/``false``, any case)."""
        raw = self.query(name)
        if raw is None or raw == "":
            return default
        return raw.lower() == "true"

    # ---- headers ---------------------------------------------------------------------------------
    def header(self, name: str) -> str | None:
        """A request header, case-insensitive."""
        if self._headers is None:
            self._headers = {
                k.decode("latin-1").lower(): v.decode("latin-1") for k, v in self.scope["headers"]
            }
        return self._headers.get(name.lower())

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower case."""
        return (self.header("content-type") or "").split(";")[0].strip().lower()

    # ---- body ------------------------------------------------------------------------------------
    async def body(self) -> bytes:
        """The whole request body."""
        if self._body is None:
            chunks: list[bytes] = []
            size = 0
            while True:
                message = await self.receive()
                if message["type"] == "http.disconnect":
                    break
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise HarnessError.invalid_request("Request body is too large")
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
            self._body = b"".join(chunks)
        return self._body

    async def text(self) -> str:
        """The body as UTF-8 text; undecodable bytes are a Harness INVALID_REQUEST."""
        try:
            return (await self.body()).decode("utf-8")
        except UnicodeDecodeError:
            raise HarnessError.invalid_request("Request body is not valid UTF-8") from None

    async def json(self, *, required: bool = True) -> Any:
        """The body parsed as JSON (YAML accepted too, as Harness resources consume both)."""
        text = await self.text()
        if not text.strip():
            if required:
                raise HarnessError.validation([("body", "must not be null")])
            return None
        if self.content_type.endswith("yaml"):
            return parse_yaml_body(text)
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise HarnessError.invalid_request(
                f"Unable to process JSON: {exc.msg} at line {exc.lineno}"
            ) from None


def parse_yaml_body(text: str) -> Any:
    """Parse YAML (or JSON) text, mapping parser errors to ``INVALID_YAML_ERROR``."""
    try:
        return yaml.load(text, Loader=_YamlLoader)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise HarnessError.invalid_yaml(f"{problem}{where}") from None


class RawData:
    """Already-serialised ``data`` JSON for the success envelope (cached hot-path bodies)."""

    __slots__ = ("json",)

    def __init__(self, data_json: bytes) -> None:
        self.json = data_json


Handler = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True)
class Route:
    """One endpoint: ``auth`` is ``api`` (x-api-key + account), ``optional`` (checked only when sent),
    ``self`` (the handler authenticates, e.g. the log service) or ``none``; ``errors`` is the shape of
    its error answers, authentication failures included (``ng`` or ``goa``)."""

    method: str
    path: str
    handler: Handler
    auth: AuthMode = "api"
    errors: ErrorStyle = "ng"


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A bare JSON response (no envelope) - admin endpoints, log service, edge errors."""
    return Response(dumps(data), status_code=status, media_type="application/json", headers=headers)


def text_response(text: str, status: int = 200, media_type: str = "text/plain") -> Response:
    """A plain text response."""
    return Response(text.encode(), status_code=status, media_type=media_type)
