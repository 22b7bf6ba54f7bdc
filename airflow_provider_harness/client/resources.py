"""Generic create / get / update / delete / list / apply of Harness resources, driven by one table.

The kinds are data (:mod:`.resource_kinds`); this module builds :class:`~.call.ApiCall` values from that
table (pure functions, no I/O) and orchestrates them (:func:`get`, :func:`delete`, :func:`list_resources`,
:func:`apply`). Harness is special in a few places, and only those have their own code: connector test,
service deployment status, file secrets (multipart) and write-only secret values.

Specs are what platform teams paste: a Harness document (``pipeline:``, ``inputSet:``, ``trigger:``,
``service:``, ``environment:``, ``infrastructureDefinition:``, ``connector:``, ``secret:``, ``project:``,
``organization:``) or ``{"kind": ..., "org_id": ..., "project_id": ..., "spec": {...}}``. Everything is
checked before any request; problems raise ``ValueError`` naming the field and the fix.

>>> from airflow_provider_harness.client.config import HarnessConfig, Secret
>>> config = HarnessConfig(account_id="acc", api_key=Secret("pat.acc.t.s"), org_id="default")
>>> spec = parse_spec({"kind": "project", "spec": {"identifier": "team_a", "name": "Team A"}}, config)
>>> spec.identifier, spec.scope, create_call(spec.kind, spec.scope, spec.entity).path
('team_a', {'orgIdentifier': 'default'}, '/ng/api/projects')
>>> get_call("project", {"orgIdentifier": "default"}, "team_a").params
{'orgIdentifier': 'default'}
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import yaml

from airflow_provider_harness.client.call import ApiCall
from airflow_provider_harness.client.config import HarnessConfig, ScopeLevel
from airflow_provider_harness.client.errors import (
    HarnessConflictError,
    HarnessError,
    HarnessInvalidRequestError,
    HarnessNotFoundError,
    redact,
)
from airflow_provider_harness.client.identifiers import validate_identifier
from airflow_provider_harness.client.resource_kinds import (
    RESOURCE_KINDS,
    YAML_ROOTS,
    ResourceKind,
    Verb,
    article,
    resource_kind,
)

if TYPE_CHECKING:
    from airflow_provider_harness.client.transport import HarnessClient
    from airflow_provider_harness.client.webhooks import WebhookUrl

Action = Literal["created", "updated", "unchanged"]
KindArg = ResourceKind | str

_LEVELS: dict[str, int] = {"account": 0, "org": 1, "project": 2}
#: Keys of the ``kind:`` spec form.
SPEC_KEYS = frozenset(
    {"kind", "scope", "org_id", "project_id", "pipeline_id", "environment_id", "git", "spec"}
)


# --------------------------------------------------------------------------------------------- scope


def scope_level(scope: Mapping[str, str]) -> ScopeLevel:
    """The level a scope-params dict names.

    >>> scope_level({}), scope_level({"orgIdentifier": "o"})
    ('account', 'org')
    """
    if scope.get("projectIdentifier"):
        return "project"
    return "org" if scope.get("orgIdentifier") else "account"


def _check_scope(kind: ResourceKind, scope: Mapping[str, str]) -> dict[str, str]:
    level = scope_level(scope)
    if level not in kind.scopes:
        raise ValueError(
            f"scope: {kind.a} lives at {' or '.join(kind.scopes)} level, not at {level} level; "
            f"{_scope_fix(kind)}"
        )
    if level == "project" and not scope.get("orgIdentifier"):
        raise ValueError("org_id: a project-level call needs the organization of the project; pass org_id=")
    out = {}
    for key, name in (("orgIdentifier", "org_id"), ("projectIdentifier", "project_id")):
        if scope.get(key):
            out[key] = validate_identifier(scope[key], field=name)
    return out


def _scope_fix(kind: ResourceKind) -> str:
    if kind.scopes == ("account",):
        return "do not pass org_id/project_id for it"
    if kind.scopes == ("org",):
        return "pass org_id= only (the project's own id is its identifier)"
    if kind.scopes == ("project",):
        return "pass org_id= and project_id= (or set defaults in the Harness connection)"
    return "pass scope='account', 'org' or 'project' with the matching org_id/project_id"


def resolve_scope(
    config: HarnessConfig,
    kind: KindArg,
    *,
    scope: str | None = None,
    org_id: str | None = None,
    project_id: str | None = None,
    what: str = "",
) -> dict[str, str]:
    """Scope params for ``kind``: the level is ``scope``, else the deepest id given, else the kind's default.

    Connection defaults fill missing org / project ids. Raises ``ValueError`` naming the field.

    >>> from airflow_provider_harness.client.config import Secret
    >>> cfg = HarnessConfig(account_id="a", api_key=Secret("k"), org_id="o", project_id="p")
    >>> resolve_scope(cfg, "connector"), resolve_scope(cfg, "connector", scope="account")
    ({'orgIdentifier': 'o', 'projectIdentifier': 'p'}, {})
    """
    kind = resource_kind(kind)
    if scope is not None:
        if scope not in _LEVELS:
            raise ValueError(f"scope: {scope!r} is not a scope level; use 'account', 'org' or 'project'")
        level: str = scope
        if level == "account" and (org_id or project_id):
            raise ValueError(
                "scope: 'account' was asked for but org_id/project_id were given; drop one of them"
            )
        if level == "org" and project_id:
            raise ValueError("scope: 'org' was asked for but project_id was given; drop one of them")
    elif project_id:
        level = "project"
    elif org_id:
        level = "org"
    else:
        level = kind.default_scope
    if level not in kind.scopes:
        deepest = max(kind.scopes, key=_LEVELS.__getitem__)
        if scope is None and _LEVELS[level] < _LEVELS[deepest]:
            level = deepest  # a pipeline with only orgIdentifier: the project comes from the connection
        else:
            given = "project_id" if project_id else "org_id" if org_id else "scope"
            raise ValueError(
                f"{given}: {kind.a} lives at {' or '.join(kind.scopes)} level, "
                f"not at {level} level; "
                f"{_scope_fix(kind)}"
            )
    return config.scope_params(level, org_id=org_id, project_id=project_id, what=what or kind.title.lower())  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------- calls


def _id(kind: ResourceKind, identifier: str) -> str:
    return validate_identifier(identifier, field="identifier", allow_dollar=kind.allow_dollar)


def _parent_params(kind: ResourceKind, parent: str | None) -> dict[str, str]:
    if kind.parent is None:
        if parent is not None:
            raise ValueError(f"parent: {kind.a} does not live under another resource; drop it")
        return {}
    if not parent:
        raise ValueError(
            f"{kind.parent.arg}: {kind.a} belongs to {article(kind.parent.what)}; pass {kind.parent.arg}="
        )
    value = validate_identifier(parent, field=kind.parent.arg, allow_dollar=kind.parent.allow_dollar)
    return {kind.parent.param: value}


def _git_params(kind: ResourceKind, verb: Verb, git: Mapping[str, Any] | None) -> dict[str, Any]:
    if not git:
        return {}
    check_git_options(kind, git)
    allowed = kind.git_for(verb)
    return {k: v for k, v in git.items() if k in allowed and v is not None}


def check_git_options(kind: KindArg, git: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` for Git Experience options ``kind`` does not take."""
    kind = resource_kind(kind)
    unknown = sorted(set(git) - kind.git_options)
    if unknown:
        allowed = sorted(kind.git_options)
        raise ValueError(
            f"git: {unknown} are not Git Experience options of {kind.a}; "
            + (f"use {allowed}" if allowed else "this kind is not stored in Git by this provider")
        )


