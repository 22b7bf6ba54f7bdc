"""apply / delete / get when the server has no such endpoint (older self-managed Harness, wrong URL).

Jersey answers a route it does not have with HTTP 400 FAILURE ``RESOURCE_NOT_FOUND_EXCEPTION`` "HTTP 404
Not Found" (harness-api.md §2.3); Harness's edge answers an unknown prefix with an HTML 404. Neither is a
missing resource: apply must not try a create, delete must not report "already gone".
"""

from __future__ import annotations

import httpx
import pytest
from test_resources_fakes import FakeApi, config, failure, not_found

from airflow_provider_harness.client import resources
from airflow_provider_harness.client.errors import HarnessEndpointNotFoundError, HarnessNotFoundError
from airflow_provider_harness.client.resources import apply, parse_spec

CFG = config(org_id="o", project_id="p")
ENV_PATH = "/ng/api/environmentsV2/dev"
ENV_SPEC = {"environment": {"identifier": "dev", "name": "Dev", "type": "PreProduction"}}
JERSEY_404 = failure("RESOURCE_NOT_FOUND_EXCEPTION", "HTTP 404 Not Found")
EDGE_404 = httpx.Response(
    404, text="<html><head><title>404 Not Found</title></head></html>", headers={"Content-Type": "text/html"}
)


@pytest.mark.parametrize("answer", [JERSEY_404, EDGE_404], ids=["jersey", "edge-html"])
def test_apply_on_an_unknown_endpoint_fails_without_creating(answer: httpx.Response) -> None:
    api = FakeApi().on("GET", ENV_PATH, answer)
    with pytest.raises(HarnessEndpointNotFoundError) as info:
        apply(api.client(org_id="o", project_id="p"), parse_spec(ENV_SPEC, CFG))
    assert not isinstance(info.value, HarnessNotFoundError)
    assert api.calls == [("GET", ENV_PATH)], "no create was tried"


def test_apply_error_names_method_and_endpoint() -> None:
    api = FakeApi().on("GET", ENV_PATH, JERSEY_404)
    with pytest.raises(HarnessEndpointNotFoundError) as info:
        apply(api.client(org_id="o", project_id="p"), parse_spec(ENV_SPEC, CFG))
    assert str(info.value).startswith(
        f"Harness has no endpoint GET {ENV_PATH} (HTTP 404 Not Found from Jersey) "
        "(RESOURCE_NOT_FOUND_EXCEPTION, HTTP 400, correlationId=c-2). The server may be an older "
        "self-managed Harness"
    )


@pytest.mark.parametrize("answer", [JERSEY_404, EDGE_404], ids=["jersey", "edge-html"])
def test_delete_on_an_unknown_endpoint_is_not_already_gone(answer: httpx.Response) -> None:
    api = FakeApi().on("DELETE", ENV_PATH, answer)
    ref = resources.resource_ref(CFG, "environment", "dev")
    with pytest.raises(HarnessEndpointNotFoundError, match=r"DELETE /ng/api/environmentsV2/dev"):
        resources.delete(api.client(org_id="o", project_id="p"), ref)
    assert api.calls == [("DELETE", ENV_PATH)]


def test_get_on_an_unknown_endpoint_raises_instead_of_none() -> None:
    api = FakeApi().on("GET", ENV_PATH, JERSEY_404)
    ref = resources.resource_ref(CFG, "environment", "dev")
    with pytest.raises(HarnessEndpointNotFoundError):
        resources.get(api.client(org_id="o", project_id="p"), ref)


def test_a_real_missing_resource_is_still_none_and_names_the_scope() -> None:
    message = "Environment with identifier [dev] in project [p], org [o] not found"
    api = FakeApi().on("GET", ENV_PATH, not_found(message))
    ref = resources.resource_ref(CFG, "environment", "dev")
    client = api.client(org_id="o", project_id="p")
    assert resources.get(client, ref) is None
    with pytest.raises(HarnessNotFoundError) as info:
        client.send(resources.get_call(ref.kind, ref.scope, "dev"))
    assert "Harness looked in account 'acc123', organization 'o', project 'p'" in str(info.value)
