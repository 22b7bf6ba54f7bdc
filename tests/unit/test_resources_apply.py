"""apply(): create when missing, update only when different, unchanged otherwise; delete; secret values."""

from __future__ import annotations

import json

import httpx
import pytest
from test_resources_fakes import FakeApi, config, duplicate, entity_not_found, failure, not_found, ok

from airflow_provider_harness.client import resources
from airflow_provider_harness.client.errors import HarnessInvalidRequestError, HarnessNotFoundError
from airflow_provider_harness.client.resources import SecretValue, apply, parse_spec

CFG = config(org_id="o", project_id="p")
PROJECT_PATH = "/ng/api/projects/team_a"
PROJECT_SPEC = {
    "kind": "project",
    "spec": {
        "identifier": "team_a",
        "name": "Team A",
        "description": "",
        "tags": {"team": "a"},
        "modules": ["CD"],
    },
}


def _project(**changes: object) -> dict:
    project = {
        "orgIdentifier": "o",
        "identifier": "team_a",
        "name": "Team A",
        "color": "#0063f7",
        "modules": ["CD", "CI", "CV", "CF", "CE", "STO"],  # Harness always lists every module
        "description": None,
        "tags": {"team": "a"},
    }
    project.update(changes)
    return {"project": project, "createdAt": 1, "lastModifiedAt": 2, "isFavorite": False}


def test_missing_resource_is_created() -> None:
    api = FakeApi().on("GET", PROJECT_PATH, not_found()).on("POST", "/ng/api/projects", ok(_project()))
    result = apply(api.client(), parse_spec(PROJECT_SPEC, CFG))
    assert (result.action, result.describe()) == ("created", "project team_a in o: created")
    assert api.calls == [("GET", PROJECT_PATH), ("POST", "/ng/api/projects")]
    assert api.requests[1].json() == {"project": {**PROJECT_SPEC["spec"], "orgIdentifier": "o"}}
    assert result.to_dict() == {
        "kind": "project",
        "identifier": "team_a",
        "action": "created",
        "changed": [],
        "org_id": "o",
        "project_id": None,
        "parent_id": None,
    }


def test_matching_resource_is_unchanged_despite_server_fields_and_defaults() -> None:
    api = FakeApi().on("GET", PROJECT_PATH, ok(_project()))
    result = apply(api.client(), parse_spec(PROJECT_SPEC, CFG))
    assert result.action == "unchanged" and not result.changed_anything
    assert api.calls == [("GET", PROJECT_PATH)], "nothing is written when nothing differs"


@pytest.mark.parametrize(
    ("current", "changed"),
    [
        (_project(name="Old name"), ["name"]),
        (_project(tags={"team": "a", "old": "x"}), ["tags"]),  # a removed tag is a change
        (_project(description="was set"), ["description"]),
    ],
)
def test_different_resource_is_updated_and_says_what_changed(current: dict, changed: list[str]) -> None:
    api = FakeApi().on("GET", PROJECT_PATH, ok(current)).on("PUT", PROJECT_PATH, ok(_project()))
    result = apply(api.client(), parse_spec(PROJECT_SPEC, CFG))
    assert (result.action, list(result.changed)) == ("updated", changed)
    assert f"updated ({', '.join(changed)})" in result.describe()
    put = api.requests[-1]
    assert put.param("orgIdentifier") == "o" and put.json()["project"]["name"] == "Team A"


def test_apply_twice_against_a_stateful_api_reports_created_then_unchanged() -> None:
    store: dict[str, dict] = {}

    def get(request: httpx.Request) -> httpx.Response:
        return ok(store["svc"]) if "svc" in store else not_found()

    def save(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.read())
        store["svc"] = {"service": {**body, "accountId": "acc", "deleted": False}, "createdAt": 1}
        return ok(store["svc"])

    api = FakeApi().on("GET", "/ng/api/servicesV2/web", get).on("POST", "/ng/api/servicesV2", save)
    api.on("PUT", "/ng/api/servicesV2", save)
    text = "service:\n  name: Web\n  identifier: web\n  serviceDefinition:\n    type: Kubernetes\n"
    client = api.client()
    assert apply(client, parse_spec(text, CFG)).action == "created"
    # Harness re-serialises the YAML: other formatting and key order, same document
    store["svc"]["service"]["yaml"] = (
        "service:\n  identifier: web\n  name: Web\n  projectIdentifier: p\n  orgIdentifier: o\n  serviceDefinition: {type: Kubernetes}\n"  # noqa: E501
    )
    assert apply(client, parse_spec(text, CFG)).action == "unchanged"
    changed = text.replace("Kubernetes", "NativeHelm")
    result = apply(client, parse_spec(changed, CFG))
    assert (result.action, result.changed) == ("updated", ("yaml",))
    assert [m for m, _ in api.calls] == ["GET", "POST", "GET", "GET", "PUT"]


