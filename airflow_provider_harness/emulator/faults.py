"""Fault injection and Harness-style rate limiting (``harness-api.md`` §14).

A fault matches the next requests (optionally only one method / a path prefix) and answers instead of
the emulator: ``error`` (Harness UNKNOWN_ERROR body with any 5xx), ``html`` (a proxy's HTML error page),
``rate_limit`` (the edge's 429, no ``Retry-After``), ``latency`` (delay, then answer normally) or ``drop``
(close the connection without answering).

>>> faults = FaultInjector()
>>> f = faults.add({"kind": "error", "status": 503, "count": 2, "path_prefix": "/pipeline"})
>>> [faults.take("GET", "/pipeline/api/x") is not None for _ in range(3)]
[True, True, False]
>>> limiter = RateLimiter()
>>> [limiter.allow("key", limit=2, window=60.0, now=0.0) for _ in range(3)]
[True, True, False]
"""

from __future__ import annotations

import random
import uuid
from dataclasses import asdict, dataclass, field
from http import HTTPStatus
from typing import Any, Final

FAULT_KINDS: Final = ("error", "html", "rate_limit", "latency", "drop")

#: What Google's edge (Cloud Armor / GFE) answers when a rate limit rule denies a request.
EDGE_429_BODY: Final = (
    '<!doctype html><meta charset="utf-8"><meta name=viewport content="width=device-width, initial-scale=1">'
    "<title>429</title>429 Too Many Requests"
)

#: The Google front end's 502 page (what a client sees when Harness's backend is unreachable).
GFE_502_BODY: Final = (
    '<html><head>\n<meta http-equiv="content-type" content="text/html;charset=utf-8">\n'
    "<title>502 Server Error</title>\n</head>\n<body text=#000000 bgcolor=#ffffff>\n"
    "<h1>Error: Server Error</h1>\n<h2>The server encountered a temporary error and could not complete "
    "your request.<p>Please try again in 30 seconds.</h2>\n<h2></h2>\n</body></html>\n"
)


def html_error_page(status: int) -> str:
    """A proxy-style HTML error page for ``status``."""
    if status == 502:
        return GFE_502_BODY
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    return (
        f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )


@dataclass
class Fault:
    """One injected fault; ``count`` is how many more requests it hits (``None`` = until cleared)."""

    kind: str
    status: int | None = None
    count: int | None = 1
    skip: int = 0
    path_prefix: str | None = None
    method: str | None = None
    delay_ms: int = 0
    probability: float = 1.0
    body: str | None = None
    content_type: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        """Whether a request is in this fault's target set (ignores count/skip)."""
        if self.method and self.method.upper() != method:
            return False
        if self.path_prefix:
            stripped = path[len("/gateway") :] if path.startswith("/gateway/") else path
            if not (path.startswith(self.path_prefix) or stripped.startswith(self.path_prefix)):
                return False
        return True

    def to_json(self) -> dict[str, Any]:
        """JSON view."""
        return asdict(self)


class FaultInjector:
    """The active faults, consulted once per non-admin request."""

    def __init__(self, seed: int | None = None) -> None:
        self.faults: list[Fault] = []
        self._rng = random.Random(seed)

    def add(self, spec: dict[str, Any]) -> Fault:
        """Validate and add a fault from its JSON description; raise ``ValueError`` on a bad one."""
        spec = dict(spec)
        kind = spec.pop("kind", spec.pop("type", None))
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {list(FAULT_KINDS)}, got {kind!r}")
        known = set(Fault.__dataclass_fields__) - {"kind", "id", "hits"}
        unknown = set(spec) - known
        if unknown:
            raise ValueError(f"unknown fault fields {sorted(unknown)}; known: {sorted(known)}")
        fault = Fault(kind=kind, **spec)
        if fault.status is None:
            fault.status = {"error": 500, "html": 502, "rate_limit": 429}.get(kind)
        if fault.count is not None and int(fault.count) < 1:
            raise ValueError("fault count must be at least 1 (or null for unlimited)")
        if kind == "latency" and fault.delay_ms <= 0:
            raise ValueError("a latency fault needs delay_ms > 0")
        if not 0.0 < float(fault.probability) <= 1.0:
            raise ValueError("fault probability must be in (0, 1]")
        if fault.method:
            fault.method = fault.method.upper()
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        """Remove every fault."""
        self.faults.clear()

    def remove(self, fault_id: str) -> bool:
        """Remove one fault by id."""
        before = len(self.faults)
        self.faults = [f for f in self.faults if f.id != fault_id]
        return len(self.faults) != before

    def take(self, method: str, path: str) -> Fault | None:
        """The fault that hits this request, consuming one of its count; ``None`` when none does."""
        for fault in self.faults:
            if not fault.matches(method, path):
                continue
            if fault.skip > 0:
                fault.skip -= 1
                continue
            if fault.probability < 1.0 and self._rng.random() >= fault.probability:
                continue
            fault.hits += 1
            if fault.count is not None:
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
            return fault
        return None


class RateLimiter:
    """Fixed-window request counter per API key (what Cloud Armor's rate-based rules do)."""

    def __init__(self) -> None:
        self._windows: dict[str, tuple[float, int]] = {}

    def allow(self, key: str, *, limit: int, window: float, now: float) -> bool:
        """Count one request for ``key``; ``False`` when it is over ``limit`` in the current window."""
        start, count = self._windows.get(key, (now, 0))
        if now - start >= window:
            start, count = now, 0
        count += 1
        self._windows[key] = (start, count)
        return count <= limit

    def reset(self) -> None:
        """Forget all windows."""
        self._windows.clear()
