"""Run a Harness pipeline from Airflow, wait for it in the triggerer, and retry only its failed stages.

What it shows:

* ``deploy`` starts the pipeline ``deploy_service`` with runtime inputs rendered from the run's params,
  pushes the execution id and URL (button "Harness execution") before waiting, waits deferred, and
  aborts the Harness execution if the task is marked failed/success, cleared or times out.
  On an Airflow retry it reattaches to a still-running execution, or retries only the failed stages of
  the last one (``retry_strategy="failed_stages"``) - never a duplicate run.
* ``start_smoke_tests`` starts a second pipeline without waiting; ``wait_for_smoke_tests`` waits for it
  with a sensor in reschedule mode (the worker slot is free between pokes).

Needs a ``harness`` connection named ``harness_default`` (URL, API key, account id; org and project as
defaults). The DAG file itself parses without a connection and without network.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG, Param

from airflow_provider_harness.operators.executions import HarnessRunPipelineOperator
from airflow_provider_harness.sensors.executions import HarnessExecutionSensor

#: Seconds between status checks (a few per minute stays far below Harness's 1000 requests/min per key).
POLL_SECONDS = float(os.environ.get("HARNESS_EXAMPLE_POLL_SECONDS", "30"))

RUNTIME_INPUTS = """\
pipeline:
  identifier: {{ params.pipeline_id }}
  variables:
    - name: image_tag
      type: String
      value: "{{ params.image_tag }}"
"""

with DAG(
    dag_id="harness_run_pipeline",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["harness", "example"],
    params={
        "pipeline_id": Param("deploy_service", type="string"),
        "image_tag": Param("1.0.0", type="string"),
        "smoke_pipeline_id": Param("smoke_tests", type="string"),
    },
) as dag:
    deploy = HarnessRunPipelineOperator(
        task_id="deploy",
        pipeline_id="{{ params.pipeline_id }}",
        runtime_inputs=RUNTIME_INPUTS,
        notes="Deployed by Airflow run {{ run_id }}",
        deferrable=True,
        poll_interval=POLL_SECONDS,
        timeout=timedelta(hours=2),
        retries=1,
        retry_delay=timedelta(seconds=5),
        retry_strategy="failed_stages",
    )

    start_smoke_tests = HarnessRunPipelineOperator(
        task_id="start_smoke_tests",
        pipeline_id="{{ params.smoke_pipeline_id }}",
        wait_for_completion=False,
    )

    wait_for_smoke_tests = HarnessExecutionSensor(
        task_id="wait_for_smoke_tests",
        execution_id="{{ ti.xcom_pull(task_ids='start_smoke_tests', key='execution_id') }}",
        deferrable=False,
        mode="reschedule",
        poke_interval=POLL_SECONDS,
        timeout=timedelta(hours=1),
    )

    deploy >> start_smoke_tests >> wait_for_smoke_tests
