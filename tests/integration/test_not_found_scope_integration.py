"""A wrong org or project must not read as a missing pipeline: against the emulator, the not-found error
names the account / organization / project the request used, and the fields to fix.

Harness answers a run of a pipeline it cannot find with HTTP 400 ``INVALID_REQUEST`` "Pipeline with the
given ID: ... does not exist or has been deleted" (harness-api.md §2.4); the provider raises
:class:`HarnessNotFoundError` for it, as docs/connection.md says.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_harness.client import executions, resources
from airflow_provider_harness.client.config import HarnessConfig, Secret
from airflow_provider_harness.client.errors import HarnessNotFoundError
from airflow_provider_harness.client.transport import HarnessClient, RetryPolicy

pytestmark = pytest.mark.integration

PIPELINE = """\
pipeline:
  name: Build
  identifier: build
  stages:
    - stage:
        name: S1
        identifier: s1
        type: Custom
        spec:
          execution:
            steps:
              - step: {type: Wait, name: W, identifier: w, spec: {duration: 1s}}
"""
FIX = (
    "if that is the wrong organization or project, check org_id/project_id on the task or the "
    "connection's defaults (extras org_id/project_id, or HARNESS_ORG_ID/HARNESS_PROJECT_ID)"
)


@pytest.fixture
def client(harness_emulator: Any) -> Iterator[HarnessClient]:
    h = harness_emulator
    config = HarnessConfig(
        account_id=h.account_id,
        api_key=Secret(h.api_key),
        base_url=h.base_url,
        org_id=h.org_id,
        project_id=h.project_id,
        max_retries=0,
    )
    with HarnessClient(config, RetryPolicy(max_retries=0)) as harness:
        yield harness


def test_run_in_a_project_that_does_not_exist_names_the_scope(
    harness_emulator: Any, client: HarnessClient
) -> None:
    harness_emulator.create_pipeline(PIPELINE)
    scope = client.config.scope_params("project", project_id="nope")
    with pytest.raises(HarnessNotFoundError) as info:
        client.send(executions.execute_call(scope, "build"))
    error = info.value
    text = str(error)
    assert (error.code, error.http_status) == ("INVALID_REQUEST", 400)
    assert "Pipeline with the given ID: build does not exist or has been deleted" in text
    assert (
        f"Harness looked in account '{harness_emulator.account_id}', organization 'default', "
        f"project 'nope'; {FIX}"
    ) in text, text
    assert error.scope == {"account": harness_emulator.account_id, "org": "default", "project": "nope"}
    assert harness_emulator.api_key not in text
    assert harness_emulator.execution_count("build") == 0


def test_run_of_a_missing_pipeline_in_the_right_project_is_not_found_too(
    harness_emulator: Any, client: HarnessClient
) -> None:
    scope = client.config.scope_params("project")
    with pytest.raises(HarnessNotFoundError) as info:
        client.send(executions.execute_call(scope, "nothing_here"))
    assert f"project '{harness_emulator.project_id}'" in str(info.value)


def test_get_in_a_wrong_org_names_the_org(harness_emulator: Any, client: HarnessClient) -> None:
    harness_emulator.create_pipeline(PIPELINE)
    ref = resources.resource_ref(client.config, "pipeline", "build", org_id="other", project_id="p")
    with pytest.raises(HarnessNotFoundError) as info:
        client.send(resources.get_call(ref.kind, ref.scope, "build"))
    assert "organization 'other', project 'p'" in str(info.value)
