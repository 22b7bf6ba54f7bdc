"""The request budget per API key: token bucket arithmetic, one bucket per key and process, calls wait."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

from airflow_provider_harness.client import budget
from airflow_provider_harness.client.budget import TokenBucket, bucket_for
from airflow_provider_harness.client.call import ApiCall
from airflow_provider_harness.client.config import HarnessConfig, Secret
from airflow_provider_harness.client.transport import AsyncHarnessClient, RetryPolicy

KEY = "pat.acc1.tok.budgetsecret"


def test_the_bucket_gives_the_burst_then_spaces_requests_at_the_rate() -> None:
    bucket = TokenBucket(per_minute=120, burst=3, now=0.0)  # 2 a second
    assert [bucket.reserve(0.0) for _ in range(5)] == [0.0, 0.0, 0.0, 0.5, 1.0]
    assert bucket.waited == 2
    assert bucket.reserve(1.0) == pytest.approx(0.5)  # slots at 0.5 and 1.0 are taken: the next is 1.5
    assert bucket.reserve(100.0) == 0.0  # refilled, never above the burst
    assert bucket.tokens == pytest.approx(2.0)


def test_the_bucket_is_fair_across_threads() -> None:
    bucket = TokenBucket(per_minute=60, burst=1, now=0.0)
    delays: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        delay = bucket.reserve(0.0)
        with lock:
            delays.append(delay)

    threads = [threading.Thread(target=take) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(delays) == [float(n) for n in range(20)]  # every reservation a distinct slot


def test_one_bucket_per_key_and_harness_keyed_by_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(budget, "_BUCKETS", {})
    digest = HarnessConfig(account_id="acc1", api_key=Secret(KEY)).key_digest
    other = HarnessConfig(account_id="acc1", api_key=Secret("pat.acc1.tok.other")).key_digest
    first = bucket_for("https://h", digest, 450)
    assert bucket_for("https://h", digest, 450) is first
    assert bucket_for("https://h", other, 450) is not first
    assert bucket_for("https://other", digest, 450) is not first
    assert all(KEY not in repr(k) and "budgetsecret" not in repr(k) for k in budget._BUCKETS)
    with pytest.raises(ValueError, match="requests_per_minute"):
        TokenBucket(per_minute=0)
    with pytest.raises(ValueError, match="requests_per_minute"):
        HarnessConfig(account_id="acc1", api_key=Secret(KEY), requests_per_minute=-1)


def test_async_calls_wait_for_the_budget_instead_of_meeting_a_429(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(budget, "_BUCKETS", {})
    config = HarnessConfig(
        account_id="acc1", api_key=Secret(KEY), base_url="https://harness.test", requests_per_minute=600
    )  # 10 a second, a burst of 50
    sent: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(asyncio.get_event_loop().time())
        return httpx.Response(200, json={"status": "SUCCESS", "data": {"ok": True}})

    async def main() -> list[object]:
        client = AsyncHarnessClient(config, RetryPolicy(max_retries=0), transport=httpx.MockTransport(answer))
        try:
            calls = [client.send(ApiCall("GET", "/ng/api/health")) for _ in range(53)]
            return await asyncio.gather(*calls)
        finally:
            await client.aclose()

    results = asyncio.run(main())
    assert len(results) == 53 and all(r == {"ok": True} for r in results)
    bucket = bucket_for("https://harness.test", config.key_digest, 600)
    assert bucket.waited == 3
    assert max(sent) - min(sent) >= 0.25  # the last three were spaced at the rate, not sent at once


def test_no_budget_when_the_connection_turns_it_off() -> None:
    config = HarnessConfig(account_id="acc1", api_key=Secret(KEY), requests_per_minute=None)
    assert AsyncHarnessClient(config).budget is None