def _inject_scope(kind: ResourceKind, entity: Mapping[str, Any], scope: Mapping[str, str]) -> dict[str, Any]:
    body = dict(entity)
    if not kind.scope_in_body:
        return body
    for key, name in (("orgIdentifier", "org_id"), ("projectIdentifier", "project_id")):
        wanted = scope.get(key)
        have = body.get(key)
        if have and wanted and have != wanted:
            raise ValueError(
                f"{key}: the spec says {have!r} but the call is for {name}={wanted!r}; make them agree"
            )
        if have and not wanted:
            raise ValueError(
                f"{key}: the spec says {have!r} but the call is at {scope_level(scope)} level; "
                f"drop {key} or pass {name}={have!r}"
            )
        if wanted:
            body[key] = wanted
        else:
            body.pop(key, None)
    return body


def _located(
    kind: ResourceKind, scope: Mapping[str, str], template: str, identifier: str = ""
) -> tuple[str, dict[str, Any]]:
    """The path (scope filled in for path-scoped kinds) and the scope query params of one call."""
    checked = _check_scope(kind, scope)
    path = kind.url(template, checked, identifier)
    return path, (dict(checked) if kind.api.scope_in == "query" else {})


def _call(kind: ResourceKind, method: str, path: str, **options: Any) -> ApiCall[Any]:
    """An :class:`ApiCall` in the kind's API family (account placement, response kind)."""
    return ApiCall(method, path, account=kind.api.account, response=kind.api.response, **options)


def get_call(
    kind: KindArg,
    scope: Mapping[str, str],
    identifier: str,
    *,
    parent: str | None = None,
    git: Mapping[str, Any] | None = None,
    details: bool = False,
) -> ApiCall[Resource]:
    """GET one resource; parses into a :class:`Resource`. Missing -> ``HarnessNotFoundError`` (404 or 400).

    ``details=True`` reads the kind's details endpoint instead (triggers: ``…/triggers/{id}/details``, whose
    answer adds the webhook URL, see :attr:`Resource.webhook_url`).
    """
    kind = resource_kind(kind)
    identifier = _id(kind, identifier)
    if details and kind.details_path is None:
        raise ValueError(f"details: Harness has no details read for {kind.a}; drop it")
    template = kind.details_path if details and kind.details_path else kind.item_path
    path, params = _located(kind, scope, template, identifier)
    params.update({**_parent_params(kind, parent), **_git_params(kind, "get", git)})

    def parse(data: Any) -> Resource:
        return Resource.from_data(kind, data, identifier)

    return _call(kind, "GET", path, params=params, permission=kind.permissions.view, parse=parse)


def create_call(
    kind: KindArg,
    scope: Mapping[str, str],
    body: Mapping[str, Any] | str,
    *,
    parent: str | None = None,
    git: Mapping[str, Any] | None = None,
    secrets: Sequence[str] = (),
) -> ApiCall[Any]:
    """POST a new resource (not repeatable). ``body``: the DTO (JSON kinds) or the YAML text (YAML kinds)."""
    kind = resource_kind(kind)
    template = kind.create_path or kind.base_path
    return _write_call("POST", kind, template, "", scope, body, parent, git, "create", secrets)


def update_call(
    kind: KindArg,
    scope: Mapping[str, str],
    identifier: str,
    body: Mapping[str, Any] | str,
    *,
    parent: str | None = None,
    git: Mapping[str, Any] | None = None,
    secrets: Sequence[str] = (),
) -> ApiCall[Any]:
    """PUT to ``/{id}``, or to the collection (services, environments, infrastructures, connectors)."""
    kind = resource_kind(kind)
    identifier = _id(kind, identifier)
    if kind.update_path:
        template = kind.update_path
    elif kind.update_style == "collection":
        template = kind.base_path
    else:
        template = kind.item_path
    if isinstance(body, Mapping) and body.get(kind.id_field) not in (None, identifier):
        raise ValueError(
            f"identifier: the body names {body.get(kind.id_field)!r} but the update is for {identifier!r}"
        )
    return _write_call("PUT", kind, template, identifier, scope, body, parent, git, "update", secrets)


def _write_call(
    method: str,
    kind: ResourceKind,
    template: str,
    identifier: str,
    scope: Mapping[str, str],
    body: Mapping[str, Any] | str,
    parent: str | None,
    git: Mapping[str, Any] | None,
    verb: Verb,
    secrets: Sequence[str],
) -> ApiCall[Any]:
    checked = _check_scope(kind, scope)
    path = kind.url(template, checked, identifier)
    if parent is None and kind.parent is not None and isinstance(body, Mapping):
        found = _get_path(body, kind.parent.path)
        parent = found if isinstance(found, str) else None
    parent_params = _parent_params(kind, parent)
    params: dict[str, Any] = {}
    if kind.write_scope_in_query:
        params.update(checked)
        params.update(parent_params)
    params.update(_git_params(kind, verb, git))
    hidden = tuple(secrets)
    if kind.secret_strings is not None and isinstance(body, Mapping):
        hidden += kind.secret_strings(body)
    common: dict[str, Any] = {
        "params": params,
        "permission": kind.permissions.for_verb(verb),
        "repeatable": verb != "create",
        "secrets": tuple(s for s in hidden if s),
        "parse": kind.check_write,
    }
    if kind.is_yaml:
        if not isinstance(body, str):
            raise TypeError(f"{kind.a} body is YAML text")
        return _call(kind, method, path, content=body, content_type="application/yaml", **common)
    if not isinstance(body, Mapping):
        raise TypeError(f"{kind.a} body is a mapping (the DTO)")
    entity = _inject_scope(kind, body, checked)
    if kind.parent is not None:
        _set_path(entity, kind.parent.path, parent_params[kind.parent.param])
    payload = {kind.wrapper: entity} if kind.wrapper else entity
    return _call(kind, method, path, json=payload, **common)