PIPELINE = """\
pipeline:
  name: Build
  identifier: build
  orgIdentifier: o
  projectIdentifier: p
  stages:
    - stage: {identifier: s1, name: S1, type: Custom}
"""


def test_yaml_kinds_compare_parsed_documents() -> None:
    stored = "pipeline:\n  identifier: build\n  name: Build\n  projectIdentifier: p\n  orgIdentifier: o\n  stages:\n  - stage:\n      type: Custom\n      name: S1\n      identifier: s1\n"  # noqa: E501
    api = FakeApi().on(
        "GET", "/pipeline/api/pipelines/build", ok({"yamlPipeline": stored, "modules": ["pms"]})
    )
    assert apply(api.client(), parse_spec(PIPELINE, CFG)).action == "unchanged"
    api = FakeApi().on(
        "GET", "/pipeline/api/pipelines/build", ok({"yamlPipeline": stored.replace("S1", "Old")})
    )
    api.on("PUT", "/pipeline/api/pipelines/v2/build", ok({"identifier": "build"}))
    result = apply(api.client(), parse_spec(PIPELINE, CFG))
    assert (result.action, result.changed) == ("updated", ("pipeline.stages",))
    put = api.requests[-1]
    assert put.content_type == "application/yaml" and put.text() == PIPELINE
    assert put.param("projectIdentifier") == "p"


def test_pipeline_missing_with_404_is_created_with_git_options() -> None:
    api = FakeApi().on("GET", "/pipeline/api/pipelines/build", entity_not_found())
    api.on("POST", "/pipeline/api/pipelines/v2", ok({"identifier": "build"}))
    git = {
        "storeType": "REMOTE",
        "connectorRef": "gh",
        "repoName": "infra",
        "filePath": ".harness/build.yaml",
        "branch": "main",
        "commitMsg": "add build",
    }
    result = apply(api.client(), parse_spec(PIPELINE, CFG, git=git))
    assert result.action == "created"
    get, post = api.requests
    assert get.param("branch") == "main" and get.param("storeType") is None
    assert {k: post.param(k) for k in git} == git


def test_remote_pipeline_update_passes_the_last_object_and_commit_ids() -> None:
    data = {
        "yamlPipeline": PIPELINE.replace("S1", "Old"),
        "gitDetails": {"objectId": "obj1", "commitId": "c1", "branch": "main"},
    }
    api = FakeApi().on("GET", "/pipeline/api/pipelines/build", ok(data))
    api.on("PUT", "/pipeline/api/pipelines/v2/build", ok({"identifier": "build"}))
    apply(api.client(), parse_spec(PIPELINE, CFG, git={"commitMsg": "rename stage"}))
    put = api.requests[-1]
    assert (
        put.param("lastObjectId"),
        put.param("lastCommitId"),
        put.param("branch"),
        put.param("commitMsg"),
    ) == (
        "obj1",
        "c1",
        "main",
        "rename stage",
    )


def test_duplicate_on_create_falls_back_to_compare() -> None:
    """Someone created it between our get and our create: compare with what is there now."""
    api = FakeApi().on("GET", PROJECT_PATH, not_found(), ok(_project()))
    api.on(
        "POST",
        "/ng/api/projects",
        duplicate("A project with identifier [team_a] and orgIdentifier [o] is already present"),
    )
    result = apply(api.client(), parse_spec(PROJECT_SPEC, CFG))
    assert result.action == "unchanged"
    assert api.calls == [("GET", PROJECT_PATH), ("POST", "/ng/api/projects"), ("GET", PROJECT_PATH)]


