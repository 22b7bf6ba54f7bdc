"""Rate limiting as Harness's edge does it, and targeted fault injection."""

from __future__ import annotations

import time

import httpx
import pytest
from emulator_kit import Api

ORGS = "/ng/api/organizations"


@pytest.mark.harness_emulator(rate_limit=5)
def test_rate_limit_is_429_without_retry_after_and_per_key(api: Api) -> None:
    statuses = [api.get(ORGS).status_code for _ in range(7)]
    assert statuses == [200] * 5 + [429] * 2
    limited = api.get(ORGS)
    assert "retry-after" not in limited.headers
    assert limited.headers["content-type"].startswith("text/html")
    assert (
        "429 Too Many Requests" in limited.text and '"status"' not in limited.text
    )  # edge body, no envelope
    api.handle.admin(
        "POST", "api-keys", {"api_key": "pat.emulatoraccount.second.key", "account_id": "emulatoraccount"}
    )
    other = httpx.get(
        f"{api.handle.base_url}{ORGS}",
        params={"accountIdentifier": api.handle.account_id},
        headers={"x-api-key": "pat.emulatoraccount.second.key"},
    )
    assert other.status_code == 200
    assert httpx.get(f"{api.handle.base_url}/_emulator/health").status_code == 200  # admin is never limited


@pytest.mark.harness_emulator(rate_limit=3, rate_limit_window_seconds=2, rate_limit_retry_after=7)
def test_rate_limit_window_resets_and_optional_retry_after(api: Api) -> None:
    started = time.monotonic()  # the window starts with the first request, a moment later
    assert [api.get(ORGS).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert api.get(ORGS).headers["retry-after"] == "7"
    deadline = started + 60
    while (status := api.get(ORGS).status_code) == 429:  # limited until the window ends, then open
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert status == 200 and time.monotonic() - started >= 2


def test_rate_limit_off_by_default(api: Api) -> None:
    assert api.handle.settings()["rate_limit"] is None
    assert {api.get(ORGS).status_code for _ in range(30)} == {200}


def test_error_burst_for_next_n_requests_on_a_path(api: Api) -> None:
    api.handle.inject_fault("error", status=503, count=2, path_prefix="/ng/api/projects")
    untouched = api.get(ORGS)
    assert untouched.status_code == 200
    first, second, third = (api.get("/ng/api/projects") for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (503, 503, 200)
    assert first.json()["code"] == "UNKNOWN_ERROR"
    assert api.handle.admin("GET", "faults") == []


def test_html_proxy_page_and_method_targeting(api: Api) -> None:
    api.handle.inject_fault("html", status=502, count=1, method="POST")
    get = api.get(ORGS)
    post = api.post("/pipeline/api/pipelines/list", json={})
    assert get.status_code == 200
    assert post.status_code == 502
    assert post.headers["content-type"].startswith("text/html")
    assert "<title>502 Server Error</title>" in post.text


def test_429_storm_fault(api: Api) -> None:
    api.handle.inject_fault("rate_limit", count=3)
    statuses = [api.get(ORGS).status_code for _ in range(4)]
    assert statuses == [429, 429, 429, 200]


def test_latency_fault_delays_but_answers(api: Api) -> None:
    api.handle.inject_fault("latency", delay_ms=150, count=1)
    started = time.monotonic()
    response = api.get(ORGS)
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.15


def test_dropped_connection(api: Api) -> None:
    api.handle.inject_fault("drop", count=1, path_prefix="/gateway/ng")
    with pytest.raises(httpx.TransportError):
        httpx.get(
            f"{api.handle.base_url}/gateway/ng/api/organizations",
            params={"accountIdentifier": api.handle.account_id},
            headers={"x-api-key": api.handle.api_key},
        )
    assert api.get("/gateway/ng/api/organizations").status_code == 200


def test_skip_and_unlimited_faults_and_clearing(api: Api) -> None:
    fault_id = api.handle.inject_fault("error", status=500, count=None, skip=1, path_prefix="/ng")
    assert [api.get(ORGS).status_code for _ in range(3)] == [200, 500, 500]
    api.handle.admin("DELETE", f"faults/{fault_id}")
    assert api.get(ORGS).status_code == 200
    bad = httpx.post(f"{api.handle.base_url}/_emulator/faults", json={"kind": "explode"})
    assert bad.status_code == 400


def test_request_counters(api: Api) -> None:
    api.handle.clear_counters()
    for _ in range(3):
        api.get(ORGS)
    api.get("/gateway/ng/api/organizations/default")
    assert api.handle.request_count("/ng/api/organizations", "GET") == 3
    assert api.handle.request_count("/gateway/ng", "GET") == 1
    assert api.handle.request_count(method="POST") == 0
