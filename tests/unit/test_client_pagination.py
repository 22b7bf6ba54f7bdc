"""Pagination over the page shapes of harness-api.md §3, through a mock Harness that pages for real.

Each fake server holds N items and answers in its shape: NG PageResponse (``pageIndex``/``pageSize``
and ``page``/``size``), Spring Page, v1 bare arrays with ``X-Total-Elements``, IaCM 1-based arrays.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from airflow_provider_harness.client.call import (
    IACM_PAGE,
    NG_PAGE,
    NG_PAGE_BY_PAGE,
    SPRING_PAGE,
    V1_PAGE,
    ApiCall,
    PageShape,
)
from airflow_provider_harness.client.config import HarnessConfig, Secret
from airflow_provider_harness.client.transport import AsyncHarnessClient, HarnessClient, Pager, RetryPolicy

NO_WAIT = RetryPolicy(0, 0, 0)


def envelope(data: Any) -> dict[str, Any]:
    return {"status": "SUCCESS", "data": data, "metaData": None, "correlationId": "c"}


class FakeLister:
    """A server holding ``total`` items, answering list requests in ``shape``'s format.

    ``server_max`` caps the page size the way a server ignoring the requested size would;
    ``ignore_index`` makes it always answer the first page; ``totals`` False drops the totals.
    """

    def __init__(
        self,
        shape: PageShape,
        total: int,
        *,
        server_max: int | None = None,
        ignore_index: bool = False,
        totals: bool = True,
    ) -> None:
        self.shape = shape
        self.items = [{"identifier": f"item{i}"} for i in range(total)]
        self.server_max = server_max
        self.ignore_index = ignore_index
        self.totals = totals
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        params = request.url.params
        index = int(params[self.shape.index_param]) - self.shape.first_index
        size = int(params[self.shape.size_param])
        assert 1 <= size <= self.shape.max_size
        if self.server_max is not None:
            size = min(size, self.server_max)
        if self.ignore_index:
            index = 0
        page = self.items[index * size : (index + 1) * size]
        total = len(self.items)
        pages = math.ceil(total / size)
        style = self.shape.style
        if style == "ng":
            data: dict[str, Any] = {
                "content": page,
                "pageIndex": index,
                "pageSize": size,
                "pageItemCount": len(page),
                "empty": not page,
                "pageToken": None,
            }
            if self.totals:
                data.update(totalPages=pages, totalItems=total)
            return httpx.Response(200, json=envelope(data))
        if style == "spring":
            data = {
                "content": page,
                "number": index,
                "size": size,
                "numberOfElements": len(page),
                "first": index == 0,
                "empty": not page,
                "pageable": {"pageNumber": index, "pageSize": size},
            }
            if self.totals:
                data.update(last=index >= pages - 1, totalPages=pages, totalElements=total)
            return httpx.Response(200, json=envelope(data))
        headers = {"X-Page-Number": str(index), "X-Page-Size": str(size)}
        if style == "headers" and self.totals:
            headers["X-Total-Elements"] = str(total)
        return httpx.Response(200, json=page, headers=headers)


def call_for(shape: PageShape) -> ApiCall[Any]:
    response = "envelope" if shape.style in ("ng", "spring") else "json"
    return ApiCall("GET", f"/list/{shape.name}", params={"searchTerm": "x"}, response=response, page=shape)


def client_for(handler: Callable[[httpx.Request], httpx.Response]) -> HarnessClient:
    config = HarnessConfig(account_id="acc", api_key=Secret("pat.acc.t.s"))
    return HarnessClient(config, NO_WAIT, transport=httpx.MockTransport(handler))


ALL_SHAPES = [NG_PAGE, NG_PAGE_BY_PAGE, SPRING_PAGE, V1_PAGE, IACM_PAGE]
TOTAL_SHAPES = [NG_PAGE, NG_PAGE_BY_PAGE, SPRING_PAGE, V1_PAGE]


def names(items: list[Any]) -> list[str]:
    return [item["identifier"] for item in items]


@pytest.mark.parametrize("shape", ALL_SHAPES, ids=lambda s: s.name)
@pytest.mark.parametrize("total", [0, 1, 99, 100, 101, 250])
def test_every_item_once(shape: PageShape, total: int) -> None:
    server = FakeLister(shape, total)
    items = list(client_for(server).paginate(call_for(shape)))
    assert names(items) == [f"item{i}" for i in range(total)]
    # page index starts at the shape's first index and walks up
    indexes = [int(r.url.params[shape.index_param]) for r in server.requests]
    assert indexes == list(range(shape.first_index, shape.first_index + len(indexes)))
    assert all(r.url.params[shape.size_param] == "100" for r in server.requests)
    assert all(r.url.params["searchTerm"] == "x" for r in server.requests)


@pytest.mark.parametrize(
    ("shape", "total", "requests"),
    [
        (NG_PAGE, 0, 1),
        (NG_PAGE, 100, 1),
        (NG_PAGE, 101, 2),
        (NG_PAGE, 250, 3),
        (SPRING_PAGE, 250, 3),
        (V1_PAGE, 200, 2),
        (V1_PAGE, 0, 1),
        # IaCM has no totals: a full page asks for another; a short first page asks once more,
        # because a server may cap its page size below what was asked.
        (IACM_PAGE, 0, 1),
        (IACM_PAGE, 30, 2),
        (IACM_PAGE, 100, 2),
        (IACM_PAGE, 250, 3),
    ],
)
def test_request_count(shape: PageShape, total: int, requests: int) -> None:
    server = FakeLister(shape, total)
    list(client_for(server).paginate(call_for(shape)))
    assert len(server.requests) == requests


@pytest.mark.parametrize("shape", ALL_SHAPES, ids=lambda s: s.name)
def test_server_ignoring_page_size(shape: PageShape) -> None:
    """The server answers 20 per page although 100 were asked: still every item, none twice."""
    server = FakeLister(shape, 130, server_max=20)
    items = list(client_for(server).paginate(call_for(shape)))
    assert names(items) == [f"item{i}" for i in range(130)]


@pytest.mark.parametrize("shape", ALL_SHAPES, ids=lambda s: s.name)
def test_server_ignoring_page_index_does_not_loop(shape: PageShape) -> None:
    server = FakeLister(shape, 250, ignore_index=True, totals=False)
    items = list(client_for(server).paginate(call_for(shape)))
    assert names(items) == [f"item{i}" for i in range(100)]
    assert len(server.requests) == 2


@pytest.mark.parametrize("shape", [NG_PAGE, SPRING_PAGE, V1_PAGE], ids=lambda s: s.name)
def test_without_totals_falls_back_to_short_page(shape: PageShape) -> None:
    server = FakeLister(shape, 230, totals=False)
    assert len(list(client_for(server).paginate(call_for(shape)))) == 230


@pytest.mark.parametrize("page_size", [0, 1, 7, 100, 500])
def test_page_size_clamped_to_1_to_100(page_size: int) -> None:
    server = FakeLister(NG_PAGE, 15)
    items = list(client_for(server).paginate(call_for(NG_PAGE), page_size=page_size))
    assert len(items) == 15
    sizes = {int(r.url.params["pageSize"]) for r in server.requests}
    assert sizes == {max(1, min(page_size, 100))}


@pytest.mark.parametrize("limit", [0, 1, 50, 100, 101, 1000])
def test_limit(limit: int) -> None:
    server = FakeLister(NG_PAGE, 250)
    items = list(client_for(server).paginate(call_for(NG_PAGE), limit=limit))
    assert names(items) == [f"item{i}" for i in range(min(limit, 250))]
    assert len(server.requests) == math.ceil(min(limit, 250) / 100)


def test_bounded_memory_one_page_at_a_time() -> None:
    """The iterator asks for the next page only when the consumer reaches it."""
    server = FakeLister(NG_PAGE, 1000)
    iterator = client_for(server).paginate(call_for(NG_PAGE))
    assert len(server.requests) == 0
    next(iterator)
    assert len(server.requests) == 1
    for _ in range(99):
        next(iterator)
    assert len(server.requests) == 1
    next(iterator)
    assert len(server.requests) == 2


def test_not_a_paged_call() -> None:
    with pytest.raises(TypeError, match="is not a paged call"):
        list(client_for(FakeLister(NG_PAGE, 1)).paginate(ApiCall("GET", "/x")))


def test_parse_is_not_applied_to_pages() -> None:
    """``parse`` shapes single results; list items come from the page's content."""
    server = FakeLister(NG_PAGE, 3)
    call = ApiCall("GET", "/list", page=NG_PAGE)
    assert len(list(client_for(server).paginate(call))) == 3


