"""Spec parsing: every accepted form, and every bad input rejected with a clear error before any request."""

from __future__ import annotations

import pytest
from test_resources_fakes import config

from airflow_provider_harness.client import resources
from airflow_provider_harness.client.resources import parse_spec

CFG = config(org_id="default", project_id="proj")
BARE = config()  # no default org / project

PIPELINE = """\
# the pipeline of team A
pipeline:
  name: Build
  identifier: build
  orgIdentifier: default
  projectIdentifier: proj
  stages: []
"""


def test_harness_yaml_is_sent_verbatim_when_complete() -> None:
    spec = parse_spec(PIPELINE, CFG)
    assert (spec.kind.name, spec.identifier, dict(spec.scope)) == (
        "pipeline",
        "build",
        {"orgIdentifier": "default", "projectIdentifier": "proj"},
    )
    assert spec.text == PIPELINE, "comments and formatting are kept for Git-stored pipelines"
    assert spec.entity == resources.load_yaml(PIPELINE)


def test_yaml_kind_scope_comes_from_arguments_and_is_written_into_the_yaml() -> None:
    spec = parse_spec(
        "pipeline:\n  name: B\n  identifier: b\n  stages: []\n", BARE, org_id="o", project_id="p"
    )
    assert (
        spec.text
        == "pipeline:\n  name: B\n  identifier: b\n  orgIdentifier: o\n  projectIdentifier: p\n  stages: []\n"
    )


@pytest.mark.parametrize(
    ("source", "kind", "parent"),
    [
        (
            {"inputSet": {"name": "I", "identifier": "i1", "pipeline": {"identifier": "build"}}},
            "input_set",
            "build",
        ),
        ("trigger:\n  name: T\n  identifier: t1\n  pipelineIdentifier: build\n", "trigger", "build"),
        (
            {"kind": "inputSet", "pipeline_id": "build", "spec": {"name": "I", "identifier": "i1"}},
            "input_set",
            "build",
        ),
        (
            {
                "kind": "infrastructure",
                "environment_id": "dev",
                "spec": {
                    "identifier": "k",
                    "name": "K",
                    "type": "KubernetesDirect",
                    "yaml": "infrastructureDefinition: {identifier: k}",
                },
            },
            "infrastructure",
            "dev",
        ),
    ],
)
def test_parents_come_from_the_document_or_the_arguments(source: object, kind: str, parent: str) -> None:
    spec = parse_spec(source, CFG)  # type: ignore[arg-type]
    assert (spec.kind.name, spec.parent) == (kind, parent)
    if spec.kind.is_yaml:
        assert "build" in (spec.text or "")


def test_service_document_becomes_the_dto_with_its_yaml() -> None:
    text = "service:\n  name: Web\n  identifier: web\n  tags: {team: a}\n  serviceDefinition:\n    type: Kubernetes\n"  # noqa: E501
    spec = parse_spec(text, CFG)
    assert spec.entity["identifier"] == "web" and spec.entity["tags"] == {"team": "a"}
    assert spec.entity["orgIdentifier"] == "default" and spec.entity["projectIdentifier"] == "proj"
    embedded = resources.load_yaml(spec.entity["yaml"])
    assert embedded["service"]["serviceDefinition"] == {"type": "Kubernetes"}
    assert embedded["service"]["projectIdentifier"] == "proj"


def test_kind_form_with_pasted_get_response_and_server_fields_dropped() -> None:
    pasted = {
        "connector": {
            "identifier": "dh",
            "name": "DH",
            "type": "DockerRegistry",
            "spec": {"url": "u"},
            "version": 3,
        },
        "createdAt": 1,
        "lastModifiedAt": 2,
        "status": {"status": "SUCCESS"},
    }
    spec = parse_spec({"kind": "connector", "scope": "org", "org_id": "platform", "spec": pasted}, CFG)
    assert spec.entity == {
        "identifier": "dh",
        "name": "DH",
        "type": "DockerRegistry",
        "spec": {"url": "u"},
        "orgIdentifier": "platform",
    }
    assert dict(spec.scope) == {"orgIdentifier": "platform"}


def test_account_level_needs_saying_so_when_the_connection_has_defaults() -> None:
    doc = {"secret": {"identifier": "s", "name": "S", "type": "SecretText"}}
    assert dict(parse_spec(doc, CFG).scope) == {"orgIdentifier": "default", "projectIdentifier": "proj"}
    account = parse_spec(doc, CFG, scope="account")
    assert dict(account.scope) == {} and "orgIdentifier" not in account.entity
    assert account.entity["spec"] == {
        "secretManagerIdentifier": "harnessSecretManager",
        "valueType": "Inline",
    }
    assert account.takes_value


def test_organization_and_project_specs() -> None:
    org = parse_spec({"organization": {"identifier": "platform", "name": "Platform"}}, CFG)
    assert dict(org.scope) == {} and org.entity == {"identifier": "platform", "name": "Platform"}
    project = parse_spec("project:\n  identifier: team_a\n  name: Team A\n  orgIdentifier: platform\n", CFG)
    assert dict(project.scope) == {"orgIdentifier": "platform"}


