"""Stand up an ephemeral IaCM workspace for a data job, run against it, and let it expire.

"Create an ephemeral workspace for tonight's backfill test, destroy it in 6 hours":

* ``iacm_pipelines`` keeps the IaCM pipelines in shape (an apply and a destroy pipeline whose IaCM stage
  takes the workspace as a runtime input);
* ``workspace`` creates the workspace from a template spec (identifier and bucket from the run's params);
  a second run reports ``unchanged``. Its secret variable is a Harness secret *reference*, shown as ``***``;
* ``apply`` runs the workspace's apply pipeline, waiting in the triggerer, and returns what it changed and
  the workspace's outputs (never a second run on an Airflow retry; aborted if the task is killed);
* ``backfill`` is the data job: it reads the ``bucket`` output from ``apply``'s XCom;
* ``expire`` gives the workspace a 6-hour time to live, deleting it after the destroy;
* ``wait_for_expiry`` waits (rescheduled, no worker slot held) until Harness has destroyed and deleted it.
  Against the emulator at a small ``time_scale`` the 6 hours pass in seconds.

Needs a ``harness`` connection named ``harness_default`` (URL, API key, account id; org and project as
defaults) and, in Harness, the workspace's provider and repository connectors. The DAG file parses without a
connection and without network.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_harness.operators.iacm import HarnessWorkspaceRunOperator, HarnessWorkspaceTTLOperator
from airflow_provider_harness.operators.resources import HarnessApplyResourceOperator

#: Seconds between status checks (a few per minute stays far below Harness's 1000 requests/min per key).
POLL_SECONDS = float(os.environ.get("HARNESS_EXAMPLE_POLL_SECONDS", "30"))


def iacm_pipeline(identifier: str, commands: list[str]) -> dict[str, Any]:
    """A pipeline with one IaCM stage running ``commands`` on the workspace given at run time."""
    steps = [
        {
            "step": {
                "type": "IACMOpenTofuPlugin",
                "name": command,
                "identifier": command,
                "timeout": "30m",
                "spec": {"command": command},
            }
        }
        for command in commands
    ]
    stage = {
        "name": "Provision",
        "identifier": "provision",
        "type": "IACM",
        "spec": {
            "workspace": "<+input>",
            "platform": {"os": "Linux", "arch": "Amd64"},
            "runtime": {"type": "Cloud", "spec": {}},
            "execution": {"steps": steps},
        },
    }
    return {"pipeline": {"name": identifier, "identifier": identifier, "stages": [{"stage": stage}]}}


WORKSPACE_SPEC = """\
workspace:
  identifier: "{{ params.workspace_id }}"
  name: "Backfill test {{ ds }}"
  provisioner: opentofu
  provisioner_version: "1.8.1"
  provider_connector: aws_sandbox
  repository: data-infra
  repository_branch: main
  repository_path: envs/backfill
  tags:
    team: data
    purpose: backfill
  terraform_variables:
    bucket:
      value: "{{ params.bucket }}"
      value_type: string
    db_password:
      value: account.backfill_db_password
      value_type: secret
  default_pipelines:
    apply: iacm_apply
    destroy: iacm_destroy
"""

with DAG(
    dag_id="harness_ephemeral_workspace",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["harness", "iacm", "example"],
    params={
        "workspace_id": Param("backfill_env", type="string"),
        "bucket": Param("backfill-test-bucket", type="string"),
        "ttl_hours": Param(6, type="integer", minimum=1),
    },
) as dag:
    iacm_pipelines = [
        HarnessApplyResourceOperator(task_id=f"pipeline_{name}", spec=iacm_pipeline(f"iacm_{name}", commands))
        for name, commands in (("apply", ["init", "plan", "apply"]), ("destroy", ["init", "destroy"]))
    ]

    workspace = HarnessApplyResourceOperator(task_id="workspace", spec=WORKSPACE_SPEC)

    apply = HarnessWorkspaceRunOperator(
        task_id="apply",
        workspace_id="{{ params.workspace_id }}",
        action="apply",
        deferrable=True,
        poll_interval=POLL_SECONDS,
        timeout=timedelta(hours=1),
        retries=1,
        retry_delay=timedelta(seconds=5),
    )

    @task
    def backfill(outcome: dict[str, Any]) -> dict[str, Any]:
        """The data job: runs against the infrastructure the workspace's outputs describe."""
        bucket = outcome["outputs"]["bucket"]
        print(f"Backfilling into s3://{bucket} (workspace status: {outcome['workspace_status']})")
        return {"bucket": bucket, "rows": 1000}

    expire = HarnessWorkspaceTTLOperator(
        task_id="expire",
        workspace_id="{{ params.workspace_id }}",
        pipeline_id="iacm_destroy",
        destroy_delay_value="{{ params.ttl_hours }}",
        destroy_delay_unit="hours",
        delete_workspace=True,
    )

    @task.sensor(poke_interval=POLL_SECONDS, timeout=timedelta(hours=8).total_seconds(), mode="reschedule")
    def wait_for_expiry(workspace_id: str) -> bool:
        """True once Harness has destroyed and deleted the workspace (its time to live ran out)."""
        from airflow_provider_harness.client import resources
        from airflow_provider_harness.hooks.harness import HarnessHook

        hook = HarnessHook()
        ref = resources.resource_ref(hook.config, "workspace", workspace_id)
        found = resources.get(hook.get_client(), ref)
        print(f"workspace {workspace_id}: {found.entity.get('status') if found else 'deleted'}")
        return found is None

    done = backfill(apply.output)
    iacm_pipelines >> workspace >> apply >> done >> expire >> wait_for_expiry("{{ params.workspace_id }}")
