"""In-memory state with optional JSON persistence (atomic temp-file + rename, debounced).

Resources are kept per kind and per scope (``account/org/project[/environment]``); executions by id.
Secret values never reach this module: the secrets handler stores only a SHA-256 digest.

>>> store = Store()
>>> store.put("connector", ("acc", "default", "p"), "c1", {"entity": {"identifier": "c1"}})
>>> store.get("connector", ("acc", "default", "p"), "c1")["entity"]["identifier"]
'c1'
>>> [store.next_run_sequence("acc", "default", "p", "pipe") for _ in range(2)]
[1, 2]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from airflow_provider_harness.emulator.model import Execution

log = logging.getLogger(__name__)

STATE_FORMAT_VERSION = 1
Scope = tuple[str, ...]


def scope_key(scope: Iterable[str | None]) -> str:
    """The dictionary key for a scope tuple (``None`` parts become empty)."""
    return "/".join(part or "" for part in scope)


class Store:
    """All emulator data; thread-unsafe by design (only the server's event loop touches it)."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *, debounce_seconds: float = 0.2) -> None:
        self.path = Path(path) if path else None
        self.debounce_seconds = debounce_seconds
        self.resources: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
        self.executions: dict[str, Execution] = {}
        self.run_sequences: dict[str, int] = {}
        self.webhook_events: dict[str, dict[str, Any]] = {}
        self._dirty = False
        self._write_lock = threading.Lock()

    # ---- resources -------------------------------------------------------------------------------
    def get(self, kind: str, scope: Scope, identifier: str) -> dict[str, Any] | None:
        """The record of ``identifier`` in ``scope``, or ``None``."""
        return self.resources.get(kind, {}).get(scope_key(scope), {}).get(identifier)

    def put(self, kind: str, scope: Scope, identifier: str, record: dict[str, Any]) -> None:
        """Create or replace a record."""
        self.resources.setdefault(kind, {}).setdefault(scope_key(scope), {})[identifier] = record
        self.mark_dirty()

    def delete(self, kind: str, scope: Scope, identifier: str) -> bool:
        """Remove a record; ``False`` when it did not exist."""
        bucket = self.resources.get(kind, {}).get(scope_key(scope), {})
        if identifier not in bucket:
            return False
        del bucket[identifier]
        self.mark_dirty()
        return True

    def items_in(self, kind: str, scope: Scope) -> list[dict[str, Any]]:
        """Records of one kind directly in ``scope`` (not in child scopes), in creation order."""
        return list(self.resources.get(kind, {}).get(scope_key(scope), {}).values())

    def delete_scope(self, kind: str, scope: Scope) -> int:
        """Remove every record of ``kind`` directly in ``scope``; how many were removed."""
        bucket = self.resources.get(kind, {}).pop(scope_key(scope), None)
        if not bucket:
            return 0
        self.mark_dirty()
        return len(bucket)

    def identifiers_in(self, scope: Scope) -> dict[str, list[str]]:
        """Identifiers of every kind held directly in ``scope`` (empty kinds left out).

        >>> store = Store()
        >>> store.put("pipeline", ("a", "o", "p"), "build", {})
        >>> store.put("inputSet", ("a", "o", "p", "build"), "is1", {})
        >>> store.identifiers_in(("a", "o", "p"))
        {'pipeline': ['build']}
        """
        key = scope_key(scope)
        found: dict[str, list[str]] = {}
        for kind, buckets in self.resources.items():
            bucket = buckets.get(key)
            if bucket:
                found[kind] = list(bucket)
        return found

    def all(self, kind: str) -> list[dict[str, Any]]:
        """Every record of a kind, any scope."""
        return [rec for bucket in self.resources.get(kind, {}).values() for rec in bucket.values()]

    # ---- executions ------------------------------------------------------------------------------
    def next_run_sequence(self, account: str, org: str, project: str, pipeline: str) -> int:
        """The next ``runSequence`` of a pipeline (1, 2, ...)."""
        key = scope_key((account, org, project, pipeline))
        value = self.run_sequences.get(key, 0) + 1
        self.run_sequences[key] = value
        self.mark_dirty()
        return value

    def add_execution(self, execution: Execution) -> None:
        """Register a new execution."""
        self.executions[execution.id] = execution
        self.mark_dirty()

    # ---- persistence -----------------------------------------------------------------------------
    def mark_dirty(self) -> None:
        """Note that the state changed; the autosave loop writes it soon."""
        self._dirty = True

    def reset(self) -> None:
        """Forget everything (the state file is rewritten empty on the next save)."""
        self.resources.clear()
        self.executions.clear()
        self.run_sequences.clear()
        self.webhook_events.clear()
        self.mark_dirty()

    def snapshot(self) -> dict[str, Any]:
        """The whole state as JSON-ready data."""
        return {
            "format": STATE_FORMAT_VERSION,
            "resources": self.resources,
            "executions": [execution.to_json() for execution in self.executions.values()],
            "run_sequences": self.run_sequences,
            "webhook_events": self.webhook_events,
        }

    def restore(self, data: dict[str, Any]) -> None:
        """Replace the state with a snapshot."""
        if data.get("format") != STATE_FORMAT_VERSION:
            raise ValueError(f"unsupported state file format {data.get('format')!r}")
        self.resources = data.get("resources", {})
        self.executions = {}
        for raw in data.get("executions", []):
            execution = Execution.from_json(raw)
            self.executions[execution.id] = execution
        self.run_sequences = data.get("run_sequences", {})
        self.webhook_events = data.get("webhook_events", {})
        self._dirty = False

    def load(self) -> bool:
        """Load the state file when it exists; ``True`` if something was loaded."""
        if self.path is None or not self.path.exists():
            return False
        with self.path.open(encoding="utf-8") as fh:
            self.restore(json.load(fh))
        log.info("loaded emulator state from %s (%d executions)", self.path, len(self.executions))
        return True

    def save_now(self) -> None:
        """Write the state file atomically (temp file in the same folder, then rename)."""
        if self.path is None:
            return
        self._dirty = False
        payload = json.dumps(self.snapshot(), separators=(",", ":"))
        self._write(payload)

    def _write(self, payload: str) -> None:
        assert self.path is not None
        with self._write_lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(payload)
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise

    async def autosave_loop(self) -> None:
        """Write the state whenever it changed, at most every ``debounce_seconds``."""
        if self.path is None:
            return
        while True:
            await asyncio.sleep(self.debounce_seconds)
            if self._dirty:
                self._dirty = False
                try:
                    payload = json.dumps(self.snapshot(), separators=(",", ":"))
                    await asyncio.to_thread(self._write, payload)
                except Exception:
                    log.exception("could not write emulator state to %s", self.path)
