"""Fire a Harness custom webhook trigger from Airflow and wait for the pipeline execution it starts.

What it shows:

* ``read_trigger`` reads the trigger with ``HarnessGetResourceOperator(kind="trigger")``: its XCom holds
  the webhook URL with the token replaced by ``***`` (``webhook_url``) and the URL's non-secret parts
  (``webhook``). The token itself is masked in the task log and never reaches XCom.
* ``fire`` posts a JSON payload (rendered from the run's params) and a header to the trigger's webhook
  URL, which it reads itself on the worker. It waits until Harness has processed the event, then waits
  for the execution the trigger started in the triggerer - exactly like ``HarnessRunPipelineOperator``:
  same log lines, the "Harness execution" button, abort when the task is killed. If the trigger's
  conditions do not match the payload, the task fails with Harness's outcome
  (``NO_MATCHING_TRIGGER_FOR_PAYLOAD_CONDITIONS`` ...) and message. An Airflow retry follows the event or
  execution the earlier try started instead of posting again; a clear posts again.

Needs a ``harness`` connection named ``harness_default`` (URL, API key, account id; org and project as
defaults) and a custom webhook trigger on the pipeline. The DAG file itself parses without a connection
and without network.

Try it against the emulator (no Harness account), with this file in your DAGs folder::

    python -m airflow_provider_harness.emulator --time-scale 0.01 &
    python - <<'EOF'
    import runpy
    from airflow_provider_harness.emulator.server import EmulatorHandle
    example = runpy.run_path("harness_fire_webhook.py")
    harness = EmulatorHandle("http://127.0.0.1:8181", "emulatoraccount", "pat.emulatoraccount.emulator.token")
    harness.create_pipeline(example["DEMO_PIPELINE"])
    harness.request("POST", "/pipeline/api/triggers", params={"targetIdentifier": "release_pipeline"},
                    body=example["DEMO_TRIGGER"])
    EOF
    export AIRFLOW_CONN_HARNESS_DEFAULT='{"conn_type": "harness", "host": "http://127.0.0.1:8181",
      "password": "pat.emulatoraccount.emulator.token", "extra": {"account_id": "emulatoraccount",
      "org_id": "default", "project_id": "emulator_project"}}'
    airflow dags test harness_fire_webhook

(``tests/e2e/test_webhooks_e2e.py`` runs exactly this DAG that way, creating both from the constants.)
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG, Param

from airflow_provider_harness.operators.resources import HarnessGetResourceOperator
from airflow_provider_harness.operators.webhooks import HarnessWebhookTriggerOperator

#: Seconds between status checks (a few per minute stays far below Harness's 1000 requests/min per key).
POLL_SECONDS = float(os.environ.get("HARNESS_EXAMPLE_POLL_SECONDS", "30"))

#: A pipeline and a custom webhook trigger to try the DAG with (the emulator, or a sandbox project).
DEMO_PIPELINE = """\
pipeline:
  name: Release pipeline
  identifier: release_pipeline
  projectIdentifier: emulator_project
  orgIdentifier: default
  variables:
    - name: image_tag
      type: String
      value: <+input>
  stages:
    - stage:
        name: Release
        identifier: release
        type: Custom
        spec:
          execution:
            steps:
              - step:
                  name: Announce
                  identifier: announce
                  type: ShellScript
                  spec:
                    source:
                      type: Inline
                      spec:
                        script: "echo releasing <+pipeline.variables.image_tag>"
"""
DEMO_TRIGGER = """\
trigger:
  name: On release
  identifier: on_release
  enabled: true
  orgIdentifier: default
  projectIdentifier: emulator_project
  pipelineIdentifier: release_pipeline
  source:
    type: Webhook
    spec:
      type: Custom
      spec:
        payloadConditions:
          - key: <+trigger.payload.action>
            operator: Equals
            value: release
        headerConditions:
          - key: X-Release-Channel
            operator: Equals
            value: stable
  inputYaml: |
    pipeline:
      identifier: release_pipeline
      variables:
        - name: image_tag
          type: String
          value: <+trigger.payload.image_tag>
"""

with DAG(
    dag_id="harness_fire_webhook",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["harness", "example"],
    params={
        "pipeline_id": Param("release_pipeline", type="string"),
        "trigger_id": Param("on_release", type="string"),
        "image_tag": Param("1.0.0", type="string"),
        "channel": Param("stable", type="string"),
    },
) as dag:
    read_trigger = HarnessGetResourceOperator(
        task_id="read_trigger",
        kind="trigger",
        identifier="{{ params.trigger_id }}",
        pipeline_id="{{ params.pipeline_id }}",
    )

    fire = HarnessWebhookTriggerOperator(
        task_id="fire",
        trigger_id="{{ params.trigger_id }}",
        pipeline_id="{{ params.pipeline_id }}",
        payload={"action": "release", "image_tag": "{{ params.image_tag }}", "requested_by": "{{ run_id }}"},
        headers={"X-Release-Channel": "{{ params.channel }}"},
        notes="Released by Airflow run {{ run_id }}",
        deferrable=True,
        poll_interval=POLL_SECONDS,
        event_timeout=timedelta(minutes=10),
        timeout=timedelta(hours=1),
        retries=1,
        retry_delay=timedelta(seconds=5),
    )

    read_trigger >> fire
