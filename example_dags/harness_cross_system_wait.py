"""Wait for another team's Harness pipeline: continue once its latest execution since a time succeeded.

``wait_for_deploy`` pokes the execution list of ``deploy_service`` (one request per poke, in reschedule
mode so no worker slot is held) until the most recent execution that finished after the data interval's
end counts as success (``Success`` or ``IgnoreFailed``); ``report`` then receives that execution's id.
Set ``fail_on_failure=True`` to fail at once when that latest execution failed instead of waiting for a
newer one.

Needs the connection ``harness_default``; the file parses without a connection and without network.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG, Param, task

from airflow_provider_harness.sensors.executions import HarnessPipelineSucceededSensor

POLL_SECONDS = float(os.environ.get("HARNESS_EXAMPLE_POLL_SECONDS", "300"))

with DAG(
    dag_id="harness_cross_system_wait",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["harness", "example"],
    params={
        "pipeline_id": Param("deploy_service", type="string"),
        # Empty: the data interval's end (or, for a manual run, when the run was created).
        "after": Param("", type="string", description="ISO 8601 date-time; empty = data interval end"),
    },
) as dag:
    wait_for_deploy = HarnessPipelineSucceededSensor(
        task_id="wait_for_deploy",
        pipeline_id="{{ params.pipeline_id }}",
        after="{{ params.after or data_interval_end or dag_run.run_after }}",
        mode="reschedule",
        poke_interval=POLL_SECONDS,
        timeout=timedelta(hours=6),
    )

    @task
    def report(execution_id: str) -> str:
        print(f"deploy_service finished successfully in Harness execution {execution_id}")
        return execution_id

    report(wait_for_deploy.output)
