"""Custom webhook triggers, outbound: read a trigger's webhook URL, post to it, follow the event.

Harness answers a custom webhook at once with an event id (``eventCorrelationId``) and processes the event
later (harness-api.md §10): ``GET /pipeline/api/webhook/triggerExecutionDetails/{eventId}`` answers 400
``INVALID_REQUEST`` "Trigger event history doesn't exist for event with eventId X" until then (*pending*),
and afterwards the trigger's outcome (``FinalStatus``): ``TARGET_EXECUTION_REQUESTED`` with the
``pipelineExecutionId`` it started, or why it started nothing.

The token inside a v3 webhook URL (``…/webhook/custom/<token>/v3?…``) lets anyone fire the trigger: it is
a secret. :class:`WebhookUrl` never shows it (``repr``, :attr:`WebhookUrl.redacted`,
:meth:`WebhookUrl.public`), the post call carries it in ``ApiCall.secrets`` (redacted from every error and
from httpx's log lines), and only :meth:`WebhookUrl.reveal` gives the real URL, to send the request.

>>> url = WebhookUrl.parse("https://app.harness.io/gateway/pipeline/api/webhook/custom/tok3n_x/v3"
...                        "?accountIdentifier=acc&orgIdentifier=default&projectIdentifier=p"
...                        "&pipelineIdentifier=deploy&triggerIdentifier=on_push")
>>> url
WebhookUrl('https://app.harness.io/gateway/pipeline/api/webhook/custom/***/v3?accountIdentifier=acc&orgIdentifier=default&projectIdentifier=p&pipelineIdentifier=deploy&triggerIdentifier=on_push')
>>> url.version, url.trigger_id, "tok3n_x" in str(url.public())
('v3', 'on_push', False)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from airflow_provider_harness.client.call import SPRING_PAGE, ApiCall
from airflow_provider_harness.client.identifiers import validate_identifier

if TYPE_CHECKING:
    from airflow_provider_harness.client.errors import HarnessError
    from airflow_provider_harness.client.executions import ExecutionSnapshot
    from airflow_provider_harness.client.transport import HarnessClient

Scope = Mapping[str, str]

PERMISSION_VIEW = "core_pipeline_view"
PERMISSION_EXECUTE = "core_pipeline_execute"

#: What Harness puts in ``eventCorrelationId`` when it did not recognise the webhook at all.
UNRECOGNIZED_WEBHOOK = "UNRECOGNIZED_WEBHOOK"
#: The ``INVALID_REQUEST`` message of ``triggerExecutionDetails`` while an event is still queued.
PENDING_MESSAGE = re.compile(r"Trigger event history doesn't exist for event with eventId", re.IGNORECASE)
#: ``executionTriggerInfo.triggerType`` of executions started by a custom webhook.
WEBHOOK_CUSTOM = "WEBHOOK_CUSTOM"

#: Trigger outcomes (``TriggerEventResponse.FinalStatus``) that started (or may have started) a pipeline.
SUCCESS_OUTCOMES = frozenset(
    {
        "TARGET_EXECUTION_REQUESTED",
        "TRIGGER_CONFIRMATION_SUCCESSFUL",
        "NEW_ARTIFACT_EVENT_PROCESSED",
        "NEW_MANIFEST_EVENT_PROCESSED",
    }
)
#: Outcomes that mean "the trigger's conditions did not match this event": Harness's "skipped" set and the
#: ``NO_MATCHING_TRIGGER_FOR_*`` answers its condition filters give for custom webhooks.
DID_NOT_MATCH_OUTCOMES = frozenset(
    {
        "TRIGGER_DID_NOT_MATCH_EVENT_CONDITION",
        "TRIGGER_DID_NOT_MATCH_METADATA_CONDITION",
        "TRIGGER_DID_NOT_MATCH_ARTIFACT_JEXL_CONDITION",
        "NO_MATCHING_TRIGGER_FOR_REPO",
        "NO_MATCHING_TRIGGER_FOR_EVENT_ACTION",
        "NO_MATCHING_TRIGGER_FOR_METADATA_CONDITIONS",
        "NO_MATCHING_TRIGGER_FOR_PAYLOAD_CONDITIONS",
        "NO_MATCHING_TRIGGER_FOR_JEXL_CONDITIONS",
        "NO_MATCHING_TRIGGER_FOR_HEADER_CONDITIONS",
        "NO_MATCHING_TRIGGER_FOR_FILEPATH_CONDITIONS",
        "NO_MATCHING_TRIGGER_FOR_FOR_EVENT_SIGNATURES",
        "NO_MATCHING_TRIGGER_FOR_FOR_EVENT_CONDITION",
    }
)
#: Outcomes that mean "no enabled trigger took the event".
NO_TRIGGER_OUTCOMES = frozenset(
    {
        "NO_ENABLED_CUSTOM_TRIGGER_FOUND",
        "NO_ENABLED_CUSTOM_TRIGGER_FOUND_FOR_ACCOUNT",
        "NO_ENABLED_TRIGGER_FOR_PROJECT",
        "NO_ENABLED_TRIGGER_FOR_ACCOUNT",
        "NO_ENABLED_TRIGGER_FOR_SOURCEREPO_TYPE",
        "NO_ENABLED_TRIGGER_FOR_ACCOUNT_SOURCE_REPO",
    }
)
#: Why an outcome started nothing, in words, for the failure message.
_OUTCOME_REASONS: Mapping[str, str] = {
    **dict.fromkeys(DID_NOT_MATCH_OUTCOMES, "the trigger's conditions did not match the event"),
    **dict.fromkeys(NO_TRIGGER_OUTCOMES, "no enabled trigger took the event"),
    "INVALID_RUNTIME_INPUT_YAML": "the trigger's runtime inputs could not be resolved for this event",
    "INVALID_PAYLOAD": "Harness could not read the payload",
    "TARGET_DID_NOT_EXECUTE": "Harness did not start the pipeline",
    "EXCEPTION_WHILE_PROCESSING": "Harness failed while processing the event",
    "VALIDATION_FAILED_FOR_TRIGGER": "the trigger failed Harness's validation",
    "TRIGGER_AUTHENTICATION_FAILED": "the trigger's authentication failed",
    "TRIGGER_CONFIRMATION_FAILED": "the trigger's confirmation failed",
}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


# ---------------------------------------------------------------------------------------------------
# The webhook URL and a trigger's details
# ---------------------------------------------------------------------------------------------------

_V3_PATH = re.compile(r"^(?P<head>.*/webhook/custom/)(?P<token>[^/]+)(?P<tail>/v3)/?$")
_V2_PATH = re.compile(r"/webhook/custom/v2/?$")
_LEGACY_PATH = re.compile(r"/webhook/custom/?$")
_QUERY_FIELDS = {
    "accountIdentifier": "account_id",
    "orgIdentifier": "org_id",
    "projectIdentifier": "project_id",
    "pipelineIdentifier": "pipeline_id",
    "triggerIdentifier": "trigger_id",
}
WebhookVersion = Literal["v3", "v2", "legacy", "other"]


@dataclass(frozen=True, repr=False)
class WebhookUrl:
    """A trigger's webhook URL, parsed; the v3 token never shows (``repr``, ``redacted``, ``public()``).

    ``version``: ``v3`` (token URL, every trigger created today), ``v2`` (tokenless, triggers created before
    the tokens), ``legacy`` (the oldest ``…/webhook/custom``) or ``other`` (not a custom webhook: a Git
    provider's generic ``…/webhook`` URL, or a shape this provider does not know).

    >>> WebhookUrl.parse("https://h.example.com/gateway/pipeline/api/webhook/custom/v2?triggerIdentifier=t")
    WebhookUrl('https://h.example.com/gateway/pipeline/api/webhook/custom/v2?triggerIdentifier=t')
    """

    version: WebhookVersion
    _url: str = field(compare=True)
    token: str | None = field(default=None, compare=False)
    account_id: str | None = None
    org_id: str | None = None
    project_id: str | None = None
    pipeline_id: str | None = None
    trigger_id: str | None = None

    @classmethod
    def parse(cls, url: str) -> WebhookUrl:
        """Parse ``webhookUrl`` from a trigger's details; ``ValueError`` (without the URL) when not a URL."""
        if not isinstance(url, str) or not url.strip():
            raise ValueError("webhookUrl: Harness gave no webhook URL")
        text = url.strip()
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("webhookUrl: Harness gave a webhook URL that is not an http(s) URL")
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        ids = {name: _str(query.get(key)) for key, name in _QUERY_FIELDS.items()}
        v3 = _V3_PATH.match(parts.path)
        version: WebhookVersion
        token: str | None = None
        if v3:
            version, token = "v3", v3.group("token")
        elif _V2_PATH.search(parts.path):
            version = "v2"
        elif _LEGACY_PATH.search(parts.path):
            version = "legacy"
        else:
            version = "other"
        return cls(version, text, token, **ids)

    @property
    def is_custom(self) -> bool:
        """A custom webhook URL this provider can post to (v3, or a tokenless v2/legacy URL)."""
        return self.version in ("v3", "v2", "legacy")

    @property
    def redacted(self) -> str:
        """The URL with the token replaced by ``***``; an unknown shape shows only scheme, host and path
        up to ``/webhook`` (it may hold a token somewhere this provider does not know)."""
        parts = urlsplit(self._url)
        if self.version == "v3":
            match = _V3_PATH.match(parts.path)
            assert match is not None
            path = f"{match.group('head')}***{match.group('tail')}"
            return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))
        if self.version in ("v2", "legacy"):
            return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))
        head, found, _ = parts.path.partition("/webhook")
        return urlunsplit((parts.scheme, parts.netloc, f"{head}/webhook/***" if found else "/***", "", ""))

    def reveal(self) -> str:
        """The real URL, token included: only to send the request."""
        return self._url

    def secrets(self) -> tuple[str, ...]:
        """What to redact from messages: the token (or, for an unknown shape, the whole URL)."""
        if self.token:
            return (self.token,)
        return (self._url,) if self.version == "other" else ()

    def public(self) -> dict[str, Any]:
        """JSON-safe, secret-free parts (for XCom): redacted URL, version, ids from the query."""
        return {
            "url": self.redacted,
            "version": self.version,
            "token_in_url": self.token is not None,
            "account_id": self.account_id,
            "org_id": self.org_id,
            "project_id": self.project_id,
            "pipeline_id": self.pipeline_id,
            "trigger_id": self.trigger_id,
        }

    def __repr__(self) -> str:
        return f"WebhookUrl({self.redacted!r})"

    __str__ = __repr__

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError("Webhook URLs hold a secret token and cannot be pickled or serialized")


