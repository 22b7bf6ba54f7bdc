"""One exception hierarchy for every way a Harness call can fail, and the function that picks one.

Harness reports not-found by ``code`` (often with HTTP 400), sends 429 without ``Retry-After`` from
its edge, and proxies in front of it answer with HTML. :func:`error_from_response` turns all of these
into one clear, single-line exception carrying Harness's message, code and correlation id.

A missing resource (:class:`HarnessNotFoundError`, whose hint names the account/org/project the request
looked in) is told apart from a missing *endpoint* (:class:`HarnessEndpointNotFoundError`: Jersey's
``HTTP 404 Not Found`` for a route the server does not have, or the edge's HTML 404), so "not found"
never makes a caller create a resource or report it gone when the API itself is missing.

>>> err = HarnessNotFoundError("Organization with identifier [x] not found",
...                            code="RESOURCE_NOT_FOUND_EXCEPTION", http_status=400,
...                            method="GET", path="/ng/api/organizations/x")
>>> print(err)  # doctest: +NORMALIZE_WHITESPACE
Organization with identifier [x] not found
(RESOURCE_NOT_FOUND_EXCEPTION, HTTP 400, GET /ng/api/organizations/x)
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
#: ``INVALID_REQUEST`` messages that mean "this does not exist": execute / retry of a missing pipeline
#: answer ``Invalid request: Pipeline with the given ID: p does not exist or has been deleted`` with HTTP
#: 400 (harness-api.md §2.4, §9.1). Other INVALID_REQUESTs (e.g. a webhook event not processed yet,
#: "Trigger event history doesn't exist ...") are not matched.
NOT_FOUND_MESSAGE = re.compile(r"\bdoes not exist or has been deleted\b", re.IGNORECASE)
#: The message of the ``javax.ws.rs.NotFoundException`` Jersey raises for a route it does not have
#: (Harness maps it to HTTP 400 ``RESOURCE_NOT_FOUND_EXCEPTION``; Dropwizard's own mapper to a 404
#: ``{"code": 404, "message": ...}``), harness-api.md §2.3.
UNKNOWN_ROUTE_MESSAGE = re.compile(r"^\s*HTTP 404 Not Found\.?\s*$", re.IGNORECASE)


class HarnessError(Exception):
    """Base class: a Harness call failed. ``str()`` is one line with message, code and correlation id.

    ``maybe_applied`` is True when a request that starts something (``repeatable=False``) may have
    reached Harness and taken effect although it failed; it was not sent again.

    >>> print(HarnessError("Token is not valid.", code="INVALID_TOKEN", http_status=401, hint="Check it"))
    Token is not valid (INVALID_TOKEN, HTTP 401). Check it
    """

    maybe_applied: bool = False

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
        scope: Mapping[str, str] | None = None,
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
        #: Where the request looked: ``{"account": ..., "org": ..., "project": ...}`` as it was sent
        #: (only the levels the request named), or None when unknown.
        self.scope = dict(scope) if scope else None

    def __str__(self) -> str:
        details = [d for d in (self.code, self.http_status and f"HTTP {self.http_status}") if d]
        if self.method and self.path and f"{self.method} {self.path}" not in str(self.message):
            details.append(f"{self.method} {self.path}")
        if self.attempts > 1:
            details.append(f"after {self.attempts} attempts")
        if self.correlation_id:
            details.append(f"correlationId={self.correlation_id}")
        text = " ".join(str(self.message).split())
        if details:
            if text.endswith(".") and not text.endswith(".."):
                text = text[:-1]
            text += f" ({', '.join(str(d) for d in details)})"
        if self.hint:
            text += f". {self.hint}"
        return " ".join(text.split())

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
    """The resource or execution does not exist (detected by code; Harness often answers 400).

    Also ``INVALID_REQUEST`` "... does not exist or has been deleted" (running a missing pipeline). The
    hint names the scope the request looked in (``scope``), since a wrong org or project reads the same.
    """


class HarnessEndpointNotFoundError(HarnessError):
    """Harness has no such endpoint: not a missing resource, a missing API (or a wrong URL).

    Jersey answers a route it does not have with ``RESOURCE_NOT_FOUND_EXCEPTION`` "HTTP 404 Not Found"
    (HTTP 400), e.g. an older self-managed Harness without a newer API; Harness's edge answers an
    unknown prefix with an HTML 404. Deliberately not a :class:`HarnessNotFoundError`, so resource
    ``apply`` does not try a create and ``delete`` does not report "already gone".

    >>> err = error_from_response(400, '{"status": "FAILURE", "code": "RESOURCE_NOT_FOUND_EXCEPTION", '
    ...     '"message": "HTTP 404 Not Found"}', method="POST", path="/ng/api/xyz")
    >>> isinstance(err, HarnessEndpointNotFoundError), isinstance(err, HarnessNotFoundError)
    (True, False)
    >>> err.message
    'Harness has no endpoint POST /ng/api/xyz (HTTP 404 Not Found from Jersey)'
    """


class HarnessConflictError(HarnessError):
    """The resource already exists (``DUPLICATE_FIELD``) or changed concurrently (HTTP 409/412)."""


class HarnessInvalidRequestError(HarnessError):
    """Harness refused the request as invalid (HTTP 400 and other 4xx)."""


class HarnessPolicyError(HarnessInvalidRequestError):
    """Harness's policy evaluation (OPA) failed, so the change was not applied; ``policies`` names them.

    >>> print(HarnessPolicyError("Policy 'No public buckets' denied it: bucket is public",
    ...                          policies=("no_public_buckets",)))
    Policy 'No public buckets' denied it: bucket is public
    """

    def __init__(self, message: str, *, policies: Iterable[str] = (), **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.policies = tuple(policies)


class HarnessRateLimitError(HarnessError):
    """Harness (its edge) rejected the call with HTTP 429; about 1000 requests/min per API key are allowed."""


class HarnessServerError(HarnessError):
    """Harness or a proxy in front of it failed (5xx, HTML error pages, bodies that are not JSON).

    ``maybe_applied`` is True when the request may have reached Harness and taken effect.
    """


class HarnessTransportError(HarnessError):
    """The request did not complete on the network (connection refused, timeout, TLS, proxy).

    ``request_sent`` is False when the request surely never reached Harness (connect errors), so even
    a request that starts something can be sent again. ``retryable`` is False for failures that
    retrying cannot fix (TLS certificate errors).
    """

    request_sent: bool = True
    retryable: bool = True


def _first(*values: object) -> str | None:
    for value in values:
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _html_title(text: str) -> str | None:
    match = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    if match:
        return " ".join(match.group(1).split())[:120] or None
    match = re.search(r"<h1[^>]*>(.*?)</h1>", text, re.IGNORECASE | re.DOTALL)
    if match:
        return " ".join(re.sub(r"<[^>]+>", "", match.group(1)).split())[:120] or None
    return None


def _looks_like_html(text: str) -> bool:
    head = text[:500].lower()
    return text.startswith("<") or "<html" in head or "<!doctype" in head


def _permission_from_body(body: Mapping[str, Any]) -> str | None:
    checks = body.get("failedPermissionChecks")
    if isinstance(checks, list):
        names: list[str] = []
        for check in checks:
            if not isinstance(check, Mapping) or not check.get("permission"):
                continue
            if check.get("permitted") is True:
                continue
            if str(check["permission"]) not in names:
                names.append(str(check["permission"]))
        if names:
            return ", ".join(names)
    return None


def _field_errors(body: Mapping[str, Any]) -> str | None:
    errors = body.get("errors")
    if not isinstance(errors, list):
        return None
    parts = []
    for item in errors:
        if isinstance(item, Mapping):
            field, error = item.get("fieldId"), _first(item.get("error"), item.get("message"))
            if error:
                parts.append(f"{field}: {error}" if field else error)
    return ", ".join(parts) or None


def body_kind(text: str) -> str:
    """``empty``, ``html``, ``json`` or ``text``: what an HTTP body is, for messages."""
    stripped = text.strip()
    if not stripped:
        return "empty"
    if stripped[0] in '{["':
        try:
            json.loads(stripped)
            return "json"
        except ValueError:
            pass
    return "html" if _looks_like_html(stripped) else "text"


def parse_error_body(text: str) -> tuple[str | None, str | None, str | None, Mapping[str, Any]]:
    """Return ``(message, code, correlation_id, body)`` from any error body Harness or its edge sends.

    Handles NG ``ErrorDTO``/``FailureDTO`` (incl. ``errors[]``), goa errors (IaCM: ``name``/``id``),
    the log service's ``error_msg``, Dropwizard's ``{"code": 400, "message": …}``, problem+json,
    plain text and HTML pages (their title).
    """
    stripped = text.strip()
    kind = body_kind(stripped)
    if kind == "empty":
        return None, None, None, {}
    if kind == "html":
        title = _html_title(stripped)
        return (f"HTML page {title!r}" if title else "HTML page without a title"), None, None, {}
    if kind == "text":
        return " ".join(stripped.split())[:300], None, None, {}
    body = json.loads(stripped)
    if isinstance(body, str):
        return _first(body), None, None, {}
    if not isinstance(body, Mapping):
        return None, None, None, {}
    messages = body.get("responseMessages")
    first_message = None
    if isinstance(messages, list):
        first_message = _first(*(m.get("message") for m in messages if isinstance(m, Mapping)))
    error = body.get("error")
    message = _first(
        body.get("message"),
        first_message,
        body.get("detailedMessage"),
        body.get("error_msg"),
        error if isinstance(error, str) else None,
        error.get("message") if isinstance(error, Mapping) else None,
        _field_errors(body),
        body.get("detail"),
        body.get("title"),
    )
    raw_code = body.get("code")
    code = _first(raw_code) if isinstance(raw_code, str) else None  # Dropwizard's code is the HTTP status
    correlation_id = _first(body.get("correlationId"))
    goa = "name" in body and any(key in body for key in ("fault", "temporary", "timeout"))
    if goa:  # IaCM: {"name": "not_found", "id": "...", "message": ..., "temporary": ..., "fault": ...}
        code = code or _first(body.get("name"))
        correlation_id = correlation_id or _first(body.get("id"))
    return message, code, correlation_id, body


def is_unknown_route(
    http_status: int | None, code: str | None, message: str | None, kind: str | None = None
) -> bool:
    """Whether an error answer means "no such endpoint" rather than "no such resource".

    Jersey's ``HTTP 404 Not Found`` (as Harness's 400 ``RESOURCE_NOT_FOUND_EXCEPTION`` or Dropwizard's
    404 without a Harness code), or a 404 whose body is not JSON (HTML, plain text, empty: the edge).

    >>> is_unknown_route(400, "RESOURCE_NOT_FOUND_EXCEPTION", "HTTP 404 Not Found")
    True
    >>> is_unknown_route(400, "RESOURCE_NOT_FOUND_EXCEPTION", "Organization with identifier [x] not found")
    False
    """
    jersey = bool(message and UNKNOWN_ROUTE_MESSAGE.match(message))
    if code in NOT_FOUND_CODES:
        return jersey
    if code is None and http_status == 404:
        return jersey or kind in ("html", "empty", "text")
    return False


def classify(
    http_status: int | None,
    code: str | None,
    message: str | None = None,
    *,
    kind: str | None = None,
) -> type[HarnessError]:
    """Pick the exception class for an HTTP status and Harness code (code wins where it is specific).

    ``message`` and the body ``kind`` (see :func:`body_kind`) tell an unknown route from a missing
    resource, and an ``INVALID_REQUEST`` that means "does not exist" from other refusals.

    >>> classify(400, "INVALID_REQUEST", "Invalid request: Pipeline with the given ID: p does not exist "
    ...          "or has been deleted").__name__
    'HarnessNotFoundError'
    """
    if is_unknown_route(http_status, code, message, kind):
        return HarnessEndpointNotFoundError
    if code in NOT_FOUND_CODES:
        return HarnessNotFoundError
    if code == "INVALID_REQUEST" and message and NOT_FOUND_MESSAGE.search(message):
        return HarnessNotFoundError
    if code in AUTHENTICATION_CODES or http_status == 401:
        return HarnessAuthenticationError
    if code in PERMISSION_CODES or http_status == 403:
        return HarnessPermissionError
    if code in RATE_LIMIT_CODES or http_status == 429:
        return HarnessRateLimitError
    if code in CONFLICT_CODES or http_status in (409, 412):
        return HarnessConflictError
    if http_status is not None and (http_status >= 500 or http_status == 408):
        return HarnessServerError
    if http_status == 404:
        return HarnessNotFoundError
    return HarnessInvalidRequestError


URL_HINT = (
    "Check the Harness URL (connection host or HARNESS_BASE_URL): it is the API address such as "
    "https://app.harness.io, or https://harness.example.com/gateway for a self-managed Harness"
)
SERVER_HINT = (
    "The service may be down or a proxy/load balancer is failing; try again later, "
    "and check the proxy settings if it persists"
)
RATE_LIMIT_HINT = (
    "Harness allows about 1000 API requests per minute per API key; poll less often or spread the load"
)
UNKNOWN_ROUTE_HINT = (
    "The server may be an older self-managed Harness without this API (upgrade it or use an API it "
    "has), or the Harness URL (connection host or HARNESS_BASE_URL) points at something other than "
    "the Harness API"
)
_SCOPE_LABELS = (("account", "account"), ("org", "organization"), ("project", "project"))


def scope_hint(scope: Mapping[str, str]) -> str | None:
    """The hint of a not-found error: the scope the request looked in, and how to fix a wrong one.

    >>> hint = scope_hint({"account": "acc", "org": "default", "project": "nope"})
    >>> hint.split(";")[0]
    "Harness looked in account 'acc', organization 'default', project 'nope'"
    >>> scope_hint({"account": "acc"})
    "Harness looked in account 'acc'; check the identifier and the connection's account id"
    """
    where = ", ".join(f"{label} {scope[key]!r}" for key, label in _SCOPE_LABELS if scope.get(key))
    if not where:
        return None
    if scope.get("org") or scope.get("project"):
        return (
            f"Harness looked in {where}; if that is the wrong organization or project, check org_id/"
            "project_id on the task or the connection's defaults (extras org_id/project_id, or "
            "HARNESS_ORG_ID/HARNESS_PROJECT_ID)"
        )
    return f"Harness looked in {where}; check the identifier and the connection's account id"


def error_from_response(
    http_status: int,
    text: str,
    *,
    method: str,
    path: str,
    permission: str | None = None,
    account_id: str | None = None,
    envelope_status: str | None = None,
    key_account: str | None = None,
    scope: Mapping[str, str] | None = None,
) -> HarnessError:
    """Build the right :class:`HarnessError` for a failed response.

    ``permission`` is the permission the call needs, named in a 403 when Harness does not list it.
    ``envelope_status`` is ``FAILURE``/``ERROR`` for an error envelope that came with HTTP 2xx.
    ``key_account`` is the account named inside the API key (``pat.<account>.…``), checked on 401.
    ``scope`` is where the request looked (``account``/``org``/``project`` as sent); a not-found error
    names it in its hint.
    """
    message, code, correlation_id, body = parse_error_body(text)
    kind = body_kind(text)
    cls = classify(None if envelope_status else http_status, code, message, kind=kind)
    hint: str | None = None
    if cls is HarnessEndpointNotFoundError:
        if kind in ("html", "empty", "text"):  # the edge (or a proxy) answered: usually the URL
            message = f"No such Harness endpoint ({message})" if message else "No such Harness endpoint"
            hint = URL_HINT
        else:
            message = f"Harness has no endpoint {method} {path} (HTTP 404 Not Found from Jersey)"
            hint = UNKNOWN_ROUTE_HINT
    elif cls is HarnessNotFoundError:
        hint = scope_hint(scope) if scope else None
        message = message or "Harness found no such resource"
    elif cls is HarnessAuthenticationError:
        message = f"Harness rejected the API key: {message}" if message else "Harness rejected the API key"
        if account_id and key_account and key_account != account_id:
            hint = (
                f"The API key belongs to account {key_account!r} but the connection names account "
                f"{account_id!r}; fix the account id or use a key of that account"
            )
        else:
            hint = "Check the API key (connection password or HARNESS_API_KEY)" + (
                f" and that it is a valid, unexpired key of account {account_id!r}" if account_id else ""
            )
    elif cls is HarnessPermissionError:
        needed = _permission_from_body(body) or permission
        message = f"Permission denied by Harness: {message}" if message else "Permission denied by Harness"
        hint = (
            f"The API key needs the {needed!r} permission in this scope"
            if needed
            else "The API key lacks a permission this call needs in this scope"
        )
    elif cls is HarnessRateLimitError:
        # The edge's 429 page (HTML, often titled just "429") says nothing more than the status does.
        detail = message if message and kind != "html" else "too many requests"
        message = f"Harness rate limit hit: {detail}"
        hint = RATE_LIMIT_HINT
    elif cls is HarnessServerError and not code:
        if kind == "html":
            title = _html_title(text)
            what = f"an HTML error page {title!r}" if title else "an HTML error page"
        elif kind == "empty":
            what = "an empty body"
        else:
            what = f"{message!r}" if message else "an error"
        message = f"Harness or a proxy in front of it answered with {what}"
        hint = SERVER_HINT
    elif cls is HarnessServerError:
        hint = SERVER_HINT if not message else None
        message = message or "Harness failed"
    elif message is None:
        message = "Harness reported a failure" if envelope_status else "Harness refused the request"
    if envelope_status and code is None:
        code = envelope_status
    error = cls(
        message,
        code=code,
        http_status=http_status,
        correlation_id=correlation_id,
        method=method,
        path=path,
        hint=hint,
        scope=scope,
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
