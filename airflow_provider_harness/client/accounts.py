"""Account-level checks: can this key reach the account and its default scope?

>>> from airflow_provider_harness.client.config import HarnessConfig, Secret
>>> access_check_call(HarnessConfig(account_id="a", api_key=Secret("k"), org_id="default")).path
'/ng/api/organizations/default'
"""

from __future__ import annotations

from typing import Any

from airflow_provider_harness.client.call import ApiCall
from airflow_provider_harness.client.config import HarnessConfig
from airflow_provider_harness.client.errors import HarnessNotFoundError
from airflow_provider_harness.client.identifiers import validate_identifier
from airflow_provider_harness.client.transport import HarnessClient


def access_check_call(config: HarnessConfig) -> ApiCall[Any]:
    """The cheapest read that proves the key works in the connection's default scope."""
    if config.project_id:
        org = config.org_id or "default"
        project = validate_identifier(config.project_id, field="project_id")
        return ApiCall(
            "GET",
            f"/ng/api/projects/{project}",
            params={"orgIdentifier": org},
            permission="core_project_view",
        )
    if config.org_id:
        org = validate_identifier(config.org_id, field="org_id")
        return ApiCall("GET", f"/ng/api/organizations/{org}", permission="core_organization_view")
    return ApiCall(
        "GET",
        "/ng/api/organizations",
        params={"pageIndex": 0, "pageSize": 1},
        permission="core_organization_view",
    )


def check_access(client: HarnessClient) -> str:
    """Run :func:`access_check_call` and describe what was reached; raises ``HarnessError`` otherwise.

    A missing default org / project gets a hint naming the connection field to fix.
    """
    config = client.config
    try:
        client.send(access_check_call(config))
    except HarnessNotFoundError as exc:
        if not exc.code or not (config.org_id or config.project_id):
            raise  # no such endpoint (wrong URL): the error's own hint says so
        if config.project_id:
            what = f"default project {config.org_id or 'default'}/{config.project_id}"
            fields = "'org_id'/'project_id' (or HARNESS_ORG_ID/HARNESS_PROJECT_ID)"
        else:
            what = f"default organization {config.org_id!r}"
            fields = "'org_id' (or HARNESS_ORG_ID)"
        exc.hint = (
            f"The connection's {what} does not exist in account {config.account_id!r} or the API key "
            f"cannot see it; fix the connection extra {fields}"
        )
        raise
    if config.project_id:
        return f"project {config.org_id or 'default'}/{config.project_id} is reachable"
    if config.org_id:
        return f"organization {config.org_id} is reachable"
    return "the account's organizations are readable"