def redact_webhook_text(text: str | None) -> str | None:
    """``text`` (a URL, or a curl command holding one) with every custom webhook token replaced by ``***``.

    >>> redact_webhook_text("curl --url 'https://h/pipeline/api/webhook/custom/s3cr3t/v3?a=1' -d '{}'")
    "curl --url 'https://h/pipeline/api/webhook/custom/***/v3?a=1' -d '{}'"
    """
    if text is None:
        return None
    return re.sub(r"(/webhook/custom/)[^/?#'\"\s]+(/v3)", r"\1***\2", text)


@dataclass(frozen=True)
class TriggerDetails:
    """``NGTriggerDetailsResponseDTO`` (``GET /pipeline/api/triggers/{id}/details``), the parts used here.

    ``webhook`` is None for triggers without a webhook URL (scheduled, artifact, manifest ...).
    """

    identifier: str
    name: str
    type: str | None
    enabled: bool | None
    webhook: WebhookUrl | None = None
    webhook_source: str | None = None
    yaml: str | None = field(default=None, repr=False)

    def public(self) -> dict[str, Any]:
        """JSON-safe, secret-free summary (for XCom)."""
        return {
            "identifier": self.identifier,
            "name": self.name,
            "type": self.type,
            "enabled": self.enabled,
            "webhook_source": self.webhook_source,
            "webhook_url": self.webhook.redacted if self.webhook else None,
            "webhook": self.webhook.public() if self.webhook else None,
        }


