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
        """The items of one decoded page (a bare list is accepted for every style)."""
        if isinstance(data, list):
            return list(data)
        if self.style in ("ng", "spring") and isinstance(data, Mapping):
            return list(data.get("content") or [])
        return []

    def reported_more(self, data: Any, headers: Mapping[str, str], index: int, seen: int) -> bool | None:
        """Whether the server's own totals say a page after ``index`` exists; None when it gave none.

        ``seen`` counts the items of all pages so far, this one included. Totals win over page
        arithmetic, so a server that ignores the requested page size still pages right.
        """
        if self.style == "ng" and isinstance(data, Mapping):
            total_pages = data.get("totalPages")
            if isinstance(total_pages, int) and not isinstance(total_pages, bool):
                return index - self.first_index + 1 < total_pages
            total_items = data.get("totalItems")
            if isinstance(total_items, int) and not isinstance(total_items, bool):
                return seen < total_items
        if self.style == "spring" and isinstance(data, Mapping):
            if isinstance(data.get("last"), bool):
                return not data["last"]
            total_pages = data.get("totalPages")
            if isinstance(total_pages, int) and not isinstance(total_pages, bool):
                return index - self.first_index + 1 < total_pages
        if self.style == "headers":
            total = _header(headers, "x-total-elements")
            if total is not None and total.strip().isdigit():
                return seen < int(total)
        return None

    def has_more(
        self,
        data: Any,
        headers: Mapping[str, str],
        index: int,
        size: int,
        count: int,
        seen: int | None = None,
    ) -> bool:
        """Whether a page after ``index`` exists: server totals if any, else "this page was full".

        ``count`` is the number of items on this page; ``seen`` the items on all pages so far including
        this one (defaults to full pages before this one).
        """
        if count == 0:
            return False
        if seen is None:
            seen = (index - self.first_index) * size + count
        reported = self.reported_more(data, headers, index, seen)
        return reported if reported is not None else count >= size


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup that works for plain dicts as well as ``httpx.Headers``."""
    value = headers.get(name)
    if value is not None:
        return value
    for key, item in headers.items():
        if key.lower() == name:
            return item
    return None


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
class ApiFamily:
    """How one family of Harness services takes a request and answers (harness-api.md §3, §15).

    ``account``: where the account id goes; ``response``: what a success body is; ``scope_in``: whether
    org/project travel as query parameters (``orgIdentifier``/``projectIdentifier``) or in the path
    (``…/orgs/{org}/projects/{project}/…``).
    """

    name: str
    account: AccountPlacement
    response: ResponseKind
    scope_in: Literal["query", "path"]


#: ng-manager and pipeline-service: ``accountIdentifier`` query, ``ResponseDTO`` envelope, scope in the query.
NG_API = ApiFamily("ng", "query", "envelope", "query")
#: IaCM's goa service: ``Harness-Account`` header, bare JSON (goa errors), org/project in the path.
IACM_API = ApiFamily("iacm", "header", "json", "path")


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
    content: str | bytes | None = None
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
