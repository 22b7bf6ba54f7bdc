"""One exception hierarchy for every way a Harness call can fail, and the function that picks one.

Harness reports not-found by ``code`` (often with HTTP 400), sends 429 without ``Retry-After`` from
its edge, and proxies in front of it answer with HTML. :func:`error_from_response` turns all of these
into one clear, single-line exception carrying Harness's message, code and correlation id.

>>> err = HarnessNotFoundError("Organization with identifier [x] not found", code="RESOURCE_NOT_FOUND_EXCEPTION",
...                            http_status=400, method="GET", path="/ng/api/organizations/x")
>>> print(err)
Organization with identifier [x] not found (RESOURCE_NOT_FOUND_EXCEPTION, HTTP 400, GET /ng/api/organizations/x)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

#: Codes that mean "this does not exist", whatever the HTTP status (harness-api.md §2.4).
NOT_FOUND_CODES = frozenset(
    {
        "RESOURCE_NOT_FOUND_EXCEPTION",
        "ENTITY_NOT_FOUND",
        "RESOURCE_NOT_FOUND",
        "CONNECTOR_NOT_FOUND_EXCEPTION",
        "SECRET_NOT_FOUND",
        "TEMPLATE_NOT_FOUND",
    }
)
AUTHENTICATION_CODES = frozenset({"INVALID_TOKEN", "EXPIRED_TOKEN", "INVALID_CREDENTIAL"})
PERMISSION_CODES = frozenset({"NG_ACCESS_DENIED", "ACCESS_DENIED"})
CONFLICT_CODES = frozenset({"DUPLICATE_FIELD"})
RATE_LIMIT_CODES = frozenset({"TOO_MANY_REQUESTS"})


class HarnessError(Exception):
    """Base class: a Harness call failed. ``str()`` is one line with message, code and correlation id."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        http_status: int | None = None,
        correlation_id: str | None = None,
        method: str | None = None,
        path: str | None = None,
        hint: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status
        self.correlation_id = correlation_id
        self.method = method
        self.path = path
        self.hint = hint
        self.attempts = attempts

    def __str__(self) -> str:
        details = [d for d in (self.code, self.http_status and f"HTTP {self.http_status}") if d]
        if self.method and self.path:
            details.append(f"{self.method} {self.path}")
        if self.attempts > 1:
            details.append(f"after {self.attempts} attempts")
        if self.correlation_id:
            details.append(f"correlationId={self.correlation_id}")
        text = self.message
        if details:
            text += f" ({', '.join(str(d) for d in details)})"
        if self.hint:
            text += f". {self.hint}"
        return text.replace("\n", " ")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_error, (type(self), self.message, self.__dict__))


def _rebuild_error(cls: type[HarnessError], message: str, state: dict[str, Any]) -> HarnessError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err


class HarnessAuthenticationError(HarnessError):
    """The API key is missing, invalid or expired (HTTP 401)."""


class HarnessPermissionError(HarnessError):
    """The API key is valid but lacks a permission (HTTP 403); ``permission`` names it when known."""

    permission: str | None = None


class HarnessNotFoundError(HarnessError):
    """The resource or execution does not exist (detected by code; Harness often answers 400)."""


class HarnessConflictError(HarnessError):
    """The resource already exists (``DUPLICATE_FIELD``) or changed concurrently (HTTP 409/412)."""


class HarnessInvalidRequestError(HarnessError):
    """Harness refused the request as invalid (HTTP 400 and other 4xx)."""


class HarnessRateLimitError(HarnessError):
    """Harness (its edge) rejected the call with HTTP 429; about 1000 requests/min per API key are allowed."""


class HarnessServerError(HarnessError):
    """Harness or a proxy in front of it failed (5xx, HTML error pages, bodies that are not JSON).

    ``maybe_applied`` is True when the request may have reached Harness and taken effect.
    """

    maybe_applied: bool = False


class HarnessTransportError(HarnessError):
    """The request did not complete on the network (connection refused, timeout, TLS, proxy).

    ``request_sent`` is False when the request surely never reached Harness (connect errors), so even
    a request that starts something can be sent again.
    """

    request_sent: bool = True


def _first(*values: object) -> str | None:
    for value in values:
        if isinstance(value, str) and value:
            return value
    return None


def _html_title(text: str) -> str | None:
    match = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    if match:
        return " ".join(match.group(1).split())[:120] or None
    match = re.search(r"<h1[^>]*>(.*?)</h1>", text, re.IGNORECASE | re.DOTALL)
    return " ".join(re.sub(r"<[^>]+>", "", match.group(1)).split())[:120] if match else None