def parse_webhook_url(value: Any) -> WebhookUrl | None:
    """``webhookUrl`` of a details DTO: parsed, or None when absent or not an http(s) URL."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return WebhookUrl.parse(value)
    except ValueError:
        return None


def parse_trigger_details(data: Any) -> TriggerDetails:
    """Parse the data of the trigger details endpoint (also a trigger list item)."""
    body = _mapping(data)
    enabled = body.get("enabled")
    return TriggerDetails(
        identifier=_str(body.get("identifier")) or "",
        name=_str(body.get("name")) or _str(body.get("identifier")) or "",
        type=_str(body.get("type")),
        enabled=enabled if isinstance(enabled, bool) else None,
        webhook=parse_webhook_url(body.get("webhookUrl")),
        webhook_source=_str(_mapping(body.get("webhookDetails")).get("webhookSourceRepo")),
        yaml=_str(body.get("yaml")),
    )


def trigger_details_call(scope: Scope, trigger_id: str, pipeline_id: str) -> ApiCall[TriggerDetails]:
    """``GET /pipeline/api/triggers/{trigger}/details?targetIdentifier={pipeline}`` (harness-api.md §10.4)."""
    trigger = validate_identifier(trigger_id, field="trigger_id", allow_dollar=False)
    pipeline = validate_identifier(pipeline_id, field="pipeline_id", allow_dollar=False)
    return ApiCall(
        "GET",
        f"/pipeline/api/triggers/{trigger}/details",
        params={**scope, "targetIdentifier": pipeline},
        permission=PERMISSION_VIEW,
        parse=parse_trigger_details,
    )


def get_trigger_details(
    client: HarnessClient, scope: Scope, trigger_id: str, pipeline_id: str
) -> TriggerDetails:
    """Read a trigger's details (webhook URL included)."""
    return client.send(trigger_details_call(scope, trigger_id, pipeline_id))


