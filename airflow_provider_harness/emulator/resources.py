"""Platform resources described once, as data, driving generic CRUD handlers.

Each :class:`ResourceKind` says where the resource lives (path, id path parameter, scope level and where
the scope comes from), how its body is wrapped, which page shape its list uses, and exactly how Harness
answers a missing or duplicate identifier (``harness-api.md`` §2.4, §2.5, §12).  Special cases (the
``default`` organization, write-only secret values, connector test-connection) are marked where they
are handled.

>>> KINDS["connector"].not_found.error(id="c", org="o", project="p", account="a", env="").message
'Connector with identifier [c] not found in project [p] and org [o].'
>>> KINDS["project"].not_found.error(id="p", org="o", project="", account="a", env="").http_status
404
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

from airflow_provider_harness.emulator.envelopes import HarnessError, ng_page
from airflow_provider_harness.emulator.harness_rules import ID_BLANK_MESSAGE, identifier_error
from airflow_provider_harness.emulator.httpcall import Call, Route, parse_yaml_body
from airflow_provider_harness.emulator.model import now_ms

if TYPE_CHECKING:
    from airflow_provider_harness.emulator.app import Emulator

DEFAULT_ORG: Final = "default"
ALL_MODULES: Final = [
    "CD",
    "CI",
    "CV",
    "CF",
    "CE",
    "STO",
    "CHAOS",
    "SRM",
    "IACM",
    "CET",
    "IDP",
    "CODE",
    "SEI",
    "CORE",
    "PMS",
    "TEMPLATESERVICE",
]
SECRET_TYPES: Final = ("SecretText", "SecretFile", "SSHKey", "WinRmCredentials")
ENVIRONMENT_TYPES: Final = ("PreProduction", "Production")

ScopeLevel = Literal["account", "org", "project", "environment"]


@dataclass(frozen=True)
class NotFound:
    """How Harness answers a missing entity: code, envelope kind, HTTP status and message template.

    ``template`` is a format string over ``id, org, project, account, env``, or a dict of such strings
    keyed by the scope level (``account``/``org``/``project``) when the text depends on it.
    """

    code: str
    kind: Literal["ERROR", "FAILURE"]
    http_status: int
    template: str | dict[str, str]

    def error(self, **ctx: str) -> HarnessError:
        """The error for one missing identifier."""
        template = self.template
        if isinstance(template, dict):
            level = "project" if ctx.get("project") else "org" if ctx.get("org") else "account"
            template = template[level]
        return HarnessError(self.code, template.format(**ctx), kind=self.kind, http_status=self.http_status)


def _failure_404(template: str | dict[str, str]) -> NotFound:
    """javax NotFoundException: HTTP 400 FAILURE RESOURCE_NOT_FOUND_EXCEPTION."""
    return NotFound("RESOURCE_NOT_FOUND_EXCEPTION", "FAILURE", 400, template)


def _entity_404(template: str) -> NotFound:
    """EntityNotFoundException: HTTP 404 ERROR ENTITY_NOT_FOUND."""
    return NotFound("ENTITY_NOT_FOUND", "ERROR", 404, template)


@dataclass(frozen=True)
class ResourceKind:
    """One NG resource kind and everything the generic handlers need to serve it."""

    name: str
    path: str
    id_param: str
    level: ScopeLevel
    scope_source: Literal["query", "body"]
    wrapper: str | None  # request body wrapper key (None: flat DTO)
    response_key: str
    page_style: Literal["ng", "sized"]  # pageIndex/pageSize (max 100) vs page/size
    update_route: Literal["item", "collection"]
    not_found: NotFound
    duplicate: str
    fields: tuple[str, ...]  # entity fields copied from the request
    required: tuple[str, ...] = ("name",)
    delete_not_found: NotFound | None = None
    upsert: bool = False
    timestamps: tuple[str, str] = ("createdAt", "lastModifiedAt")
    extra: Callable[[dict[str, Any]], dict[str, Any]] = field(default=lambda record: {})


KINDS: Final[dict[str, ResourceKind]] = {
    kind.name: kind
    for kind in (
        ResourceKind(
            name="organization",
            path="/ng/api/organizations",
            id_param="identifier",
            level="account",
            scope_source="query",
            wrapper="organization",
            response_key="organization",
            page_style="ng",
            update_route="item",
            not_found=_failure_404("Organization with identifier [{id}] not found"),
            duplicate="An organization with identifier [{id}] is already present",
            fields=("identifier", "name", "description", "tags"),
            extra=lambda record: {"harnessManaged": record.get("harnessManaged", False)},
        ),
        ResourceKind(
            name="project",
            path="/ng/api/projects",
            id_param="identifier",
            level="org",
            scope_source="query",
            wrapper="project",
            response_key="project",
            page_style="ng",
            update_route="item",
            not_found=_entity_404("Project with orgIdentifier [{org}] and identifier [{id}] not found"),
            delete_not_found=_entity_404(
                "Project with identifier [{id}] does not exist in the specified scope"
            ),
            duplicate="A project with identifier [{id}] and orgIdentifier [{org}] is already present",
            fields=("orgIdentifier", "identifier", "name", "color", "description", "tags"),
            extra=lambda record: {"isFavorite": False},
        ),
        ResourceKind(
            name="service",
            path="/ng/api/servicesV2",
            id_param="serviceIdentifier",
            level="project",
            scope_source="body",
            wrapper=None,
            response_key="service",
            page_style="sized",
            update_route="collection",
            not_found=_failure_404(
                "Service with identifier [{id}] in project [{project}], org [{org}] not found"
            ),
            duplicate=(
                "Service [{id}] under Project[{project}], Organization [{org}] in Account [{account}] "
                "already exists"
            ),
            fields=(
                "identifier",
                "orgIdentifier",
                "projectIdentifier",
                "name",
                "description",
                "tags",
                "yaml",
            ),
            upsert=True,
        ),
        ResourceKind(
            name="environment",
            path="/ng/api/environmentsV2",
            id_param="environmentIdentifier",
            level="project",
            scope_source="body",
            wrapper=None,
            response_key="environment",
            page_style="sized",
            update_route="collection",
            not_found=_failure_404(
                "Environment with identifier [{id}] in project [{project}], org [{org}] not found"
            ),
            duplicate=(
                "Environment [{id}] under Project[{project}], Organization [{org}] in Account [{account}] "
                "already exists"
            ),
            fields=(
                "identifier",
                "orgIdentifier",
                "projectIdentifier",
                "name",
                "description",
                "color",
                "type",
                "tags",
                "yaml",
            ),
            required=("name", "type"),
            upsert=True,
        ),
        ResourceKind(
            name="infrastructure",
            path="/ng/api/infrastructures",
            id_param="infraIdentifier",
            level="environment",
            scope_source="body",
            wrapper=None,
            response_key="infrastructure",
            page_style="sized",
            update_route="collection",
            not_found=_failure_404(
                "Infrastructure with identifier [{id}] in project [{project}], org [{org}], "
                "environment [{env}] not found"
            ),
            duplicate=(
                "Infrastructure [{id}] under Environment [{env}] Project[{project}], Organization [{org}] in "
                "Account [{account}] already exists"
            ),
            fields=(
                "identifier",
                "orgIdentifier",
                "projectIdentifier",
                "environmentRef",
                "name",
                "description",
                "tags",
                "type",
                "yaml",
            ),
            required=("name", "yaml"),
        ),
        ResourceKind(
            name="connector",
            path="/ng/api/connectors",
            id_param="identifier",
            level="project",
            scope_source="body",
            wrapper="connector",
            response_key="connector",
            page_style="ng",
            update_route="collection",
            not_found=_failure_404(
                {
                    "project": (
                        "Connector with identifier [{id}] not found in project [{project}] and org [{org}]."
                    ),
                    "org": "Connector with identifier [{id}] not found in org [{org}].",
                    "account": "Connector with identifier [{id}] not found in account [{account}].",
                }
            ),
            duplicate="Connector [{id}] already exists",
            fields=(
                "name",
                "identifier",
                "description",
                "orgIdentifier",
                "projectIdentifier",
                "tags",
                "type",
                "spec",
            ),
            required=("name", "type"),
            extra=lambda record: {
                "status": record.get("connectivity", {}),
                "activityDetails": {"lastActivityTime": record["lastModifiedAt"]},
                "harnessManaged": False,
                "gitDetails": None,
                "entityValidityDetails": {"valid": True, "invalidYaml": None},
                "governanceMetadata": None,
                "isFavorite": False,
            },
        ),
        ResourceKind(
            name="secret",
            path="/ng/api/v2/secrets",
            id_param="identifier",
            level="project",
            scope_source="query",
            wrapper="secret",
            response_key="secret",
            page_style="ng",
            update_route="item",
            not_found=_failure_404("Secret with identifier [{id}] is not found in the given scope"),
            duplicate="Duplicate identifier, please try again with a new identifier",
            fields=(
                "type",
                "name",
                "identifier",
                "orgIdentifier",
                "projectIdentifier",
                "tags",
                "description",
                "spec",
            ),
            required=("name", "type"),
            timestamps=("createdAt", "updatedAt"),
            extra=lambda record: {"draft": False, "governanceMetadata": None},
        ),
    )
}


def _blank(value: Any) -> bool:
    return value is None or value == ""


def check_entity_identifier(value: Any, field_name: str = "identifier") -> None:
    """Bean validation of an entity identifier (``$`` allowed), Harness's messages."""
    if _blank(value):
        raise HarnessError.validation([(field_name, ID_BLANK_MESSAGE)])
    problem = identifier_error(value, dollar_allowed=True)
    if problem:
        raise HarnessError.validation([(field_name, problem)])


