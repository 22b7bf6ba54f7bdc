"""What a Harness resource kind is, as data: the row type of every resource table.

:class:`ResourceKind` says where a kind lives (paths, scope levels, parent, API family), what its body looks
like, how its lists page, which permissions Harness checks and which fields Harness adds on its own. The
rows themselves live in :mod:`.resource_kinds` (platform kinds) and in one file per Harness module under
:mod:`.modules` (IaCM workspaces, ...). Special behaviour is a field of the row (``check_write``,
``public_view``, ``secret_strings``), never an ``if kind == ...`` in the generic code.

Import-light on purpose (no httpx, no yaml): DAG files may import it at parse time.

>>> article("input set"), article("workspace")
('an input set', 'a workspace')
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from airflow_provider_harness.client.call import NG_API, ApiFamily, PageShape
from airflow_provider_harness.client.config import ScopeLevel

BodyFormat = Literal["json", "yaml"]
UpdateStyle = Literal["item", "collection"]
Verb = Literal["get", "create", "update", "delete", "list"]

SERVER_FIELDS: frozenset[str] = frozenset(
    {
        "createdAt",
        "lastModifiedAt",
        "lastUpdatedAt",
        "updatedAt",
        "version",
        "accountId",
        "accountIdentifier",
        "deleted",
        "harnessManaged",
        "entityGitDetails",
        "gitDetails",
        "entityValidityDetails",
        "governanceMetadata",
        "storeType",
        "connectorRef",
        "fallbackBranch",
        "isFavorite",
        "status",
        "activityDetails",
    }
)


def article(noun: str) -> str:
    """``"an environment"``, ``"a pipeline"``.

    >>> article("input set"), article("pipeline")
    ('an input set', 'a pipeline')
    """
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


@dataclass(frozen=True)
class Permissions:
    """Harness's permission names for each verb (named in 403 errors when Harness does not list them)."""

    view: str
    create: str
    edit: str
    delete: str

    def for_verb(self, verb: Verb) -> str:
        return {"get": self.view, "list": self.view, "create": self.create, "update": self.edit}.get(
            verb, self.delete
        )


@dataclass(frozen=True)
class ParentRef:
    """The resource a kind lives under (input set -> pipeline, infrastructure -> environment).

    ``arg`` is the Python argument naming it, ``param`` the query parameter Harness wants, ``path`` where
    its identifier sits inside the entity (the YAML root content for YAML kinds).
    """

    arg: str
    param: str
    what: str
    path: tuple[str, ...]
    allow_dollar: bool = True


