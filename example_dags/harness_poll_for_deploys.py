"""React to Harness deployments without a webhook: Airflow polls Harness for finished executions.

``harness_after_deploy`` is scheduled on the asset ``harness://<account>/default/payments/deploy_service``.
Its watcher (``HarnessExecutionEventTrigger``, in the triggerer) makes ONE list call per poll for the
whole project and turns every execution of ``deploy_service`` that ended ``Success`` since the last poll
into an asset event; each asset event queues a run, and the run's ``triggering_asset_events`` carry the
payloads (the fields Harness puts in its notification webhooks: ``planExecutionId``, ``executionUrl``,
``endTs``, ... plus ``"source": "poll"``). The watermark survives triggerer restarts (see
docs/events.md).

``harness_wait_for_release`` shows the task-level counterpart: ``HarnessExecutionOutcomeSensor`` waits,
deferred, for the first execution of ``release`` that ends after the run started; it fails at once when
that execution failed or was aborted, and returns the same payload.

Needs the connection ``harness_default`` (its account must be the one in the asset URI); the file
parses without a connection and without network.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG, task

from airflow_provider_harness.sensors.events import HarnessExecutionOutcomeSensor
from airflow_provider_harness.triggers.events import harness_event_asset

ACCOUNT_ID = os.environ.get("HARNESS_ACCOUNT_ID", "YOUR_ACCOUNT_ID")
PROJECT_ID = os.environ.get("HARNESS_EXAMPLE_PROJECT_ID", "payments")
POLL_SECONDS = float(os.environ.get("HARNESS_EXAMPLE_POLL_SECONDS", "60"))

deploys = harness_event_asset(
    f"harness://{ACCOUNT_ID}/default/{PROJECT_ID}/deploy_service",
    statuses=["Success"],
    poll_interval=POLL_SECONDS,
)

with DAG(
    dag_id="harness_after_deploy",
    schedule=[deploys],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["harness", "example"],
) as dag:

    @task
    def smoke_test(**context: object) -> list[str]:
        """One line per deployment this run was triggered by; returns their execution ids."""
        events = context["triggering_asset_events"]
        execution_ids: list[str] = []
        for asset_events in events.values():  # type: ignore[attr-defined]
            for event in asset_events:
                payload = event.extra.get("payload") or {}
                execution_ids.append(str(payload.get("planExecutionId")))
                print(
                    f"{payload.get('pipelineIdentifier')} ended {payload.get('eventType')} "
                    f"(execution {payload.get('planExecutionId')}, via {payload.get('source')}): "
                    f"{payload.get('executionUrl')}"
                )
        return execution_ids

    smoke_test()


with DAG(
    dag_id="harness_wait_for_release",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["harness", "example"],
) as wait_dag:
    released = HarnessExecutionOutcomeSensor(
        task_id="released",
        project_id=PROJECT_ID,
        pipeline_id="release",
        after="{{ dag_run.run_after }}",
        statuses=["Success"],
        fail_statuses=["Failed", "Errored", "Aborted", "Expired", "ApprovalRejected"],
        deferrable=True,
        poke_interval=POLL_SECONDS,
        timeout=timedelta(hours=6),
    )

    @task
    def announce(payload: dict[str, object]) -> str:
        print(f"release finished: {payload['executionUrl']}")
        return str(payload["planExecutionId"])

    announce(released.output)  # type: ignore[arg-type]
