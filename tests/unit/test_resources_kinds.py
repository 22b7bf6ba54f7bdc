"""The resource-kind table: complete, self-consistent, and the calls it drives match harness-api.md §12."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_harness.client import resources
from airflow_provider_harness.client.call import NG_PAGE, NG_PAGE_BY_PAGE, SPRING_PAGE
from airflow_provider_harness.client.resource_kinds import RESOURCE_KINDS, YAML_ROOTS, resource_kind

#: The kinds harness-api-guide.md names, with their endpoints as harness-api.md §10.4/§12 gives them:
#: create (method, path), get path, update (method, path), delete path, list (method, path), page shape,
#: body wrapper / format, the scope used for the checks, parent.
P = {"orgIdentifier": "o", "projectIdentifier": "p"}
EXPECTED: dict[str, dict[str, Any]] = {
    "organization": {
        "create": ("POST", "/ng/api/organizations"),
        "get": "/ng/api/organizations/x1",
        "update": ("PUT", "/ng/api/organizations/x1"),
        "list": ("GET", "/ng/api/organizations"),
        "page": NG_PAGE,
        "wrapper": "organization",
        "scope": {},
        "parent": None,
    },
    "project": {
        "create": ("POST", "/ng/api/projects"),
        "get": "/ng/api/projects/x1",
        "update": ("PUT", "/ng/api/projects/x1"),
        "list": ("GET", "/ng/api/projects"),
        "page": NG_PAGE,
        "wrapper": "project",
        "scope": {"orgIdentifier": "o"},
        "parent": None,
    },
    "pipeline": {
        "create": ("POST", "/pipeline/api/pipelines/v2"),
        "get": "/pipeline/api/pipelines/x1",
        "update": ("PUT", "/pipeline/api/pipelines/v2/x1"),
        "list": ("POST", "/pipeline/api/pipelines/list"),
        "page": SPRING_PAGE,
        "wrapper": "yaml",
        "scope": P,
        "parent": None,
    },
    "input_set": {
        "create": ("POST", "/pipeline/api/inputSets"),
        "get": "/pipeline/api/inputSets/x1",
        "update": ("PUT", "/pipeline/api/inputSets/x1"),
        "list": ("GET", "/pipeline/api/inputSets"),
        "page": NG_PAGE,
        "wrapper": "yaml",
        "scope": P,
        "parent": ("pipelineIdentifier", "pipe1"),
    },
    "trigger": {
        "create": ("POST", "/pipeline/api/triggers"),
        "get": "/pipeline/api/triggers/x1",
        "update": ("PUT", "/pipeline/api/triggers/x1"),
        "list": ("GET", "/pipeline/api/triggers"),
        "page": NG_PAGE_BY_PAGE,
        "wrapper": "yaml",
        "scope": P,
        "parent": ("targetIdentifier", "pipe1"),
    },
    "service": {
        "create": ("POST", "/ng/api/servicesV2"),
        "get": "/ng/api/servicesV2/x1",
        "update": ("PUT", "/ng/api/servicesV2"),
        "list": ("GET", "/ng/api/servicesV2"),
        "page": NG_PAGE_BY_PAGE,
        "wrapper": None,
        "scope": P,
        "parent": None,
    },
    "environment": {
        "create": ("POST", "/ng/api/environmentsV2"),
        "get": "/ng/api/environmentsV2/x1",
        "update": ("PUT", "/ng/api/environmentsV2"),
        "list": ("GET", "/ng/api/environmentsV2"),
        "page": NG_PAGE_BY_PAGE,
        "wrapper": None,
        "scope": P,
        "parent": None,
    },
    "infrastructure": {
        "create": ("POST", "/ng/api/infrastructures"),
        "get": "/ng/api/infrastructures/x1",
        "update": ("PUT", "/ng/api/infrastructures"),
        "list": ("GET", "/ng/api/infrastructures"),
        "page": NG_PAGE_BY_PAGE,
        "wrapper": None,
        "scope": P,
        "parent": ("environmentIdentifier", "env1"),
    },
    "connector": {
        "create": ("POST", "/ng/api/connectors"),
        "get": "/ng/api/connectors/x1",
        "update": ("PUT", "/ng/api/connectors"),
        "list": ("GET", "/ng/api/connectors"),
        "page": NG_PAGE,
        "wrapper": "connector",
        "scope": P,
        "parent": None,
    },
    "secret": {
        "create": ("POST", "/ng/api/v2/secrets"),
        "get": "/ng/api/v2/secrets/x1",
        "update": ("PUT", "/ng/api/v2/secrets/x1"),
        "list": ("GET", "/ng/api/v2/secrets"),
        "page": NG_PAGE,
        "wrapper": "secret",
        "scope": P,
        "parent": None,
    },
}

YAML_BODY = "doc:\n  identifier: x1\n"


def _body(name: str) -> Any:
    kind = RESOURCE_KINDS[name]
    if kind.is_yaml:
        return YAML_BODY
    body: dict[str, Any] = {"identifier": "x1", "name": "X"}
    if kind.parent:
        body["environmentRef"] = "env1"
    return body


def _parent(name: str) -> str | None:
    parent = EXPECTED[name]["parent"]
    return parent[1] if parent else None


PLATFORM_KINDS = {name: kind for name, kind in RESOURCE_KINDS.items() if kind.module == "platform"}


def test_the_table_covers_every_kind_of_the_guide() -> None:
    assert set(PLATFORM_KINDS) == set(EXPECTED)
    assert {kind.module for kind in RESOURCE_KINDS.values()} == {"platform", "iacm"}


@pytest.mark.parametrize("name", sorted(PLATFORM_KINDS))
def test_every_kind_has_what_the_generic_code_needs(name: str) -> None:
    kind = RESOURCE_KINDS[name]
    assert kind.name == name
    assert kind.scopes and kind.default_scope in kind.scopes
    assert kind.base_path.startswith(("/ng/api/", "/pipeline/api/"))
    assert "{identifier}" in kind.item_path and kind.item_path.startswith(kind.base_path)
    assert kind.page is EXPECTED[name]["page"]
    for permission in (kind.permissions.view, kind.permissions.create, kind.permissions.edit):
        assert permission.startswith("core_") and permission.endswith(("_view", "_create", "_edit"))
    assert kind.permissions.delete.startswith("core_")
    assert kind.yaml_root and YAML_ROOTS[kind.yaml_root] == name
    if kind.is_yaml:
        assert kind.yaml_field and kind.wrapper is None and kind.allow_dollar is False
        assert "project" in kind.scopes
    else:
        assert kind.response_key, "JSON kinds name where the entity sits in a get response"
        assert kind.wrapper == EXPECTED[name]["wrapper"]
    if kind.lifted_fields:
        assert kind.yaml_field == "yaml" and "identifier" in kind.lifted_fields
    assert not (kind.git_options - kind.git_read - kind.git_create - kind.git_update - kind.git_delete)
    for alias in (name, *kind.aliases, kind.yaml_root, name.upper()):
        assert resource_kind(alias) is kind


def test_git_experience_options_only_for_the_git_stored_yaml_kinds() -> None:
    assert {k.name for k in RESOURCE_KINDS.values() if k.git_options} == {"pipeline", "input_set"}
    pipeline = RESOURCE_KINDS["pipeline"]
    assert {"branch", "loadFromFallbackBranch", "getTemplatesResolvedPipeline"} <= pipeline.git_read
    assert {"storeType", "connectorRef", "repoName", "filePath", "commitMsg"} <= pipeline.git_create
    assert {"lastObjectId", "lastCommitId"} <= pipeline.git_update


def test_real_permission_names() -> None:
    perms = {name: kind.permissions for name, kind in RESOURCE_KINDS.items()}
    assert perms["project"].view == "core_project_view"
    assert perms["pipeline"].edit == "core_pipeline_edit"
    assert perms["connector"].edit == "core_connector_edit"
    assert perms["secret"].edit == "core_secret_edit"
    assert perms["service"].edit == "core_service_edit"
    assert perms["environment"].edit == "core_environment_edit"
    assert perms["organization"].create == "core_organization_create"


def test_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"kind: 'template' is not .* use one of \['connector', "):
        resource_kind("template")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_calls_per_kind_and_verb_match_the_api(name: str) -> None:
    exp = EXPECTED[name]
    scope, parent = exp["scope"], _parent(name)
    parent_q = {exp["parent"][0]: parent} if parent else {}

    get = resources.get_call(name, scope, "x1", parent=parent)
    assert (get.method, get.path, dict(get.params)) == ("GET", exp["get"], {**scope, **parent_q})
    assert get.repeatable

    create = resources.create_call(name, scope, _body(name), parent=parent)
    assert (create.method, create.path) == exp["create"]
    assert create.repeatable is False, "a create is never sent twice"

    update = resources.update_call(name, scope, "x1", _body(name), parent=parent)
    assert (update.method, update.path) == exp["update"]
    assert update.repeatable

    delete = resources.delete_call(name, scope, "x1", parent=parent)
    assert (delete.method, delete.path, dict(delete.params)) == ("DELETE", exp["get"], {**scope, **parent_q})
    assert delete.result(True) is True and delete.result(False) is False

    listing = resources.list_call(name, scope, parent=parent)
    assert (listing.method, listing.path) == exp["list"]
    assert listing.page is exp["page"]
    assert dict(listing.params) == {**scope, **parent_q}

    for call, verb in (
        (get, "view"),
        (create, "create"),
        (update, "edit"),
        (delete, "delete"),
        (listing, "view"),
    ):
        assert call.permission == getattr(RESOURCE_KINDS[name].permissions, verb)

    if exp["wrapper"] == "yaml":
        assert (
            create.content == YAML_BODY and create.content_type == "application/yaml" and create.json is None
        )
        # pipeline-service takes org/project (+ parent) in the query of writes
        assert dict(create.params) == {**scope, **parent_q}
    elif exp["wrapper"]:
        assert set(create.json) == {exp["wrapper"]}
        assert create.json[exp["wrapper"]]["identifier"] == "x1"
    else:
        assert create.json["identifier"] == "x1"


def test_scope_goes_where_harness_reads_it() -> None:
    """ng-manager DTO kinds carry org/project in the body; projects and secrets also in the query."""
    service = resources.create_call("service", P, {"identifier": "s", "name": "S"})
    assert dict(service.params) == {} and service.json["orgIdentifier"] == "o"
    assert service.json["projectIdentifier"] == "p"
    connector = resources.create_call("connector", {"orgIdentifier": "o"}, {"identifier": "c", "name": "C"})
    assert dict(connector.params) == {} and connector.json == {
        "connector": {"identifier": "c", "name": "C", "orgIdentifier": "o"}
    }
    secret = resources.create_call("secret", P, {"identifier": "s", "name": "S", "type": "SecretText"})
    assert dict(secret.params) == P and secret.json["secret"]["projectIdentifier"] == "p"
    project = resources.create_call("project", {"orgIdentifier": "o"}, {"identifier": "t", "name": "T"})
    assert dict(project.params) == {"orgIdentifier": "o"} and project.json["project"]["orgIdentifier"] == "o"
    infra = resources.create_call(
        "infrastructure", P, {"identifier": "i", "name": "I", "environmentRef": "e"}
    )
    assert infra.json["environmentRef"] == "e" and dict(infra.params) == {}
    org = resources.create_call("organization", {}, {"identifier": "o1", "name": "O"})
    assert json.dumps(org.json) == '{"organization": {"identifier": "o1", "name": "O"}}'


def test_scope_level_is_checked_per_kind() -> None:
    with pytest.raises(ValueError, match=r"scope: a project lives at org level, not at project level"):
        resources.get_call("project", P, "t")
    with pytest.raises(ValueError, match=r"scope: a pipeline lives at project level, not at account level"):
        resources.get_call("pipeline", {}, "p1")
    with pytest.raises(ValueError, match=r"scope: an? organization lives at account level"):
        resources.get_call("organization", {"orgIdentifier": "o"}, "o")
    assert resources.get_call("connector", {}, "c").params == {}  # account-level connector


def test_identifier_rules_differ_between_dto_and_yaml_kinds() -> None:
    assert resources.get_call("connector", P, "conn$1").path == "/ng/api/connectors/conn$1"
    with pytest.raises(ValueError, match=r"identifier: 'pipe\$1' is not a valid Harness identifier"):
        resources.get_call("pipeline", P, "pipe$1")
    with pytest.raises(ValueError, match="reserved word"):
        resources.get_call("service", P, "true")


def test_parent_is_required_and_only_where_harness_has_one() -> None:
    with pytest.raises(
        ValueError, match=r"pipeline_id: an? input set belongs to a pipeline; pass pipeline_id="
    ):
        resources.get_call("input_set", P, "is1")
    with pytest.raises(
        ValueError, match=r"environment_id: an? infrastructure definition belongs to an? environment"
    ):
        resources.list_call("infrastructure", P)
    with pytest.raises(ValueError, match="parent: a service does not live under another resource"):
        resources.get_call("service", P, "s", parent="x")
