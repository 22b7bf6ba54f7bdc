"""Every Harness resource kind the provider manages, described once as data.

One :class:`ResourceKind` per kind says where it lives (paths, scope levels, parent), what its body looks
like (JSON DTO with or without a wrapper key, or a YAML document), how its lists page, which permissions
Harness checks, and which fields Harness adds on its own. :mod:`.resources` drives one generic
implementation of create / get / update / delete / list / apply from :data:`RESOURCE_KINDS`; special
cases exist only where Harness is special (connector test, service deployment status, file secrets).

Import-light on purpose (no httpx, no yaml): DAG files may import it at parse time.

>>> kind = resource_kind("project")
>>> kind.item_path.format(identifier="team_a"), kind.scopes, kind.wrapper
('/ng/api/projects/team_a', ('org',), 'project')
>>> resource_kind("inputSet").name, resource_kind("infrastructureDefinition").name
('input_set', 'infrastructure')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from airflow_provider_harness.client.call import NG_PAGE, NG_PAGE_BY_PAGE, SPRING_PAGE, PageShape
from airflow_provider_harness.client.config import ScopeLevel

BodyFormat = Literal["json", "yaml"]
UpdateStyle = Literal["item", "collection"]
Verb = Literal["get", "create", "update", "delete", "list"]

#: Fields Harness adds to entities on its own; never compared, never sent back.
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

# Git Experience query options (harness-openapi-operations.txt, pipeline_api / pipeline_input_set_api).
_GIT_READ = frozenset({"branch", "repoIdentifier", "getDefaultFromOtherRepo", "loadFromFallbackBranch"})
_GIT_CREATE = frozenset(
    {
        "branch",
        "repoIdentifier",
        "rootFolder",
        "filePath",
        "commitMsg",
        "isNewBranch",
        "baseBranch",
        "connectorRef",
        "storeType",
        "repoName",
        "isHarnessCodeRepo",
    }
)
_GIT_UPDATE = frozenset(
    {
        "branch",
        "repoIdentifier",
        "rootFolder",
        "filePath",
        "commitMsg",
        "lastObjectId",
        "resolvedConflictCommitId",
        "baseBranch",
        "connectorRef",
        "lastCommitId",
        "isNewBranch",
        "isHarnessCodeRepo",
    }
)
_GIT_DELETE = frozenset({"branch", "repoIdentifier", "rootFolder", "filePath", "commitMsg", "lastObjectId"})
_PIPELINE_BRANCH = frozenset({"pipelineBranch", "pipelineRepoID"})


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

    def path(self, identifier: str) -> str:
        """The item path of ``identifier``."""
        return self.item_path.format(identifier=identifier)


_NG = "/ng/api"
_PIPE = "/pipeline/api"

RESOURCE_KINDS: dict[str, ResourceKind] = {
    kind.name: kind
    for kind in (
        ResourceKind(
            name="organization",
            title="Organization",
            aliases=("org",),
            scopes=("account",),
            default_scope="account",
            base_path=f"{_NG}/organizations",
            item_path=f"{_NG}/organizations/{{identifier}}",
            page=NG_PAGE,
            permissions=Permissions(
                "core_organization_view",
                "core_organization_create",
                "core_organization_edit",
                "core_organization_delete",
            ),
            wrapper="organization",
            response_key="organization",
            yaml_root="organization",
            scope_in_body=False,
            write_scope_in_query=False,
            list_filters=frozenset({"searchTerm", "identifiers", "sortOrders"}),
        ),
        ResourceKind(
            name="project",
            title="Project",
            scopes=("org",),
            default_scope="org",
            base_path=f"{_NG}/projects",
            item_path=f"{_NG}/projects/{{identifier}}",
            page=NG_PAGE,
            permissions=Permissions(
                "core_project_view", "core_project_create", "core_project_edit", "core_project_delete"
            ),
            wrapper="project",
            response_key="project",
            yaml_root="project",
            ignored_fields=frozenset({"modules"}),
            list_filters=frozenset(
                {"searchTerm", "identifiers", "hasModule", "moduleType", "onlyFavorites", "sortOrders"}
            ),
        ),
        ResourceKind(
            name="pipeline",
            title="Pipeline",
            scopes=("project",),
            default_scope="project",
            base_path=f"{_PIPE}/pipelines",
            item_path=f"{_PIPE}/pipelines/{{identifier}}",
            create_path=f"{_PIPE}/pipelines/v2",
            update_path=f"{_PIPE}/pipelines/v2/{{identifier}}",
            page=SPRING_PAGE,
            permissions=Permissions(
                "core_pipeline_view", "core_pipeline_edit", "core_pipeline_edit", "core_pipeline_delete"
            ),
            body_format="yaml",
            yaml_root="pipeline",
            yaml_field="yamlPipeline",
            allow_dollar=False,
            list_method="POST",
            list_path=f"{_PIPE}/pipelines/list",
            list_body={"filterType": "PipelineSetup"},
            list_filters=frozenset(
                {
                    "searchTerm",
                    "module",
                    "filterIdentifier",
                    "sort",
                    "branch",
                    "repoIdentifier",
                    "getDefaultFromOtherRepo",
                    "getDistinctFromBranches",
                }
            ),
            list_body_filters=frozenset(
                {"pipelineIdentifiers", "name", "description", "pipelineTags", "moduleProperties", "repoName"}
            ),
            git_read=_GIT_READ | {"getTemplatesResolvedPipeline", "validateAsync"},
            git_create=_GIT_CREATE,
            git_update=_GIT_UPDATE,
            git_delete=_GIT_DELETE,
        ),
        ResourceKind(
            name="input_set",
            title="Input set",
            aliases=("inputSet", "input-set", "inputset"),
            scopes=("project",),
            default_scope="project",
            base_path=f"{_PIPE}/inputSets",
            item_path=f"{_PIPE}/inputSets/{{identifier}}",
            page=NG_PAGE,
            permissions=Permissions(
                "core_pipeline_view", "core_pipeline_edit", "core_pipeline_edit", "core_pipeline_edit"
            ),
            body_format="yaml",
            yaml_root="inputSet",
            yaml_field="inputSetYaml",
            allow_dollar=False,
            parent=ParentRef(
                "pipeline_id", "pipelineIdentifier", "pipeline", ("pipeline", "identifier"), False
            ),
            list_filters=frozenset({"searchTerm", "inputSetType", "sortOrders", "branch", "repoIdentifier"}),
            git_read=_GIT_READ | _PIPELINE_BRANCH,
            git_create=_GIT_CREATE | _PIPELINE_BRANCH,
            git_update=_GIT_UPDATE | _PIPELINE_BRANCH,
            git_delete=_GIT_DELETE,
        ),
        ResourceKind(
            name="trigger",
            title="Trigger",
            scopes=("project",),
            default_scope="project",
            base_path=f"{_PIPE}/triggers",
            item_path=f"{_PIPE}/triggers/{{identifier}}",
            page=NG_PAGE_BY_PAGE,
            permissions=Permissions(
                "core_pipeline_view", "core_pipeline_edit", "core_pipeline_edit", "core_pipeline_edit"
            ),
            body_format="yaml",
            yaml_root="trigger",
            yaml_field="yaml",
            allow_dollar=False,
            parent=ParentRef("pipeline_id", "targetIdentifier", "pipeline", ("pipelineIdentifier",), False),
            list_filters=frozenset({"searchTerm", "sort", "filter"}),
            details_path=f"{_PIPE}/triggers/{{identifier}}/details",
        ),
        ResourceKind(
            name="service",
            force_delete=True,
            title="Service",
            scopes=("account", "org", "project"),
            default_scope="project",
            base_path=f"{_NG}/servicesV2",
            item_path=f"{_NG}/servicesV2/{{identifier}}",
            update_style="collection",
            page=NG_PAGE_BY_PAGE,
            permissions=Permissions(
                "core_service_view", "core_service_edit", "core_service_edit", "core_service_delete"
            ),
            response_key="service",
            yaml_root="service",
            yaml_field="yaml",
            lifted_fields=("identifier", "name", "description", "tags", "orgIdentifier", "projectIdentifier"),
            write_scope_in_query=False,
            list_filters=frozenset({"searchTerm", "serviceIdentifiers", "sort", "type", "gitOpsEnabled"}),
        ),
        ResourceKind(
            name="environment",
            force_delete=True,
            title="Environment",
            aliases=("env",),
            scopes=("account", "org", "project"),
            default_scope="project",
            base_path=f"{_NG}/environmentsV2",
            item_path=f"{_NG}/environmentsV2/{{identifier}}",
            update_style="collection",
            page=NG_PAGE_BY_PAGE,
            permissions=Permissions(
                "core_environment_view",
                "core_environment_edit",
                "core_environment_edit",
                "core_environment_delete",
            ),
            response_key="environment",
            yaml_root="environment",
            yaml_field="yaml",
            lifted_fields=(
                "identifier",
                "name",
                "description",
                "tags",
                "orgIdentifier",
                "projectIdentifier",
                "type",
                "color",
            ),
            required_fields=("name", "type"),
            write_scope_in_query=False,
            list_filters=frozenset({"searchTerm", "envIdentifiers", "sort"}),
        ),
        ResourceKind(
            name="infrastructure",
            force_delete=True,
            title="Infrastructure definition",
            aliases=("infrastructureDefinition", "infrastructure_definition", "infra"),
            scopes=("account", "org", "project"),
            default_scope="project",
            base_path=f"{_NG}/infrastructures",
            item_path=f"{_NG}/infrastructures/{{identifier}}",
            update_style="collection",
            page=NG_PAGE_BY_PAGE,
            permissions=Permissions(
                "core_environment_view",
                "core_environment_edit",
                "core_environment_edit",
                "core_environment_edit",
            ),
            response_key="infrastructure",
            yaml_root="infrastructureDefinition",
            yaml_field="yaml",
            lifted_fields=(
                "identifier",
                "name",
                "description",
                "tags",
                "orgIdentifier",
                "projectIdentifier",
                "environmentRef",
                "type",
            ),
            required_fields=("name", "type", "yaml"),
            parent=ParentRef("environment_id", "environmentIdentifier", "environment", ("environmentRef",)),
            write_scope_in_query=False,
            list_filters=frozenset({"searchTerm", "infraIdentifiers", "deploymentType", "sort"}),
        ),
        ResourceKind(
            name="connector",
            force_delete=True,
            title="Connector",
            scopes=("account", "org", "project"),
            default_scope="project",
            base_path=f"{_NG}/connectors",
            item_path=f"{_NG}/connectors/{{identifier}}",
            update_style="collection",
            page=NG_PAGE,
            permissions=Permissions(
                "core_connector_view", "core_connector_edit", "core_connector_edit", "core_connector_delete"
            ),
            wrapper="connector",
            response_key="connector",
            yaml_root="connector",
            required_fields=("name", "type", "spec"),
            write_scope_in_query=False,
            list_filters=frozenset({"searchTerm", "type", "category", "source_category"}),
        ),
        ResourceKind(
            name="secret",
            force_delete=True,
            title="Secret",
            scopes=("account", "org", "project"),
            default_scope="project",
            base_path=f"{_NG}/v2/secrets",
            item_path=f"{_NG}/v2/secrets/{{identifier}}",
            page=NG_PAGE,
            permissions=Permissions(
                "core_secret_view", "core_secret_edit", "core_secret_edit", "core_secret_delete"
            ),
            wrapper="secret",
            response_key="secret",
            yaml_root="secret",
            required_fields=("name", "type"),
            list_filters=frozenset({"searchTerm", "type", "types", "identifiers", "sortOrders"}),
        ),
    )
}

_ALIASES: dict[str, str] = {}
for _kind in RESOURCE_KINDS.values():
    for _alias in (_kind.name, *_kind.aliases):
        _ALIASES[_alias.lower()] = _kind.name
    if _kind.yaml_root:
        _ALIASES[_kind.yaml_root.lower()] = _kind.name

#: Document top keys that identify a kind (``pipeline:``, ``inputSet:``, ``infrastructureDefinition:`` ...).
YAML_ROOTS: dict[str, str] = {k.yaml_root: k.name for k in RESOURCE_KINDS.values() if k.yaml_root}


def resource_kind(name: str | ResourceKind) -> ResourceKind:
    """The kind called ``name`` (its name, an alias or its YAML root, any case); ``ValueError`` otherwise."""
    if isinstance(name, ResourceKind):
        return name
    key = _ALIASES.get(str(name).strip().lower()) if isinstance(name, str) else None
    if key is None:
        raise ValueError(
            f"kind: {name!r} is not a Harness resource kind this provider manages; "
            f"use one of {sorted(RESOURCE_KINDS)}"
        )
    return RESOURCE_KINDS[key]


__all__ = [
    "RESOURCE_KINDS",
    "SERVER_FIELDS",
    "YAML_ROOTS",
    "ParentRef",
    "Permissions",
    "ResourceKind",
    "article",
    "resource_kind",
]