def test_update_of_a_missing_resource_is_harness_not_found() -> None:
    api = FakeApi().on(
        "PUT",
        "/ng/api/environmentsV2",
        not_found("Environment with identifier [dev] in project [p], org [o] not found"),
    )
    call = resources.update_call(
        "environment",
        {"orgIdentifier": "o", "projectIdentifier": "p"},
        "dev",
        {"identifier": "dev", "name": "Dev", "type": "Production"},
    )
    with pytest.raises(HarnessNotFoundError, match=r"Environment with identifier \[dev\]"):
        api.client().send(call)


# ------------------------------------------------------------------------------------------- delete


def test_delete_refused_by_harness_raises_its_message() -> None:
    message = (
        "Invalid request: Update operation not supported for Default Organization (identifier: [default])"
    )
    api = FakeApi().on(
        "DELETE", "/ng/api/organizations/default", failure("INVALID_REQUEST", message, 400, "ERROR")
    )
    ref = resources.ResourceRef(resources.resource_kind("organization"), {}, "default")
    with pytest.raises(HarnessInvalidRequestError, match=r"not supported for Default Organization"):
        resources.delete(api.client(), ref)


def test_delete_answered_false_is_not_a_success() -> None:
    api = FakeApi().on("DELETE", "/ng/api/servicesV2/web", ok(False))
    ref = resources.ResourceRef(resources.resource_kind("service"), {"orgIdentifier": "o"}, "web")
    with pytest.raises(HarnessInvalidRequestError, match=r"Harness did not delete service web in o"):
        resources.delete(api.client(), ref)
    assert resources.delete(FakeApi().on("DELETE", "/ng/api/servicesV2/web", ok(True)).client(), ref) is True


# ------------------------------------------------------------------------------------------ secrets

SECRET = {"kind": "secret", "spec": {"identifier": "db_pw", "name": "DB password", "type": "SecretText"}}
SECRET_PATH = "/ng/api/v2/secrets/db_pw"
VALUE = "Sup3r-Secr3t-Value!"


def _secret(**changes: object) -> dict:
    entity = {
        "type": "SecretText",
        "name": "DB password",
        "identifier": "db_pw",
        "orgIdentifier": "o",
        "projectIdentifier": "p",
        "tags": {},
        "description": "",
        "spec": {"secretManagerIdentifier": "harnessSecretManager", "valueType": "Inline", "value": None},
    }
    entity.update(changes)
    return {"secret": entity, "createdAt": 1, "updatedAt": 2, "draft": False}


def test_secret_value_is_sent_on_create_only_in_the_request() -> None:
    api = FakeApi().on("GET", SECRET_PATH, not_found()).on("POST", "/ng/api/v2/secrets", ok(_secret()))
    result = apply(api.client(), parse_spec(SECRET, CFG), value=SecretValue(VALUE))
    assert result.action == "created" and VALUE not in json.dumps(result.to_dict())
    body = api.requests[1].json()
    assert body["secret"]["spec"] == {
        "secretManagerIdentifier": "harnessSecretManager",
        "valueType": "Inline",
        "value": VALUE,
    }
    assert api.requests[1].param("projectIdentifier") == "p", "secret scope in payload and params must match"


def test_secret_with_same_metadata_is_unchanged_and_rotate_rewrites_the_value() -> None:
    api = FakeApi().on("GET", SECRET_PATH, ok(_secret())).on("PUT", SECRET_PATH, ok(_secret()))
    spec = parse_spec(SECRET, CFG)
    assert apply(api.client(), spec, value=SecretValue(VALUE)).action == "unchanged"
    assert [m for m, _ in api.calls] == ["GET"]
    rotated = apply(api.client(), spec, value=SecretValue("n3w-" + VALUE), rotate=True)
    assert (rotated.action, rotated.changed) == ("updated", ("value",))
    assert api.requests[-1].json()["secret"]["spec"]["value"] == "n3w-" + VALUE


def test_secret_metadata_change_keeps_value_when_none_is_given() -> None:
    api = FakeApi().on("GET", SECRET_PATH, ok(_secret(name="Old"))).on("PUT", SECRET_PATH, ok(_secret()))
    result = apply(api.client(), parse_spec(SECRET, CFG))
    assert result.changed == ("name",)
    assert "value" not in api.requests[-1].json()["secret"]["spec"]


