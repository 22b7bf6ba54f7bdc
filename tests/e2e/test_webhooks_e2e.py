"""Firing custom webhook triggers in a real Airflow 3 (``dag.test()``), against the emulator.

Tasks and the real ``HarnessExecutionTrigger`` run in this process (trigger kwargs go through serialize ->
re-instantiate). "One post" is counted by the emulator; the retry scenario checks both ways a retry finds
what the earlier try started: the task state store (Airflow 3.3+) and the trigger search (3.0-3.2).
"""

from __future__ import annotations

import json
import runpy
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "example_dags" / "harness_fire_webhook.py"
AIRFLOW_VERSION = tuple(int(part) for part in version("apache-airflow-core").split(".")[:2])


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The example DAG file's globals (``dag``, ``DEMO_PIPELINE``, ``DEMO_TRIGGER``), polling fast."""
    monkeypatch.setenv("HARNESS_EXAMPLE_POLL_SECONDS", "0.05")
    return runpy.run_path(str(EXAMPLE), run_name="example_harness_fire_webhook")


@pytest.fixture
def harness(harness_emulator: Any, example: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    """``harness_default`` -> this test's emulator (no transport retries), with the example's pipeline
    and custom webhook trigger created."""
    conn = harness_emulator.connection_dict()
    conn["extra"]["max_retries"] = 0
    monkeypatch.setenv("AIRFLOW_CONN_HARNESS_DEFAULT", json.dumps(conn))
    harness_emulator.create_pipeline(example["DEMO_PIPELINE"])
    status, body = harness_emulator.request(
        "POST",
        "/pipeline/api/triggers",
        params={"targetIdentifier": "release_pipeline"},
        body=example["DEMO_TRIGGER"],
    )
    assert status == 200, body
    return harness_emulator


def token_of(harness: Any) -> str:
    status, body = harness.request(
        "GET", "/pipeline/api/triggers/on_release/details", params={"targetIdentifier": "release_pipeline"}
    )
    assert status == 200, body
    return str(body["data"]["webhookUrl"].split("/webhook/custom/", 1)[1].split("/v3", 1)[0])


def webhook_posts(harness: Any) -> int:
    return harness.request_count("/gateway/pipeline/api/webhook/custom", "POST")


@pytest.mark.harness_emulator(min_step_seconds=2.0)  # the step runs 2 s: the task surely sees it running
def test_example_fire_webhook_dag_with_dag_test(run_dag: Any, harness: Any, example: dict[str, Any]) -> None:
    token = token_of(harness)

    result = run_dag(example["dag"], run_conf={"image_tag": "2.5.1"})

    assert result.state == "success", result
    assert result.task_states == {"read_trigger": "success", "fire": "success"}
    read = result.xcom("read_trigger")
    assert read["trigger"]["identifier"] == "on_release"
    assert read["webhook_url"].startswith(f"{harness.base_url}/gateway/pipeline/api/webhook/custom/***/v3?")
    execution_id = result.xcom("fire")
    assert execution_id == result.xcom("fire", key="execution_id")
    assert result.xcom("fire", key="webhook_event_id")
    summary = harness.execution(execution_id)
    assert summary["status"] == "Success"
    assert summary["executionTriggerInfo"]["triggeredBy"]["identifier"] == "on_release"
    assert webhook_posts(harness) == 1 and harness.execution_count("release_pipeline") == 1
    fire_log = result.log("fire")
    assert "[DAG TEST] running trigger in line" in fire_log  # the wait really deferred
    assert f"Started Harness execution {execution_id} of pipeline release_pipeline (try 1)" in fire_log
    _, notes = harness.request("GET", f"/pipeline/api/pipelines/execution/{execution_id}/notes")
    assert notes["data"]["notes"].splitlines() == [
        f"Released by Airflow run {result.run_id}",
        f"airflow:harness_fire_webhook/{result.run_id}/fire/-1 try=1",
    ]
    assert token not in result.output, "the webhook token leaked into the task output"
    assert harness.api_key not in result.output


RETRY_DAG = """
from datetime import datetime, timedelta
from airflow.sdk import DAG
from airflow_provider_harness.operators.webhooks import HarnessWebhookTriggerOperator

with DAG("harness_e2e_webhook_retry", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    HarnessWebhookTriggerOperator(
        task_id="fire",
        trigger_id="on_release",
        pipeline_id="release_pipeline",
        payload={"action": "release", "image_tag": "3.0.0"},
        headers={"X-Release-Channel": "stable"},
        deferrable=True,
        poll_interval=0.05,
        retries=1,
        retry_delay=timedelta(seconds=1),
    )
"""


def test_dag_test_retry_after_the_post_follows_the_existing_event(
    run_dag: Any, harness: Any, tmp_path: Path
) -> None:
    """Try 1 posts, then loses Harness while reading the event (10 failed reads in a row spend the error
    budget); try 2 must follow what the post started instead of posting again."""
    harness.inject_fault(
        "error",
        status=503,
        count=10,
        path_prefix="/pipeline/api/webhook/triggerExecutionDetails/",
        method="GET",
    )
    path = tmp_path / "harness_e2e_webhook_retry.py"
    path.write_text(RETRY_DAG)
    dag = runpy.run_path(str(path), run_name="harness_e2e_webhook_retry")["dag"]

    result = run_dag(dag)

    assert result.state == "success", result
    assert result.try_numbers["fire"] == 2
    log = result.output  # both tries
    assert "Following webhook event" in log and "an Airflow retry follows this event" in log
    assert webhook_posts(harness) == 1, "the retry posted the webhook again"
    assert harness.execution_count("release_pipeline") == 1
    (execution,) = harness.executions("release_pipeline")
    assert execution["status"] == "Success"
    if AIRFLOW_VERSION >= (3, 3):  # the task state store remembers the event
        assert "following it instead of posting again" in log
    else:  # no store: the one execution the trigger started since the run began, without a marker
        assert "that trigger on_release started since" in log