def delete_call(
    kind: KindArg,
    scope: Mapping[str, str],
    identifier: str,
    *,
    parent: str | None = None,
    git: Mapping[str, Any] | None = None,
    force: bool = False,
) -> ApiCall[bool]:
    """DELETE a resource; parses Harness's ``data: true|false``.

    ``force`` sends Harness's ``forceDelete=true`` (delete although other entities reference it; Harness
    allows it only when the account setting is on) for the kinds that take it.
    """
    kind = resource_kind(kind)
    identifier = _id(kind, identifier)
    path, params = _located(kind, scope, kind.item_path, identifier)
    params.update({**_parent_params(kind, parent), **_git_params(kind, "delete", git)})
    if force:
        if not kind.force_delete:
            raise ValueError(f"force_delete: Harness has no forced delete for {kind.a}; drop it")
        params["forceDelete"] = True
    return _call(
        kind,
        "DELETE",
        path,
        params=params,
        permission=kind.permissions.delete,
        parse=lambda data: data is not False,
    )


def list_call(
    kind: KindArg,
    scope: Mapping[str, str],
    *,
    parent: str | None = None,
    filters: Mapping[str, Any] | None = None,
) -> ApiCall[Any]:
    """A paged list call (send it with ``client.paginate``); ``filters`` pass through as query params.

    Pipelines list with ``POST /pipeline/api/pipelines/list``: body filters go in the filter body.
    """
    kind = resource_kind(kind)
    path, params = _located(kind, scope, kind.list_path or kind.base_path)
    params.update(_parent_params(kind, parent))
    body: dict[str, Any] | None = dict(kind.list_body) if kind.list_body is not None else None
    for key, value in (filters or {}).items():
        if key in kind.list_filters:
            params[key] = value
        elif key in kind.list_body_filters and body is not None:
            body[key] = value
        else:
            allowed = sorted(kind.list_filters | kind.list_body_filters)
            raise ValueError(
                f"filters: {key!r} is not a list filter of {kind.title.lower()}s; use one of {allowed} "
                "(paging is automatic; use limit= to stop early)"
            )
    return _call(
        kind,
        kind.list_method,
        path,
        params=params,
        json=body,
        permission=kind.permissions.view,
        page=kind.page,
    )


# ------------------------------------------------------------------------------ special Harness calls