# --------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("source", "kwargs", "message"),
    [
        (
            {"organization": {"identifier": "1org", "name": "x"}},
            {},
            r"organization\.identifier: '1org' is not a valid Harness identifier",
        ),
        (
            "pipeline:\n  name: p\n  identifier: build$2\n",
            {},
            r"pipeline\.identifier: 'build\$2' is not a valid Harness identifier: .*letters, digits and _",
        ),
        (
            {"connector": {"identifier": "and", "name": "c", "type": "Git", "spec": {}}},
            {},
            r"'and' is a reserved word",
        ),
        (
            "pipeline:\n  name: p\n  identifier: x\n   stages: []\n",
            {},
            r"spec: YAML does not parse at line 4, column 10: mapping values are not allowed here",
        ),
        (
            "pipeline:\n  name: p\n  name: q\n",
            {},
            r"YAML does not parse at line 3, column 3: found duplicate key 'name'",
        ),
        (
            "template:\n  identifier: t\n",
            {},
            r"spec: top key 'template' is not a Harness resource kind; use one of \[",
        ),
        ({"pipeline": {"identifier": "p", "name": "p"}, "x": 1}, {}, r"exactly one top key naming its kind"),
        (
            {"kind": "pipeline", "spec": PIPELINE},
            {"kind": "connector"},
            r"kind: the spec describes a pipeline but kind='connector' was given",
        ),
        (
            {"kind": "project", "project_id": "p", "spec": {"identifier": "t", "name": "T"}},
            {},
            r"project_id: a project lives at org level, not at project level",
        ),
        (
            {"kind": "organization", "spec": {"identifier": "o", "name": "O"}},
            {"org_id": "x"},
            r"org_id: an organization lives at account level",
        ),
        (
            {"kind": "connector", "spec": {"identifier": "c", "name": "C"}, "spex": 1},
            {},
            r"spec: unknown key\(s\) \['spex'\]",
        ),
        (
            {"kind": "connector", "spec": {"identifier": "c", "name": "C", "spec": {}}},
            {},
            r"spec\.type: required for a connector",
        ),
        (
            {"environment": {"identifier": "dev", "name": "Dev"}},
            {},
            r"spec: environment\.type: required for an environment",
        ),
        (
            {"inputSet": {"identifier": "i", "name": "I"}},
            {},
            r"pipeline_id: an input set belongs to a pipeline; set inputSet\.pipeline\.identifier",
        ),
        (
            {"inputSet": {"identifier": "i", "name": "I", "pipeline": {"identifier": "a"}}},
            {"pipeline_id": "b"},
            r"pipeline_id: the spec and the arguments disagree",
        ),
        (
            {"kind": "service", "pipeline_id": "x", "spec": {"identifier": "s", "name": "S"}},
            {},
            r"spec\.pipeline_id: a service does not take pipeline_id",
        ),
        (
            PIPELINE,
            {"project_id": "other"},
            r"project_id: the spec and the arguments disagree \(projectIdentifier='proj', project_id='other'\)",  # noqa: E501
        ),
        (PIPELINE, {"git": {"branchName": "x"}}, r"git: \['branchName'\] are not Git Experience options"),
        (
            {"service": {"identifier": "s", "name": "S"}},
            {"scope": "galaxy"},
            r"scope: 'galaxy' is not a scope level",
        ),
        (
            {
                "kind": "service",
                "spec": {"identifier": "s", "name": "S", "yaml": "service:\n  identifier: t\n"},
            },
            {},
            r"its identifier 't' differs from 's'",
        ),
        ("- a\n- b\n", {}, r"spec: expected a Harness document"),
    ],
)
def test_bad_specs_fail_with_the_field_and_the_fix(source: object, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_spec(source, CFG, **kwargs)  # type: ignore[arg-type]


def test_missing_org_or_project_for_a_project_scoped_kind() -> None:
    with pytest.raises(
        ValueError, match=r"org_id: an organization is required for pipeline build; pass org_id="
    ):
        parse_spec("pipeline:\n  name: B\n  identifier: build\n", BARE)
    with pytest.raises(
        ValueError, match=r"project_id: a project is required for input set i1; pass project_id="
    ):
        parse_spec(
            {"inputSet": {"identifier": "i1", "name": "I", "orgIdentifier": "o"}}, BARE, pipeline_id="p1"
        )
    # a service may live at org level: an org without a project means exactly that
    assert dict(parse_spec({"service": {"identifier": "web", "name": "Web"}}, BARE, org_id="o").scope) == {
        "orgIdentifier": "o"
    }


def test_yaml_error_in_an_embedded_definition_names_the_field() -> None:
    spec = {"kind": "service", "spec": {"identifier": "s", "name": "S", "yaml": "service:\n  a: [1\n"}}
    with pytest.raises(ValueError, match=r"spec\.yaml: YAML does not parse at line 3"):
        parse_spec(spec, CFG)


def test_inline_secret_value_in_a_spec_is_refused_without_echoing_it() -> None:
    value = "hunter2-very-secret"
    spec = {
        "kind": "secret",
        "spec": {"identifier": "s", "name": "S", "type": "SecretText", "spec": {"value": value}},
    }
    with pytest.raises(
        ValueError, match=r"spec\.value: a secret value must not be written in a spec"
    ) as info:
        parse_spec(spec, CFG)
    assert value not in str(info.value) and value not in repr(info.value)
    file_spec = {"secret": {"identifier": "f", "name": "F", "type": "SecretFile", "spec": {"value": value}}}
    with pytest.raises(ValueError, match="file secret's content comes from value_from") as info:
        parse_spec(file_spec, CFG)
    assert value not in str(info.value)


def test_reference_secrets_keep_their_reference() -> None:
    spec = parse_spec(
        {
            "secret": {
                "identifier": "v",
                "name": "V",
                "type": "SecretText",
                "spec": {"valueType": "Reference", "value": "vault/path#k"},
            }
        },
        CFG,
    )
    assert spec.entity["spec"]["value"] == "vault/path#k" and not spec.takes_value