def test_secret_create_without_a_value_fails_before_writing() -> None:
    api = FakeApi().on("GET", SECRET_PATH, not_found())
    with pytest.raises(ValueError, match=r"value_from: creating secret db_pw in o/p needs its value"):
        apply(api.client(), parse_spec(SECRET, CFG))
    assert [m for m, _ in api.calls] == ["GET"]


def test_secret_value_never_appears_in_errors_even_when_harness_echoes_it() -> None:
    echo = failure("INVALID_REQUEST", f"Invalid request: value {VALUE} is too weak; line2", 400, "ERROR")
    api = FakeApi().on("GET", SECRET_PATH, not_found()).on("POST", "/ng/api/v2/secrets", echo)
    with pytest.raises(HarnessInvalidRequestError) as info:
        apply(api.client(), parse_spec(SECRET, CFG), value=SecretValue(VALUE))
    assert VALUE not in str(info.value) and VALUE not in repr(info.value.args)
    assert "value *** is too weak" in str(info.value)


def test_multi_line_secret_lines_are_redacted_too() -> None:
    pem = "-----BEGIN KEY-----\nAAAABBBBCCCCDDDD\nEEEEFFFFGGGG\n-----END KEY-----\n"
    error = HarnessInvalidRequestError("bad key near AAAABBBBCCCCDDDD", hint="check EEEEFFFFGGGG")
    redacted = resources.redact_error(error, SecretValue(pem).redactions())
    assert "AAAABBBB" not in str(redacted) and "EEEEFFFF" not in str(redacted)


def test_value_for_a_kind_that_takes_none_is_refused() -> None:
    spec = parse_spec(
        {"connector": {"identifier": "c", "name": "C", "type": "Git", "spec": {"url": "u"}}}, CFG
    )
    with pytest.raises(ValueError, match="does not take a value"):
        apply(FakeApi().client(), spec, value=SecretValue(VALUE))


def test_file_secret_apply_uses_multipart() -> None:
    api = FakeApi().on("GET", "/ng/api/v2/secrets/kc", not_found())
    api.on("POST", "/ng/api/v2/secrets/files", ok(_secret(identifier="kc", type="SecretFile")))
    spec = parse_spec({"secret": {"identifier": "kc", "name": "KC", "type": "SecretFile"}}, CFG)
    assert (
        apply(api.client(), spec, value=SecretValue(b"apiVersion: v1\n", file_name="config")).action
        == "created"
    )
    post = api.requests[-1]
    assert post.content_type and post.content_type.startswith("multipart/form-data")
    assert b"apiVersion: v1" in post.body and b'"type": "SecretFile"' in post.body


def test_force_delete_only_where_harness_has_it() -> None:
    scope = {"orgIdentifier": "o", "projectIdentifier": "p"}
    assert resources.delete_call("connector", scope, "c", force=True).params["forceDelete"] is True
    assert "forceDelete" not in resources.delete_call("connector", scope, "c").params
    with pytest.raises(ValueError, match="force_delete: Harness has no forced delete for a pipeline"):
        resources.delete_call("pipeline", scope, "b", force=True)


def test_child_of_a_deleted_parent_is_already_gone() -> None:
    """Harness answers INVALID_REQUEST about the missing pipeline, not not-found about the input set."""
    gone = failure(
        "INVALID_REQUEST", "Invalid request: Pipeline with the given ID: b does not exist", 400, "ERROR"
    )
    api = FakeApi().on("DELETE", "/pipeline/api/inputSets/i1", gone)
    api.on("GET", "/pipeline/api/pipelines/b", entity_not_found())
    scope = {"orgIdentifier": "o", "projectIdentifier": "p"}
    ref = resources.ResourceRef(resources.resource_kind("input_set"), scope, "i1", "b")
    assert resources.delete(api.client(), ref) is False
    locked = failure("INVALID_REQUEST", "Invalid request: locked", 400, "ERROR")
    refused = FakeApi().on("DELETE", "/pipeline/api/inputSets/i1", locked)
    refused.on("GET", "/pipeline/api/pipelines/b", ok({"yamlPipeline": "pipeline: {identifier: b}"}))
    with pytest.raises(HarnessInvalidRequestError, match="locked"):
        resources.delete(refused.client(), ref)
