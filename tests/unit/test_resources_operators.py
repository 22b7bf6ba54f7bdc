"""The resource operators: thin, one log line per action, JSON-safe results, secrets airtight."""

from __future__ import annotations

import importlib.util
import json
import socket
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_resources_fakes import FakeApi, config, failure, log_lines, not_found, ok

from airflow_provider_harness.hooks.harness import HarnessHook
from airflow_provider_harness.operators import resources as ops
from airflow_provider_harness.operators.resources import (
    HarnessApplyResourceOperator,
    HarnessApplySecretOperator,
    HarnessConnectorTestError,
    HarnessDeleteResourceOperator,
    HarnessGetResourceOperator,
    HarnessListResourcesOperator,
    HarnessTestConnectorOperator,
)

VALUE = "Op3rator-Secr3t-Value"
EXAMPLE_DAG = Path(__file__).parents[2] / "example_dags" / "harness_bootstrap_project.py"


def wire(op: Any, api: FakeApi, **config_overrides: Any) -> Any:
    """Give ``op`` a hook whose client talks to ``api`` (no Airflow connection, no network)."""
    hook = HarnessHook(op.harness_conn_id)
    hook.__dict__["config"] = config(**{"org_id": "o", "project_id": "p", **config_overrides})
    hook._client = api.client(**{"org_id": "o", "project_id": "p", **config_overrides})
    op.__dict__["hook"] = hook
    return op


def _project(name: str = "Team A") -> dict:
    return {
        "project": {"orgIdentifier": "o", "identifier": "team_a", "name": name, "modules": ["CD"]},
        "createdAt": 1,
    }


PROJECT = {"kind": "project", "spec": {"identifier": "team_a", "name": "Team A"}}


def test_apply_operator_logs_one_line_per_action_and_returns_json(caplog: pytest.LogCaptureFixture) -> None:
    api = FakeApi().on("GET", "/ng/api/projects/team_a", not_found(), ok(_project()))
    api.on("POST", "/ng/api/projects", ok(_project()))
    op = wire(HarnessApplyResourceOperator(task_id="t", spec=PROJECT), api)
    with log_lines(caplog) as lines:
        first = op.execute({})
        second = op.execute({})
    assert (first["action"], second["action"]) == ("created", "unchanged")
    assert json.loads(json.dumps(second)) == second
    assert [line for line in lines if line.startswith("project team_a")] == [
        "project team_a in o: created",
        "project team_a in o: unchanged",
    ]


def test_apply_operator_reads_a_spec_file(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text("pipeline:\n  name: B\n  identifier: build\n  stages: []\n")
    api = FakeApi().on("GET", "/pipeline/api/pipelines/build", ok({"yamlPipeline": path.read_text()}))
    api.on("PUT", "/pipeline/api/pipelines/v2/build", ok({"identifier": "build"}))
    result = wire(HarnessApplyResourceOperator(task_id="t", spec_file=str(path)), api).execute({})
    assert result["action"] == "updated" and result["changed"] == [
        "pipeline.orgIdentifier",
        "pipeline.projectIdentifier",
    ]
    bad = tmp_path / "bad.yaml"
    bad.write_text("pipeline:\n  name: [B\n")
    with pytest.raises(ValueError, match=rf"{bad}: YAML does not parse at line 3, column 1"):
        wire(HarnessApplyResourceOperator(task_id="t", spec_file=str(bad)), FakeApi()).execute({})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, r"spec / spec_file: give exactly one"),
        ({"spec": PROJECT, "spec_file": "x.yaml"}, r"spec / spec_file: give exactly one"),
        (
            {"spec": {"kind": "project", "spec": {"identifier": "9", "name": "x"}}},
            r"spec\.identifier: '9' is not a valid",
        ),
        ({"spec": "pipeline:\n  name: x\n identifier: y\n"}, r"YAML does not parse at line 3, column 2"),
        ({"spec": PROJECT, "kind": "pipeline"}, r"kind: the spec describes a project but kind='pipeline'"),
        ({"spec": PROJECT, "project_id": "p"}, r"project_id: a project lives at org level"),
        (
            {"spec": "pipeline:\n  name: x\n  identifier: y\n", "org_id": "o"},
            r"project_id: a project is required",
        ),
        (
            {"spec": {"kind": "secret", "spec": {"identifier": "s", "name": "S", "type": "SecretText"}}},
            r"use HarnessApplySecretOperator",
        ),
        (
            {
                "spec": {"inputSet": {"identifier": "i", "name": "I", "pipeline": {"identifier": "b"}}},
                "environment_id": "e",
            },
            r"environment_id: an input set does not take environment_id",
        ),
    ],
)
def test_bad_input_fails_before_any_request(kwargs: dict, message: str) -> None:
    api = FakeApi()
    no_default_project = kwargs.get("org_id") == "o"
    op = HarnessApplyResourceOperator(task_id="t", **kwargs)
    op = wire(op, api, **({"project_id": None} if no_default_project else {}))
    with pytest.raises(ValueError, match=message):
        op.execute({})
    assert api.requests == [], "validation happens before any request"