def postable_url(details: TriggerDetails, trigger_id: str, pipeline_id: str) -> WebhookUrl:
    """The custom webhook URL to post to, or ``ValueError`` saying why this trigger cannot be fired.

    Harness gives the v3 token URL for every trigger that has a token, and the v2 URL only for tokenless
    triggers created before the tokens; either is used as Harness gives it.
    """
    what = f"trigger {trigger_id!r} of pipeline {pipeline_id!r}"
    if details.enabled is False:
        raise ValueError(f"trigger_id: {what} is disabled in Harness; enable it to fire it")
    webhook = details.webhook
    if webhook is None:
        kind = details.type or "unknown type"
        raise ValueError(
            f"trigger_id: {what} has no webhook URL (type {kind}); only custom webhook triggers can be fired"
        )
    if not webhook.is_custom:
        source = details.webhook_source or "a Git provider"
        raise ValueError(
            f"trigger_id: {what} is not a custom webhook trigger (its webhook is for {source}, "
            f"{webhook.redacted}); only custom webhook triggers can be fired"
        )
    return webhook


# ---------------------------------------------------------------------------------------------------
# Payload and headers (checked before any request)
# ---------------------------------------------------------------------------------------------------

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
#: Headers the operator sets itself, or that must never be templated in (the API key).
RESERVED_HEADERS = frozenset({"x-api-key", "host", "content-length", "transfer-encoding", "connection"})


