"""Bootstrap a Harness project for a team, check it, and tear it down again.

Creates (or updates to match) an organization, a project, a Kubernetes connector, a text secret, a
service, an environment, an infrastructure definition and a pipeline - each task is idempotent, so
running the DAG twice logs ``unchanged`` for everything the second time. Then it lists what the project
holds, and deletes it all in reverse order (deleting something already gone succeeds).

The creates are Airflow setup tasks and each delete is the teardown of its create: a delete runs once
its create succeeded, even when a later step failed, so a failed run still removes the organization,
project, connector ... it made. A failed create still fails the run (teardowns do not decide the run's
state; the last regular task does).

Needs a ``harness_default`` connection (or ``HARNESS_ACCOUNT_ID`` / ``HARNESS_API_KEY``) at run time,
and the secret's value in the environment variable ``HARNESS_BOOTSTRAP_DB_PASSWORD`` on the worker
(swap ``value_from`` for ``{"variable": "..."}`` to read an Airflow Variable instead). Trigger it with
``{"org_id": "...", "project_id": "..."}`` to bootstrap another team. Parsing needs no connection and no
network.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, chain

from airflow_provider_harness.operators.resources import (
    HarnessApplyResourceOperator,
    HarnessApplySecretOperator,
    HarnessDeleteResourceOperator,
    HarnessListResourcesOperator,
)

ORG = "{{ params.org_id }}"
PROJECT = "{{ params.project_id }}"
#: Environment variable holding the demo secret's value on the worker.
SECRET_ENV = "HARNESS_BOOTSTRAP_DB_PASSWORD"

CONNECTOR = """
connector:
  name: Dev cluster
  identifier: dev_cluster
  description: Kubernetes cluster the dev delegate runs in
  type: K8sCluster
  spec:
    credential:
      type: InheritFromDelegate
    delegateSelectors:
      - dev-delegate
"""

SERVICE = """
service:
  name: Web
  identifier: web
  tags:
    team: "{{ params.project_id }}"
  serviceDefinition:
    type: Kubernetes
    spec:
      artifacts:
        primary:
          primaryArtifactRef: <+input>
          sources: []
"""

ENVIRONMENT = """
environment:
  name: Dev
  identifier: dev
  type: PreProduction
  tags:
    domain: data
"""

INFRASTRUCTURE = """
infrastructureDefinition:
  name: Dev cluster
  identifier: dev_k8s
  environmentRef: dev
  deploymentType: Kubernetes
  type: KubernetesDirect
  spec:
    connectorRef: dev_cluster
    namespace: "{{ params.project_id }}-dev"
    releaseName: release-<+INFRA_KEY>
  allowSimultaneousDeployments: false
"""

PIPELINE = """
pipeline:
  name: Hello
  identifier: hello
  tags: {}
  stages:
    - stage:
        name: Say hello
        identifier: say_hello
        type: Custom
        spec:
          execution:
            steps:
              - step:
                  type: ShellScript
                  name: Echo
                  identifier: echo
                  timeout: 1m
                  spec:
                    shell: Bash
                    onDelegate: true
                    source:
                      type: Inline
                      spec:
                        script: echo "hello from <+pipeline.name>"
"""

with DAG(
    dag_id="harness_bootstrap_project",
    description="Bootstrap a Harness project: org, project, connector, secret, service, env, infra, pipeline",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    params={"org_id": "platform_demo", "project_id": "team_demo"},
    default_args={"harness_conn_id": "harness_default"},
    tags=["harness", "example"],
) as dag:
    org = HarnessApplyResourceOperator(
        task_id="org",
        spec={"kind": "organization", "spec": {"identifier": ORG, "name": ORG, "description": "Demo"}},
    )
    project = HarnessApplyResourceOperator(
        task_id="project",
        spec={
            "kind": "project",
            "org_id": ORG,
            "spec": {"identifier": PROJECT, "name": PROJECT, "color": "#0063F7", "modules": ["CD", "CI"]},
        },
    )
    connector = HarnessApplyResourceOperator(
        task_id="connector", spec=CONNECTOR, org_id=ORG, project_id=PROJECT
    )
    secret = HarnessApplySecretOperator(
        task_id="secret",
        spec={
            "kind": "secret",
            "spec": {"identifier": "db_password", "name": "DB password", "type": "SecretText"},
        },
        value_from={"env": SECRET_ENV},
        org_id=ORG,
        project_id=PROJECT,
    )
    service = HarnessApplyResourceOperator(task_id="service", spec=SERVICE, org_id=ORG, project_id=PROJECT)
    environment = HarnessApplyResourceOperator(
        task_id="environment", spec=ENVIRONMENT, org_id=ORG, project_id=PROJECT
    )
    infrastructure = HarnessApplyResourceOperator(
        task_id="infrastructure", spec=INFRASTRUCTURE, org_id=ORG, project_id=PROJECT
    )
    pipeline = HarnessApplyResourceOperator(task_id="pipeline", spec=PIPELINE, org_id=ORG, project_id=PROJECT)
    inventory = HarnessListResourcesOperator(
        task_id="list_services", kind="service", identifiers_only=True, org_id=ORG, project_id=PROJECT
    )

    def delete(
        kind: str, identifier: str, environment_id: str | None = None
    ) -> HarnessDeleteResourceOperator:
        return HarnessDeleteResourceOperator(
            task_id=f"delete_{kind}",
            kind=kind,
            identifier=identifier,
            org_id=ORG,
            project_id=PROJECT,
            environment_id=environment_id,
        )

    delete_pipeline = delete("pipeline", "hello")
    delete_infrastructure = delete("infrastructure", "dev_k8s", environment_id="dev")
    delete_environment = delete("environment", "dev")
    delete_service = delete("service", "web")
    delete_secret = delete("secret", "db_password")
    delete_connector = delete("connector", "dev_cluster")
    delete_project = HarnessDeleteResourceOperator(
        task_id="delete_project", kind="project", identifier=PROJECT, org_id=ORG
    )
    delete_organization = HarnessDeleteResourceOperator(
        task_id="delete_organization", kind="organization", identifier=ORG
    )

    # Setup/teardown: each delete runs when its create succeeded, whatever failed in between (a plain
    # downstream task would end upstream_failed and leave the resource behind).
    for create, remove in [
        (org, delete_organization),
        (project, delete_project),
        (connector, delete_connector),
        (secret, delete_secret),
        (service, delete_service),
        (environment, delete_environment),
        (infrastructure, delete_infrastructure),
        (pipeline, delete_pipeline),
    ]:
        remove.as_teardown(setups=create)

    chain(org, project, [connector, secret], service, environment, infrastructure, pipeline, inventory)
    chain(
        inventory,
        delete_pipeline,
        delete_infrastructure,
        delete_environment,
        delete_service,
        [delete_secret, delete_connector],
        delete_project,
        delete_organization,
    )