def test_get_operator_returns_the_entity_without_secret_values() -> None:
    secret = {
        "secret": {"identifier": "s", "type": "SecretText", "spec": {"valueType": "Inline", "value": None}}
    }
    api = FakeApi().on("GET", "/ng/api/v2/secrets/s", ok(secret))
    result = wire(HarnessGetResourceOperator(task_id="t", kind="secret", identifier="s"), api).execute({})
    assert result == {"identifier": "s", "type": "SecretText", "spec": {"valueType": "Inline"}}
    api = FakeApi().on(
        "GET", "/pipeline/api/pipelines/b", ok({"yamlPipeline": "pipeline:\n  identifier: b\n"})
    )
    got = wire(HarnessGetResourceOperator(task_id="t", kind="pipeline", identifier="b"), api).execute({})
    assert got == {"pipeline": {"identifier": "b"}}
    missing = FakeApi().on(
        "GET", "/ng/api/connectors/c", not_found("Connector with identifier [c] not found")
    )
    with pytest.raises(
        Exception, match=r"Connector with identifier \[c\] not found \(RESOURCE_NOT_FOUND_EXCEPTION"
    ):
        wire(HarnessGetResourceOperator(task_id="t", kind="connector", identifier="c"), missing).execute({})


def test_list_operator_all_pages_filters_limit_and_identifiers_only() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        index = int(request.url.params["page"])
        items = [
            {"environment": {"identifier": f"e{index}_{n}", "name": "E"}}
            for n in range(100 if index < 2 else 5)
        ]
        return ok({"content": items, "totalPages": 3, "pageIndex": index})

    api = FakeApi().on("GET", "/ng/api/environmentsV2", answer)
    op = HarnessListResourcesOperator(
        task_id="t", kind="environment", filters={"searchTerm": "e"}, identifiers_only=True
    )
    ids = wire(op, api).execute({})
    assert len(ids) == 205 and ids[0] == "e0_0" and ids[-1] == "e2_4"
    assert api.requests[0].param("searchTerm") == "e"
    limited = wire(
        HarnessListResourcesOperator(task_id="t", kind="environment", limit=3),
        FakeApi().on("GET", "/ng/api/environmentsV2", answer),
    )
    assert [e["identifier"] for e in limited.execute({})] == ["e0_0", "e0_1", "e0_2"]
    with pytest.raises(ValueError, match="limit: expected a positive whole number"):
        wire(HarnessListResourcesOperator(task_id="t", kind="environment", limit=0), FakeApi()).execute({})


def test_delete_operator_gone_is_success_and_refusal_fails_clearly(caplog: pytest.LogCaptureFixture) -> None:
    api = FakeApi().on(
        "DELETE",
        "/ng/api/projects/team_a",
        failure(
            "ENTITY_NOT_FOUND",
            "Project with identifier [team_a] does not exist in the specified scope",
            404,
            "ERROR",
        ),
    )
    op = wire(HarnessDeleteResourceOperator(task_id="t", kind="project", identifier="team_a"), api)
    with log_lines(caplog) as lines:
        assert op.execute({}) == {"kind": "project", "identifier": "team_a", "deleted": False}
    assert "project team_a in o: already gone, nothing to delete" in lines
    refused = FakeApi().on(
        "DELETE",
        "/ng/api/organizations/default",
        failure(
            "INVALID_REQUEST",
            "Invalid request: Update operation not supported for Default Organization (identifier: [default])",  # noqa: E501
            400,
            "ERROR",
        ),
    )
    op = wire(HarnessDeleteResourceOperator(task_id="t", kind="organization", identifier="default"), refused)
    with pytest.raises(
        Exception,
        match=r"Harness refused to delete organization default: Invalid request: Update operation not supported",  # noqa: E501
    ):
        op.execute({})
    infra = FakeApi().on("DELETE", "/ng/api/infrastructures/k8s", ok(True))
    op = HarnessDeleteResourceOperator(
        task_id="t", kind="infrastructure", identifier="k8s", environment_id="dev"
    )
    assert wire(op, infra).execute({})["deleted"] is True
    assert infra.requests[0].param("environmentIdentifier") == "dev"


