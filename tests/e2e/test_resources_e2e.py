"""The bootstrap example DAG in a real Airflow (``dag.test()``) against the emulator: builds a whole
project (org, project, connector, secret, service, environment, infrastructure, pipeline), lists it,
and tears it all down again - with the secret's value nowhere in XCom or task output - also when a create
fails (setup/teardown). And secret values never reach rendered template fields: an inline value is
refused when the DAG is parsed, one a template would render is refused before Airflow stores it."""

from __future__ import annotations

import importlib.util
import json
import sys
import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).parents[2] / "example_dags" / "harness_bootstrap_project.py"
SECRET_VALUE = "e2e-Bootstrap-Secr3t-Value"
APPLY_TASKS = (
    "org",
    "project",
    "connector",
    "secret",
    "service",
    "environment",
    "infrastructure",
    "pipeline",
)


def _load_example_dag(monkeypatch: pytest.MonkeyPatch) -> Any:
    spec = importlib.util.spec_from_file_location("harness_bootstrap_project", EXAMPLE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module.dag


@pytest.fixture
def emulator_connection(harness_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``harness_default`` -> this test's emulator, from the handle's own ``airflow_env()``."""
    for name, value in harness_emulator.airflow_env().items():
        monkeypatch.setenv(name, value)
    return harness_emulator


def test_bootstrap_project_dag_builds_and_tears_down(
    emulator_connection: Any, run_dag: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_harness.client import resources
    from airflow_provider_harness.client.config import HarnessConfig, Secret
    from airflow_provider_harness.client.transport import HarnessClient

    monkeypatch.setenv("HARNESS_BOOTSTRAP_DB_PASSWORD", SECRET_VALUE)
    dag = _load_example_dag(monkeypatch)
    result = run_dag(dag)

    assert result.state == "success", result.output[-3000:]
    assert set(result.task_states.values()) == {"success"}, result.task_states
    applied = {task: result.xcom(task) for task in APPLY_TASKS}
    assert {task: xcom["action"] for task, xcom in applied.items()} == dict.fromkeys(APPLY_TASKS, "created")
    assert applied["project"]["org_id"] == "platform_demo"
    assert applied["infrastructure"]["parent_id"] == "dev"
    assert result.xcom("list_services") == ["web"]
    assert result.xcom("delete_organization") == {
        "kind": "organization",
        "identifier": "platform_demo",
        "deleted": True,
    }

    everything = json.dumps(applied) + result.output + result.log("secret")
    assert SECRET_VALUE not in everything, "the secret value must not reach XCom or logs"
    assert "secret db_password in platform_demo/team_demo: created" in result.output

    h = emulator_connection
    cfg = HarnessConfig(account_id=h.account_id, api_key=Secret(h.api_key), base_url=h.base_url)
    with HarnessClient(cfg) as client:
        assert resources.get(client, resources.resource_ref(cfg, "organization", "platform_demo")) is None
        project = resources.resource_ref(cfg, "project", "team_demo", org_id="platform_demo")
        assert resources.get(client, project) is None


def _exists(h: Any, kind: str, identifier: str, **scope: str) -> bool:
    """Whether the emulator still has the resource (asked through the provider's own client)."""
    from airflow_provider_harness.client import resources
    from airflow_provider_harness.client.config import HarnessConfig, Secret
    from airflow_provider_harness.client.transport import HarnessClient

    cfg = HarnessConfig(account_id=h.account_id, api_key=Secret(h.api_key), base_url=h.base_url)
    with HarnessClient(cfg) as client:
        return resources.get(client, resources.resource_ref(cfg, kind, identifier, **scope)) is not None


BOOTSTRAP_ORG, BOOTSTRAP_PROJECT = "platform_demo", "team_demo"
CREATED_BEFORE_THE_FAILURE = {
    # create task -> (delete task, kind, identifier, scope)
    "org": ("delete_organization", "organization", BOOTSTRAP_ORG, {}),
    "project": ("delete_project", "project", BOOTSTRAP_PROJECT, {"org_id": BOOTSTRAP_ORG}),
    "connector": ("delete_connector", "connector", "dev_cluster", {}),
    "secret": ("delete_secret", "secret", "db_password", {}),
    "service": ("delete_service", "service", "web", {}),
}


def test_bootstrap_project_dag_cleans_up_when_a_create_fails(
    emulator_connection: Any, run_dag: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The environment create fails (Harness answers 500): every delete whose create succeeded still runs
    (setup/teardown), the org, project, connector, secret and service are gone, and the run fails."""
    h = emulator_connection
    monkeypatch.setenv("HARNESS_BOOTSTRAP_DB_PASSWORD", SECRET_VALUE)
    h.inject_fault("error", status=500, method="POST", path_prefix="/ng/api/environmentsV2", count=None)
    dag = _load_example_dag(monkeypatch)
    result = run_dag(dag)

    states = result.task_states
    assert result.state == "failed", "a failed create fails the run even though the cleanup succeeded"
    assert states["environment"] == "failed", states
    for task in ("infrastructure", "pipeline", "list_services"):
        assert states[task] == "upstream_failed", states
    for create, (delete, kind, identifier, _) in CREATED_BEFORE_THE_FAILURE.items():
        assert states[create] == "success", states
        assert states[delete] == "success", f"{delete} must run although environment failed: {states}"
        assert result.xcom(delete) == {"kind": kind, "identifier": identifier, "deleted": True}
    for never_created in ("delete_environment", "delete_infrastructure", "delete_pipeline"):
        assert states[never_created] == "upstream_failed", states  # their create did not succeed

    assert not _exists(h, "organization", BOOTSTRAP_ORG)
    assert not _exists(h, "project", BOOTSTRAP_PROJECT, org_id=BOOTSTRAP_ORG)
    in_project = {"org_id": BOOTSTRAP_ORG, "project_id": BOOTSTRAP_PROJECT}
    for kind, identifier in (("connector", "dev_cluster"), ("secret", "db_password"), ("service", "web")):
        assert not _exists(h, kind, identifier, **in_project)
    assert SECRET_VALUE not in result.output


# ------------------------------------------------------------------------ secrets vs rendered fields

RENDERED_VALUE = "e2e-Rendered-Secr3t-Value"
VARIABLE_VALUE = "e2e-Variable-Secr3t-Value"


def _rendered_fields(result: Any) -> dict[str, Any]:
    """``task_id -> rendered_fields`` of the run, as stored in ``rendered_task_instance_fields``."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(RenderedTaskInstanceFields).filter_by(dag_id=result.dag_id, run_id=result.run_id)
        return {row.task_id: row.rendered_fields for row in rows}


def test_secret_values_never_reach_rendered_template_fields(
    emulator_connection: Any, run_dag: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What Airflow keeps of the rendered fields (``rendered_task_instance_fields``, the UI's Rendered
    Template tab) never holds a secret value: ``value_from`` (a Variable) renders as the reference; a spec
    whose template renders an inline value (a Variable with a non-sensitive name, so Airflow itself masks
    nothing), plain or mapped, keeps a placeholder instead and the task fails before any request."""
    from airflow.sdk import DAG

    from airflow_provider_harness.operators.resources import HarnessApplySecretOperator

    h = emulator_connection
    monkeypatch.setenv("AIRFLOW_VAR_E2E_DB_CREDENTIAL", VARIABLE_VALUE)
    body = f"identifier: rendered_pw\nname: Rendered\ntype: SecretText\nspec:\n  value: {RENDERED_VALUE}\n"
    monkeypatch.setenv("AIRFLOW_VAR_E2E_DB_SETTINGS", body)
    where = {"org_id": h.org_id, "project_id": h.project_id}
    templated = {"kind": "secret", "spec": "{{ var.value.e2e_db_settings }}"}
    with DAG(
        "harness_secret_rendering_e2e",
        schedule=None,
        start_date=datetime(2025, 1, 1),
        params={"secret_id": "db_pw"},
    ) as dag:
        HarnessApplySecretOperator(
            task_id="from_variable",
            spec={
                "kind": "secret",
                "spec": {"identifier": "{{ params.secret_id }}", "name": "DB", "type": "SecretText"},
            },
            value_from={"variable": "e2e_db_credential"},
            **where,
        )
        HarnessApplySecretOperator(task_id="rendered_inline", spec=templated, **where)
        HarnessApplySecretOperator.partial(task_id="mapped_inline", **where).expand(spec=[templated])
    result = run_dag(dag)

    rendered = _rendered_fields(result)
    stored = json.dumps(rendered, default=str)
    for value in (VARIABLE_VALUE, RENDERED_VALUE):
        assert value not in stored, "a secret value reached rendered_task_instance_fields"
        assert value not in result.output
    assert rendered["from_variable"]["spec"]["spec"]["identifier"] == "db_pw", "the reference renders"
    placeholder = "(refused: spec.spec.spec.value held a secret value)"
    assert rendered["rendered_inline"]["spec"] == placeholder
    assert rendered["mapped_inline"]["spec"] == placeholder

    states = {"from_variable": "success", "rendered_inline": "failed", "mapped_inline": "failed"}
    assert result.task_states == states, result.output[-3000:]
    for task in ("rendered_inline", "mapped_inline"):
        assert "spec.spec.spec.value: the rendered spec carried a secret value" in result.log(task)
    assert h.secret_sha256("db_pw") is not None, "the value_from secret was written"
    assert not _exists(h, "secret", "rendered_pw", **where), "refused before any request"


def test_inline_secret_value_fails_dag_parsing(tmp_path: Path, airflow_db: Path) -> None:
    """A literal value in a spec never gets as far as a serialized DAG: the file does not import, with
    an error naming the field and the fix."""
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow >= 3.1
    except ImportError:
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    dag_file = tmp_path / "inline_secret_dag.py"
    dag_file.write_text(
        textwrap.dedent(
            """
            from datetime import datetime

            from airflow.sdk import DAG

            from airflow_provider_harness.operators.resources import HarnessApplySecretOperator

            with DAG("inline_secret", schedule=None, start_date=datetime(2025, 1, 1)):
                HarnessApplySecretOperator(
                    task_id="pw",
                    spec={"secret": {"identifier": "pw", "name": "PW", "type": "SecretText",
                                     "spec": {"value": "not-a-good-idea"}}},
                )
            """
        )
    )
    bag = DagBag(dag_folder=str(dag_file))
    assert "inline_secret" not in bag.dags
    (error,) = bag.import_errors.values()
    assert "spec.secret.spec.value: a secret value must not be written in a spec" in error
    assert "value_from" in error and "{'variable': 'name'}" in error
