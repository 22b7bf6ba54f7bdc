"""Execution state as plain data: :class:`Node` (stage, step, step group) and :class:`Execution`.

Statuses are Harness display names (:mod:`~airflow_provider_harness.emulator.harness_rules`); the engine
vocabulary only appears in execute/retry responses.  Everything here round-trips through JSON so a
state file restores running executions.

>>> node = Node(uuid="u1", setup_id="s1", kind="step", identifier="echo", name="Echo", type="ShellScript")
>>> Node.from_json(node.to_json()).identifier
'echo'
"""

from __future__ import annotations

import base64
import random
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from airflow_provider_harness.emulator.harness_rules import ENGINE_FOR_DISPLAY, TERMINAL_DISPLAY

#: Display name -> engine status.
DISPLAY_TO_ENGINE: dict[str, str] = dict(ENGINE_FOR_DISPLAY)

#: Terminal statuses that count as a broken (failed) node for stage/pipeline roll-up.
BROKEN_STATUSES = frozenset({"Failed", "Errored", "Expired", "ApprovalRejected", "AbortedByFreeze"})


def engine_status(display: str) -> str:
    """The engine status for a display status (``Success`` -> ``SUCCEEDED``).

    >>> engine_status("Success"), engine_status("Running")
    ('SUCCEEDED', 'RUNNING')
    """
    return DISPLAY_TO_ENGINE.get(display, display.upper())


def now_ms() -> int:
    """Wall-clock epoch milliseconds."""
    return int(time.time() * 1000)


class IdFactory:
    """Harness-looking ids: 22-char url-safe uuids and 24-hex Mongo ObjectIds.

    >>> len(IdFactory(seed=1).uuid()), len(IdFactory(seed=1).object_id())
    (22, 24)
    """

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed) if seed is not None else random.SystemRandom()

    def uuid(self) -> str:
        """A 22-character url-safe id like ``puqa4ivwRzGDUrYJdrcPbg``."""
        raw = self._rng.getrandbits(128).to_bytes(16, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def object_id(self) -> str:
        """A 24-hex id like a Mongo ObjectId (webhook event ids)."""
        return f"{int(time.time()):08x}{self._rng.getrandbits(64):016x}"

    def token(self) -> str:
        """A random token for webhook URLs and log-service tokens."""
        return self.uuid()


@dataclass
class Node:
    """A stage, step or step group of one execution.

    ``items`` holds the children as sequential groups of parallel nodes (a stage's steps, a step group's
    steps); ``spec`` keeps the resolved YAML of the node without its children.
    """

    uuid: str
    setup_id: str
    kind: str  # "stage" | "step" | "stepGroup"
    identifier: str
    name: str
    type: str
    spec: dict[str, Any] = field(default_factory=dict)
    status: str = "NotStarted"
    start_ts: int | None = None
    end_ts: int | None = None
    failure: dict[str, Any] | None = None
    items: list[list[Node]] = field(default_factory=list)
    log_key: str = ""
    fqn: str = ""
    skip_reason: str | None = None
    copied: bool = False  # carried over unchanged from the parent of a retry
    actions_done: int = 0  # emulated actions (log/sleep/exit) finished, for resuming after a restart
    progress: float = 0.0  # emulated step seconds at the last finished action

    @property
    def terminal(self) -> bool:
        """True when the node finished (any terminal status)."""
        return self.status in TERMINAL_DISPLAY

    def walk(self) -> Iterator[Node]:
        """This node and every descendant, depth first."""
        yield self
        for group in self.items:
            for child in group:
                yield from child.walk()

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (children included)."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "items"}
        data["items"] = [[child.to_json() for child in group] for group in self.items]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Node:
        """Inverse of :meth:`to_json`."""
        values = {k: v for k, v in data.items() if k != "items"}
        node = cls(**values)
        node.items = [[cls.from_json(child) for child in group] for group in data.get("items", [])]
        return node


@dataclass
class Execution:
    """One pipeline execution (a plan execution in Harness terms)."""

    id: str
    account: str
    org: str
    project: str
    pipeline_id: str
    pipeline_name: str
    run_sequence: int
    module: str
    status: str = "Running"
    created_at: int = 0
    start_ts: int = 0
    end_ts: int | None = None
    stages: list[list[Node]] = field(default_factory=list)
    trigger_info: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    tags: list[dict[str, str]] = field(default_factory=list)
    input_yaml: str = ""
    variables: dict[str, Any] = field(default_factory=dict)
    trigger_payload: Any = None
    retry_of: str | None = None  # parent execution id
    retry_root: str | None = None
    retried_by: str | None = None  # child execution id (makes this one not the latest)
    retry_stages: list[str] = field(default_factory=list)
    skip_stages: list[str] = field(default_factory=list)
    stages_executed: list[str] | None = None
    allow_stage_executions: bool = False
    abort_requested: bool = False
    pause_requested: bool = False
    failure: dict[str, Any] | None = None
    aborted_by: dict[str, Any] | None = None
    notification_rules: list[dict[str, Any]] = field(default_factory=list)
    pipeline_yaml: str = ""
    logs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    interrupts: list[dict[str, Any]] = field(default_factory=list)
    start_notified: bool = False
    version: int = 0

    @property
    def terminal(self) -> bool:
        """True once the execution reached a terminal status."""
        return self.status in TERMINAL_DISPLAY

    @property
    def scope(self) -> tuple[str, str, str]:
        """``(account, org, project)``."""
        return (self.account, self.org, self.project)

    def all_stages(self) -> Iterator[Node]:
        """Every stage, in order."""
        for group in self.stages:
            yield from group

    def all_nodes(self) -> Iterator[Node]:
        """Every stage and step node."""
        for stage in self.all_stages():
            yield from stage.walk()

    def find_node(self, uuid: str) -> Node | None:
        """The node with this node-execution uuid or setup id."""
        for node in self.all_nodes():
            if node.uuid == uuid or node.setup_id == uuid:
                return node
        return None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict for the state file."""
        data = asdict(self)
        data["stages"] = [[stage.to_json() for stage in group] for group in self.stages]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Execution:
        """Inverse of :meth:`to_json` (unknown keys are ignored so old state files still load)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known and k != "stages"}
        execution = cls(**values)
        execution.stages = [[Node.from_json(stage) for stage in group] for group in data.get("stages", [])]
        return execution