def webhook_payload(value: Any, *, field_name: str = "payload") -> bytes:
    """The JSON body to post: a dict/list as is, JSON or YAML text parsed; ``{}`` when empty.

    Raises ``ValueError`` naming the field (and line/column for text that does not parse).

    >>> webhook_payload({"branch": "main"}), webhook_payload("branch: main\\ntag: 1.2")
    (b'{"branch": "main"}', b'{"branch": "main", "tag": 1.2}')
    >>> webhook_payload('{"branch": main}')
    Traceback (most recent call last):
    ...
    ValueError: payload: not valid JSON at line 1, column 12: Expecting value
    """
    parsed: Any
    if value is None:
        parsed = {}
    elif isinstance(value, Mapping | list | tuple):
        parsed = dict(value) if isinstance(value, Mapping) else list(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            parsed = {}
        elif text[0] in "{[":
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"{field_name}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
                ) from None
        else:
            from airflow_provider_harness.client.executions import load_yaml_field

            parsed = load_yaml_field(text, field_name)
    else:
        raise ValueError(
            f"{field_name}: expected a dict, a list, or JSON/YAML text, got {type(value).__name__}"
        )
    if not isinstance(parsed, Mapping | list):
        raise ValueError(
            f"{field_name}: expected a JSON object or array (a dict, a list, or JSON/YAML text of one), "
            f"got {type(parsed).__name__}"
        )
    try:
        return json.dumps(parsed, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{field_name}: cannot be sent as JSON: {exc}") from None


def webhook_headers(value: Any, *, field_name: str = "headers") -> dict[str, str]:
    """Extra request headers (for the trigger's header conditions): a dict, or JSON text of one.

    Names must be HTTP header names; ``X-Api-Key`` is refused (use ``send_api_key``: a key written in
    ``headers`` would show in the rendered template fields), as are headers HTTP sets itself.

    >>> webhook_headers({"X-Event": "deploy", "X-Attempt": 2})
    {'X-Event': 'deploy', 'X-Attempt': '2'}
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"{field_name}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ) from None
    if not isinstance(value, Mapping):
        raise ValueError(
            f"{field_name}: expected a dict of header names to values, got {type(value).__name__}"
        )
    headers: dict[str, str] = {}
    for name, raw in value.items():
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            raise ValueError(f"{field_name}: {name!r} is not a valid HTTP header name")
        if name.lower() == "x-api-key":
            raise ValueError(
                f"{field_name}: do not put X-Api-Key in headers (rendered template fields would show it); "
                "set send_api_key=True to send the connection's API key"
            )
        if name.lower() in RESERVED_HEADERS:
            raise ValueError(f"{field_name}: {name!r} is set by HTTP itself; drop it")
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            raise ValueError(f"{field_name}.{name}: expected text or a number, got {type(raw).__name__}")
        text = str(raw)
        if "\r" in text or "\n" in text:
            raise ValueError(f"{field_name}.{name}: a header value cannot contain a line break")
        headers[name] = text
    return headers


# ---------------------------------------------------------------------------------------------------
# Posting and the event
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookReceipt:
    """Harness's answer to a webhook post (``NGProcessWebhookResponseDTO``); ``event_id`` is None when
    the answer carried none, ``unrecognized`` when Harness said ``UNRECOGNIZED_WEBHOOK``."""

    event_id: str | None
    api_url: str | None = None
    ui_url: str | None = None
    unrecognized: bool = False


def parse_webhook_receipt(data: Any) -> WebhookReceipt:
    """Parse ``data`` of a custom webhook answer (v2/v3 DTO, or the oldest endpoint's bare event id).

    >>> parse_webhook_receipt({"eventCorrelationId": "632394c7b018985c661747be"}).event_id
    '632394c7b018985c661747be'
    >>> parse_webhook_receipt({"eventCorrelationId": "UNRECOGNIZED_WEBHOOK"}).unrecognized
    True
    """
    if isinstance(data, str):
        event_id: str | None = data.strip() or None
        body: Mapping[str, Any] = {}
    else:
        body = _mapping(data)
        event_id = _str(body.get("eventCorrelationId"))
    if event_id == UNRECOGNIZED_WEBHOOK:
        return WebhookReceipt(None, unrecognized=True)
    return WebhookReceipt(event_id, _str(body.get("apiUrl")), _str(body.get("uiUrl")))


def webhook_post_call(
    url: WebhookUrl, body: bytes, headers: Mapping[str, str] | None = None
) -> ApiCall[WebhookReceipt]:
    """POST ``body`` to a custom webhook URL. Not repeatable: Harness queues an event for every post it
    receives, so a post whose answer was lost is never sent again (the error says ``maybe_applied``).

    The URL is used exactly as Harness gives it (its query names account, org, project, pipeline and
    trigger); the token is in ``secrets``. ``Content-Type`` is ``application/json`` unless ``headers``
    names another.
    """
    if not url.is_custom:
        raise ValueError("url: not a custom webhook URL")
    extra = dict(headers or {})
    content_type = "application/json"
    for name in list(extra):
        if name.lower() == "content-type":
            content_type = extra.pop(name)
    return ApiCall(
        "POST",
        url.reveal(),
        content=body,
        content_type=content_type,
        account="none",
        repeatable=False,
        permission=PERMISSION_EXECUTE,
        parse=parse_webhook_receipt,
        secrets=url.secrets(),
        headers=extra,
    )


def same_origin(base_url: str, url: WebhookUrl) -> bool:
    """Whether ``url`` is on the connection's Harness host (scheme, host and port), where the API key goes.

    >>> same_origin("https://app.harness.io/gateway", WebhookUrl.parse("https://app.harness.io/x/webhook/custom/v2"))
    True
    """
    import httpx

    base, target = httpx.URL(base_url), httpx.URL(url.reveal())
    return (base.scheme, base.host, base.port) == (target.scheme, target.host, target.port)


def post_webhook(
    client: HarnessClient, call: ApiCall[WebhookReceipt], *, send_api_key: bool = False
) -> WebhookReceipt:
    """Send a :func:`webhook_post_call`. The connection's API key goes along only with ``send_api_key``
    (projects with "Mandate Authorization for Custom Webhook Triggers"); the URL's token is what lets a
    webhook in, and a key also needs Pipeline Execute permission, so by default none is sent.

    The transport adds the key to every request for the connection's host; without ``send_api_key`` a
    request hook of the client's connection pool takes it off again for this one request.
    """
    if send_api_key:
        return client.send(call)
    http = client.http
    hooks = http.event_hooks

    def drop_api_key(request: Any) -> None:
        request.headers.pop("x-api-key", None)

    http.event_hooks = {**hooks, "request": [*hooks.get("request", []), drop_api_key]}
    try:
        return client.send(call)
    finally:
        http.event_hooks = hooks


@dataclass(frozen=True)
class WebhookEvent:
    """What ``triggerExecutionDetails`` says about one webhook event.

    ``pending``: Harness has not processed it yet. Otherwise ``outcome`` is the ``FinalStatus`` and, when it
    started a pipeline, ``execution_id`` (and ``execution``, the summary Harness embeds).

    >>> WebhookEvent("e1", pending=True).describe()
    'Webhook event e1 is still queued in Harness'
    """

    event_id: str
    pending: bool = False
    outcome: str | None = None
    message: str | None = None
    execution_id: str | None = None
    trigger_id: str | None = None
    pipeline_id: str | None = None
    exception_occurred: bool = False
    warning: str | None = None
    execution: ExecutionSnapshot | None = field(default=None, repr=False)

    @property
    def started(self) -> bool:
        """The event started a pipeline execution (its id is known)."""
        return not self.pending and self.execution_id is not None

    @property
    def did_not_match(self) -> bool:
        return self.outcome in DID_NOT_MATCH_OUTCOMES

    def reason(self) -> str:
        """Why the event started nothing, in words."""
        if self.outcome is None:
            return "Harness processed it without an outcome"
        if self.outcome in _OUTCOME_REASONS:
            return _OUTCOME_REASONS[self.outcome]
        if self.outcome in SUCCESS_OUTCOMES:
            return "Harness processed it but named no pipeline execution"
        return "an outcome this provider does not know"

    def describe(self) -> str:
        """One line: where the event is, or what it did."""
        if self.pending:
            return f"Webhook event {self.event_id} is still queued in Harness"
        if self.started:
            return f"Webhook event {self.event_id} started execution {self.execution_id} ({self.outcome})"
        text = f"Webhook event {self.event_id} started no pipeline execution: {self.outcome or 'no outcome'}"
        text += f" ({self.reason()})"
        if self.message:
            text += f": {' '.join(self.message.split())}"
        return text


def parse_webhook_event(data: Any, event_id: str) -> WebhookEvent:
    """Parse ``WebhookExecutionDetails`` (``webhookProcessingDetails`` + ``executionDetails``)."""
    from airflow_provider_harness.client.executions import parse_summary

    body = _mapping(data)
    processing = _mapping(body.get("webhookProcessingDetails"))
    if processing.get("eventFound") is False:
        return WebhookEvent(event_id, pending=True)
    summary = _mapping(_mapping(body.get("executionDetails")).get("pipelineExecutionSummary"))
    execution: ExecutionSnapshot | None = None
    if summary.get("planExecutionId"):
        try:
            execution = parse_summary(summary)
        except ValueError:
            execution = None
    outcome = _str(processing.get("status"))
    execution_id = _str(processing.get("pipelineExecutionId"))
    if execution_id is None and execution is not None and outcome in SUCCESS_OUTCOMES:
        execution_id = execution.execution_id
    if execution_id is not None and outcome is not None and outcome not in SUCCESS_OUTCOMES:
        execution_id = None  # an outcome that says "nothing started" wins over a stray id
    return WebhookEvent(
        event_id=_str(processing.get("eventId")) or event_id,
        outcome=outcome,
        message=_str(processing.get("message")),
        execution_id=execution_id,
        trigger_id=_str(processing.get("triggerIdentifier")),
        pipeline_id=_str(processing.get("pipelineIdentifier")),
        exception_occurred=processing.get("exceptionOccured") is True,
        warning=_str(processing.get("warningMsg")),
        execution=execution if execution_id is not None else None,
    )


_EVENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def check_event_id(event_id: Any) -> str:
    """A webhook event id (24 hex characters from Harness) safe to put in a path; ``ValueError`` otherwise."""
    if not isinstance(event_id, str) or not _EVENT_ID.match(event_id):
        raise ValueError(f"event_id: {event_id!r} is not a Harness webhook event id")
    return event_id


def event_details_call(event_id: str) -> ApiCall[WebhookEvent]:
    """``GET /pipeline/api/webhook/triggerExecutionDetails/{eventId}`` (public; account in the query)."""
    checked = check_event_id(event_id)
    return ApiCall(
        "GET",
        f"/pipeline/api/webhook/triggerExecutionDetails/{quote(checked, safe='')}",
        permission=PERMISSION_VIEW,
        parse=lambda data: parse_webhook_event(data, checked),
    )


def is_pending_error(error: HarnessError) -> bool:
    """Whether ``error`` is Harness's "not processed yet" answer (400 ``INVALID_REQUEST``).

    >>> from airflow_provider_harness.client.errors import HarnessInvalidRequestError
    >>> is_pending_error(HarnessInvalidRequestError(
    ...     "Invalid request: Trigger event history doesn't exist for event with eventId 1",
    ...     code="INVALID_REQUEST", http_status=400))
    True
    """
    from airflow_provider_harness.client.errors import HarnessInvalidRequestError

    return (
        isinstance(error, HarnessInvalidRequestError)
        and error.code in (None, "INVALID_REQUEST")
        and bool(PENDING_MESSAGE.search(str(error.message)))
    )


def read_webhook_event(client: HarnessClient, event_id: str) -> WebhookEvent:
    """The event's state now: pending (Harness's 400 "history doesn't exist"), or its outcome.

    Other errors propagate (transient ones are for the caller's error budget).
    """
    from airflow_provider_harness.client.errors import HarnessError

    try:
        return client.send(event_details_call(event_id))
    except HarnessError as exc:
        if is_pending_error(exc):
            return WebhookEvent(event_id, pending=True)
        raise


# ---------------------------------------------------------------------------------------------------
# Finding executions a trigger started (for retries that lost the event id) and marking them
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TriggeredExecution:
    """An execution from the list, with who started it (``executionTriggerInfo``)."""

    snapshot: ExecutionSnapshot
    trigger_type: str | None
    trigger_id: str | None
    event_id: str | None


def parse_triggered(item: Any) -> TriggeredExecution:
    """A list item with its ``executionTriggerInfo``: trigger type, trigger identifier, event id."""
    from airflow_provider_harness.client.executions import parse_summary

    data = _mapping(item)
    info = _mapping(data.get("executionTriggerInfo"))
    by = _mapping(info.get("triggeredBy"))
    return TriggeredExecution(
        snapshot=parse_summary(data),
        trigger_type=_str(info.get("triggerType")),
        trigger_id=_str(by.get("identifier")),
        event_id=_str(_mapping(by.get("extraInfo")).get("eventCorrelationId")),
    )


def trigger_executions_call(scope: Scope, pipeline_id: str, trigger_id: str) -> ApiCall[Any]:
    """List executions of ``pipeline_id`` started by custom webhook trigger ``trigger_id``, newest first.

    The filter body's ``triggerTypes`` / ``triggerIdentifiers`` (``PipelineExecutionFilterPropertiesDTO``)
    narrow it on Harness; :func:`find_trigger_executions` checks both again on each item.
    """
    pipeline = validate_identifier(pipeline_id, field="pipeline_id", allow_dollar=False)
    trigger = validate_identifier(trigger_id, field="trigger_id", allow_dollar=False)
    return ApiCall(
        "POST",
        "/pipeline/api/pipelines/execution/summary",
        params={**scope, "pipelineIdentifier": pipeline, "sort": "startTs,DESC"},
        json={
            "filterType": "PipelineExecution",
            "triggerTypes": [WEBHOOK_CUSTOM],
            "triggerIdentifiers": [trigger],
        },
        permission=PERMISSION_VIEW,
        page=SPRING_PAGE,
    )


def find_trigger_executions(
    client: HarnessClient,
    scope: Scope,
    pipeline_id: str,
    trigger_id: str,
    *,
    started_after_ms: int,
    max_pages: int = 2,
    page_size: int = 50,
) -> list[TriggeredExecution]:
    """Executions of ``pipeline_id`` that custom webhook trigger ``trigger_id`` started at or after
    ``started_after_ms``, newest first. Bounded: at most ``max_pages`` list calls. Errors propagate."""
    call = trigger_executions_call(scope, pipeline_id, trigger_id)
    found: list[TriggeredExecution] = []
    for item in client.paginate(call, page_size=page_size, limit=max_pages * page_size):
        try:
            triggered = parse_triggered(item)
        except ValueError:
            continue
        start = triggered.snapshot.start_ts
        if triggered.trigger_type != WEBHOOK_CUSTOM or triggered.trigger_id != trigger_id:
            continue
        if start is not None and start < started_after_ms:
            continue
        found.append(triggered)
    found.sort(key=lambda t: t.snapshot.start_ts or 0, reverse=True)
    return found


def set_notes_call(scope: Scope, execution_id: str, notes: str) -> ApiCall[Any]:
    """Replace an execution's notes (``PUT …/execution/{id}/notes?notesForPipelineExecution=…``)."""
    if not isinstance(execution_id, str) or not execution_id.strip() or "/" in execution_id:
        raise ValueError(f"execution_id: {execution_id!r} is not a Harness plan execution id")
    return ApiCall(
        "PUT",
        f"/pipeline/api/pipelines/execution/{quote(execution_id.strip(), safe='-_')}/notes",
        params={**scope, "notesForPipelineExecution": notes},
        permission=PERMISSION_EXECUTE,
    )


__all__ = [
    "DID_NOT_MATCH_OUTCOMES",
    "NO_TRIGGER_OUTCOMES",
    "SUCCESS_OUTCOMES",
    "UNRECOGNIZED_WEBHOOK",
    "WEBHOOK_CUSTOM",
    "TriggerDetails",
    "TriggeredExecution",
    "WebhookEvent",
    "WebhookReceipt",
    "WebhookUrl",
    "check_event_id",
    "event_details_call",
    "find_trigger_executions",
    "get_trigger_details",
    "is_pending_error",
    "parse_trigger_details",
    "parse_triggered",
    "parse_webhook_event",
    "parse_webhook_receipt",
    "parse_webhook_url",
    "post_webhook",
    "postable_url",
    "read_webhook_event",
    "redact_webhook_text",
    "same_origin",
    "set_notes_call",
    "trigger_details_call",
    "trigger_executions_call",
    "webhook_headers",
    "webhook_payload",
    "webhook_post_call",
]