def test_delete_operator_has_no_ignore_if_missing_flag() -> None:
    import inspect

    params = inspect.signature(HarnessDeleteResourceOperator.__init__).parameters
    assert not [p for p in params if "missing" in p or "ignore" in p]


def test_connector_test_operator_fails_the_task_when_unreachable() -> None:
    path = "/ng/api/connectors/testConnection/dh"
    bad = FakeApi().on(
        "POST",
        path,
        ok(
            {
                "status": "FAILURE",
                "errorSummary": "Unable to connect",
                "errors": [{"reason": "DNS", "message": "no such host"}],
            }
        ),
    )
    with pytest.raises(
        HarnessConnectorTestError,
        match=r"connector dh in o/p: connection test FAILURE: Unable to connect; DNS - no such host",
    ):
        wire(HarnessTestConnectorOperator(task_id="t", connector_id="dh"), bad).execute({})
    good = FakeApi().on("POST", path, ok({"status": "SUCCESS", "testedAt": 7}))
    result = wire(HarnessTestConnectorOperator(task_id="t", connector_id="dh"), good).execute({})
    assert result == {
        "status": "SUCCESS",
        "succeeded": True,
        "error_summary": None,
        "errors": [],
        "tested_at": 7,
    }


# ------------------------------------------------------------------------------------------ secrets

SECRET = {"kind": "secret", "spec": {"identifier": "db_pw", "name": "DB password", "type": "SecretText"}}


def _secret_api(create_response: httpx.Response | None = None) -> FakeApi:
    api = FakeApi().on("GET", "/ng/api/v2/secrets/db_pw", not_found())
    return api.on("POST", "/ng/api/v2/secrets", create_response or ok({"secret": SECRET["spec"]}))


