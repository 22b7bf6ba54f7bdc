"""A request budget per API key in each process: a token bucket that async calls wait on before sending.

Harness allows about 1,000 API requests a minute per key and answers 429 (no ``Retry-After``) past it
(harness-api.md §14). A triggerer following thousands of executions would meet that wall; with the budget
its calls wait for a token instead, so polls slow down evenly rather than fail. The bucket refills
``per_minute / 60`` tokens a second and holds at most ``burst``; a request takes one token, or reserves the
next one and waits for it (reservations are fair: first come, first served).

The budget is per process and per API key (``HarnessConfig.key_digest``, never the key). Several processes
sharing a key (triggerers, workers) each have their own: set the connection's ``requests_per_minute`` to
about ``900 / processes`` (see docs/connection.md).

>>> bucket = TokenBucket(per_minute=60, burst=2, now=0.0)
>>> [bucket.reserve(0.0) for _ in range(4)]
[0.0, 0.0, 1.0, 2.0]
>>> bucket.reserve(10.0)
0.0
"""

from __future__ import annotations

import asyncio
import threading
import time

#: The default budget of one process: under Harness's 1,000/min per key with a second process sharing it.
DEFAULT_REQUESTS_PER_MINUTE = 450.0


class TokenBucket:
    """``per_minute`` requests a minute on average, ``burst`` at once; thread-safe."""

    def __init__(self, per_minute: float, burst: int | None = None, *, now: float | None = None) -> None:
        if per_minute <= 0:
            raise ValueError(f"requests_per_minute: must be more than 0, got {per_minute!r}")
        self.rate = per_minute / 60.0
        self.capacity = float(burst if burst is not None else max(1, round(self.rate * 5)))
        self.tokens = self.capacity
        self.updated = time.monotonic() if now is None else now
        self.waited = 0  # requests that had to wait for a token (figures for benchmarks and logs)
        self._lock = threading.Lock()

    def reserve(self, now: float | None = None) -> float:
        """Take a token; the seconds to wait before sending (0 when one was there)."""
        with self._lock:
            now = time.monotonic() if now is None else now
            if now > self.updated:
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
            self.tokens -= 1.0
            if self.tokens >= 0:
                return 0.0
            self.waited += 1
            return -self.tokens / self.rate

    async def acquire(self) -> None:
        """Wait (asynchronously) until this request may be sent."""
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)


_BUCKETS: dict[tuple[str, str, float], TokenBucket] = {}
_BUCKETS_LOCK = threading.Lock()


def bucket_for(base_url: str, key_digest: str, per_minute: float) -> TokenBucket:
    """This process's bucket for one API key (by its digest, ``HarnessConfig.key_digest``) at one Harness
    (created on first use)."""
    key = (base_url, key_digest, float(per_minute))
    with _BUCKETS_LOCK:
        bucket = _BUCKETS.get(key)
        if bucket is None:
            bucket = _BUCKETS[key] = TokenBucket(per_minute)
        return bucket


__all__ = ["DEFAULT_REQUESTS_PER_MINUTE", "TokenBucket", "bucket_for"]
