"""A Harness API call described as data, and the page shapes Harness lists come in.

API modules build :class:`ApiCall` values (no I/O); :class:`~.transport.HarnessClient` and
:class:`~.transport.AsyncHarnessClient` send them. That keeps one request-building path for the
sync and async clients, and keeps transport apart from API knowledge.

>>> call = ApiCall("GET", "/ng/api/organizations", params={"searchTerm": "x"}, page=NG_PAGE)
>>> call.with_page(2, 100).params
{'searchTerm': 'x', 'pageIndex': 2, 'pageSize': 100}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Literal, TypeVar

T = TypeVar("T")

#: How the account id travels: NG query ``accountIdentifier``, v1/IaCM ``Harness-Account`` header,
#: log-service query ``accountID``, or not at all (public webhook endpoints carry it themselves).
AccountPlacement = Literal["query", "header", "log", "none"]
#: What the body of a successful response is: NG ``ResponseDTO`` envelope, bare JSON, or plain text.
ResponseKind = Literal["envelope", "json", "text"]


@dataclass(frozen=True)
class PageShape:
    """How one family of Harness list endpoints pages (harness-api.md §3).

    ``style`` says where items and the page count are: ``ng`` (``data.content`` + ``totalPages``),
    ``spring`` (``data.content`` + ``last``), ``headers`` (bare array + ``X-Total-Elements``), ``array``
    (bare array, stop on a short page).
    """

    name: str
    index_param: str
    size_param: str
    first_index: int
    max_size: int
    style: Literal["ng", "spring", "headers", "array"]

    def items(self, data: Any) -> list[Any]:
        """The items of one decoded page."""
        if self.style in ("ng", "spring"):
            content = data.get("content") if isinstance(data, Mapping) else None
            return list(content or [])
        return list(data or []) if isinstance(data, list) else []

    def has_more(self, data: Any, headers: Mapping[str, str], index: int, size: int, count: int) -> bool:
        """Whether a page after ``index`` exists."""
        if count == 0:
            return False
        if self.style == "ng" and isinstance(data, Mapping):
            total_pages = data.get("totalPages")
            if isinstance(total_pages, int):
                return index - self.first_index + 1 < total_pages
        if self.style == "spring" and isinstance(data, Mapping):
            if isinstance(data.get("last"), bool):
                return not data["last"]
            total_pages = data.get("totalPages")
            if isinstance(total_pages, int):
                return index + 1 < total_pages
        if self.style == "headers":
            total = headers.get("x-total-elements")
            if total and total.isdigit():
                return (index - self.first_index + 1) * size < int(total)
        return count >= size


#: ``pageIndex``/``pageSize`` + PageResponse: orgs, projects, connectors, secrets, input sets.
NG_PAGE = PageShape("ng", "pageIndex", "pageSize", 0, 100, "ng")
#: ``page``/``size`` + PageResponse: services, environments, infrastructures, triggers.
NG_PAGE_BY_PAGE = PageShape("ng-page", "page", "size", 0, 100, "ng")
#: ``page``/``size`` + Spring Page: pipeline list, execution summary list.
SPRING_PAGE = PageShape("spring", "page", "size", 0, 100, "spring")
#: v1 API: ``page``/``limit``, bare array, ``X-Total-Elements`` header.
V1_PAGE = PageShape("v1", "page", "limit", 0, 100, "headers")
#: IaCM: 1-based ``page``/``limit``, bare array.
IACM_PAGE = PageShape("iacm", "page", "limit", 1, 100, "array")


@dataclass(frozen=True)
class ApiCall(Generic[T]):
    """One Harness request: method, path (already formatted), query, body and how to read the answer.

    ``repeatable`` is False for requests that start something (execute, retry, webhook post): the
    transport then never sends them again once they may have reached Harness. ``permission`` is the
    Harness permission the call needs, named in 403 errors. ``secrets`` are values (a webhook token in
    the path) redacted from every message. ``parse`` turns the decoded ``data`` into the result.
    """

    method: str
    path: str
    params: Mapping[str, Any] = field(default_factory=dict)
    json: Any = None
    content: str | None = None
    content_type: str | None = None
    account: AccountPlacement = "query"
    response: ResponseKind = "envelope"
    repeatable: bool = True
    permission: str | None = None
    page: PageShape | None = None
    parse: Callable[[Any], T] | None = None
    secrets: Sequence[str] = ()
    headers: Mapping[str, str] = field(default_factory=dict)

    def with_page(self, index: int, size: int) -> ApiCall[T]:
        """Return this list call asking for page ``index`` of ``size`` items."""
        if self.page is None:
            raise TypeError(f"{self.method} {self.path} is not a paged call")
        size = max(1, min(size, self.page.max_size))
        params = {**self.params, self.page.index_param: index, self.page.size_param: size}
        return replace(self, params=params)

    def result(self, data: Any) -> T:
        """Apply ``parse`` to decoded data."""
        return self.parse(data) if self.parse else data