@pytest.mark.parametrize(
    ("value_from", "env"),
    [
        ({"env": "DB_PW"}, {"DB_PW": VALUE}),
        ({"variable": "db_pw"}, {"AIRFLOW_VAR_DB_PW": VALUE}),
        ({"connection": "db"}, {"AIRFLOW_CONN_DB": json.dumps({"conn_type": "postgres", "password": VALUE})}),
        (
            {"connection": "db", "field": "extra.token"},
            {"AIRFLOW_CONN_DB": json.dumps({"conn_type": "http", "extra": {"token": VALUE}})},
        ),
    ],
)
def test_secret_value_from_airflow_is_masked_and_never_leaks(
    value_from: dict,
    env: dict,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for key, val in env.items():
        monkeypatch.setenv(key, val)
    masked: list[str] = []
    monkeypatch.setattr(ops, "mask_secret", masked.append)
    api = _secret_api()
    op = wire(HarnessApplySecretOperator(task_id="t", spec=SECRET, value_from=value_from), api)
    with log_lines(caplog) as lines:
        result = op.execute({})
    assert masked == [VALUE], "masked as soon as it is read"
    assert api.requests[1].json()["secret"]["spec"]["value"] == VALUE, "sent to Harness"
    out = capsys.readouterr()
    assert any("secret db_pw in o/p: created" in line for line in lines)
    for text in (json.dumps(result), "\n".join(lines), out.out, out.err, repr(op.__dict__.get("value_from"))):
        assert VALUE not in text
    assert result["action"] == "created"


def test_secret_value_never_in_rendered_templates() -> None:
    op = HarnessApplySecretOperator(
        task_id="t",
        spec={
            "kind": "secret",
            "spec": {"identifier": "{{ params.sid }}", "name": "N", "type": "SecretText"},
        },
        value_from={"env": "DB_PW"},
    )
    assert "value_from" not in op.template_fields
    op.render_template_fields({"params": {"sid": "db_pw"}})
    rendered = {name: getattr(op, name) for name in op.template_fields}
    assert rendered["spec"]["spec"]["identifier"] == "db_pw"
    assert VALUE not in json.dumps(rendered, default=str)


def test_secret_errors_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_PW", VALUE)
    monkeypatch.setattr(ops, "mask_secret", lambda value: None)
    echo = failure("INVALID_REQUEST", f"Invalid request: {VALUE} rejected", 400, "ERROR")
    op = wire(
        HarnessApplySecretOperator(task_id="t", spec=SECRET, value_from={"env": "DB_PW"}), _secret_api(echo)
    )
    with pytest.raises(Exception) as info:
        op.execute({})
    assert VALUE not in str(info.value) and "*** rejected" in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_secret_in_spec_is_refused_and_not_echoed() -> None:
    spec = {
        "kind": "secret",
        "spec": {"identifier": "s", "name": "S", "type": "SecretText", "spec": {"value": VALUE}},
    }
    with pytest.raises(ValueError) as info:
        HarnessApplySecretOperator(task_id="t", spec=spec, value_from={"env": "X"})
    assert VALUE not in str(info.value)


INLINE_SPECS = {
    "kind+spec": (
        {
            "kind": "secret",
            "spec": {"identifier": "s", "name": "S", "type": "SecretText", "spec": {"value": VALUE}},
        },
        "spec.spec.spec.value",
    ),
    "secret document": (
        {"secret": {"identifier": "s", "name": "S", "type": "SecretText", "spec": {"value": VALUE}}},
        "spec.secret.spec.value",
    ),
    "explicit Inline": (
        {"secret": {"type": "SecretText", "spec": {"valueType": "Inline", "value": VALUE}}},
        "spec.secret.spec.value",
    ),
    "file secret": ({"secret": {"type": "SecretFile", "spec": {"value": VALUE}}}, "spec.secret.spec.value"),
    "YAML text": (
        f"secret:\n  identifier: s\n  name: S\n  type: SecretText\n  spec:\n    value: {VALUE}\n",
        "spec.secret.spec.value",
    ),
    "templated value": (
        {"secret": {"type": "SecretText", "spec": {"value": "{{ var.value.db_pw }}"}}},
        "spec.secret.spec.value",
    ),
    "YAML with Jinja": (
        "secret:\n  identifier: {{ params.id }}\n  type: SecretText\n"
        "  spec:\n    value: {{ var.value.pw }}\n",
        "spec.secret.spec.value",
    ),
    "YAML body of kind+spec": (
        {"kind": "secret", "spec": f"type: SecretText\nspec:\n  value: {VALUE}\n"},
        "spec.spec.spec.value",
    ),
    "pasted get response": (
        {
            "kind": "secret",
            "spec": {"secret": {"type": "SecretText", "spec": {"value": VALUE}}, "createdAt": 1},
        },
        "spec.spec.secret.spec.value",
    ),
    "empty duplicate after the value": (
        f"secret:\n  type: SecretText\n  spec:\n    value: {VALUE}\n    value: ''\n",
        "spec.secret.spec.value",
    ),
}


@pytest.mark.parametrize("operator", [HarnessApplySecretOperator, HarnessApplyResourceOperator])
@pytest.mark.parametrize(("spec", "field"), INLINE_SPECS.values(), ids=INLINE_SPECS)
def test_inline_secret_value_is_refused_when_the_dag_is_parsed(operator: type, spec: Any, field: str) -> None:
    """Refused in the constructor (the DAG does not import), before anything could render or store it."""
    with pytest.raises(ValueError) as info:
        operator(task_id="t", spec=spec)
    message = str(info.value)
    assert message.startswith(f"{field}: a secret value must not be written in a spec")
    assert "Rendered Template" in message
    for source in (
        "{'variable': 'name'}",
        "{'connection': 'conn_id'",
        "{'env': 'NAME'}",
        "{'file': '/path'}",
    ):
        assert source in message, "the fix names every value_from source"
    assert VALUE not in message


@pytest.mark.parametrize(
    "spec",
    [
        {"secret": {"type": "SecretText", "spec": {"valueType": "Reference", "value": "vault/db#pw"}}},
        {"secret": {"type": "SecretText", "spec": {"value": ""}}},
        {"kind": "connector", "spec": {"type": "K8sCluster", "spec": {"value": "not a secret"}}},
        "{{ var.value.whole_spec }}",
        "{{ not parsed here",
        "pipeline:\n  variables:\n    - name: a\n      value: b\n",
    ],
    ids=["reference", "empty value", "not a secret", "whole spec templated", "not YAML", "pipeline value"],
)
def test_specs_without_an_inline_secret_value_construct(spec: Any) -> None:
    assert HarnessApplySecretOperator(task_id="t", spec=spec).spec == spec


@pytest.mark.parametrize(
    "make_spec",
    [
        lambda: {"kind": "secret", "spec": "{{ params.body }}"},
        lambda: "{{ params.document }}",
    ],
    ids=["rendered YAML body", "rendered document"],
)
def test_rendered_inline_secret_value_never_stays_in_the_template_field(
    make_spec: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A template that renders a value (from a Variable, XCom, params...) leaves a placeholder in the
    rendered field - what Airflow shows and stores - the value is masked, and execute fails before any
    request."""
    masked: list[str] = []
    monkeypatch.setattr(ops, "mask_secret", masked.append)
    body = f"identifier: s\nname: S\ntype: SecretText\nspec:\n  value: {VALUE}\n"
    context = {
        "params": {
            "body": body,
            "document": "secret:\n" + "".join(f"  {line}\n" for line in body.splitlines()),
        }
    }
    api = FakeApi()
    op = wire(HarnessApplySecretOperator(task_id="t", spec=make_spec(), value_from={"env": "X"}), api)
    op.render_template_fields(context)
    rendered = {name: getattr(op, name) for name in op.template_fields}
    assert VALUE not in json.dumps(rendered, default=str)
    assert str(op.spec).startswith("(refused: spec.") and op.spec.endswith(".spec.value held a secret value)")
    assert masked == [VALUE]
    with pytest.raises(ValueError, match=r"the rendered spec carried a secret value") as info:
        op.execute({})
    assert VALUE not in str(info.value) and "{'variable': 'name'}" in str(info.value)
    assert api.requests == []


def test_a_clean_render_after_a_refused_one_runs() -> None:
    op = HarnessApplySecretOperator(task_id="t", spec="{{ params.s }}")
    op.spec = {"secret": {"type": "SecretText", "spec": {"value": VALUE}}}  # rendered (spec was set)
    assert "_spec_refused" in op.__dict__
    op.spec = SECRET
    assert "_spec_refused" not in op.__dict__ and op.spec == SECRET


def test_no_template_field_holds_a_secret_value_or_its_reference_value() -> None:
    """value_from is a reference read on the worker: never a template field; only specs are templated, and
    they are checked on every assignment (constructor and render)."""
    for operator in (
        HarnessApplyResourceOperator,
        HarnessApplySecretOperator,
        HarnessDeleteResourceOperator,
        HarnessGetResourceOperator,
        HarnessListResourcesOperator,
        HarnessTestConnectorOperator,
    ):
        assert "value_from" not in operator.template_fields
        assert "rotate" not in operator.template_fields
    assert HarnessApplySecretOperator.template_fields == HarnessApplyResourceOperator.template_fields


@pytest.mark.parametrize(
    ("value_from", "message"),
    [
        ("DB_PW", r"value_from: expected a mapping"),
        ({"env": "A", "variable": "B"}, r"give exactly one of \['variable', 'connection', 'env', 'file'\]"),
        ({"env": ""}, r"value_from\.env: expected a non-empty name"),
        ({"env": "A", "field": "password"}, r"value_from\.field: only used with 'connection'"),
        ({"connection": "c", "field": "port"}, r"'port' is not a connection field"),
    ],
)
def test_value_from_shape_is_checked_when_the_dag_is_parsed(value_from: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HarnessApplySecretOperator(task_id="t", spec=SECRET, value_from=value_from)


def test_missing_value_source_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOPE_NOT_SET", raising=False)
    api = FakeApi()
    op = wire(HarnessApplySecretOperator(task_id="t", spec=SECRET, value_from={"env": "NOPE_NOT_SET"}), api)
    with pytest.raises(ValueError, match=r"value_from\.env: 'NOPE_NOT_SET' holds no value"):
        op.execute({})
    assert api.requests == []


def test_file_secret_from_a_worker_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = tmp_path / "id_rsa"
    key.write_bytes(b"-----BEGIN KEY-----\nAAAABBBBCCCCDDDDEEEE\n-----END KEY-----\n")
    masked: list[str] = []
    monkeypatch.setattr(ops, "mask_secret", masked.append)
    api = FakeApi().on("GET", "/ng/api/v2/secrets/deploy_key", not_found())
    api.on("POST", "/ng/api/v2/secrets/files", ok({"secret": {}}))
    spec = {"secret": {"identifier": "deploy_key", "name": "Deploy key", "type": "SecretFile"}}
    result = wire(
        HarnessApplySecretOperator(task_id="t", spec=spec, value_from={"file": str(key)}), api
    ).execute({})
    assert result["action"] == "created"
    assert b'filename="id_rsa"' in api.requests[1].body and b"AAAABBBBCCCCDDDDEEEE" in api.requests[1].body
    assert "AAAABBBBCCCCDDDDEEEE" in masked, "each long line of a multi-line value is masked too"


def test_operators_do_no_work_in_init_and_template_their_fields() -> None:
    op = HarnessApplyResourceOperator(
        task_id="t", spec="{{ not parsed here", harness_conn_id="{{ var.value.c }}"
    )
    assert "hook" not in op.__dict__
    assert {"harness_conn_id", "spec", "spec_file", "org_id", "project_id", "kind"} <= set(op.template_fields)
    delete = HarnessDeleteResourceOperator(task_id="d", kind="{{ params.k }}", identifier="{{ params.i }}")
    assert {"kind", "identifier"} <= set(delete.template_fields)


def test_example_dag_parses_without_connection_or_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the example DAG must not touch the network at parse time")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.delenv("AIRFLOW_CONN_HARNESS_DEFAULT", raising=False)
    spec = importlib.util.spec_from_file_location("harness_bootstrap_project_test", EXAMPLE_DAG)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    dag = module.dag
    order = [t.task_id for t in dag.topological_sort()] if hasattr(dag, "topological_sort") else None
    ids = {t.task_id for t in dag.tasks}
    assert {
        "org",
        "project",
        "service",
        "environment",
        "infrastructure",
        "connector",
        "secret",
        "pipeline",
    } <= ids
    assert {"delete_pipeline", "delete_project", "delete_organization"} <= ids
    assert dag.get_task("delete_organization").upstream_task_ids == {"delete_project", "org"}
    assert "org" in dag.get_task("project").upstream_task_ids
    assert order is None or order.index("pipeline") < order.index("delete_pipeline")
    assert all("hook" not in task.__dict__ for task in dag.tasks)


def test_example_dag_cleans_up_with_setup_and_teardown(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every create is a setup and its delete the teardown of exactly that create (so the delete runs when
    the create succeeded, whatever failed later); the list task is the one regular leaf, so a failed
    create still fails the run."""
    spec = importlib.util.spec_from_file_location("harness_bootstrap_project_teardown", EXAMPLE_DAG)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    dag = module.dag
    pairs = {
        "org": "delete_organization",
        "project": "delete_project",
        "connector": "delete_connector",
        "secret": "delete_secret",
        "service": "delete_service",
        "environment": "delete_environment",
        "infrastructure": "delete_infrastructure",
        "pipeline": "delete_pipeline",
    }
    for create, delete in pairs.items():
        assert dag.get_task(create).is_setup, create
        teardown = dag.get_task(delete)
        assert teardown.is_teardown and str(teardown.trigger_rule) in (
            "all_done_setup_success",
            "TriggerRule.ALL_DONE_SETUP_SUCCESS",
        )
        assert {t for t in teardown.upstream_task_ids if dag.get_task(t).is_setup} == {create}
        assert not teardown.on_failure_fail_dagrun
    regular = [t.task_id for t in dag.tasks if not t.is_setup and not t.is_teardown]
    assert regular == ["list_services"]
    assert dag.get_task("list_services").upstream_task_ids == {"pipeline"}
    if hasattr(dag, "validate_setup_teardown"):
        dag.validate_setup_teardown()