@pytest.mark.parametrize("shape", ALL_SHAPES, ids=lambda s: s.name)
async def test_async_paginate(shape: PageShape) -> None:
    server = FakeLister(shape, 205)
    config = HarnessConfig(account_id="acc", api_key=Secret("pat.acc.t.s"))
    client = AsyncHarnessClient(config, NO_WAIT, transport=httpx.MockTransport(server))
    items = [item async for item in client.paginate(call_for(shape), limit=150)]
    assert names(items) == [f"item{i}" for i in range(150)]
    await client.aclose()


class TestPageShape:
    def test_with_page(self) -> None:
        call = ApiCall("GET", "/x", params={"a": 1}, page=SPRING_PAGE)
        assert call.with_page(3, 250).params == {"a": 1, "page": 3, "size": 100}
        assert call.params == {"a": 1}

    def test_with_page_on_plain_call(self) -> None:
        with pytest.raises(TypeError):
            ApiCall("GET", "/x").with_page(0, 10)

    @pytest.mark.parametrize("shape", ALL_SHAPES, ids=lambda s: s.name)
    def test_items_accepts_bare_list_and_garbage(self, shape: PageShape) -> None:
        assert shape.items([1, 2]) == [1, 2]
        assert shape.items(None) == []
        assert shape.items("x") == []

    def test_items_of_page_objects(self) -> None:
        assert NG_PAGE.items({"content": [1]}) == [1]
        assert NG_PAGE.items({"content": None}) == []
        assert SPRING_PAGE.items({}) == []
        assert V1_PAGE.items({"content": [1]}) == []

    def test_has_more_ng(self) -> None:
        assert NG_PAGE.has_more({"totalPages": 3}, {}, 1, 100, 100)
        assert not NG_PAGE.has_more({"totalPages": 3}, {}, 2, 100, 100)
        assert NG_PAGE.has_more({"totalItems": 150}, {}, 0, 100, 100)
        assert not NG_PAGE.has_more({"totalItems": 100}, {}, 0, 100, 100)
        assert not NG_PAGE.has_more({"totalPages": 5}, {}, 0, 100, 0)

    def test_has_more_spring(self) -> None:
        assert SPRING_PAGE.has_more({"last": False}, {}, 0, 100, 100)
        assert not SPRING_PAGE.has_more({"last": True, "totalPages": 9}, {}, 0, 100, 100)
        assert SPRING_PAGE.has_more({"totalPages": 2}, {}, 0, 100, 100)

    def test_has_more_headers_case_insensitive(self) -> None:
        assert V1_PAGE.has_more([], {"X-Total-Elements": "150"}, 0, 100, 100)
        assert not V1_PAGE.has_more([], {"x-total-elements": "100"}, 0, 100, 100)
        assert V1_PAGE.has_more([], httpx.Headers({"X-TOTAL-ELEMENTS": "101"}), 0, 100, 100)
        assert V1_PAGE.has_more([], {"X-Total-Elements": "bogus"}, 0, 100, 100)

    def test_has_more_array(self) -> None:
        assert IACM_PAGE.has_more([], {}, 1, 100, 100)
        assert not IACM_PAGE.has_more([], {}, 1, 100, 99)

    def test_shapes(self) -> None:
        assert (NG_PAGE.index_param, NG_PAGE.size_param, NG_PAGE.first_index) == ("pageIndex", "pageSize", 0)
        assert (NG_PAGE_BY_PAGE.index_param, NG_PAGE_BY_PAGE.size_param) == ("page", "size")
        assert (SPRING_PAGE.index_param, SPRING_PAGE.size_param) == ("page", "size")
        assert (V1_PAGE.index_param, V1_PAGE.size_param, V1_PAGE.first_index) == ("page", "limit", 0)
        assert (IACM_PAGE.index_param, IACM_PAGE.size_param, IACM_PAGE.first_index) == ("page", "limit", 1)
        assert {s.max_size for s in ALL_SHAPES} == {100}


class TestPager:
    def test_walk(self) -> None:
        pager = Pager(ApiCall("GET", "/x", page=IACM_PAGE), page_size=2)
        first = pager.next_call()
        assert first is not None and first.params == {"page": 1, "limit": 2}
        assert pager.take([1, 2], {}) == [1, 2]
        second = pager.next_call()
        assert second is not None and second.params == {"page": 2, "limit": 2}
        assert pager.take([3], {}) == [3]
        assert pager.next_call() is None

    def test_limit_cuts_page(self) -> None:
        pager = Pager(ApiCall("GET", "/x", page=NG_PAGE), page_size=10, limit=3)
        pager.next_call()
        assert pager.take({"content": list(range(10)), "totalPages": 5}, {}) == [0, 1, 2]
        assert pager.next_call() is None

    def test_duplicate_page_stops(self) -> None:
        pager = Pager(ApiCall("GET", "/x", page=IACM_PAGE), page_size=2)
        pager.next_call()
        assert pager.take([1, 2], {}) == [1, 2]
        pager.next_call()
        assert pager.take([1, 2], {}) == []
        assert pager.next_call() is None