def _permission_from_body(body: Mapping[str, Any]) -> str | None:
    checks = body.get("failedPermissionChecks")
    if isinstance(checks, list):
        names = [c.get("permission") for c in checks if isinstance(c, Mapping) and c.get("permission")]
        if names:
            return ", ".join(str(n) for n in names)
    return None


def parse_error_body(text: str) -> tuple[str | None, str | None, str | None, Mapping[str, Any]]:
    """Return ``(message, code, correlation_id, body)`` from any error body Harness or its edge sends."""
    stripped = text.strip()
    if not stripped:
        return None, None, None, {}
    try:
        body = json.loads(stripped)
    except ValueError:
        if stripped.startswith("<") or "<html" in stripped[:500].lower():
            title = _html_title(stripped)
            return (f"HTML page {title!r}" if title else "an HTML page"), None, None, {}
        return " ".join(stripped.split())[:300], None, None, {}
    if not isinstance(body, Mapping):
        return None, None, None, {}
    messages = body.get("responseMessages")
    first_message = None
    if isinstance(messages, list) and messages and isinstance(messages[0], Mapping):
        first_message = messages[0].get("message")
    message = _first(body.get("message"), first_message, body.get("error_msg"), body.get("error"))
    code = _first(body.get("code"), body.get("name"))
    if isinstance(body.get("code"), int) and not isinstance(body.get("code"), bool):
        code = None  # Dropwizard's {"code": 400, "message": "..."}
    return message, code, _first(body.get("correlationId"), body.get("id")), body


def classify(http_status: int | None, code: str | None) -> type[HarnessError]:
    """Pick the exception class for an HTTP status and Harness code (code wins where it is specific)."""
    if code in NOT_FOUND_CODES:
        return HarnessNotFoundError
    if code in AUTHENTICATION_CODES or http_status == 401:
        return HarnessAuthenticationError
    if code in PERMISSION_CODES or http_status == 403:
        return HarnessPermissionError
    if code in RATE_LIMIT_CODES or http_status == 429:
        return HarnessRateLimitError
    if code in CONFLICT_CODES or http_status in (409, 412):
        return HarnessConflictError
    if http_status is not None and http_status >= 500:
        return HarnessServerError
    if http_status == 404:
        return HarnessNotFoundError
    return HarnessInvalidRequestError


def error_from_response(
    http_status: int,
    text: str,
    *,
    method: str,
    path: str,
    permission: str | None = None,
    account_id: str | None = None,
    envelope_status: str | None = None,
) -> HarnessError:
    """Build the right :class:`HarnessError` for a failed response.

    ``permission`` is the permission the call needs, named in a 403 when Harness does not list it.
    """
    message, code, correlation_id, body = parse_error_body(text)
    cls = classify(http_status if http_status >= 300 else None, code)
    if cls is HarnessInvalidRequestError and http_status >= 500:
        cls = HarnessServerError
    hint: str | None = None
    if cls is HarnessAuthenticationError:
        message = f"Harness rejected the API key: {message or 'no message'}"
        hint = (
            f"Check the API key (connection password or HARNESS_API_KEY) and that it belongs to account "
            f"{account_id!r}" if account_id else "Check the API key"
        )
    elif cls is HarnessPermissionError:
        needed = _permission_from_body(body) or permission
        message = f"Permission denied by Harness: {message or 'no message'}"
        if needed:
            hint = f"The API key needs the {needed!r} permission in this scope"
    elif cls is HarnessRateLimitError:
        message = f"Harness rate limit hit: {message or 'HTTP 429 Too Many Requests'}"
        hint = "Harness allows about 1000 API requests per minute per API key; poll less often or spread the load"
    elif cls is HarnessServerError and not code:
        message = f"HTTP {http_status} from Harness or a proxy in front of it: {message or 'empty body'}"
    elif message is None:
        message = f"HTTP {http_status} with an empty body" if http_status >= 300 else "Harness reported a failure"
    if envelope_status and envelope_status not in ("SUCCESS",) and code is None:
        code = envelope_status
    error = cls(
        message,
        code=code,
        http_status=http_status,
        correlation_id=correlation_id,
        method=method,
        path=path,
        hint=hint,
    )
    if isinstance(error, HarnessPermissionError):
        error.permission = _permission_from_body(body) or permission
    return error


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret value in ``text`` with ``***``.

    >>> redact("/webhook/custom/tok123/v3", ["tok123"])
    '/webhook/custom/***/v3'
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
