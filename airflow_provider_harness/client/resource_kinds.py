"""Every Harness resource kind the provider manages, described once as data.

One :class:`~.resource_model.ResourceKind` row per kind (platform kinds here; each Harness module's kinds in
its own file under :mod:`.modules`, e.g. IaCM workspaces in :mod:`.modules.iacm`). :mod:`.resources` drives
one generic implementation of create / get / update / delete / list / apply from :data:`RESOURCE_KINDS`;
special cases exist only where Harness is special (connector test, service deployment status, file
secrets), and behaviour that differs per kind is a field of its row.

Import-light on purpose (no httpx, no yaml): DAG files may import it at parse time.

>>> kind = resource_kind("project")
>>> kind.item_path.format(identifier="team_a"), kind.scopes, kind.wrapper
('/ng/api/projects/team_a', ('org',), 'project')
>>> resource_kind("inputSet").name, resource_kind("infrastructureDefinition").name
('input_set', 'infrastructure')
>>> resource_kind("workspace").module
'iacm'
"""

from __future__ import annotations

from typing import Any

from airflow_provider_harness.client.call import NG_PAGE, NG_PAGE_BY_PAGE, SPRING_PAGE
from airflow_provider_harness.client.modules import module_kinds
from airflow_provider_harness.client.resource_model import (
    SERVER_FIELDS,
    BodyFormat,
    ParentRef,
    Permissions,
    ResourceKind,
    UpdateStyle,
    Verb,
    article,
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


_NG = "/ng/api"
_PIPE = "/pipeline/api"


SECRET_TYPES_WITH_VALUE = frozenset({"SecretText", "SecretFile"})
DEFAULT_SECRET_MANAGER = "harnessSecretManager"


def _check_secret(entity: dict[str, Any], where: str) -> None:
    """Secrets: known type, defaults for the text spec, and never an inline value in the spec."""
    secret_type = entity.get("type")
    if not secret_type:
        raise ValueError(f"{where}.type: required; use SecretText or SecretFile")
    spec = entity.get("spec")
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise ValueError(f"{where}.spec: expected a mapping (secretManagerIdentifier, valueType)")
    entity["spec"] = spec
    if secret_type in SECRET_TYPES_WITH_VALUE:
        spec.setdefault("secretManagerIdentifier", DEFAULT_SECRET_MANAGER)
    if secret_type == "SecretText":
        spec.setdefault("valueType", "Inline")
        if spec["valueType"] == "Inline" and spec.get("value") not in (None, ""):
            spec.pop("value")  # never echo it
            raise ValueError(
                f"{where}.spec.value: a secret value must not be written in a spec (specs are templated, "
                "logged and stored); give it with value_from= (an Airflow Variable, connection or "
                "environment variable)"
            )
    if secret_type == "SecretFile" and "value" in spec:
        spec.pop("value")
        raise ValueError(f"{where}.spec.value: a file secret's content comes from value_from=, not the spec")


def _secret_without_value(entity: dict[str, Any]) -> dict[str, Any]:
    """A secret's DTO without its inline value (Harness never returns it; a spec must not carry it)."""
    spec = entity.get("spec")
    if isinstance(spec, dict) and spec.get("valueType", "Inline") == "Inline":
        spec.pop("value", None)
    return entity


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
            public_view=_secret_without_value,
            check_spec=_check_secret,
            required_fields=("name", "type"),
            list_filters=frozenset({"searchTerm", "type", "types", "identifiers", "sortOrders"}),
        ),
        *module_kinds(),
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
    "BodyFormat",
    "ParentRef",
    "Permissions",
    "ResourceKind",
    "UpdateStyle",
    "Verb",
    "article",
    "resource_kind",
]