class ResourceApi:
    """Generic CRUD for :data:`KINDS` plus the few special endpoints (test connection, unique checks)."""

    def __init__(self, core: Emulator) -> None:
        self.core = core

    @property
    def store(self) -> Any:
        return self.core.store

    # ---- routes ----------------------------------------------------------------------------------
    def routes(self) -> list[Route]:
        """Every resource route, generated from the table."""
        routes: list[Route] = []
        for kind in KINDS.values():
            item = f"{kind.path}/{{{kind.id_param}}}"
            routes += [
                Route("POST", kind.path, self._bind(self.create, kind)),
                Route("GET", kind.path, self._bind(self.list_entities, kind)),
                Route("GET", item, self._bind(self.get, kind)),
                Route("DELETE", item, self._bind(self.delete, kind)),
            ]
            if kind.update_route == "item":
                routes.append(Route("PUT", item, self._bind(self.update, kind)))
            else:
                routes.append(Route("PUT", kind.path, self._bind(self.update, kind)))
            if kind.upsert:
                routes.append(Route("PUT", f"{kind.path}/upsert", self._bind(self.upsert, kind)))
        routes += [
            Route("POST", "/ng/api/connectors/testConnection/{identifier}", self.test_connection),
            Route("POST", "/ng/api/connectors/listV2", self._bind(self.list_entities, KINDS["connector"])),
            Route("GET", "/ng/api/connectors/validateUniqueIdentifier", self.connector_unique),
            Route("POST", "/ng/api/v2/secrets/list", self._bind(self.list_entities, KINDS["secret"])),
            Route("GET", "/ng/api/v2/secrets/validateUniqueIdentifier/{identifier}", self.secret_unique),
            Route("POST", "/ng/api/v2/secrets/files", self.create_file_secret),
            Route("PUT", "/ng/api/v2/secrets/files/{identifier}", self.update_file_secret),
        ]
        return routes

    @staticmethod
    def _bind(method: Callable[[ResourceKind, Call], Any], kind: ResourceKind) -> Callable[[Call], Any]:
        async def handler(call: Call) -> Any:
            return await method(kind, call)

        handler.__name__ = f"{method.__name__}_{kind.name}"
        return handler

    # ---- scope helpers ---------------------------------------------------------------------------
    def query_scope(self, kind: ResourceKind, call: Call) -> tuple[str, ...]:
        """The scope tuple from ``orgIdentifier``/``projectIdentifier``(/``environmentIdentifier``) query."""
        org = call.query("orgIdentifier") or None
        project = call.query("projectIdentifier") or None
        return self.scope_for(kind, call.account, org, project, call.query("environmentIdentifier"))

    @staticmethod
    def scope_for(
        kind: ResourceKind, account: str, org: str | None, project: str | None, env: str | None
    ) -> tuple[str, ...]:
        """The store scope of an entity of ``kind`` (``org`` defaults to ``default`` for projects)."""
        if kind.level == "account":
            return (account,)
        if kind.level == "org":
            return (account, org or DEFAULT_ORG)
        if kind.level == "environment":
            return (account, org or "", project or "", env or "")
        return (account, org or "", project or "")

    @staticmethod
    def _ctx(kind: ResourceKind, scope: tuple[str, ...], identifier: str) -> dict[str, str]:
        ctx = {"id": identifier, "account": scope[0], "org": "", "project": "", "env": ""}
        if len(scope) > 1:
            ctx["org"] = scope[1]
        if len(scope) > 2:
            ctx["project"] = scope[2]
        if len(scope) > 3:
            ctx["env"] = scope[3]
        return ctx

    def require_org(self, account: str, org: str) -> None:
        """Fail like Harness when an organization does not exist."""
        if org and org != DEFAULT_ORG and self.store.get("organization", (account,), org) is None:
            raise KINDS["organization"].not_found.error(id=org, org=org, project="", account=account, env="")

    def require_project(self, account: str, org: str | None, project: str | None) -> None:
        """Fail like Harness when the project (and its org) of a project-level entity does not exist."""
        if org:
            self.require_org(account, org)
        if project and self.store.get("project", (account, org or DEFAULT_ORG), project) is None:
            raise KINDS["project"].not_found.error(
                id=project, org=org or DEFAULT_ORG, project="", account=account, env=""
            )

    # ---- records ---------------------------------------------------------------------------------
    def render(self, kind: ResourceKind, record: dict[str, Any]) -> dict[str, Any]:
        """The response DTO of one record."""
        created, modified = kind.timestamps
        result = {
            kind.response_key: record["entity"],
            created: record["createdAt"],
            modified: record["lastModifiedAt"],
        }
        result.update(kind.extra(record))
        return result

    def lookup(
        self, kind: ResourceKind, scope: tuple[str, ...], identifier: str, *, deleting: bool = False
    ) -> dict[str, Any]:
        """The record or Harness's not-found error for this kind."""
        if kind.name == "organization" and identifier == DEFAULT_ORG:
            return self.default_org(scope[0])
        record = self.store.get(kind.name, scope, identifier)
        if record is None:
            rule = kind.delete_not_found if deleting and kind.delete_not_found else kind.not_found
            raise rule.error(**self._ctx(kind, scope, identifier))
        return record

    @staticmethod
    def default_org(account: str) -> dict[str, Any]:
        """The built-in ``default`` organization every account has."""
        return {
            "entity": {"identifier": DEFAULT_ORG, "name": "default", "description": "default", "tags": {}},
            "createdAt": 0,
            "lastModifiedAt": 0,
            "harnessManaged": True,
        }

    def _entity_from_body(self, kind: ResourceKind, body: Any) -> dict[str, Any]:
        if kind.name == "infrastructure" and isinstance(body, dict) and "infrastructureDefinition" in body:
            body = self._infrastructure_from_yaml(body)
        if kind.wrapper is not None:
            body = body.get(kind.wrapper) if isinstance(body, dict) else None
            if body is None:
                raise HarnessError.validation([(kind.wrapper, "must not be null")])
        if not isinstance(body, dict):
            raise HarnessError.validation([("body", "must be a JSON object")])
        return body

    @staticmethod
    def _infrastructure_from_yaml(doc: dict[str, Any]) -> dict[str, Any]:
        import yaml

        spec = doc["infrastructureDefinition"] or {}
        result = {
            k: spec.get(k)
            for k in (
                "identifier",
                "name",
                "description",
                "tags",
                "orgIdentifier",
                "projectIdentifier",
                "environmentRef",
                "type",
            )
        }
        result["yaml"] = yaml.safe_dump(doc, sort_keys=False)
        return result

    def _validate(self, kind: ResourceKind, entity: dict[str, Any]) -> None:
        check_entity_identifier(entity.get("identifier"))
        problems = [(name, "cannot be empty") for name in kind.required if _blank(entity.get(name))]
        if kind.name == "environment" and not problems and entity.get("type") not in ENVIRONMENT_TYPES:
            problems.append(("type", f"must be one of {list(ENVIRONMENT_TYPES)}"))
        if kind.name == "secret" and not problems and entity.get("type") not in SECRET_TYPES:
            problems.append(("type", f"must be one of {list(SECRET_TYPES)}"))
        if problems:
            raise HarnessError.validation(problems)
        for name in ("tags",):
            if entity.get(name) is not None and not isinstance(entity.get(name), dict):
                raise HarnessError.validation([(name, "must be a map of strings")])
        if kind.name in ("service", "environment", "infrastructure") and entity.get("yaml"):
            if not isinstance(entity["yaml"], str):
                raise HarnessError.validation([("yaml", "must be a string")])
            parse_yaml_body(entity["yaml"])

    def _create_scope(self, kind: ResourceKind, call: Call, entity: dict[str, Any]) -> tuple[str, ...]:
        account = call.account
        if kind.scope_source == "query":
            org = call.query("orgIdentifier") or None
            project = call.query("projectIdentifier") or None
            if kind.name == "project":
                org = org or entity.get("orgIdentifier") or DEFAULT_ORG
            if kind.name == "secret":
                body_org = entity.get("orgIdentifier") or None
                body_project = entity.get("projectIdentifier") or None
                if (body_org, body_project) != (org, project):
                    raise HarnessError(
                        "INVALID_REQUEST", "Invalid request, scope in payload and params do not match."
                    )
        else:
            org = entity.get("orgIdentifier") or None
            project = entity.get("projectIdentifier") or None
        return self.scope_for(kind, account, org, project, entity.get("environmentRef"))

    # ---- shared create/update (HTTP handlers and seeding) ----------------------------------------
    def save(
        self, kind: ResourceKind, scope: tuple[str, ...], entity_in: dict[str, Any], *, create: bool
    ) -> dict[str, Any]:
        """Create or update one entity in ``scope``; returns the stored record."""
        self._validate(kind, entity_in)
        identifier = entity_in["identifier"]
        ctx = self._ctx(kind, scope, identifier)
        if kind.name == "organization" and identifier == DEFAULT_ORG:
            if create:
                raise HarnessError.invalid_request("default cannot be used as org identifier")
            raise HarnessError.invalid_request(
                "Update operation not supported for Default Organization (identifier: [default])"
            )
        self._check_parents(kind, scope)
        existing = self.store.get(kind.name, scope, identifier)
        if create and existing is not None:
            raise HarnessError.duplicate(kind.duplicate.format(**ctx))
        if not create and existing is None:
            raise kind.not_found.error(**ctx)
        now = now_ms()
        record: dict[str, Any] = dict(existing) if existing else {"createdAt": now}
        record["lastModifiedAt"] = now
        record["entity"] = self._build_entity(kind, scope, entity_in, existing)
        self._special_record_fields(kind, record, entity_in, existing)
        self.store.put(kind.name, scope, identifier, record)
        return record

    def _check_parents(self, kind: ResourceKind, scope: tuple[str, ...]) -> None:
        account = scope[0]
        if kind.level == "org":
            self.require_org(account, scope[1])
        elif kind.level in ("project", "environment"):
            org, project = scope[1] or None, scope[2] or None
            if project and not org:
                raise HarnessError.invalid_request(
                    "orgIdentifier is required when projectIdentifier is given"
                )
            self.require_project(account, org, project)
        if kind.level == "environment":
            env_scope = (scope[0], scope[1], scope[2])
            if not scope[3]:
                raise HarnessError.validation([("environmentRef", "cannot be empty")])
            if self.store.get("environment", env_scope, scope[3]) is None:
                raise KINDS["environment"].not_found.error(
                    **self._ctx(KINDS["environment"], env_scope, scope[3])
                )

    def _build_entity(
        self,
        kind: ResourceKind,
        scope: tuple[str, ...],
        entity_in: dict[str, Any],
        existing: dict[str, Any] | None,
    ) -> dict[str, Any]:
        entity = {name: entity_in.get(name) for name in kind.fields}
        if "tags" in entity and entity["tags"] is None:
            entity["tags"] = {}
        if "description" in entity and entity["description"] is None:
            entity["description"] = ""
        account = scope[0]
        if kind.level in ("project", "environment"):
            entity["orgIdentifier"] = scope[1] or None
            entity["projectIdentifier"] = scope[2] or None
        if kind.name == "project":
            entity["orgIdentifier"] = scope[1]
            entity["modules"] = list(ALL_MODULES)
            entity["color"] = entity.get("color") or "#0063f7"
        elif kind.name in ("service", "environment", "infrastructure"):
            entity = {"accountId": account, **entity, "deleted": False}
            if not entity.get("yaml"):
                entity["yaml"] = self._synthesize_yaml(kind, entity)
            if kind.name == "infrastructure":
                entity["deploymentType"] = self._deployment_type(entity)
                if existing and existing["entity"].get("deploymentType") != entity["deploymentType"]:
                    raise HarnessError.invalid_request(
                        "Infrastructure Deployment Type is not allowed to change."
                    )
        elif kind.name == "connector":
            entity = {**entity, "accountIdentifier": account}
            entity["spec"] = entity.get("spec") or {}
        elif kind.name == "secret":
            spec = dict(entity.get("spec") or {})
            spec.setdefault("secretManagerIdentifier", "harnessSecretManager")
            spec.setdefault("valueType", "Inline")
            if spec.get("valueType") == "Inline" or entity.get("type") != "SecretText":
                spec["value"] = None  # write-only: never stored, never returned
            spec.setdefault("additionalMetadata", None)
            entity["spec"] = spec
        return entity

    @staticmethod
    def _synthesize_yaml(kind: ResourceKind, entity: dict[str, Any]) -> str:
        import yaml

        root = "infrastructureDefinition" if kind.name == "infrastructure" else kind.name
        doc: dict[str, Any] = {"name": entity.get("name"), "identifier": entity.get("identifier")}
        for name in ("orgIdentifier", "projectIdentifier", "type", "environmentRef"):
            if entity.get(name):
                doc[name] = entity[name]
        doc["tags"] = entity.get("tags") or {}
        return yaml.safe_dump({root: doc}, sort_keys=False)

    @staticmethod
    def _deployment_type(entity: dict[str, Any]) -> str | None:
        try:
            doc = parse_yaml_body(entity.get("yaml") or "") or {}
            value = (doc.get("infrastructureDefinition") or {}).get("deploymentType")
        except (HarnessError, AttributeError):
            value = None
        if value:
            return str(value)
        infra_type = str(entity.get("type") or "")
        return "Kubernetes" if infra_type.startswith("Kubernetes") else infra_type or None

    def _special_record_fields(
        self,
        kind: ResourceKind,
        record: dict[str, Any],
        entity_in: dict[str, Any],
        existing: dict[str, Any] | None,
    ) -> None:
        if kind.name == "secret":
            value = (entity_in.get("spec") or {}).get("value")
            if value is not None:
                record["valueSha256"] = hashlib.sha256(str(value).encode()).hexdigest()
        elif kind.name == "connector":
            record["connectivity"] = self._connectivity(record["entity"])

    @staticmethod
    def _connectivity(entity: dict[str, Any]) -> dict[str, Any]:
        """Connector test result: FAILURE when any spec value mentions a ``.invalid`` host (RFC 2606)."""
        now = now_ms()
        failing = ".invalid" in repr(entity.get("spec"))
        errors = (
            [{"reason": "Unable to connect", "message": "Could not resolve host (emulated)", "code": 450}]
            if failing
            else []
        )
        return {
            "status": "FAILURE" if failing else "SUCCESS",
            "errorSummary": "Unable to connect (emulated)" if failing else None,
            "errors": errors,
            "testedAt": now,
            "lastTestedAt": now,
            "lastConnectedAt": None if failing else now,
            "lastAlertSent": None,
        }

    # ---- HTTP handlers ---------------------------------------------------------------------------
    async def create(self, kind: ResourceKind, call: Call) -> Any:
        entity = self._entity_from_body(kind, await call.json())
        scope = self._create_scope(kind, call, entity)
        return self.render(kind, self.save(kind, scope, entity, create=True))

    async def update(self, kind: ResourceKind, call: Call) -> Any:
        entity = self._entity_from_body(kind, await call.json())
        path_id = call.params.get(kind.id_param)
        if path_id is not None:
            if _blank(entity.get("identifier")):
                entity["identifier"] = path_id
            elif entity["identifier"] != path_id:
                raise HarnessError.invalid_request(
                    "Identifiers given in path param and request body don't match."
                )
        scope = self._create_scope(kind, call, entity)
        if kind.name == "organization" and entity.get("identifier") == DEFAULT_ORG:
            raise HarnessError.invalid_request(
                "Update operation not supported for Default Organization (identifier: [default])"
            )
        return self.render(kind, self.save(kind, scope, entity, create=False))

    async def upsert(self, kind: ResourceKind, call: Call) -> Any:
        entity = self._entity_from_body(kind, await call.json())
        scope = self._create_scope(kind, call, entity)
        exists = not _blank(entity.get("identifier")) and self.store.get(
            kind.name, scope, entity["identifier"]
        )
        return self.render(kind, self.save(kind, scope, entity, create=not exists))

    async def get(self, kind: ResourceKind, call: Call) -> Any:
        scope = self.query_scope(kind, call)
        return self.render(kind, self.lookup(kind, scope, call.params[kind.id_param]))

    async def delete(self, kind: ResourceKind, call: Call) -> Any:
        identifier = call.params[kind.id_param]
        scope = self.query_scope(kind, call)
        if kind.name == "organization" and identifier == DEFAULT_ORG:
            raise HarnessError.invalid_request(
                "Update operation not supported for Default Organization (identifier: [default])"
            )
        self.lookup(kind, scope, identifier, deleting=True)
        if kind.name in ("organization", "project"):
            self.refuse_if_not_empty(kind, scope, identifier)
        self.store.delete(kind.name, scope, identifier)
        return True

    def refuse_if_not_empty(self, kind: ResourceKind, scope: tuple[str, ...], identifier: str) -> None:
        """Harness refuses to delete an organization that still has projects (or org-level entities) and a
        project that still holds entities; 400 ``INVALID_REQUEST`` naming what is left (the text is ours)."""
        if kind.name == "organization":
            account = scope[0]
            held = self.store.identifiers_in((account, identifier))  # its projects
            for name, ids in self.store.identifiers_in((account, identifier, "")).items():  # org level
                held.setdefault(name, []).extend(ids)
            what = f"Organization [{identifier}]"
        else:
            account, org = scope[0], scope[1]
            held = self.store.identifiers_in((account, org, identifier))
            what = f"Project [{identifier}] in org [{org}]"
        if held:
            raise HarnessError.invalid_request(
                f"{what} cannot be deleted as it still contains {describe_contents(held)}. Delete them first."
            )

    async def list_entities(self, kind: ResourceKind, call: Call) -> Any:
        scope = self.query_scope(kind, call)
        records = self.store.items_in(kind.name, scope)
        if kind.name == "organization":
            records = [self.default_org(call.account), *records]
        search = (call.query("searchTerm") or "").lower()
        wanted = set(call.query_list("identifiers") + call.query_list(f"{kind.name}Identifiers"))
        if kind.name == "service":
            wanted |= set(call.query_list("serviceIdentifiers"))
        if kind.name == "environment":
            wanted |= set(call.query_list("envIdentifiers"))
        type_filter = set(call.query_list("type"))
        if call.method == "POST":  # listV2-style filter bodies
            body = await call.json(required=False) or {}
            if isinstance(body, dict):
                type_filter |= set(body.get("types") or [])
                search = search or str(body.get("searchTerm") or "").lower()
        items = []
        for record in records:
            entity = record["entity"]
            if (
                search
                and search not in str(entity.get("name", "")).lower()
                and search not in entity["identifier"].lower()
            ):
                continue
            if wanted and entity["identifier"] not in wanted:
                continue
            if type_filter and entity.get("type") not in type_filter:
                continue
            items.append(record)
        items = self._sort(kind, items, call.query_list("sortOrders") or call.query_list("sort"))
        rendered = [self.render(kind, record) for record in items]
        if kind.page_style == "ng":
            index, size = call.query_int("pageIndex", 0), call.query_int("pageSize", 50)
            problems = []
            if index < 0:
                problems.append(("pageIndex", "must be greater than or equal to 0"))
            if size > 100:
                problems.append(("pageSize", "must be less than or equal to 100"))
            if size < 1:
                problems.append(("pageSize", "must be greater than or equal to 1"))
            if problems:
                raise HarnessError.validation(problems)
        else:
            index, size = call.query_int("page", 0), call.query_int("size", 100)
            if index < 0 or size < 1:
                raise HarnessError.invalid_request("page must be >= 0 and size must be >= 1")
        return ng_page(rendered, page_index=index, page_size=size)

    @staticmethod
    def _sort(kind: ResourceKind, records: list[dict[str, Any]], orders: list[str]) -> list[dict[str, Any]]:
        if kind.name == "organization" and not orders:
            return sorted(
                records,
                key=lambda r: (not r.get("harnessManaged", False), str(r["entity"].get("name", "")).lower()),
            )
        field_name, direction = "lastModifiedAt", "DESC"
        if orders:
            parts = orders[0].split(",") if "," in orders[0] else [orders[0], *orders[1:2]]
            field_name = parts[0] or field_name
            direction = (parts[1] if len(parts) > 1 else "ASC").upper()

        def key(record: dict[str, Any]) -> Any:
            value = record.get(field_name, record["entity"].get(field_name))
            return (value is None, str(value).lower() if isinstance(value, str) else value or 0)

        return sorted(records, key=key, reverse=direction == "DESC")

    async def test_connection(self, call: Call) -> Any:
        kind = KINDS["connector"]
        identifier = call.params["identifier"]
        record = self.store.get("connector", self.query_scope(kind, call), identifier)
        if record is None:
            raise HarnessError(
                "CONNECTOR_NOT_FOUND_EXCEPTION", f"No connector found with identifier {identifier}"
            )
        record["connectivity"] = self._connectivity(record["entity"])
        self.store.mark_dirty()
        status = record["connectivity"]
        return {
            "status": status["status"],
            "errors": status["errors"],
            "errorSummary": status["errorSummary"],
            "testedAt": status["testedAt"],
            "delegateId": "emulator-delegate",
            "taskId": self.core.ids.uuid(),
        }

    # ---- file secrets (multipart: ``spec`` JSON + ``file``) -----------------------------------------
    async def _file_secret(self, call: Call, *, create: bool) -> Any:
        kind = KINDS["secret"]
        parts = parse_multipart(await call.body(), call.header("content-type") or "")
        if "spec" not in parts:
            raise HarnessError.validation([("spec", "must not be null")])
        try:
            spec = json.loads(parts["spec"].decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise HarnessError.invalid_request("Unable to process JSON in the spec part") from None
        entity = self._entity_from_body(kind, spec)
        entity = {**entity, "type": entity.get("type") or "SecretFile"}
        path_id = call.params.get("identifier")
        if path_id is not None:
            if _blank(entity.get("identifier")):
                entity["identifier"] = path_id
            elif entity["identifier"] != path_id:
                raise HarnessError.invalid_request(
                    "Identifiers given in path param and request body don't match."
                )
        scope = self._create_scope(kind, call, entity)
        record = self.save(kind, scope, entity, create=create)
        if "file" in parts:  # the content itself is never kept: only its digest
            record["valueSha256"] = hashlib.sha256(parts["file"]).hexdigest()
            self.store.mark_dirty()
        elif create:
            raise HarnessError.validation([("file", "must not be null")])
        return self.render(kind, record)

    async def create_file_secret(self, call: Call) -> Any:
        return await self._file_secret(call, create=True)

    async def update_file_secret(self, call: Call) -> Any:
        return await self._file_secret(call, create=False)

    async def connector_unique(self, call: Call) -> Any:
        identifier = call.query("identifier") or ""
        return self.store.get("connector", self.query_scope(KINDS["connector"], call), identifier) is None

    async def secret_unique(self, call: Call) -> Any:
        identifier = call.params["identifier"]
        return self.store.get("secret", self.query_scope(KINDS["secret"], call), identifier) is None


_PLURALS: Final = {"inputSet": "input sets", "infrastructure": "infrastructures"}


def describe_contents(held: dict[str, list[str]], limit: int = 5) -> str:
    """``pipelines [build], connectors [a, b]`` (at most ``limit`` identifiers per kind).

    >>> describe_contents({"pipeline": ["build"], "secret": [f"s{i}" for i in range(7)]})
    'pipelines [build], secrets [s0, s1, s2, s3, s4, ... 2 more]'
    """
    parts = []
    for name in sorted(held):
        ids = held[name]
        shown = ", ".join(ids[:limit]) + (f", ... {len(ids) - limit} more" if len(ids) > limit else "")
        parts.append(f"{_PLURALS.get(name, name + 's')} [{shown}]")
    return ", ".join(parts)


def parse_multipart(body: bytes, content_type: str) -> dict[str, bytes]:
    """The named parts of a ``multipart/form-data`` body (stdlib parser; no python-multipart needed).

    >>> body = b'--b\\r\\nContent-Disposition: form-data; name="spec"\\r\\n\\r\\n{}\\r\\n--b--\\r\\n'
    >>> parse_multipart(body, "multipart/form-data; boundary=b")
    {'spec': b'{}'}
    """
    from email.parser import BytesParser
    from email.policy import HTTP

    if not content_type.lower().startswith("multipart/form-data") or "boundary=" not in content_type:
        raise HarnessError(
            "MEDIA_NOT_SUPPORTED", "HTTP 415 Unsupported Media Type: expected multipart/form-data"
        )
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    parts: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            parts[name] = payload
    return parts
