"""The bootstrap example DAG in a real Airflow (``dag.test()``) against the emulator: builds a whole
project (org, project, connector, secret, service, environment, infrastructure, pipeline), lists it,
and tears it all down again - with the secret's value nowhere in XCom or task output."""

from __future__ import annotations

import importlib.util
import json
import sys
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
