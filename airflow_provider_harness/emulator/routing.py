"""A small segment-trie router: static segments win over ``{params}``, O(depth) per lookup.

>>> router = Router()
>>> router.add("GET", "/pipeline/api/pipelines/execution/v2/{planExecutionId}", "details")
>>> router.add("GET", "/pipeline/api/pipelines/execution/{planExecutionId}", "details_v1")
>>> router.match("GET", "/pipeline/api/pipelines/execution/v2/abc")
('details', {'planExecutionId': 'abc'})
>>> router.match("POST", "/pipeline/api/pipelines/execution/v2/abc")
Ellipsis
>>> router.match("GET", "/nowhere") is None
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote


@dataclass
class _Node:
    static: dict[str, _Node] = field(default_factory=dict)
    param: _Node | None = None
    param_name: str | None = None
    handlers: dict[str, Any] = field(default_factory=dict)


class Router:
    """Maps ``(method, path)`` to a handler and path parameters.

    ``match`` returns ``(handler, params)``, ``...`` (Ellipsis) when the path exists for another method, or
    ``None`` when no route has the path.
    """

    def __init__(self) -> None:
        self._root = _Node()

    def add(self, method: str, pattern: str, handler: Any) -> None:
        """Register ``handler`` for ``method`` on ``pattern`` (segments like ``{name}`` are parameters)."""
        node = self._root
        for segment in _segments(pattern):
            if segment.startswith("{") and segment.endswith("}"):
                name = segment[1:-1]
                if node.param is None:
                    node.param = _Node()
                    node.param_name = name
                elif node.param_name != name:
                    raise ValueError(f"conflicting parameter names {node.param_name!r}/{name!r} in {pattern}")
                node = node.param
            else:
                node = node.static.setdefault(segment, _Node())
        if method in node.handlers:
            raise ValueError(f"duplicate route {method} {pattern}")
        node.handlers[method] = handler

    def match(self, method: str, path: str) -> tuple[Any, dict[str, str]] | Any | None:
        """Find the handler for ``method`` and ``path``."""
        params: dict[str, str] = {}
        node = self._walk(self._root, _segments(path), 0, params)
        if node is None or not node.handlers:
            return None
        handler = node.handlers.get(method)
        if handler is None:
            return ...
        return handler, params

    def _walk(self, node: _Node, segments: list[str], index: int, params: dict[str, str]) -> _Node | None:
        if index == len(segments):
            return node if node.handlers else None
        segment = segments[index]
        child = node.static.get(segment)
        if child is not None:
            found = self._walk(child, segments, index + 1, params)
            if found is not None:
                return found
        if node.param is not None and segment:
            found = self._walk(node.param, segments, index + 1, params)
            if found is not None:
                assert node.param_name is not None
                params[node.param_name] = unquote(segment)
                return found
        return None


def _segments(path: str) -> list[str]:
    stripped = path.strip("/")
    return stripped.split("/") if stripped else []
