"""Send :class:`~.call.ApiCall` values to Harness over httpx, sync or async, with one retry policy.

The request is built once (:func:`build_request`), answers are decoded once (:func:`decode`), and the
retry decision is one function (:meth:`RetryPolicy.should_retry`); the sync and async clients differ
only in how they wait and send. Async clients share one ``httpx.AsyncClient`` per event loop and
network settings, so a triggerer following thousands of executions keeps one connection pool.

>>> from airflow_provider_harness.client.config import HarnessConfig, Secret
>>> client = HarnessClient(HarnessConfig(account_id="acc", api_key=Secret("pat.acc.t.s")))
>>> client.config.base_url
'https://app.harness.io'
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import weakref
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from airflow_provider_harness import __version__
from airflow_provider_harness.client.call import ApiCall
from airflow_provider_harness.client.config import HarnessConfig
from airflow_provider_harness.client.errors import (
    HarnessError,
    HarnessRateLimitError,
    HarnessServerError,
    HarnessTransportError,
    error_from_response,
    redact,
)

T = TypeVar("T")

USER_AGENT = f"airflow-provider-harness/{__version__}"

#: httpx errors raised before any byte of the request reached the server.
_NOT_SENT_ERRORS: tuple[type[Exception], ...] = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter for 429, 5xx and network errors.

    >>> policy = RetryPolicy(max_retries=3, base_delay=1.0, max_delay=4.0)
    >>> 0.5 <= policy.delay(0) <= 1.0 and 2.0 <= policy.delay(5) <= 4.0
    True
    """

    max_retries: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0

    @classmethod
    def from_config(cls, config: HarnessConfig) -> RetryPolicy:
        return cls(config.max_retries, config.retry_base_delay, config.retry_max_delay)

    def delay(self, retry_index: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry_index`` (0-based); honours ``Retry-After``."""
        ceiling = min(self.max_delay, self.base_delay * (2**retry_index))
        wait = random.uniform(ceiling / 2, ceiling)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_delay))
        return wait

    def should_retry(self, call: ApiCall[Any], error: HarnessError, retries_done: int) -> bool:
        """Whether ``error`` on ``call`` is worth another attempt.

        A call that starts something (``repeatable=False``) is only sent again when Harness surely did
        not act on it: a 429 from Harness's edge, or a connection that never opened.
        """
        if retries_done >= self.max_retries:
            return False
        if isinstance(error, HarnessRateLimitError):
            return True
        if isinstance(error, HarnessTransportError):
            return call.repeatable or not error.request_sent
        if isinstance(error, HarnessServerError):
            return call.repeatable
        return False


def _query_params(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Flatten params: lists become repeated keys (``retryStages=a&retryStages=b``), None is dropped."""
    flat: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None:
            continue
        values = value if isinstance(value, list | tuple) else [value]
        for item in values:
            flat.append((key, str(item).lower() if isinstance(item, bool) else str(item)))
    return flat


def build_request(config: HarnessConfig, call: ApiCall[Any]) -> httpx.Request:
    """Build the httpx request for ``call``: URL, account placement, auth and body."""
    base = config.base_url
    path = call.path
    if base.endswith("/gateway") and path.startswith("/gateway/"):
        path = path[len("/gateway") :]
    params = dict(call.params)
    headers = {
        "x-api-key": config.api_key.reveal(),
        "User-Agent": USER_AGENT,
        "Accept": "text/plain, */*" if call.response == "text" else "application/json",
        **config.extra_headers,
        **call.headers,
    }
    if call.account == "query":
        params.setdefault("accountIdentifier", config.account_id)
    elif call.account == "log":
        params.setdefault("accountID", config.account_id)
    elif call.account == "header":
        headers["Harness-Account"] = config.account_id
    content: bytes | None = None
    if call.content is not None:
        content = call.content.encode()
        headers["Content-Type"] = call.content_type or "application/yaml"
    elif call.json is not None:
        content = json.dumps(call.json).encode()
        headers["Content-Type"] = "application/json"
    return httpx.Request(call.method, base + path, params=_query_params(params), headers=headers, content=content)


def _display_path(call: ApiCall[Any]) -> str:
    return redact(call.path, call.secrets)


def decode(config: HarnessConfig, call: ApiCall[Any], response: httpx.Response) -> Any:
    """Decode a response or raise the matching :class:`HarnessError`; returns the call's result."""
    text = response.text
    path = _display_path(call)
    if response.status_code >= 300:
        raise error_from_response(
            response.status_code,
            redact(text, call.secrets),
            method=call.method,
            path=path,
            permission=call.permission,
            account_id=config.account_id,
        )
    if call.response == "text":
        return call.result(text)
    if not text.strip():
        return call.result(None)
    try:
        body = json.loads(text)
    except ValueError:
        raise error_from_response(
            502, redact(text, call.secrets), method=call.method, path=path, account_id=config.account_id
        ) from None
    if call.response == "json":
        return call.result(body)
    if not isinstance(body, Mapping) or body.get("status") not in ("SUCCESS", "FAILURE", "ERROR"):
        raise HarnessServerError(
            "Harness answered without its usual response envelope",
            http_status=response.status_code,
            method=call.method,
            path=path,
        )
    if body["status"] != "SUCCESS":
        raise error_from_response(
            400,
            redact(text, call.secrets),
            method=call.method,
            path=path,
            permission=call.permission,
            account_id=config.account_id,
            envelope_status=body["status"],
        )
    return call.result(body.get("data"))


def _transport_error(call: ApiCall[Any], exc: httpx.HTTPError) -> HarnessTransportError:
    kind = type(exc).__name__
    detail = redact(str(exc), call.secrets) or kind
    error = HarnessTransportError(
        f"Could not reach Harness ({kind}: {detail})", method=call.method, path=_display_path(call)
    )
    error.request_sent = not isinstance(exc, _NOT_SENT_ERRORS)
    return error


def _retry_after(response: httpx.Response | None) -> float | None:
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value else None
    except ValueError:
        return None


class _Attempts:
    """Retry bookkeeping for one call, shared by the sync and async send loops."""

    def __init__(self, policy: RetryPolicy, call: ApiCall[Any]) -> None:
        self.policy = policy
        self.call = call
        self.retries = 0

    def after_failure(self, exc: Exception, response: httpx.Response | None) -> float:
        """Return the delay before the next attempt, or raise the final error (one line, no traceback)."""
        error = _transport_error(self.call, exc) if isinstance(exc, httpx.HTTPError) else exc
        assert isinstance(error, HarnessError)
        if not self.policy.should_retry(self.call, error, self.retries):
            raise self._final(error) from None
        delay = self.policy.delay(self.retries, _retry_after(response))
        self.retries += 1
        return delay

    def _final(self, error: HarnessError) -> HarnessError:
        error.attempts = self.retries + 1
        if isinstance(error, HarnessServerError | HarnessTransportError) and not self.call.repeatable:
            maybe_applied = error.request_sent if isinstance(error, HarnessTransportError) else True
            if isinstance(error, HarnessServerError):
                error.maybe_applied = maybe_applied
            if maybe_applied:
                note = "The request may have reached Harness and taken effect; it was not sent again"
                error.hint = f"{error.hint}. {note}" if error.hint else note
        return error


class Pager:
    """Walks the pages of a list call; holds one page at a time.

    >>> from airflow_provider_harness.client.call import NG_PAGE
    >>> pager = Pager(ApiCall("GET", "/ng/api/projects", page=NG_PAGE), page_size=2)
    >>> pager.next_call().params
    {'pageIndex': 0, 'pageSize': 2}
    >>> pager.take({"content": [1, 2], "totalPages": 1}, {})
    [1, 2]
    >>> pager.next_call() is None
    True
    """

    def __init__(self, call: ApiCall[Any], page_size: int = 100, limit: int | None = None) -> None:
        if call.page is None:
            raise TypeError(f"{call.method} {call.path} is not a paged call")
        self.call = call
        self.shape = call.page
        self.page_size = page_size
        self.limit = limit
        self.index = call.page.first_index
        self.seen = 0
        self.done = False
        self._current: ApiCall[Any] | None = None

    def next_call(self) -> ApiCall[Any] | None:
        """The call for the next page, or None when the list is exhausted."""
        if self.done or (self.limit is not None and self.seen >= self.limit):
            return None
        self._current = self.call.with_page(self.index, self.page_size)
        return self._current

    def take(self, data: Any, headers: Mapping[str, str]) -> list[Any]:
        """Record a decoded page and return its items (cut at ``limit``)."""
        assert self._current is not None
        items = self.shape.items(data)
        size = self._current.params[self.shape.size_param]
        if not self.shape.has_more(data, headers, self.index, size, len(items)):
            self.done = True
        self.index += 1
        if self.limit is not None:
            items = items[: max(0, self.limit - self.seen)]
        self.seen += len(items)
        return items


class _ClientBase:
    def __init__(self, config: HarnessConfig, retry: RetryPolicy | None = None) -> None:
        self.config = config
        self.retry = retry or RetryPolicy.from_config(config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"


class HarnessClient(_ClientBase):
    """Synchronous Harness client.

    >>> from airflow_provider_harness.client.config import HarnessConfig, Secret
    >>> with HarnessClient(HarnessConfig(account_id="a", api_key=Secret("pat.a.b.c"))) as client:
    ...     isinstance(client.config.timeout, float)
    True
    """

    def __init__(
        self,
        config: HarnessConfig,
        retry: RetryPolicy | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(config, retry)
        self._transport = transport
        self._http: httpx.Client | None = None

    @property
    def http(self) -> httpx.Client:
        """The underlying ``httpx.Client``, created on first use (proxy env vars are respected)."""
        if self._http is None:
            self._http = httpx.Client(
                timeout=self.config.timeout,
                verify=self.config.verify,
                proxy=self.config.proxy,
                transport=self._transport,
                trust_env=True,
            )
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> HarnessClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send_raw(self, call: ApiCall[Any]) -> tuple[Any, httpx.Headers]:
        """Send ``call`` with retries; return the decoded result and response headers."""
        attempts = _Attempts(self.retry, call)
        while True:
            response: httpx.Response | None = None
            try:
                response = self.http.send(build_request(self.config, call))
                return decode(self.config, call, response), response.headers
            except (httpx.HTTPError, HarnessError) as exc:
                time.sleep(attempts.after_failure(exc, response))

    def send(self, call: ApiCall[T]) -> T:
        """Send ``call`` and return its parsed result."""
        result, _ = self.send_raw(call)
        return result  # type: ignore[no-any-return]

    def paginate(self, call: ApiCall[Any], *, page_size: int = 100, limit: int | None = None) -> Iterator[Any]:
        """Yield every item of a paged list call, one page in memory at a time."""
        pager = Pager(call, page_size, limit)
        while (page_call := pager.next_call()) is not None:
            data, headers = self.send_raw(page_call)
            yield from pager.take(data, headers)


_SHARED_ASYNC: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[Any, ...], httpx.AsyncClient]] = (
    weakref.WeakKeyDictionary()
)


def shared_async_http(config: HarnessConfig) -> httpx.AsyncClient:
    """The ``httpx.AsyncClient`` shared by every async client of this event loop with these network settings.

    Credentials travel per request, so triggers of different connections share one pool.
    """
    loop = asyncio.get_running_loop()
    pools = _SHARED_ASYNC.setdefault(loop, {})
    key = (config.verify, config.proxy, config.timeout)
    client = pools.get(key)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(
            timeout=config.timeout,
            verify=config.verify,
            proxy=config.proxy,
            trust_env=True,
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
        )
        pools[key] = client
    return client


async def close_shared_async_clients() -> None:
    """Close the shared async clients of the running loop (tests and orderly shutdowns)."""
    pools = _SHARED_ASYNC.pop(asyncio.get_running_loop(), {})
    for client in pools.values():
        await client.aclose()


class AsyncHarnessClient(_ClientBase):
    """Asynchronous Harness client for triggers; cheap to create, shares its connection pool per event loop.

    >>> import asyncio
    >>> from airflow_provider_harness.client.config import HarnessConfig, Secret
    >>> client = AsyncHarnessClient(HarnessConfig(account_id="a", api_key=Secret("pat.a.b.c")))
    >>> asyncio.run(client.aclose())
    """

    def __init__(
        self,
        config: HarnessConfig,
        retry: RetryPolicy | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(config, retry)
        self._own_http: httpx.AsyncClient | None = (
            httpx.AsyncClient(timeout=config.timeout, transport=transport) if transport is not None else None
        )

    @property
    def http(self) -> httpx.AsyncClient:
        return self._own_http or shared_async_http(self.config)

    async def aclose(self) -> None:
        """Close a private transport's client; the shared pool stays open for other triggers."""
        if self._own_http is not None:
            await self._own_http.aclose()

    async def send_raw(self, call: ApiCall[Any]) -> tuple[Any, httpx.Headers]:
        """Send ``call`` with retries; return the decoded result and response headers."""
        attempts = _Attempts(self.retry, call)
        while True:
            response: httpx.Response | None = None
            try:
                response = await self.http.send(build_request(self.config, call))
                return decode(self.config, call, response), response.headers
            except (httpx.HTTPError, HarnessError) as exc:
                await asyncio.sleep(attempts.after_failure(exc, response))

    async def send(self, call: ApiCall[T]) -> T:
        """Send ``call`` and return its parsed result."""
        result, _ = await self.send_raw(call)
        return result  # type: ignore[no-any-return]

    async def paginate(
        self, call: ApiCall[Any], *, page_size: int = 100, limit: int | None = None
    ) -> AsyncIterator[Any]:
        """Yield every item of a paged list call, one page in memory at a time."""
        pager = Pager(call, page_size, limit)
        while (page_call := pager.next_call()) is not None:
            data, headers = await self.send_raw(page_call)
            for item in pager.take(data, headers):
                yield item