@dataclass(frozen=True)
class ConnectorTestResult:
    """What Harness's test connection says (``ConnectorValidationResult``).

    >>> ConnectorTestResult.from_data({"status": "FAILURE", "errorSummary": "unreachable"}).succeeded
    False
    """

    status: str
    error_summary: str | None = None
    errors: tuple[str, ...] = ()
    tested_at: int | None = None
    delegate_id: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCESS"

    @classmethod
    def from_data(cls, data: Any) -> ConnectorTestResult:
        data = data if isinstance(data, Mapping) else {}
        errors = []
        for item in data.get("errors") or []:
            if isinstance(item, Mapping):
                errors.append(" - ".join(str(p) for p in (item.get("reason"), item.get("message")) if p))
        return cls(
            status=str(data.get("status") or "UNKNOWN"),
            error_summary=data.get("errorSummary"),
            errors=tuple(errors),
            tested_at=data.get("testedAt"),
            delegate_id=data.get("delegateId"),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (for XCom)."""
        return {
            "status": self.status,
            "succeeded": self.succeeded,
            "error_summary": self.error_summary,
            "errors": list(self.errors),
            "tested_at": self.tested_at,
        }


def test_connector_call(scope: Mapping[str, str], identifier: str) -> ApiCall[ConnectorTestResult]:
    """``POST /ng/api/connectors/testConnection/{id}``, no body; missing -> CONNECTOR_NOT_FOUND_EXCEPTION."""
    kind = RESOURCE_KINDS["connector"]
    identifier = _id(kind, identifier)
    return ApiCall(
        "POST",
        f"/ng/api/connectors/testConnection/{identifier}",
        params=_check_scope(kind, scope),
        permission=kind.permissions.view,
        parse=ConnectorTestResult.from_data,
    )


test_connector_call.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def service_deployment_status_call(scope: Mapping[str, str], service_id: str) -> ApiCall[Any]:
    """``GET /ng/api/servicesV2/{id}/deployment-status`` (harness-api-guide.md); Harness's data as is."""
    kind = RESOURCE_KINDS["service"]
    service_id = _id(kind, service_id)
    return ApiCall(
        "GET",
        f"/ng/api/servicesV2/{service_id}/deployment-status",
        params=_check_scope(kind, scope),
        permission=kind.permissions.view,
    )


# ------------------------------------------------------------------------------------------ secrets


class SecretValue:
    """A secret's value (text, or file content) that never shows itself; see :meth:`reveal_text`.

    >>> value = SecretValue("s3cr3t-value")
    >>> repr(value), f"{value}", value.redactions()
    ('***', '***', ('s3cr3t-value',))
    """

    __slots__ = ("_data", "file_name")

    def __init__(self, data: str | bytes, *, file_name: str | None = None) -> None:
        if not data:
            raise ValueError("value: the secret value is empty; check where value_from points")
        self._data = data
        self.file_name = file_name or "secret"

    def reveal_text(self) -> str:
        """The value as text (for a ``SecretText``); binary content is refused."""
        if isinstance(self._data, bytes):
            try:
                return self._data.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError(
                    "value: a text secret must be UTF-8 text; use type SecretFile for binary"
                ) from None
        return self._data

    def reveal_bytes(self) -> bytes:
        """The value as bytes (for a ``SecretFile``)."""
        return self._data if isinstance(self._data, bytes) else self._data.encode("utf-8")

    def redactions(self) -> tuple[str, ...]:
        """Strings to scrub from any message: the value and, for multi-line values, each long line."""
        try:
            text = self.reveal_text()
        except ValueError:
            text = self.reveal_bytes().decode("latin-1")
        lines = [line.strip() for line in text.splitlines() if len(line.strip()) >= 8]
        return tuple(dict.fromkeys([text, *lines]))

    def __repr__(self) -> str:
        return "***"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return "***"

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError("Secret values cannot be pickled or serialized")


def _multipart(spec_json: str, value: SecretValue | None) -> tuple[bytes, str]:
    """Build a ``multipart/form-data`` body with ``spec`` (JSON) and, optionally, ``file``."""
    import httpx

    files: dict[str, Any] = {"spec": (None, spec_json)}  # a plain form field (no file name)
    if value is not None:
        files["file"] = (value.file_name, value.reveal_bytes(), "application/octet-stream")
    request = httpx.Request("POST", "http://multipart.invalid/", files=files)
    return request.read(), request.headers["content-type"]


def secret_file_call(
    scope: Mapping[str, str],
    entity: Mapping[str, Any],
    value: SecretValue | None,
    *,
    identifier: str | None = None,
) -> ApiCall[Any]:
    """Create (``identifier=None``) or update a file secret: multipart ``/ng/api/v2/secrets/files[/{id}]``."""
    kind = RESOURCE_KINDS["secret"]
    checked = _check_scope(kind, scope)
    body = _inject_scope(kind, entity, checked)
    if identifier is None:
        if value is None:
            raise ValueError("value_from: creating a file secret needs its content; pass value_from=")
        method, path, verb = "POST", "/ng/api/v2/secrets/files", "create"
    else:
        method, path, verb = "PUT", f"/ng/api/v2/secrets/files/{_id(kind, identifier)}", "update"
    content, content_type = _multipart(json.dumps({"secret": body}), value)
    return ApiCall(
        method,
        path,
        params=checked,
        content=content,
        content_type=content_type,
        permission=kind.permissions.edit,
        repeatable=verb != "create",
        secrets=value.redactions() if value else (),
    )


def redact_error(error: HarnessError, secrets: Sequence[str]) -> HarnessError:
    """Scrub ``secrets`` from every text of ``error`` (in place) and return it."""
    if not secrets:
        return error
    error.message = redact(error.message, secrets)
    error.args = (error.message, *error.args[1:])
    if error.hint:
        error.hint = redact(error.hint, secrets)
    if error.path:
        error.path = redact(error.path, secrets)
    return error


# --------------------------------------------------------------------------------------------- YAML


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe loader that rejects duplicate keys (Harness does too) with their line and column."""


def _construct_mapping(
    loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False
) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
        if isinstance(key, Mapping | list):
            continue
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found duplicate key {key!r}",
                key_node.start_mark,
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)  # type: ignore[arg-type]


def load_yaml(text: str, source: str = "spec") -> Any:
    """Parse YAML; errors are ``ValueError`` with line and column (1-based).

    >>> load_yaml("a: 1\\nb: [2")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: spec: YAML does not parse at line 2, column 6: expected ',' or ']', but got '<stream end>'...
    """
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise ValueError(
            f"{source}: YAML does not parse{where}: {problem}; fix the YAML (indentation, quoting, brackets)"
        ) from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{source}: YAML does not parse: {exc}") from None


def dump_yaml(document: Any) -> str:
    """YAML text for a document, keys in their given order."""
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False, allow_unicode=True)


# ---------------------------------------------------------------------------------------- resources


@dataclass(frozen=True)
class Resource:
    """A resource as Harness returned it: the ``entity`` (DTO, or the parsed YAML document for YAML
    kinds), its YAML text for YAML kinds, and the whole response ``data``."""

    kind: str
    identifier: str
    entity: dict[str, Any]
    yaml: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_data(cls, kind: KindArg, data: Any, identifier: str | None = None) -> Resource:
        """Pick the entity out of a get response (or a list item)."""
        kind = resource_kind(kind)
        data = data if isinstance(data, Mapping) else {}
        text: str | None = None
        if kind.is_yaml:
            assert kind.yaml_field
            raw = data.get(kind.yaml_field)
            text = raw if isinstance(raw, str) else None
            parsed = load_yaml(text, f"{kind.name} YAML from Harness") if text else None
            entity = dict(parsed) if isinstance(parsed, Mapping) else {}
            root = entity.get(kind.yaml_root or "") or {}
            ident = identifier or (root.get("identifier") if isinstance(root, Mapping) else None)
            ident = ident or data.get("identifier")
        else:
            inner = data.get(kind.response_key) if kind.response_key else None
            entity = dict(inner) if isinstance(inner, Mapping) else dict(data)
            ident = identifier or entity.get(kind.id_field)
        return cls(kind.name, str(ident or ""), entity, text, data)

    def public(self) -> dict[str, Any]:
        """The entity without write-only or secret values (what operators return)."""
        return resource_kind(self.kind).public(self.entity)

    @property
    def webhook_url(self) -> WebhookUrl | None:
        """A trigger's webhook URL from a details read (``get_call(..., details=True)``), else None.

        Its v3 token is a secret: see :class:`~.webhooks.WebhookUrl` (``redacted``, ``public()``).
        """
        from airflow_provider_harness.client.webhooks import parse_webhook_url

        return parse_webhook_url(self.data.get("webhookUrl")) if isinstance(self.data, Mapping) else None


def list_item_entity(kind: KindArg, item: Any) -> dict[str, Any]:
    """The entity of one list item (``{"project": {...}, "createdAt": ...}`` -> the project).

    A trigger's webhook URL and curl command are returned with the v3 token replaced by ``***``.
    """
    kind = resource_kind(kind)
    if isinstance(item, Mapping) and kind.response_key and isinstance(item.get(kind.response_key), Mapping):
        entity = dict(item[kind.response_key])
    else:
        entity = dict(item) if isinstance(item, Mapping) else {"value": item}
    if kind.details_path is not None:
        from airflow_provider_harness.client.webhooks import redact_webhook_text

        for name in ("webhookUrl", "webhookCurlCommand"):
            if isinstance(entity.get(name), str):
                entity[name] = redact_webhook_text(entity[name])
    return kind.public(entity)


@dataclass(frozen=True)
class ResourceRef:
    """Where one resource (or a list of them) is: kind, scope params, identifier, parent."""

    kind: ResourceKind
    scope: Mapping[str, str]
    identifier: str | None = None
    parent: str | None = None

    def describe(self) -> str:
        """``"project team_a"`` / ``"pipeline build in org/proj"`` for log lines."""
        where = "/".join(
            v for v in (self.scope.get("orgIdentifier"), self.scope.get("projectIdentifier")) if v
        )
        text = f"{self.kind.name} {self.identifier or '*'}"
        if self.parent and self.kind.parent:
            text += f" of {self.kind.parent.what} {self.parent}"
        return f"{text} in {where}" if where else text


def resource_ref(
    config: HarnessConfig,
    kind: KindArg,
    identifier: str | None = None,
    *,
    scope: str | None = None,
    org_id: str | None = None,
    project_id: str | None = None,
    parent: str | None = None,
) -> ResourceRef:
    """Validate and resolve where a resource is (identifier optional for lists), before any request."""
    kind = resource_kind(kind)
    if identifier is not None:
        identifier = _id(kind, identifier)
    params = resolve_scope(config, kind, scope=scope, org_id=org_id, project_id=project_id)
    _parent_params(kind, parent)
    return ResourceRef(kind, params, identifier, parent)


def get(
    client: HarnessClient,
    ref: ResourceRef,
    *,
    git: Mapping[str, Any] | None = None,
    details: bool = False,
) -> Resource | None:
    """The resource, or ``None`` when Harness says it does not exist (404 or 400 not-found codes).

    ``details=True``: the kind's details read (a trigger with its webhook URL, :attr:`Resource.webhook_url`).

    An endpoint the server does not have (Jersey's "HTTP 404 Not Found", an edge 404) is not "does not
    exist": it raises :class:`~.errors.HarnessEndpointNotFoundError`, so :func:`apply` never creates on it.
    """
    assert ref.identifier
    try:
        call = get_call(ref.kind, ref.scope, ref.identifier, parent=ref.parent, git=git, details=details)
        return client.send(call)
    except HarnessNotFoundError:
        return None


def delete(
    client: HarnessClient, ref: ResourceRef, *, git: Mapping[str, Any] | None = None, force: bool = False
) -> bool:
    """Delete; ``True`` when deleted, ``False`` when it was already gone. A refusal raises Harness's error.

    An input set, trigger or infrastructure whose pipeline / environment is gone is gone too (Harness
    answers ``INVALID_REQUEST`` about the parent rather than not-found about the child). An endpoint the
    server does not have raises :class:`~.errors.HarnessEndpointNotFoundError` (never "already gone").
    """
    assert ref.identifier
    call = delete_call(ref.kind, ref.scope, ref.identifier, parent=ref.parent, git=git, force=force)
    try:
        deleted = client.send(call)
    except HarnessNotFoundError:
        return False
    except HarnessInvalidRequestError:
        if _parent_missing(client, ref):
            return False
        raise
    if not deleted:
        raise HarnessInvalidRequestError(
            f"Harness did not delete {ref.describe()} (it answered false)",
            method="DELETE",
            path=ref.kind.path(ref.identifier, ref.scope),
        )
    return True


def _parent_missing(client: HarnessClient, ref: ResourceRef) -> bool:
    if ref.kind.parent is None or not ref.parent:
        return False
    parent_kind = resource_kind(ref.kind.parent.what)
    return get(client, ResourceRef(parent_kind, ref.scope, ref.parent)) is None


def list_resources(
    client: HarnessClient,
    ref: ResourceRef,
    *,
    filters: Mapping[str, Any] | None = None,
    limit: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Every entity of a kind in a scope (all pages, 100 per page), stopping after ``limit``."""
    call = list_call(ref.kind, ref.scope, parent=ref.parent, filters=filters)
    for item in client.paginate(call, page_size=call.page.max_size if call.page else 100, limit=limit):
        yield list_item_entity(ref.kind, item)


def test_connector(client: HarnessClient, ref: ResourceRef) -> ConnectorTestResult:
    """Run Harness's connection test for a connector."""
    assert ref.identifier and ref.kind.name == "connector"
    return client.send(test_connector_call(ref.scope, ref.identifier))


test_connector.__test__ = False  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class ResourceSpec:
    """A validated desired state: kind, where, and the body to send.

    ``entity`` is the DTO for JSON kinds (scope filled in) and the parsed document for YAML kinds;
    ``text`` is the YAML to send for YAML kinds (the given text, verbatim when nothing had to be added).
    """

    kind: ResourceKind
    identifier: str
    scope: Mapping[str, str]
    entity: dict[str, Any]
    parent: str | None = None
    text: str | None = None
    git: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef(self.kind, self.scope, self.identifier, self.parent)

    @property
    def body(self) -> Mapping[str, Any] | str:
        """The create/update body: YAML text or the DTO."""
        if self.kind.is_yaml:
            assert self.text is not None
            return self.text
        return self.entity

    @property
    def secret_type(self) -> str | None:
        """``SecretText`` / ``SecretFile`` / ... for secrets, else ``None``."""
        return str(self.entity.get("type")) if self.kind.name == "secret" else None

    @property
    def takes_value(self) -> bool:
        """Whether this is a secret whose value is written separately (Inline text, or a file)."""
        if self.kind.name != "secret":
            return False
        if self.secret_type == "SecretFile":
            return True
        spec = self.entity.get("spec") or {}
        return self.secret_type == "SecretText" and spec.get("valueType", "Inline") == "Inline"


def _get_path(data: Mapping[str, Any], path: Sequence[str]) -> Any:
    value: Any = data
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _set_path(data: dict[str, Any], path: Sequence[str], value: Any) -> None:
    target = data
    for key in path[:-1]:
        nxt = target.get(key)
        if not isinstance(nxt, dict):
            nxt = {}
            target[key] = nxt
        target = nxt
    target[path[-1]] = value


def _put_after_identifier(data: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key`` right after ``identifier`` (where Harness writes org/project) when it is new."""
    if key in data or "identifier" not in data:
        data[key] = value
        return
    items = list(data.items())
    data.clear()
    for name, item in items:
        data[name] = item
        if name == "identifier":
            data[key] = value


def _agree(field_name: str, *candidates: tuple[str, Any]) -> str | None:
    """The one value several sources give for ``field_name``; ``ValueError`` when they disagree."""
    given = [(where, value) for where, value in candidates if value not in (None, "")]
    values = {str(value) for _, value in given}
    if len(values) > 1:
        described = ", ".join(f"{where}={value!r}" for where, value in given)
        raise ValueError(f"{field_name}: the spec and the arguments disagree ({described}); make them agree")
    return str(given[0][1]) if given else None


def parse_spec(
    source: str | Mapping[str, Any],
    config: HarnessConfig,
    *,
    kind: KindArg | None = None,
    scope: str | None = None,
    org_id: str | None = None,
    project_id: str | None = None,
    pipeline_id: str | None = None,
    environment_id: str | None = None,
    git: Mapping[str, Any] | None = None,
    source_name: str = "spec",
) -> ResourceSpec:
    """Validate a spec (YAML text or mapping) into a :class:`ResourceSpec`; ``ValueError`` before any request.

    Arguments (``org_id``, ``project_id``, ``pipeline_id`` for input sets and triggers, ``environment_id``
    for infrastructures) fill what the spec leaves out; connection defaults fill the rest. ``kind`` (when
    given) must match the spec's kind.
    """
    text: str | None = source if isinstance(source, str) else None
    doc = load_yaml(source, source_name) if isinstance(source, str) else source
    if not isinstance(doc, Mapping) or not doc:
        raise ValueError(
            f"{source_name}: expected a Harness document (one top key such as 'pipeline:' or 'connector:') "
            f"or a mapping with 'kind:' and 'spec:', got {type(doc).__name__}"
        )
    top: Mapping[str, Any] = {}
    if "kind" in doc:
        unknown = sorted(set(doc) - SPEC_KEYS)
        if unknown:
            raise ValueError(f"{source_name}: unknown key(s) {unknown}; a spec has {sorted(SPEC_KEYS)}")
        spec_kind = resource_kind(str(doc["kind"]))
        body = doc.get("spec")
        if body is None:
            raise ValueError(
                f"{source_name}.spec: missing; put the Harness fields of the {spec_kind.name} under spec:"
            )
        text = body if isinstance(body, str) else None
        if isinstance(body, str):
            body = load_yaml(body, f"{source_name}.spec")
        top = doc
    else:
        if len(doc) != 1:
            raise ValueError(
                f"{source_name}: a Harness document has exactly one top key naming its kind "
                f"({sorted(YAML_ROOTS)}); got {sorted(map(str, doc))}. Or use 'kind:' + 'spec:'"
            )
        root = next(iter(doc))
        if root not in YAML_ROOTS:
            raise ValueError(
                f"{source_name}: top key {root!r} is not a Harness resource kind; "
                f"use one of {sorted(YAML_ROOTS)} "
                "or 'kind:' + 'spec:'"
            )
        spec_kind = RESOURCE_KINDS[YAML_ROOTS[root]]
        body = doc
    if kind is not None and resource_kind(kind) is not spec_kind:
        raise ValueError(
            f"kind: the spec describes a {spec_kind.name} but kind={resource_kind(kind).name!r} was given; "
            "fix one of them"
        )
    if not isinstance(body, Mapping):
        raise ValueError(
            f"{source_name}.spec: expected a mapping of Harness fields, got {type(body).__name__}"
        )
    scope = _agree("scope", ("spec scope", top.get("scope")), ("scope", scope))
    git_options = dict(top.get("git") or {})
    git_options.update(git or {})
    check_git_options(spec_kind, git_options)
    parent_arg = spec_kind.parent.arg if spec_kind.parent else None
    arguments = {"pipeline_id": pipeline_id, "environment_id": environment_id}
    for other in arguments:
        if other == parent_arg:
            continue
        if top.get(other) is not None:
            raise ValueError(f"{source_name}.{other}: {spec_kind.a} does not take {other}; drop it")
        if arguments[other]:
            raise ValueError(f"{other}: {spec_kind.a} does not take {other}; drop it")
    parent_from_top = top.get(parent_arg) if parent_arg else None
    parent = arguments[parent_arg] if parent_arg else None
    where = {
        "scope": scope,
        "org_id": _agree("org_id", ("spec org_id", top.get("org_id")), ("org_id", org_id)),
        "project_id": _agree(
            "project_id", ("spec project_id", top.get("project_id")), ("project_id", project_id)
        ),
        "parent": _agree(parent_arg or "parent", ("spec", parent_from_top), ("argument", parent)),
    }
    if spec_kind.is_yaml:
        return _parse_yaml_kind(
            spec_kind, body, text, config, git=git_options, source_name=source_name, **where
        )
    return _parse_json_kind(spec_kind, body, config, git=git_options, source_name=source_name, **where)


def _scope_from(
    kind: ResourceKind,
    config: HarnessConfig,
    holder: Mapping[str, Any],
    *,
    scope: str | None,
    org_id: str | None,
    project_id: str | None,
    identifier: str,
) -> dict[str, str]:
    org = _agree("org_id", ("orgIdentifier", holder.get("orgIdentifier")), ("org_id", org_id))
    project = _agree(
        "project_id", ("projectIdentifier", holder.get("projectIdentifier")), ("project_id", project_id)
    )
    return resolve_scope(
        config, kind, scope=scope, org_id=org, project_id=project, what=f"{kind.title.lower()} {identifier}"
    )


def _required(kind: ResourceKind, holder: Mapping[str, Any], where: str) -> None:
    for name in kind.required_fields:
        if holder.get(name) in (None, "", {}, []):
            raise ValueError(f"{where}.{name}: required for {kind.a}; add it to the spec")


def _parse_yaml_kind(
    kind: ResourceKind,
    body: Mapping[str, Any],
    text: str | None,
    config: HarnessConfig,
    *,
    scope: str | None,
    org_id: str | None,
    project_id: str | None,
    parent: str | None,
    git: Mapping[str, Any],
    source_name: str,
) -> ResourceSpec:
    root_key = kind.yaml_root
    assert root_key
    if set(body) == {root_key}:
        document = copy.deepcopy(dict(body))
    else:  # the root's content without the top key
        document, text = {root_key: copy.deepcopy(dict(body))}, None
    root = document[root_key]
    where = f"{source_name}: {root_key}"
    if not isinstance(root, dict):
        raise ValueError(
            f"{where}: expected a mapping of {kind.title.lower()} fields, got {type(root).__name__}"
        )
    identifier = validate_identifier(root.get("identifier"), field=f"{where}.identifier", allow_dollar=False)
    _required(kind, root, where)
    params = _scope_from(
        kind, config, root, scope=scope, org_id=org_id, project_id=project_id, identifier=identifier
    )
    changed = False
    for key in ("projectIdentifier", "orgIdentifier"):
        if params.get(key) and root.get(key) != params[key]:
            _put_after_identifier(root, key, params[key])
            changed = True
    parent_id: str | None = None
    if kind.parent is not None:
        in_doc = _get_path(root, kind.parent.path)
        parent_id = _agree(
            kind.parent.arg, (f"{root_key}.{'.'.join(kind.parent.path)}", in_doc), ("argument", parent)
        )
        if not parent_id:
            raise ValueError(
                f"{kind.parent.arg}: {kind.a} belongs to {article(kind.parent.what)}; set "
                f"{root_key}.{'.'.join(kind.parent.path)} in the YAML or pass {kind.parent.arg}="
            )
        validate_identifier(parent_id, field=kind.parent.arg, allow_dollar=kind.parent.allow_dollar)
        if in_doc != parent_id:
            _set_path(root, kind.parent.path, parent_id)
            changed = True
    elif parent:
        raise ValueError(f"parent: {kind.a} does not live under another resource; drop it")
    if text is None or changed:
        text = dump_yaml(document)
    return ResourceSpec(kind, identifier, params, document, parent_id, text, dict(git))


def _parse_json_kind(
    kind: ResourceKind,
    body: Mapping[str, Any],
    config: HarnessConfig,
    *,
    scope: str | None,
    org_id: str | None,
    project_id: str | None,
    parent: str | None,
    git: Mapping[str, Any],
    source_name: str,
) -> ResourceSpec:
    keys = set(body)
    where = source_name
    embedded: dict[str, Any] | None = None
    if kind.wrapper and kind.wrapper in keys and keys - {kind.wrapper} <= kind.server_fields:
        entity = copy.deepcopy(dict(body[kind.wrapper]))  # {"project": {...}} or a pasted get response
        where = f"{source_name}: {kind.wrapper}"
    elif kind.yaml_field and kind.yaml_root and keys == {kind.yaml_root}:
        # The document Harness shows for a service/environment/infrastructure: lift its fields into the DTO.
        embedded = copy.deepcopy(dict(body))
        root = embedded[kind.yaml_root]
        if not isinstance(root, dict):
            raise ValueError(
                f"{source_name}: {kind.yaml_root}: expected a mapping, got {type(root).__name__}"
            )
        entity = {name: root[name] for name in kind.lifted_fields if name in root}
        where = f"{source_name}: {kind.yaml_root}"
    elif kind.yaml_root and not kind.yaml_field and not kind.wrapper and keys == {kind.yaml_root}:
        root_value = body[kind.yaml_root]  # a document form such as "workspace: {...}"
        if not isinstance(root_value, Mapping):
            raise ValueError(
                f"{source_name}: {kind.yaml_root}: expected a mapping, got {type(root_value).__name__}"
            )
        entity = copy.deepcopy(dict(root_value))
        where = f"{source_name}: {kind.yaml_root}"
    else:
        entity = copy.deepcopy(dict(body))
    if not isinstance(entity, dict):
        raise ValueError(f"{where}: expected a mapping of {kind.title.lower()} fields")
    for name in kind.server_fields:
        entity.pop(name, None)
    if kind.yaml_field and embedded is None and entity.get(kind.yaml_field) is not None:
        raw = entity[kind.yaml_field]
        embedded_doc = load_yaml(raw, f"{where}.{kind.yaml_field}") if isinstance(raw, str) else raw
        if not isinstance(embedded_doc, Mapping):
            raise ValueError(f"{where}.{kind.yaml_field}: expected a '{kind.yaml_root}:' YAML document")
        embedded = copy.deepcopy(dict(embedded_doc))
    identifier = validate_identifier(entity.get(kind.id_field), field=f"{where}.{kind.id_field}")
    embedded_root = embedded.get(kind.yaml_root or "") if embedded else None
    if isinstance(embedded_root, Mapping) and embedded_root.get("identifier") not in (None, identifier):
        raise ValueError(
            f"{where}.{kind.yaml_field}: its identifier {embedded_root.get('identifier')!r} differs from "
            f"{identifier!r}; make them agree"
        )
    if kind.scope_in_body:
        params = _scope_from(
            kind, config, entity, scope=scope, org_id=org_id, project_id=project_id, identifier=identifier
        )
    else:
        params = resolve_scope(config, kind, scope=scope, org_id=org_id, project_id=project_id)
    entity = _inject_scope(kind, entity, params)
    parent_id: str | None = None
    if kind.parent is not None:
        parent_id = _agree(
            kind.parent.arg,
            (".".join(kind.parent.path), _get_path(entity, kind.parent.path)),
            ("argument", parent),
        )
        if not parent_id:
            raise ValueError(
                f"{kind.parent.arg}: {kind.a} belongs to {article(kind.parent.what)}; set "
                f"{'.'.join(kind.parent.path)} in the spec or pass {kind.parent.arg}="
            )
        validate_identifier(parent_id, field=kind.parent.arg, allow_dollar=kind.parent.allow_dollar)
        _set_path(entity, kind.parent.path, parent_id)
    elif parent:
        raise ValueError(f"parent: {kind.a} does not live under another resource; drop it")
    if isinstance(embedded_root, dict):
        for key in ("projectIdentifier", "orgIdentifier"):
            if params.get(key):
                if embedded_root.get(key) not in (None, params[key]):
                    raise ValueError(
                        f"{where}.{kind.yaml_field}: {key} {embedded_root[key]!r} "
                        f"differs from {params[key]!r}"
                    )
                _put_after_identifier(embedded_root, key, params[key])
        if kind.parent is not None and parent_id:
            embedded_root.setdefault(kind.parent.path[-1], parent_id)
    if embedded is not None and kind.yaml_field:
        entity[kind.yaml_field] = dump_yaml(embedded)
    if kind.check_spec is not None:
        kind.check_spec(entity, where)
    _required(kind, entity, where)
    if git:
        raise ValueError(f"git: {kind.a} is not stored in Git by this provider; drop git options")
    return ResourceSpec(kind, identifier, params, entity, parent_id, None, {})


# --------------------------------------------------------------------------------------- comparing


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _normalised(value: Any) -> Any:
    """Drop empty values from mappings (``None``, ``""``, ``[]``, ``{}`` all mean "not set")."""
    if isinstance(value, Mapping):
        return {k: _normalised(v) for k, v in value.items() if not _empty(v)}
    if isinstance(value, list):
        return [_normalised(v) for v in value]
    return value


def _yaml_value(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return _normalised(yaml.safe_load(value))
        except yaml.YAMLError:
            return value
    return _normalised(value)


def _subset_diff(desired: Any, current: Any, path: str, exact: frozenset[str], out: list[str]) -> None:
    if isinstance(desired, Mapping) and isinstance(current, Mapping):
        for key, value in desired.items():
            sub = f"{path}.{key}" if path else str(key)
            if key in exact:
                if _normalised(value) != _normalised(current.get(key)) and not (
                    _empty(value) and _empty(current.get(key))
                ):
                    out.append(sub)
            else:
                _subset_diff(value, current.get(key), sub, exact, out)
        return
    if isinstance(desired, list) and isinstance(current, list):
        if len(desired) != len(current):
            out.append(path)
            return
        before = len(out)
        for index, (d, c) in enumerate(zip(desired, current, strict=True)):
            _subset_diff(d, c, f"{path}[{index}]", frozenset(), out)
        if len(out) > before:
            del out[before:]
            out.append(path)
        return
    if _empty(desired) and _empty(current):
        return
    if desired != current:
        out.append(path)


def differences(spec: ResourceSpec, current: Resource) -> list[str]:
    """Fields where Harness differs from the spec (empty list: nothing to do).

    JSON kinds: fields the spec leaves out are not compared, nor are fields Harness adds (``createdAt``,
    ``version`` ...) or fills itself (a project's ``modules``); mappings compare as "the spec's keys match",
    except ``tags`` (compared whole); embedded YAML compares parsed. YAML kinds: the parsed documents must be
    equal (formatting, comments and key order do not matter). Secret values are never compared.
    """
    kind = spec.kind
    if kind.is_yaml:
        root = kind.yaml_root or ""
        desired = _normalised(spec.entity.get(root) or {})
        have = _normalised(current.entity.get(root) or {})
        keys = sorted(set(desired) | set(have), key=str)
        return [f"{root}.{k}" for k in keys if desired.get(k) != have.get(k)]
    out: list[str] = []
    skip = kind.server_fields | kind.ignored_fields
    for key, value in spec.entity.items():
        if key in skip:
            continue
        have = current.entity.get(key)
        if key == kind.yaml_field:
            if _yaml_value(value) != _yaml_value(have):
                out.append(key)
        elif key in kind.exact_fields:
            if _normalised(value) != _normalised(have) and not (_empty(value) and _empty(have)):
                out.append(key)
        else:
            if kind.name == "secret" and key == "spec" and isinstance(value, Mapping):
                value = {k: v for k, v in value.items() if k != "value"}
            _subset_diff(value, have, key, frozenset(), out)
    return out


# ------------------------------------------------------------------------------------------- apply


@dataclass(frozen=True)
class ApplyResult:
    """What :func:`apply` did. ``changed`` lists the fields that differed (for ``updated``).

    >>> ApplyResult("project", "team_a", "created", {"orgIdentifier": "platform"}).describe()
    'project team_a in platform: created'
    """

    kind: str
    identifier: str
    action: Action
    scope: Mapping[str, str] = field(default_factory=dict)
    parent: str | None = None
    changed: tuple[str, ...] = ()

    @property
    def changed_anything(self) -> bool:
        return self.action != "unchanged"

    def describe(self) -> str:
        """One log line: ``"pipeline build in o/p: updated (pipeline.stages)"``."""
        ref = ResourceRef(resource_kind(self.kind), self.scope, self.identifier, self.parent)
        text = f"{ref.describe()}: {self.action}"
        if self.action == "updated" and self.changed:
            text += f" ({', '.join(self.changed)})"
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form for XCom (metadata only, never values)."""
        return {
            "kind": self.kind,
            "identifier": self.identifier,
            "action": self.action,
            "changed": list(self.changed),
            "org_id": self.scope.get("orgIdentifier"),
            "project_id": self.scope.get("projectIdentifier"),
            "parent_id": self.parent,
        }


def _git_update_params(spec: ResourceSpec, current: Resource) -> dict[str, Any]:
    git = dict(spec.git)
    details = current.data.get("gitDetails") if isinstance(current.data, Mapping) else None
    if isinstance(details, Mapping):
        if "lastObjectId" in spec.kind.git_update and details.get("objectId"):
            git.setdefault("lastObjectId", details["objectId"])
        if "lastCommitId" in spec.kind.git_update and details.get("commitId"):
            git.setdefault("lastCommitId", details["commitId"])
        if details.get("branch") and "branch" in spec.kind.git_update:
            git.setdefault("branch", details["branch"])
    return git


def _write(
    client: HarnessClient,
    spec: ResourceSpec,
    verb: Literal["create", "update"],
    value: SecretValue | None,
    git: Mapping[str, Any],
) -> None:
    identifier = spec.identifier if verb == "update" else None
    if spec.kind.name == "secret" and spec.secret_type == "SecretFile":
        client.send(secret_file_call(spec.scope, spec.entity, value, identifier=identifier))
        return
    body: Mapping[str, Any] | str = spec.body
    secrets: tuple[str, ...] = ()
    if spec.takes_value:
        entity = copy.deepcopy(spec.entity)
        if value is not None:
            entity["spec"]["value"] = value.reveal_text()
            secrets = value.redactions()
        elif verb == "create":
            raise ValueError(
                f"value_from: creating {spec.ref.describe()} needs its value; pass value_from= "
                "(an Airflow Variable, connection or environment variable)"
            )
        body = entity
    if verb == "create":
        call = create_call(spec.kind, spec.scope, body, parent=spec.parent, git=git, secrets=secrets)
    else:
        call = update_call(
            spec.kind, spec.scope, spec.identifier, body, parent=spec.parent, git=git, secrets=secrets
        )
    client.send(call)


def apply(
    client: HarnessClient,
    spec: ResourceSpec,
    *,
    value: SecretValue | None = None,
    rotate: bool = False,
) -> ApplyResult:
    """Create or update ``spec`` so Harness matches it; a second run reports ``unchanged``.

    Get -> missing: create | present: compare (:func:`differences`) -> update only when something differs.
    Secrets: ``value`` is written on create and on every update; since Harness never returns values,
    ``rotate=True`` forces a write of the value even when the metadata matches (that is how to rotate).
    Errors never contain the secret value.
    """
    secrets = value.redactions() if value is not None else ()
    if value is not None and not spec.takes_value:
        raise ValueError(
            f"value_from: {spec.ref.describe()} does not take a value (only SecretText with valueType Inline "
            "and SecretFile do)"
        )
    try:
        current = get(client, spec.ref, git=_read_git(spec))
        if current is None:
            try:
                _write(client, spec, "create", value, spec.git)
                _read_back(client, spec, "created")
                return ApplyResult(spec.kind.name, spec.identifier, "created", dict(spec.scope), spec.parent)
            except HarnessConflictError:
                current = get(
                    client, spec.ref, git=_read_git(spec)
                )  # created meanwhile: fall through to compare
                if current is None:
                    raise
        changed = differences(spec, current)
        if rotate and value is not None and spec.takes_value:
            changed.append("value")
        if not changed:
            return ApplyResult(spec.kind.name, spec.identifier, "unchanged", dict(spec.scope), spec.parent)
        _write(client, spec, "update", value, _git_update_params(spec, current))
        _read_back(client, spec, "updated")
        return ApplyResult(
            spec.kind.name, spec.identifier, "updated", dict(spec.scope), spec.parent, tuple(changed)
        )
    except HarnessError as exc:
        raise redact_error(exc, secrets) from None


def _read_back(client: HarnessClient, spec: ResourceSpec, done: str) -> None:
    """For kinds whose write answer does not show the entity: prove the write landed by reading it."""
    if not spec.kind.read_after_write:
        return
    current = get(client, spec.ref, git=_read_git(spec))
    if current is None:
        raise HarnessInvalidRequestError(
            f"Harness accepted the write of {spec.ref.describe()} but it cannot be read back, so it was not "
            f"{done}",
            hint="Check the policy evaluation and the permissions of the API key in Harness",
        )
    unapplied = differences(spec, current)
    if unapplied:
        raise HarnessInvalidRequestError(
            f"Harness accepted the write of {spec.ref.describe()} but reads it back different in "
            f"{', '.join(unapplied)}, so it was not {done} as asked",
            hint="Harness may reject or rewrite these fields; compare the spec with what Harness shows",
        )


def _read_git(spec: ResourceSpec) -> dict[str, Any]:
    return {k: v for k, v in spec.git.items() if k in spec.kind.git_read}


__all__ = [
    "ApplyResult",
    "ConnectorTestResult",
    "Resource",
    "ResourceRef",
    "ResourceSpec",
    "SecretValue",
    "apply",
    "create_call",
    "delete",
    "delete_call",
    "differences",
    "get",
    "get_call",
    "list_call",
    "list_item_entity",
    "list_resources",
    "load_yaml",
    "parse_spec",
    "redact_error",
    "resolve_scope",
    "resource_ref",
    "secret_file_call",
    "service_deployment_status_call",
    "test_connector",
    "test_connector_call",
    "update_call",
]
