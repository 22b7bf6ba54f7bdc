"""Every resource kind x every verb against the emulator, plus Harness's special cases.

Covers: apply twice (created, then unchanged), get, update via apply, list, delete (then gone, then
"already gone"), duplicate create, update of a missing resource, not-found answered as HTTP 400,
pagination past 100 items for each page shape, connector test success/failure, a delete Harness refuses,
and the operators end to end through a real Airflow connection.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_harness.client import resources as r
from airflow_provider_harness.client.call import ApiCall
from airflow_provider_harness.client.config import HarnessConfig, Secret
from airflow_provider_harness.client.errors import (
    HarnessConflictError,
    HarnessEndpointNotFoundError,
    HarnessError,
    HarnessNotFoundError,
)
from airflow_provider_harness.client.resource_kinds import resource_kind
from airflow_provider_harness.client.transport import HarnessClient, RetryPolicy

pytestmark = pytest.mark.integration

STAGES = """\
  stages:
    - stage:
        name: S1
        identifier: s1
        type: Custom
        spec:
          execution:
            steps:
              - step: {type: ShellScript, name: E, identifier: e, spec: {shell: Bash, source: {type: Inline, spec: {script: echo hi}}}}
"""  # noqa: E501


def trigger_yaml(identifier: str, *, enabled: bool) -> str:
    return "\n".join(
        [
            "trigger:",
            "  name: T",
            f"  identifier: {identifier}",
            "  pipelineIdentifier: build",
            f"  enabled: {str(enabled).lower()}",
            "  source:",
            "    type: Webhook",
            "    spec: {type: Custom, spec: {payloadConditions: []}}",
            "",
        ]
    )


def pipeline_yaml(identifier: str = "build", name: str = "Build") -> str:
    return f"pipeline:\n  name: {name}\n  identifier: {identifier}\n{STAGES}"


@pytest.fixture
def cfg(harness_emulator: Any) -> HarnessConfig:
    h = harness_emulator
    return HarnessConfig(
        account_id=h.account_id,
        api_key=Secret(h.api_key),
        base_url=h.base_url,
        org_id=h.org_id,
        project_id=h.project_id,
        max_retries=0,
    )


@pytest.fixture
def client(cfg: HarnessConfig) -> HarnessClient:
    with HarnessClient(cfg, RetryPolicy(max_retries=0)) as harness:
        yield harness


def _apply(client: HarnessClient, cfg: HarnessConfig, source: Any, **kwargs: Any) -> r.ApplyResult:
    value = kwargs.pop("value", None)
    return r.apply(client, r.parse_spec(source, cfg, **kwargs), value=value)


#: kind -> (prerequisite specs, first spec, changed spec, the fields apply must report as changed)
CASES: dict[str, tuple[list[Any], Callable[[str], Any], Callable[[str], Any], tuple[str, ...]]] = {
    "organization": (
        [],
        lambda i: {"organization": {"identifier": i, "name": "Platform", "tags": {"team": "p"}}},
        lambda i: {"organization": {"identifier": i, "name": "Platform", "tags": {"team": "q"}}},
        ("tags",),
    ),
    "project": (
        [],
        lambda i: {
            "kind": "project",
            "org_id": "default",
            "spec": {"identifier": i, "name": "Team", "modules": ["CD"]},
        },
        lambda i: {
            "kind": "project",
            "org_id": "default",
            "spec": {"identifier": i, "name": "Team 2", "modules": ["CD"]},
        },
        ("name",),
    ),
    "pipeline": ([], lambda i: pipeline_yaml(i), lambda i: pipeline_yaml(i, "Build 2"), ("pipeline.name",)),
    "input_set": (
        [pipeline_yaml()],
        lambda i: f"inputSet:\n  name: IS\n  identifier: {i}\n  pipeline:\n    identifier: build\n",
        lambda i: (
            f"inputSet:\n  name: IS\n  identifier: {i}\n  tags: {{x: y}}\n  pipeline: {{identifier: build}}\n"
        ),
        ("inputSet.tags",),
    ),
    "trigger": (
        [pipeline_yaml()],
        lambda i: trigger_yaml(i, enabled=True),
        lambda i: trigger_yaml(i, enabled=False),
        ("trigger.enabled",),
    ),
    "service": (
        [],
        lambda i: f"service:\n  name: Web\n  identifier: {i}\n  serviceDefinition: {{type: Kubernetes}}\n",
        lambda i: f"service:\n  name: Web\n  identifier: {i}\n  serviceDefinition: {{type: NativeHelm}}\n",
        ("yaml",),
    ),
    "environment": (
        [],
        lambda i: {"environment": {"identifier": i, "name": "Dev", "type": "PreProduction"}},
        lambda i: {"environment": {"identifier": i, "name": "Dev", "type": "Production"}},
        ("type", "yaml"),
    ),
    "infrastructure": (
        [{"environment": {"identifier": "dev", "name": "Dev", "type": "PreProduction"}}],
        lambda i: {
            "infrastructureDefinition": {
                "identifier": i,
                "name": "K8s",
                "environmentRef": "dev",
                "type": "KubernetesDirect",
                "deploymentType": "Kubernetes",
                "spec": {"namespace": "a"},
            }
        },
        lambda i: {
            "infrastructureDefinition": {
                "identifier": i,
                "name": "K8s",
                "environmentRef": "dev",
                "type": "KubernetesDirect",
                "deploymentType": "Kubernetes",
                "spec": {"namespace": "b"},
            }
        },
        ("yaml",),
    ),
    "connector": (
        [],
        lambda i: {
            "connector": {
                "identifier": i,
                "name": "Hub",
                "type": "DockerRegistry",
                "spec": {"dockerRegistryUrl": "https://index.docker.io/v2/", "auth": {"type": "Anonymous"}},
            }
        },
        lambda i: {
            "connector": {
                "identifier": i,
                "name": "Hub",
                "type": "DockerRegistry",
                "spec": {
                    "dockerRegistryUrl": "https://mirror.example.com/v2/",
                    "auth": {"type": "Anonymous"},
                },
            }
        },
        ("spec.dockerRegistryUrl",),
    ),
    "secret": (
        [],
        lambda i: {"secret": {"identifier": i, "name": "DB password", "type": "SecretText"}},
        lambda i: {
            "secret": {"identifier": i, "name": "DB password", "type": "SecretText", "description": "rotated"}
        },
        ("description",),
    ),
}
PARENT = {"input_set": "build", "trigger": "build", "infrastructure": "dev"}


def _ref(cfg: HarnessConfig, kind: str, identifier: str | None) -> r.ResourceRef:
    where = {"org_id": "default"} if kind == "project" else {}
    return r.resource_ref(cfg, kind, identifier, parent=PARENT.get(kind), **where)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_every_verb(kind: str, client: HarnessClient, cfg: HarnessConfig) -> None:
    prerequisites, first, changed, changed_fields = CASES[kind]
    for source in prerequisites:
        _apply(client, cfg, source)
    ident = f"{kind}_one"
    value = r.SecretValue("first-value-123") if kind == "secret" else None

    # create, then the same spec again: nothing to do
    assert _apply(client, cfg, first(ident), value=value).action == "created"
    again = _apply(client, cfg, first(ident), value=value)
    assert again.action == "unchanged", again.describe()

    # get
    ref = _ref(cfg, kind, ident)
    got = r.get(client, ref)
    assert got is not None and got.identifier == ident
    if kind == "secret":
        assert got.public()["spec"].get("value") is None and "first-value" not in json.dumps(got.entity)

    # duplicate create: Harness's DUPLICATE_FIELD
    spec = r.parse_spec(first(ident), cfg)
    body = spec.body
    if kind == "secret":
        body = {**spec.entity, "spec": {**spec.entity["spec"], "value": "x"}}
    with pytest.raises(HarnessConflictError) as dup:
        client.send(r.create_call(kind, spec.scope, body, parent=spec.parent))
    assert dup.value.code == "DUPLICATE_FIELD" and dup.value.http_status == 400

    # update through apply: reports what changed, and Harness has it
    updated = _apply(client, cfg, changed(ident))
    assert (updated.action, updated.changed) == ("updated", changed_fields)
    assert _apply(client, cfg, changed(ident)).action == "unchanged"

    # list
    listed = [e.get("identifier") for e in r.list_resources(client, _ref(cfg, kind, None))]
    assert ident in listed

    # update of a missing resource
    missing = r.parse_spec(_rename(changed(ident), ident, "missing_one"), cfg)
    with pytest.raises(HarnessError) as gone:
        client.send(r.update_call(kind, missing.scope, "missing_one", missing.body, parent=missing.parent))
    assert isinstance(gone.value, HarnessNotFoundError), str(gone.value)

    # delete, gone, delete again = already gone
    assert r.delete(client, ref) is True
    assert r.get(client, ref) is None
    assert r.delete(client, ref) is False


def _rename(source: Any, old: str, new: str) -> Any:
    if isinstance(source, str):
        return source.replace(old, new)
    return json.loads(json.dumps(source).replace(old, new))


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("organization", 400, "RESOURCE_NOT_FOUND_EXCEPTION"),
        ("service", 400, "RESOURCE_NOT_FOUND_EXCEPTION"),
        ("environment", 400, "RESOURCE_NOT_FOUND_EXCEPTION"),
        ("infrastructure", 400, "RESOURCE_NOT_FOUND_EXCEPTION"),
        ("connector", 400, "RESOURCE_NOT_FOUND_EXCEPTION"),
        ("secret", 400, "RESOURCE_NOT_FOUND_EXCEPTION"),
        ("project", 404, "ENTITY_NOT_FOUND"),
        ("pipeline", 404, "ENTITY_NOT_FOUND"),
    ],
)
def test_not_found_is_detected_by_code_even_as_http_400(
    kind: str, status: int, code: str, client: HarnessClient, cfg: HarnessConfig
) -> None:
    ref = _ref(cfg, kind, "nothing_here")
    with pytest.raises(HarnessNotFoundError) as info:
        client.send(r.get_call(kind, ref.scope, "nothing_here", parent=ref.parent))
    assert (info.value.http_status, info.value.code) == (status, code)
    assert r.get(client, ref) is None


@pytest.mark.parametrize("kind", ["connector", "environment", "pipeline"])
def test_pagination_past_100_items(kind: str, client: HarnessClient, cfg: HarnessConfig) -> None:
    """NG pageIndex/pageSize (connectors), NG page/size (environments), Spring pages (pipelines)."""
    scope = r.resolve_scope(cfg, kind)
    for n in range(105):
        ident = f"{kind}_{n:03d}"
        body: Any = {
            "connector": {
                "identifier": ident,
                "name": ident,
                "type": "Git",
                "spec": {"url": "https://git.example.com"},
            },
            "environment": {"identifier": ident, "name": ident, "type": "PreProduction"},
        }.get(kind) or r.parse_spec(pipeline_yaml(ident), cfg).body
        client.send(r.create_call(kind, scope, body))
    listed = list(r.list_resources(client, r.resource_ref(cfg, kind)))
    assert sorted(e["identifier"] for e in listed) == [f"{kind}_{n:03d}" for n in range(105)]
    assert len(list(r.list_resources(client, r.resource_ref(cfg, kind), limit=101))) == 101


def test_list_filters_reach_harness(client: HarnessClient, cfg: HarnessConfig) -> None:
    for ident, kind_type in (("git_a", "Git"), ("hub_a", "DockerRegistry")):
        _apply(
            client,
            cfg,
            {"connector": {"identifier": ident, "name": ident, "type": kind_type, "spec": {"url": "u"}}},
        )
    ref = r.resource_ref(cfg, "connector")
    assert [e["identifier"] for e in r.list_resources(client, ref, filters={"type": "Git"})] == ["git_a"]
    assert [e["identifier"] for e in r.list_resources(client, ref, filters={"searchTerm": "hub"})] == [
        "hub_a"
    ]


def test_connector_test_success_and_failure(client: HarnessClient, cfg: HarnessConfig) -> None:
    good = {
        "connector": {
            "identifier": "reachable",
            "name": "R",
            "type": "Git",
            "spec": {"url": "https://git.example.com"},
        }
    }
    bad = {
        "connector": {
            "identifier": "unreachable",
            "name": "U",
            "type": "Git",
            "spec": {"url": "https://git.invalid"},
        }
    }
    _apply(client, cfg, good)
    _apply(client, cfg, bad)
    assert r.test_connector(client, r.resource_ref(cfg, "connector", "reachable")).succeeded
    result = r.test_connector(client, r.resource_ref(cfg, "connector", "unreachable"))
    assert (result.status, result.succeeded) == ("FAILURE", False) and result.error_summary
    with pytest.raises(HarnessNotFoundError, match="CONNECTOR_NOT_FOUND_EXCEPTION"):
        r.test_connector(client, r.resource_ref(cfg, "connector", "absent"))


def test_service_deployment_status(client: HarnessClient, cfg: HarnessConfig) -> None:
    _apply(client, cfg, CASES["service"][1]("web"))
    status = client.send(r.service_deployment_status_call(r.resolve_scope(cfg, "service"), "web"))
    assert status["serviceIdentifier"] == "web"


def _kind_without_endpoint(kind: str, base_path: str) -> Any:
    """``kind`` as an API the server does not have (an older self-managed Harness): every path unknown."""
    return dataclasses.replace(
        resource_kind(kind),
        base_path=base_path,
        item_path=base_path + "/{identifier}",
        create_path=None,
        update_path=None,
        list_path=None,
    )


ENVIRONMENT = {"environment": {"identifier": "dev", "name": "Dev", "type": "PreProduction"}}


def test_unknown_route_is_no_endpoint_not_a_missing_resource(
    harness_emulator: Any, client: HarnessClient
) -> None:
    with pytest.raises(HarnessEndpointNotFoundError) as info:
        client.send(ApiCall("POST", "/ng/api/xyz", params={"orgIdentifier": "default"}, json={}))
    assert not isinstance(info.value, HarnessNotFoundError)
    text = str(info.value)
    assert text.startswith(
        "Harness has no endpoint POST /ng/api/xyz (HTTP 404 Not Found from Jersey) "
        "(RESOURCE_NOT_FOUND_EXCEPTION, HTTP 400, correlationId="
    ), text
    assert "older self-managed Harness" in text
    assert harness_emulator.api_key not in text


def test_apply_against_an_unknown_endpoint_fails_instead_of_creating(
    harness_emulator: Any, client: HarnessClient, cfg: HarnessConfig
) -> None:
    spec = r.parse_spec(ENVIRONMENT, cfg)
    missing = dataclasses.replace(spec, kind=_kind_without_endpoint("environment", "/ng/api/environmentsV9"))
    with pytest.raises(
        HarnessEndpointNotFoundError, match=r"^Harness has no endpoint GET /ng/api/environmentsV9/dev "
    ):
        r.apply(client, missing)
    assert harness_emulator.request_count("/ng/api/environmentsV9", "POST") == 0, "no create was tried"
    assert r.get(client, spec.ref) is None


def test_delete_against_an_unknown_endpoint_fails_instead_of_already_gone(
    client: HarnessClient, cfg: HarnessConfig
) -> None:
    real = r.resource_ref(cfg, "environment", "dev")
    ref = dataclasses.replace(real, kind=_kind_without_endpoint("environment", "/ng/api/environmentsV9"))
    with pytest.raises(
        HarnessEndpointNotFoundError, match=r"^Harness has no endpoint DELETE /ng/api/environmentsV9/dev "
    ):
        r.delete(client, ref)
    _apply(client, cfg, ENVIRONMENT)
    with pytest.raises(HarnessEndpointNotFoundError):
        r.delete(client, ref)
    assert r.get(client, real) is not None, "the real environment is untouched"


def test_edge_html_404_on_an_unknown_prefix_is_no_endpoint(
    harness_emulator: Any, client: HarnessClient, cfg: HarnessConfig
) -> None:
    harness_emulator.inject_fault("html", status=404, count=None, path_prefix="/ng/api/environmentsV9")
    spec = r.parse_spec(ENVIRONMENT, cfg)
    missing = dataclasses.replace(spec, kind=_kind_without_endpoint("environment", "/ng/api/environmentsV9"))
    with pytest.raises(HarnessEndpointNotFoundError) as info:
        r.apply(client, missing)
    assert str(info.value).startswith(
        "No such Harness endpoint (HTML page '404 Not Found') (HTTP 404, GET /ng/api/environmentsV9/dev"
    )
    with pytest.raises(HarnessEndpointNotFoundError):
        r.delete(client, missing.ref)
    assert harness_emulator.request_count("/ng/api/environmentsV9", "POST") == 0


def test_delete_refused_by_harness_fails_with_its_message(client: HarnessClient, cfg: HarnessConfig) -> None:
    with pytest.raises(HarnessError, match=r"Update operation not supported for Default Organization"):
        r.delete(client, r.resource_ref(cfg, "organization", "default"))


def test_children_of_a_deleted_parent_are_already_gone(client: HarnessClient, cfg: HarnessConfig) -> None:
    _apply(client, cfg, pipeline_yaml())
    _apply(client, cfg, CASES["input_set"][1]("is1"))
    input_set = r.resource_ref(cfg, "input_set", "is1", parent="build")
    assert r.delete(client, input_set) is True
    assert r.delete(client, r.resource_ref(cfg, "pipeline", "build")) is True
    assert r.delete(client, input_set) is False, "teardown in any order: already gone"
    trigger = r.resource_ref(cfg, "trigger", "t1", parent="build")
    assert r.delete(client, trigger) is False


def test_account_and_org_level_resources(client: HarnessClient, cfg: HarnessConfig) -> None:
    org_secret = {
        "kind": "secret",
        "scope": "org",
        "spec": {"identifier": "org_pw", "name": "P", "type": "SecretText"},
    }
    assert _apply(client, cfg, org_secret, value=r.SecretValue("org-level-value")).action == "created"
    ref = r.resource_ref(cfg, "secret", "org_pw", scope="org")
    assert dict(ref.scope) == {"orgIdentifier": "default"} and r.get(client, ref) is not None
    account_conn = {"connector": {"identifier": "acct_git", "name": "A", "type": "Git", "spec": {"url": "u"}}}
    assert _apply(client, cfg, account_conn, scope="account").action == "created"
    assert r.get(client, r.resource_ref(cfg, "connector", "acct_git", scope="account")) is not None
    assert r.get(client, r.resource_ref(cfg, "connector", "acct_git")) is None, "not visible at project scope"


def test_pipeline_yaml_formatting_does_not_count_as_a_change(
    client: HarnessClient, cfg: HarnessConfig
) -> None:
    assert _apply(client, cfg, pipeline_yaml()).action == "created"
    reformatted = "# a comment\n" + pipeline_yaml().replace(
        "  name: Build\n  identifier: build\n", "  identifier: build\n  name: 'Build'\n"
    )
    assert _apply(client, cfg, reformatted).action == "unchanged"


# ---------------------------------------------------------------------------------- the operators


@pytest.fixture
def airflow_connection(harness_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, value in harness_emulator.airflow_env().items():
        monkeypatch.setenv(name, value)
    return harness_emulator


def test_operators_through_an_airflow_connection(
    airflow_connection: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_harness.operators.resources import (
        HarnessApplyResourceOperator,
        HarnessApplySecretOperator,
        HarnessConnectorTestError,
        HarnessDeleteResourceOperator,
        HarnessGetResourceOperator,
        HarnessListResourcesOperator,
        HarnessTestConnectorOperator,
    )

    secret_value = "0perator-Int3gration-Value"
    monkeypatch.setenv("INT_DB_PW", secret_value)
    apply_env = HarnessApplyResourceOperator(task_id="env", spec=CASES["environment"][1]("qa"))
    assert [apply_env.execute({})["action"], apply_env.execute({})["action"]] == ["created", "unchanged"]
    secret_spec = {"kind": "secret", "spec": {"identifier": "db_pw", "name": "DB", "type": "SecretText"}}
    secret = HarnessApplySecretOperator(task_id="s", spec=secret_spec, value_from={"env": "INT_DB_PW"})
    results = [secret.execute({}), secret.execute({})]
    rotate = HarnessApplySecretOperator(
        task_id="s", spec=secret_spec, value_from={"env": "INT_DB_PW"}, rotate=True
    )
    results.append(rotate.execute({}))
    assert [x["action"] for x in results] == ["created", "unchanged", "updated"]
    assert secret_value not in json.dumps(results)
    got = HarnessGetResourceOperator(task_id="g", kind="secret", identifier="db_pw").execute({})
    assert got["name"] == "DB" and secret_value not in json.dumps(got)
    ids = HarnessListResourcesOperator(task_id="l", kind="environment", identifiers_only=True).execute({})
    assert ids == ["qa"]
    bad = {
        "connector": {
            "identifier": "down",
            "name": "D",
            "type": "Git",
            "spec": {"url": "https://down.invalid"},
        }
    }
    HarnessApplyResourceOperator(task_id="c", spec=bad).execute({})
    with pytest.raises(
        HarnessConnectorTestError, match="connector down in default/emulator_project: connection test FAILURE"
    ):
        HarnessTestConnectorOperator(task_id="t", connector_id="down").execute({})
    delete = HarnessDeleteResourceOperator(task_id="d", kind="environment", identifier="qa")
    assert [delete.execute({})["deleted"], delete.execute({})["deleted"]] == [True, False]
    with pytest.raises(HarnessError, match="Harness refused to delete organization default"):
        HarnessDeleteResourceOperator(task_id="d", kind="organization", identifier="default").execute({})