@dataclass(frozen=True)
class ResourceKind:
    """One Harness resource kind as data.

    Paths hold ``{identifier}`` where the resource identifier goes. ``wrapper`` is the key the request
    body wraps the DTO in (``{"project": {...}}``), ``None`` for bare DTOs (services, environments,
    infrastructures) and YAML kinds. ``response_key`` is where the entity sits in a get response and a
    list item. ``yaml_root`` is the top key of the document Harness shows for the kind (``pipeline:``,
    ``service:``, ``infrastructureDefinition:``); ``yaml_field`` is the response field holding YAML text
    (the whole entity for YAML kinds, the embedded definition for services/environments/infrastructures).
    ``lifted_fields`` are copied from such a document into the DTO Harness wants next to ``yaml``.

    >>> from airflow_provider_harness.client.resource_kinds import resource_kind
    >>> resource_kind("service").update_style, resource_kind("pipeline").body_format
    ('collection', 'yaml')
    """

    name: str
    title: str
    scopes: tuple[ScopeLevel, ...]
    default_scope: ScopeLevel
    base_path: str
    item_path: str
    page: PageShape
    permissions: Permissions
    wrapper: str | None = None
    response_key: str | None = None
    body_format: BodyFormat = "json"
    yaml_root: str | None = None
    yaml_field: str | None = None
    lifted_fields: tuple[str, ...] = ()
    id_field: str = "identifier"
    allow_dollar: bool = True
    parent: ParentRef | None = None
    create_path: str | None = None
    update_style: UpdateStyle = "item"
    update_path: str | None = None
    list_method: str = "GET"
    list_path: str | None = None
    list_body: Mapping[str, object] | None = None
    list_filters: frozenset[str] = frozenset({"searchTerm"})
    list_body_filters: frozenset[str] = frozenset()
    #: Whether org/project go in the query of create/update (ng-manager projects, secrets, pipeline-service).
    write_scope_in_query: bool = True
    #: Whether the body carries orgIdentifier/projectIdentifier (everything but organizations).
    scope_in_body: bool = True
    #: Fields every spec must give (besides the identifier).
    required_fields: tuple[str, ...] = ("name",)
    git_read: frozenset[str] = frozenset()
    git_create: frozenset[str] = frozenset()
    git_update: frozenset[str] = frozenset()
    git_delete: frozenset[str] = frozenset()
    #: Whether Harness's ``forceDelete`` query option exists for this kind.
    force_delete: bool = False
    #: Fields not compared by apply (Harness fills them itself, e.g. a project's deprecated ``modules``).
    ignored_fields: frozenset[str] = frozenset()
    #: Fields compared as a whole (a removed tag is a change); other mappings compare as "desired subset".
    exact_fields: frozenset[str] = frozenset({"tags"})
    server_fields: frozenset[str] = field(default=SERVER_FIELDS)
    aliases: tuple[str, ...] = ()
    #: A richer read of one resource (``{identifier}`` in it), used by the get operator: a trigger's
    #: details carry its webhook URL (``NGTriggerDetailsResponseDTO.webhookUrl``, harness-api.md §10.4).
    details_path: str | None = None
    #: The service family: NG (query account, envelope, query scope) or IaCM (header, bare JSON, path
    #: scope: paths then hold ``{org}`` and ``{project}``).
    api: ApiFamily = NG_API
    #: Reads a create/update answer and raises when it means "not applied" (IaCM's policy evaluation).
    check_write: Callable[[Any], Any] | None = None
    #: Whether apply reads the resource back after a write (IaCM answers only a policy evaluation, so the
    #: read is what proves the change is there).
    read_after_write: bool = False
    #: The entity without write-only or secret values: what operators return, log and push to XCom.
    public_view: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    #: Checks (and completes) a spec's entity before any request; raises ``ValueError`` naming the field.
    check_spec: Callable[[dict[str, Any], str], None] | None = None
    #: Values of a spec that never appear in error text (secret references of IaCM variables).
    secret_strings: Callable[[Mapping[str, Any]], tuple[str, ...]] | None = None
    #: The Harness module the kind belongs to (``platform`` for ng-manager/pipeline-service kinds).
    module: str = "platform"

    @property
    def a(self) -> str:
        """The kind with its article, for messages: ``"an input set"``, ``"a pipeline"``."""
        return article(self.title.lower())

    @property
    def is_yaml(self) -> bool:
        """True for kinds whose body is a YAML document (pipelines, input sets, triggers)."""
        return self.body_format == "yaml"

    @property
    def git_options(self) -> frozenset[str]:
        """Every Git Experience query option this kind accepts, on any verb."""
        return self.git_read | self.git_create | self.git_update | self.git_delete

    def git_for(self, verb: Verb) -> frozenset[str]:
        """The Git Experience options Harness accepts on ``verb``."""
        return {
            "get": self.git_read,
            "create": self.git_create,
            "update": self.git_update,
            "delete": self.git_delete,
        }.get(verb, frozenset())

    def path(self, identifier: str, scope: Mapping[str, str] | None = None) -> str:
        """The item path of ``identifier`` (``scope`` fills ``{org}``/``{project}`` of path-scoped kinds)."""
        return self.url(self.item_path, scope, identifier)

    def url(self, template: str, scope: Mapping[str, str] | None, identifier: str = "") -> str:
        """``template`` with ``{identifier}``, ``{org}`` and ``{project}`` filled in.

        >>> from airflow_provider_harness.client.resource_kinds import resource_kind
        >>> resource_kind("workspace").url("/iacm/api/orgs/{org}/projects/{project}/workspaces",
        ...                                {"orgIdentifier": "o", "projectIdentifier": "p"})
        '/iacm/api/orgs/o/projects/p/workspaces'
        """
        scope = scope or {}
        return template.format(
            identifier=identifier,
            org=scope.get("orgIdentifier", ""),
            project=scope.get("projectIdentifier", ""),
        )

    def public(self, entity: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``entity`` without secret values (see ``public_view``)."""
        view = copy.deepcopy(dict(entity))
        return self.public_view(view) if self.public_view else view
