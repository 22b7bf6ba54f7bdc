"""React to Harness: run whenever Harness reports that the pipeline ``deploy_service`` succeeded.

Harness posts pipeline notifications to Airflow's API server (docs/events.md). In Harness, add a
notification rule to ``deploy_service`` with the method **Webhook**, the URL
``https://<your-airflow>/harness-events/v1/notifications``, the event **Pipeline Success**, and the
header ``X-Harness-Webhook-Token: <+secrets.getValue("airflow_webhook_token")>``. In Airflow, create the
connection ``harness_events`` whose password is that token.

Each notification becomes an asset event on ``harness://<account>/<org>/<project>/deploy_service``; this
DAG is scheduled on that asset, so it runs once per notification (or once for several that arrive close
together: every one of them is in ``triggering_asset_events``). The event's extra is the payload
(``eventType``, ``planExecutionId``, ``executionUrl``, ``startTs``/``endTs``, ``source``...).
``successful_deploys`` keeps the ``PipelineSuccess`` ones and skips the rest of the run when there are
none (e.g. the rule also sends other events).

Needs no connection to parse; set ``HARNESS_ACCOUNT_ID`` / ``HARNESS_ORG_ID`` / ``HARNESS_PROJECT_ID``
(the variables Harness's own tools use) where the dag-processor runs, or edit the constants.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Asset, task

from airflow_provider_harness.assets import harness_asset_uri

ACCOUNT_ID = os.environ.get("HARNESS_ACCOUNT_ID", "your_account_id")
ORG_ID = os.environ.get("HARNESS_ORG_ID", "default")
PROJECT_ID = os.environ.get("HARNESS_PROJECT_ID", "your_project")
PIPELINE_ID = "deploy_service"

#: harness://<account>/<org>/<project>/deploy_service (validated: a typo fails at parse time).
DEPLOYS = Asset(harness_asset_uri(ACCOUNT_ID, ORG_ID, PROJECT_ID, PIPELINE_ID))

with DAG(
    dag_id="harness_on_deploy_event",
    schedule=[DEPLOYS],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["harness", "example", "events"],
) as dag:

    @task.short_circuit
    def successful_deploys(*, triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """The payloads of the ``PipelineSuccess`` events this run was started for (empty: skip)."""
        payloads = [event.extra for event in triggering_asset_events[DEPLOYS]]
        return [p for p in payloads if p.get("eventType") == "PipelineSuccess"]

    @task
    def announce(deploys: list[dict[str, Any]]) -> list[str]:
        for deploy in deploys:
            print(
                f"{deploy['pipelineIdentifier']} deployed: execution {deploy['planExecutionId']} "
                f"({deploy['executionUrl']}), via {deploy['source']}"
            )
        return [deploy["planExecutionId"] for deploy in deploys]

    announce(successful_deploys())
