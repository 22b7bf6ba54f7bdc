"""Execution simulation: stages and steps run over emulated time, driven by the pipeline YAML.

* ``ShellScript``: the script is read line by line - ``sleep N`` takes N emulated seconds (decimals and
  ``s/m/h`` suffixes allowed), ``echo ...`` writes a log line, ``exit N`` ends it (non-zero fails the
  step), ``false`` is ``exit 1``; anything else is a no-op.
* ``Wait``: ``spec.duration`` (``10s``, ``1m30s``) with status ``WaitStepRunning``.
* ``HarnessApproval`` (and other ``*Approval`` steps): ``ApprovalWaiting`` until approved/rejected through
  the admin endpoint, or ``Expired`` after the step ``timeout``.
* step types registered with :meth:`Engine.register_step_types` (e.g. IaCM's ``IACMTerraformPlugin``, see
  :mod:`.iacm`) run their module's handler, which gets a :class:`StepContext`;
* any other step type succeeds after ``default_step_seconds``.

Every emulated second takes ``time_scale`` wall seconds; each step runs at least ``min_step_seconds``.
Abort goes ``Running -> Discontinuing -> Aborted``.  A legacy Pause is registered at once (``Pausing``)
and takes effect at the next node boundary: the running steps finish, and the execution is ``Paused``
only when the driver is actually held before a stage, step group or step that has not started.  A
Pause requested during the last step therefore never pauses anything: the execution ends normally
(``Pausing -> Success``, no ``PipelinePaused`` notification).  Resume continues from that boundary.
Restarting with a state file resumes running executions.

>>> parse_duration("1m30s"), parse_duration("2.5"), parse_duration("1d")
(90.0, 2.5, 86400.0)
>>> [a.kind for a in parse_script("echo hi; sleep 0.5\\nexit 3")]
['log', 'sleep', 'exit']
"""

from __future__ import annotations

import asyncio
import copy
import logging
import re
import shlex
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from airflow_provider_harness.emulator.envelopes import HarnessError
from airflow_provider_harness.emulator.model import BROKEN_STATUSES, Execution, Node, engine_status, now_ms
from airflow_provider_harness.emulator.plan import (
    build_stage_nodes,
    dump_yaml,
    resolve_expressions,
    stage_module,
    variables_of,
)

if TYPE_CHECKING:
    from airflow_provider_harness.emulator.app import Emulator

log = logging.getLogger(__name__)

_DURATION_PART: Final = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?", re.IGNORECASE)
_UNIT_SECONDS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, None: 1.0}
APPROVAL_STEP_TYPES: Final = frozenset(
    {"HarnessApproval", "JiraApproval", "ServiceNowApproval", "CustomApproval"}
)
DEFAULT_APPROVAL_TIMEOUT: Final = 86400.0
SHELL_FAILURE_MESSAGE: Final = "Shell Script execution failed. Please check execution logs."
ACTIVE_STAGE_STATUSES: Final = frozenset({"Running", "Paused", "ApprovalWaiting", "Pausing", "Discontinuing"})


def parse_duration(text: Any) -> float:
    """Seconds in a Harness duration (``10s``, ``1m30s``, ``1h``, ``2.5``); 0 for nonsense."""
    if isinstance(text, (int, float)):
        return float(text)
    total = 0.0
    for number, unit in _DURATION_PART.findall(str(text or "")):
        total += float(number) * _UNIT_SECONDS[unit.lower() if unit else None]
    return total


@dataclass(frozen=True)
class ScriptAction:
    """One emulated action of a step: ``sleep`` (seconds), ``log`` (text), ``exit`` (code) or ``effect``.

    An ``effect`` calls ``effect()`` once (never again when a restarted emulator resumes the step); a
    non-zero result ends the step like ``exit`` with that code.
    """

    kind: str
    seconds: float = 0.0
    text: str = ""
    code: int = 0
    effect: Callable[[], int] | None = None


def parse_script(script: str) -> list[ScriptAction]:
    """The emulated effects of a shell script."""
    actions: list[ScriptAction] = []
    for raw_line in script.splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        for command in re.split(r"\s*(?:;|&&)\s*", line):
            action = _parse_command(command.strip())
            if action is not None:
                actions.append(action)
                if action.kind == "exit":
                    return actions
    return actions


def _parse_command(command: str) -> ScriptAction | None:
    if not command:
        return None
    try:
        words = shlex.split(command, comments=True)
    except ValueError:
        words = command.split()
    if not words:
        return None
    name, args = words[0], words[1:]
    if name == "sleep" and args:
        return ScriptAction("sleep", seconds=sum(parse_duration(a) for a in args))
    if name == "exit":
        try:
            return ScriptAction("exit", code=int(args[0]) if args else 0)
        except ValueError:
            return ScriptAction("exit", code=2)
    if name == "false":
        return ScriptAction("exit", code=1)
    if name in ("echo", "printf"):
        while args and args[0].startswith("-") and name == "echo":
            args = args[1:]
        text = " ".join(args)
        return ScriptAction("log", text=text.replace("\\n", "\n") if name == "printf" else text)
    return None


class _Abort(Exception):
    """The execution was aborted while this coroutine waited."""


class _Timeout(Exception):
    """The step ran past its ``timeout``."""


@dataclass
class Runtime:
    """Per-execution asyncio objects (never persisted)."""

    abort: asyncio.Event = field(default_factory=asyncio.Event)
    resume: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    running_steps: int = 0
    held: int = 0  # coroutines waiting at a node boundary for a Resume
    approval_events: dict[str, asyncio.Event] = field(default_factory=dict)
    decisions: dict[str, tuple[bool, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.resume.set()


class _StepClock:
    """Emulated time inside one step.

    ``elapsed`` is the step time at the current action boundary; ``offset`` is how much step time had
    already passed when a restarted emulator resumed the step, so the interrupted wait is shortened.
    """

    def __init__(
        self, engine: Engine, execution: Execution, *, elapsed: float, offset: float, timeout: float | None
    ) -> None:
        self.engine = engine
        self.execution = execution
        self.elapsed = elapsed
        self.offset = offset
        self.timeout = timeout

    async def advance(self, seconds: float) -> None:
        target = self.elapsed + max(0.0, seconds)
        if self.timeout is not None and target > self.timeout:
            await self._until(self.timeout)
            raise _Timeout
        await self._until(target)

    async def _until(self, target: float) -> None:
        start = max(self.elapsed, self.offset)
        if target > start:
            await self.engine.sleep(self.execution, target - start)
        self.elapsed = target


@dataclass
class StepContext:
    """What a registered step handler gets: the execution, its stage and step, and the step's clock.

    Handlers run their work as :class:`ScriptAction` lists through :meth:`run`, so that the step takes
    emulated time, stops on abort and resumes after a restart like every other step.
    """

    engine: Engine
    execution: Execution
    stage: Node
    step: Node
    clock: _StepClock

    def log(self, text: str, *, level: str = "INFO") -> None:
        """Write a line to the step's log."""
        self.engine.append_log(self.execution, self.step, text, level=level)

    async def run(self, actions: list[ScriptAction]) -> int:
        """Perform ``actions`` in emulated time; the exit code (0, or the first non-zero effect/exit)."""
        return await self.engine._run_actions(self.execution, self.step, self.clock, actions)

    def resolve(self, value: Any) -> Any:
        """``value`` with ``<+...>`` expressions resolved in this step's context."""
        return resolve_expressions(
            value, self.engine.expression_lookup(self.execution, self.stage, self.step)
        )

    def fail(self, message: str) -> tuple[str, dict[str, Any] | None]:
        """Log ``message`` as an error and return a ``Failed`` outcome carrying it."""
        self.log(message, level="ERROR")
        return "Failed", _failure(message, "APPLICATION_ERROR")


#: An async step handler: ``(status, failure)`` for one attempt of the step.
StepHandler = Callable[[StepContext], Awaitable[tuple[str, dict[str, Any] | None]]]
#: Called when a stage ends with any outcome (success, failure, abort; not on shutdown).
StageEndHook = Callable[[Execution, Node], None]


class Engine:
    """Creates executions, runs them, and applies interrupts, retries and approval decisions."""

    def __init__(self, core: Emulator) -> None:
        self.core = core
        self.runtimes: dict[str, Runtime] = {}
        self.log_index: dict[tuple[str, str], tuple[str, str]] = {}  # (account, key) -> (execution, node)
        self.step_handlers: dict[str, StepHandler] = {}
        self.stage_end_hooks: list[StageEndHook] = []

    def register_step_types(self, step_types: Iterable[str], handler: StepHandler) -> None:
        """Run steps of ``step_types`` with ``handler`` (a module's own simulation, e.g. IaCM)."""
        for step_type in step_types:
            self.step_handlers[step_type] = handler

    def on_stage_end(self, hook: StageEndHook) -> None:
        """Call ``hook(execution, stage)`` whenever a stage ends (success, failure or abort)."""
        self.stage_end_hooks.append(hook)

    @property
    def settings(self) -> Any:
        return self.core.settings

    # ---- creation --------------------------------------------------------------------------------
    def start_execution(
        self,
        *,
        account: str,
        org: str,
        project: str,
        pipeline: dict[str, Any],
        input_yaml: str,
        notes: str = "",
        module: str | None = None,
        trigger_info: dict[str, Any] | None = None,
        trigger_payload: Any = None,
        selected_stages: list[str] | None = None,
        retry_of: Execution | None = None,
        rerun_stages: set[str] | None = None,
        retry_stages: list[str] | None = None,
    ) -> Execution:
        """Plan and start a new execution of the merged ``pipeline`` mapping."""
        store = self.core.store
        pipeline_id = str(pipeline["identifier"])
        run_sequence = store.next_run_sequence(account, org, project, pipeline_id)
        execution_id = self.core.ids.uuid()
        log_prefix = (
            f"accountId:{account}/orgId:{org}/projectId:{project}/pipelineId:{pipeline_id}"
            f"/runSequence:{run_sequence}/level0:pipeline"
        )
        selected = set(selected_stages) if selected_stages else None
        stages = build_stage_nodes(pipeline, self.core.ids, log_prefix, selected)
        modules = sorted({stage_module(stage.type) for stage in (s for g in stages for s in g)})
        now = now_ms()
        tags = pipeline.get("tags") or {}
        execution = Execution(
            id=execution_id,
            account=account,
            org=org,
            project=project,
            pipeline_id=pipeline_id,
            pipeline_name=str(pipeline.get("name") or pipeline_id),
            run_sequence=run_sequence,
            module=module or ("cd" if "cd" in modules else modules[0] if modules else "pms"),
            status="Running",
            created_at=now,
            start_ts=now,
            stages=stages,
            trigger_info=trigger_info or manual_trigger_info(),
            notes=notes,
            tags=[{"key": str(k), "value": "" if v is None else str(v)} for k, v in tags.items()]
            if isinstance(tags, dict)
            else [],
            input_yaml=input_yaml,
            trigger_payload=trigger_payload,
            stages_executed=list(selected_stages) if selected_stages else None,
            allow_stage_executions=bool(pipeline.get("allowStageExecutions", False)),
            notification_rules=list(pipeline.get("notificationRules") or []),
            pipeline_yaml=dump_yaml({"pipeline": pipeline}),
        )
        execution.logs[log_prefix] = []
        lookup = self.expression_lookup(execution, None, None)
        execution.variables = {
            name: resolve_expressions(value, lookup) for name, value in variables_of(pipeline).items()
        }
        if retry_of is not None:
            self._carry_over(execution, retry_of, rerun_stages or set())
            execution.retry_of = retry_of.id
            execution.retry_root = retry_of.retry_root or retry_of.id
            execution.retry_stages = list(retry_stages or [])
            execution.skip_stages = [s.identifier for s in execution.all_stages() if s.copied]
            retry_of.retried_by = execution.id
            self.touch(retry_of)
        store.add_execution(execution)
        self._index_logs(execution)
        self._launch(execution)
        return execution

    def _carry_over(self, execution: Execution, parent: Execution, rerun: set[str]) -> None:
        """Copy the stages that are not re-run from the parent (status, times, logs)."""
        parent_nodes = {node.fqn: node for node in parent.all_nodes()}
        for stage in execution.all_stages():
            if stage.identifier in rerun:
                continue
            for node in stage.walk():
                old = parent_nodes.get(node.fqn)
                if old is None:
                    continue
                node.status, node.start_ts, node.end_ts = old.status, old.start_ts, old.end_ts
                node.failure, node.skip_reason, node.copied = (
                    copy.deepcopy(old.failure),
                    old.skip_reason,
                    True,
                )
                node.uuid = old.uuid
                if old.log_key in parent.logs:
                    execution.logs[node.log_key] = copy.deepcopy(parent.logs[old.log_key])

    def _index_logs(self, execution: Execution) -> None:
        self.log_index[(execution.account, next(iter(execution.logs), ""))] = (execution.id, "")
        for node in execution.all_nodes():
            self.log_index[(execution.account, node.log_key)] = (execution.id, node.uuid)

    def _launch(self, execution: Execution) -> None:
        runtime = Runtime()
        if execution.abort_requested:
            runtime.abort.set()
        if execution.pause_requested:
            runtime.resume.clear()
        self.runtimes[execution.id] = runtime
        runtime.task = asyncio.get_running_loop().create_task(self._drive(execution))

    def resume_all(self) -> None:
        """Restart the drivers of persisted executions that had not finished (after a restart)."""
        for execution in self.core.store.executions.values():
            self._index_logs(execution)
            if not execution.terminal and execution.id not in self.runtimes:
                log.info("resuming execution %s (%s)", execution.id, execution.status)
                self._launch(execution)

    def cancel_all(self) -> None:
        """Stop every driver (reset)."""
        for runtime in self.runtimes.values():
            if runtime.task is not None:
                runtime.task.cancel()
        self.runtimes.clear()
        self.log_index.clear()

    async def stop(self) -> None:
        """Cancel and await every driver (shutdown; persisted executions resume on the next start)."""
        tasks = [rt.task for rt in self.runtimes.values() if rt.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self.runtimes.clear()

    def touch(self, execution: Execution) -> None:
        """Record a change (invalidates cached bodies, schedules persistence)."""
        execution.version += 1
        self.core.store.mark_dirty()

    # ---- time ------------------------------------------------------------------------------------
    async def sleep(self, execution: Execution, emulated_seconds: float) -> None:
        """Wait emulated seconds; raise :class:`_Abort` as soon as the execution is aborted."""
        runtime = self.runtimes[execution.id]
        if runtime.abort.is_set():
            raise _Abort
        wall = self.settings.wall_seconds(emulated_seconds)
        if wall <= 0:
            return
        try:
            await asyncio.wait_for(runtime.abort.wait(), wall)
        except TimeoutError:
            return
        raise _Abort

    async def _gate(self, execution: Execution) -> None:
        """A node boundary: block while a Pause is pending; raise :class:`_Abort` when aborted."""
        runtime = self.runtimes[execution.id]
        while True:
            if runtime.abort.is_set():
                raise _Abort
            if not execution.pause_requested:
                return
            runtime.held += 1
            try:
                self.refresh(execution)
                await runtime.resume.wait()
            finally:
                runtime.held -= 1

    # ---- driver ----------------------------------------------------------------------------------
    async def _drive(self, execution: Execution) -> None:
        try:
            if not execution.start_notified:
                execution.start_notified = True
                self.core.notifier.emit(execution, "PipelineStart")
            failed = any(s.status in BROKEN_STATUSES for s in execution.all_stages())
            groups = execution.stages
            for index, group in enumerate(groups):
                if self.runtimes[execution.id].abort.is_set():
                    break
                pending = [stage for stage in group if not stage.terminal]
                if not pending:
                    continue
                later = [s for g in groups[index:] for s in g if not s.terminal]
                if failed and not any(_when_status(s) in ("Failure", "All") for s in later):
                    break
                await asyncio.gather(*(self._run_stage(execution, stage, failed) for stage in pending))
                failed = failed or any(stage.status in BROKEN_STATUSES for stage in group)
            await self._finish(execution)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("execution %s crashed in the emulator", execution.id)
            execution.status = "Errored"
            execution.end_ts = now_ms()
            execution.failure = _failure(f"Emulator error: {exc}", "UNKNOWN")
            self.touch(execution)
        finally:
            runtime = self.runtimes.get(execution.id)
            if runtime is not None and execution.terminal:
                self.runtimes.pop(execution.id, None)

    async def _finish(self, execution: Execution) -> None:
        if execution.abort_requested:
            await asyncio.sleep(max(self.settings.min_step_seconds, self.settings.wall_seconds(1.0)))
            now = now_ms()
            for node in execution.all_nodes():
                if node.start_ts is not None and not node.terminal:
                    node.status, node.end_ts = "Aborted", now
            status = "Aborted"
        else:
            statuses = [stage.status for stage in execution.all_stages()]
            status = "Success"
            for candidate in ("Failed", "Errored", "Expired", "ApprovalRejected"):
                if candidate in statuses:
                    status = candidate
                    break
            if status != "Success":
                failed_stage = next(s for s in execution.all_stages() if s.status == status)
                execution.failure = failed_stage.failure
        execution.status = status
        execution.end_ts = now_ms()
        self.touch(execution)
        notifier = self.core.notifier
        if status == "Success":
            notifier.emit(execution, "PipelineSuccess")
        elif status != "Aborted":
            notifier.emit(execution, "PipelineFailed")
        notifier.emit(execution, "PipelineEnd")

    async def _run_stage(self, execution: Execution, stage: Node, pipeline_failed: bool) -> None:
        try:
            await self._stage_body(execution, stage, pipeline_failed)
        except asyncio.CancelledError:  # shutdown or reset: the stage has not ended
            raise
        except BaseException:
            self._stage_ended(execution, stage)
            raise
        self._stage_ended(execution, stage)

    def _stage_ended(self, execution: Execution, stage: Node) -> None:
        for hook in self.stage_end_hooks:
            try:
                hook(execution, stage)
            except Exception:
                log.exception("stage-end hook failed for %s/%s", execution.id, stage.identifier)

    async def _stage_body(self, execution: Execution, stage: Node, pipeline_failed: bool) -> None:
        if stage.start_ts is None:
            wanted = _when_status(stage)
            runs = {"Success": not pipeline_failed, "Failure": pipeline_failed, "All": True}.get(wanted, True)
            condition = (stage.spec.get("when") or {}).get("condition")
            if runs and condition is not None:
                runs = evaluate_condition(condition, self.expression_lookup(execution, stage, None))
            if not runs:
                now = now_ms()
                stage.status, stage.start_ts, stage.end_ts = "Skipped", now, now
                stage.skip_reason = f"Stage skipped: when condition (pipelineStatus: {wanted}) not met"
                self.touch(execution)
                return
        try:
            await self._gate(execution)
            if stage.start_ts is None:
                stage.start_ts = now_ms()
                self.core.notifier.emit(execution, "StageStart", stage=stage)
            stage.status = "Running"
            self.refresh(execution)
            await self._run_items(execution, stage, stage.items)
        except _Abort:
            if stage.start_ts is not None:
                stage.status, stage.end_ts = "Aborted", now_ms()
                self.touch(execution)
            return
        broken = [n for group in stage.items for n in group if n.status in BROKEN_STATUSES]
        if broken:
            stage.status = broken[0].status
            stage.failure = broken[0].failure
        else:
            stage.status = "Success"
        stage.end_ts = now_ms()
        self.refresh(execution)
        self.touch(execution)
        self.core.notifier.emit(
            execution, "StageSuccess" if stage.status == "Success" else "StageFailed", stage=stage
        )

    async def _run_items(self, execution: Execution, stage: Node, items: list[list[Node]]) -> None:
        for group in items:
            pending = [node for node in group if not node.terminal]
            results = await asyncio.gather(
                *(self._run_node(execution, stage, node) for node in pending), return_exceptions=True
            )
            for result in results:
                if isinstance(result, _Abort):
                    raise result
                if isinstance(result, BaseException):
                    raise result
            if any(node.status in BROKEN_STATUSES for node in group):
                return

    async def _run_node(self, execution: Execution, stage: Node, node: Node) -> None:
        if node.kind != "stepGroup":
            await self._run_step(execution, stage, node)
            return
        await self._gate(execution)
        if node.start_ts is None:
            node.start_ts = now_ms()
        node.status = "Running"
        self.touch(execution)
        try:
            await self._run_items(execution, stage, node.items)
        except _Abort:
            node.status, node.end_ts = "Aborted", now_ms()
            raise
        broken = [n for g in node.items for n in g if n.status in BROKEN_STATUSES]
        node.status = broken[0].status if broken else "Success"
        node.failure = broken[0].failure if broken else None
        node.end_ts = now_ms()
        self.touch(execution)

    async def _run_step(self, execution: Execution, stage: Node, step: Node) -> None:
        condition = (step.spec.get("when") or {}).get("condition")
        if (
            step.start_ts is None
            and condition is not None
            and not evaluate_condition(condition, self.expression_lookup(execution, stage, step))
        ):
            now = now_ms()
            step.status, step.start_ts, step.end_ts = "Skipped", now, now
            step.skip_reason = "Step skipped: when condition not met"
            self.touch(execution)
            return
        await self._gate(execution)
        runtime = self.runtimes[execution.id]
        runtime.running_steps += 1
        offset: float | None = None
        if step.start_ts is None:
            step.start_ts = now_ms()
        else:  # resumed after a restart: skip what already ran
            scale = self.settings.time_scale or 1.0
            offset = max(0.0, (now_ms() - step.start_ts) / 1000 / scale)
        try:
            strategy = self._failure_strategy(stage, step)
            retries_left = int(((strategy or {}).get("spec") or {}).get("retryCount") or 0)
            status, failure = await self._attempt(execution, stage, step, offset)
            while (
                status in BROKEN_STATUSES
                and strategy
                and strategy.get("type") == "Retry"
                and retries_left > 0
            ):
                retries_left -= 1
                intervals = (strategy.get("spec") or {}).get("retryIntervals") or ["1s"]
                self.append_log(execution, step, f"Retrying step after failure ({retries_left} retries left)")
                await self.sleep(execution, parse_duration(intervals[0]))
                status, failure = await self._attempt(execution, stage, step, None)
            if status in BROKEN_STATUSES and strategy is not None:
                action = strategy
                if action.get("type") == "Retry":
                    action = (((action.get("spec") or {}).get("onRetryFailure") or {}).get("action")) or {}
                if action.get("type") == "Ignore":
                    status = "IgnoreFailed"
                elif action.get("type") == "MarkAsSuccess":
                    status, failure = "Success", None
            step.status, step.failure, step.end_ts = status, failure, now_ms()
            self.touch(execution)
            if status in BROKEN_STATUSES or status == "IgnoreFailed":
                self.core.notifier.emit(execution, "StepFailed", stage=stage, step=step)
        except _Abort:
            step.status, step.end_ts = "Aborted", now_ms()
            self.touch(execution)
            raise
        finally:
            runtime.running_steps -= 1
            self.refresh(execution)

    async def _attempt(
        self, execution: Execution, stage: Node, step: Node, offset: float | None
    ) -> tuple[str, dict[str, Any] | None]:
        """Run one attempt of a step; ``offset`` is the step time already passed when resuming."""
        started = time.monotonic()
        step_type = step.type
        timeout_raw = step.spec.get("timeout")
        timeout = parse_duration(timeout_raw) if timeout_raw else None
        if step_type in APPROVAL_STEP_TYPES:
            return await self._approval(execution, step, timeout or DEFAULT_APPROVAL_TIMEOUT)
        if offset is None:  # a fresh attempt, not one resumed after a restart
            step.actions_done, step.progress = 0, 0.0
        clock = _StepClock(self, execution, elapsed=step.progress, offset=offset or 0.0, timeout=timeout)
        step.status = "WaitStepRunning" if step_type == "Wait" else "Running"
        self.refresh(execution)
        status, failure = "Success", None
        handler = self.step_handlers.get(step_type)
        try:
            if handler is not None:
                status, failure = await handler(StepContext(self, execution, stage, step, clock))
            elif step_type == "ShellScript":
                status, failure = await self._shell(execution, stage, step, clock)
            elif step_type == "Wait":
                duration = parse_duration((step.spec.get("spec") or {}).get("duration", "10s"))
                await self._run_actions(execution, step, clock, [ScriptAction("sleep", seconds=duration)])
            else:
                actions = [
                    ScriptAction("log", text=f"Executing {step_type} step '{step.name}' (emulated)"),
                    ScriptAction("sleep", seconds=self.settings.default_step_seconds),
                ]
                await self._run_actions(execution, step, clock, actions)
        except _Timeout:
            self.append_log(execution, step, f"Step timed out after {timeout_raw}", level="ERROR")
            status, failure = "Expired", _failure(f"Step timed out after {timeout_raw}", "TIMEOUT_ERROR")
        remaining = self.settings.min_step_seconds - (time.monotonic() - started)
        if remaining > 0:
            runtime = self.runtimes[execution.id]
            try:
                await asyncio.wait_for(runtime.abort.wait(), remaining)
                raise _Abort
            except TimeoutError:
                pass
        return status, failure

    async def _run_actions(
        self, execution: Execution, step: Node, clock: _StepClock, actions: list[ScriptAction]
    ) -> int:
        """Perform actions in emulated time (skipping those done before a restart); return the exit code."""
        for index, action in enumerate(actions):
            if index < step.actions_done:
                if action.kind == "exit":
                    return action.code
                continue
            if action.kind == "sleep":
                await clock.advance(action.seconds)
            elif action.kind == "log":
                for line in action.text.split("\n"):
                    self.append_log(execution, step, line)
            code = action.code
            if action.kind == "effect" and action.effect is not None:
                code = action.effect()
            step.actions_done, step.progress = index + 1, clock.elapsed
            self.core.store.mark_dirty()
            if action.kind == "exit" or code:
                return code
        return 0

    async def _shell(
        self, execution: Execution, stage: Node, step: Node, clock: _StepClock
    ) -> tuple[str, dict[str, Any] | None]:
        source = (step.spec.get("spec") or {}).get("source") or {}
        script = str((source.get("spec") or {}).get("script") or "")
        script = str(resolve_expressions(script, self.expression_lookup(execution, stage, step)))
        actions = [ScriptAction("log", text="Executing command ..."), *parse_script(script)]
        code = await self._run_actions(execution, step, clock, actions)
        self.append_log(
            execution,
            step,
            f"Command completed with ExitCode ({code})",
            level="INFO" if code == 0 else "ERROR",
        )
        if code != 0:
            return "Failed", _failure(SHELL_FAILURE_MESSAGE, "APPLICATION_ERROR")
        return "Success", None

    async def _approval(
        self, execution: Execution, step: Node, timeout: float
    ) -> tuple[str, dict[str, Any] | None]:
        runtime = self.runtimes[execution.id]
        event = runtime.approval_events.setdefault(step.uuid, asyncio.Event())
        step.status = "ApprovalWaiting"
        self.refresh(execution)
        self.append_log(
            execution, step, "Approval is waiting for a decision (approve or reject via the emulator)"
        )
        wall = self.settings.wall_seconds(timeout)
        waiter = asyncio.ensure_future(event.wait())
        aborter = asyncio.ensure_future(runtime.abort.wait())
        try:
            await asyncio.wait({waiter, aborter}, timeout=wall, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            aborter.cancel()
        runtime.approval_events.pop(step.uuid, None)
        if runtime.abort.is_set():
            raise _Abort
        decision = runtime.decisions.pop(step.uuid, None)
        if decision is None:
            self.append_log(execution, step, "Approval expired", level="ERROR")
            return "Expired", _failure("Approval Step has expired", "EXPIRED")
        approved, comments = decision
        self.append_log(
            execution, step, f"Approval {'approved' if approved else 'rejected'}: {comments}".rstrip(": ")
        )
        if approved:
            return "Success", None
        return "ApprovalRejected", _failure("Approval Step has been Rejected", "APPROVAL_REJECTION")

    @staticmethod
    def _failure_strategy(stage: Node, step: Node) -> dict[str, Any] | None:
        for owner in (step.spec, stage.spec):
            for strategy in owner.get("failureStrategies") or []:
                on_failure = (strategy or {}).get("onFailure") or {}
                errors = on_failure.get("errors") or ["AllErrors"]
                if "AllErrors" in errors or "Unknown" in errors or "Timeout" in errors:
                    action = on_failure.get("action")
                    if isinstance(action, dict):
                        return action
        return None

    # ---- status roll-up --------------------------------------------------------------------------
    def refresh(self, execution: Execution) -> None:
        """Recompute the live pipeline/stage statuses of a running execution."""
        if execution.terminal:
            return
        runtime = self.runtimes.get(execution.id)
        running_steps = runtime.running_steps if runtime else 0
        held = runtime.held if runtime else 0
        waiting = any(node.status == "ApprovalWaiting" for node in execution.all_nodes())
        if execution.abort_requested:
            status = "Discontinuing"
        elif execution.pause_requested:
            # Paused only once the pause has landed at a boundary (a node is held, no step runs);
            # between a finished last step and the end of the execution it stays Pausing.
            status = "Paused" if running_steps == 0 and held > 0 else "Pausing"
        elif waiting:
            status = "ApprovalWaiting"
        else:
            status = "Running"
        previous = execution.status
        execution.status = status
        for stage in execution.all_stages():
            if stage.status in ACTIVE_STAGE_STATUSES:
                if status in ("Paused", "Discontinuing"):
                    stage.status = status
                elif any(n.status == "ApprovalWaiting" for n in stage.walk()):
                    stage.status = "ApprovalWaiting"
                else:
                    stage.status = "Running"
        self.touch(execution)
        if status == "Paused" and previous != "Paused":
            self.core.notifier.emit(execution, "PipelinePaused")

    # ---- interrupts and decisions ----------------------------------------------------------------
    def interrupt(self, execution: Execution, interrupt_type: str) -> dict[str, Any]:
        """Apply ``AbortAll`` (or legacy ``Pause``/``Resume``); Harness's errors otherwise."""
        if execution.terminal:
            raise HarnessError.invalid_request(
                f"Execution is already finished with status: [{engine_status(execution.status)}]"
            )
        runtime = self.runtimes.get(execution.id)
        if interrupt_type == "AbortAll":
            if execution.abort_requested:
                raise HarnessError("ABORT_ALL_ALREADY_NG", "Execution abort is already under progress.")
            execution.abort_requested = True
            execution.aborted_by = {
                "userName": "emulator",
                "email": "emulator@harness.io",
                "createdAt": now_ms(),
            }
            if runtime is not None:
                runtime.abort.set()
                runtime.resume.set()
        elif interrupt_type == "Pause":
            if execution.abort_requested:
                raise HarnessError("ABORT_ALL_ALREADY_NG", "Execution abort is already under progress.")
            if execution.pause_requested:
                raise HarnessError.invalid_request("Execution already has PAUSE_ALL interrupt")
            execution.pause_requested = True
            if runtime is not None:
                runtime.resume.clear()
        elif interrupt_type == "Resume":
            if not execution.pause_requested:
                raise HarnessError.invalid_request("No PAUSE_ALL interrupt present")
            execution.pause_requested = False
            if runtime is not None:
                runtime.resume.set()
        else:  # pragma: no cover - callers validate the type
            raise HarnessError.invalid_request(f"Unsupported interrupt type {interrupt_type}")
        record = {"id": self.core.ids.uuid(), "type": interrupt_type, "planExecutionId": execution.id}
        execution.interrupts.append({**record, "createdAt": now_ms()})
        self.refresh(execution)
        return record

    def decide_approval(
        self, execution: Execution, *, approve: bool, step_identifier: str | None = None, comments: str = ""
    ) -> Node:
        """Approve or reject a waiting approval step; ``LookupError`` when none is waiting."""
        runtime = self.runtimes.get(execution.id)
        for node in execution.all_nodes():
            if node.status != "ApprovalWaiting" or (step_identifier and node.identifier != step_identifier):
                continue
            if runtime is None or node.uuid not in runtime.approval_events:
                continue
            runtime.decisions[node.uuid] = (approve, comments)
            runtime.approval_events[node.uuid].set()
            return node
        raise LookupError(
            f"execution {execution.id} has no approval step waiting"
            + (f" with identifier {step_identifier!r}" if step_identifier else "")
        )

    # ---- logs and expressions --------------------------------------------------------------------
    def append_log(self, execution: Execution, node: Node, text: str, *, level: str = "INFO") -> None:
        """Add one log line to a node's log stream (and wake stream readers)."""
        lines = execution.logs.setdefault(node.log_key, [])
        line = {
            "level": level,
            "pos": len(lines),
            "out": text + "\n",
            "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "args": {},
        }
        lines.append(line)
        self.core.store.mark_dirty()
        self.core.logs.publish(execution.account, node.log_key)

    def expression_lookup(
        self, execution: Execution, stage: Node | None, step: Node | None
    ) -> Callable[[str], Any]:
        """A resolver for ``<+...>`` expressions in the context of one stage/step."""

        def lookup(expression: str) -> Any:
            parts = expression.split(".")
            head = parts[0]
            if head == "pipeline":
                return _pipeline_expression(execution, parts[1:])
            if head == "stage" and stage is not None:
                if parts[1:2] == ["variables"] and len(parts) == 3:
                    return variables_of(stage.spec).get(parts[2])
                return {"identifier": stage.identifier, "name": stage.name, "type": stage.type}.get(
                    ".".join(parts[1:])
                )
            if head == "step" and step is not None:
                return {"identifier": step.identifier, "name": step.name, "type": step.type}.get(
                    ".".join(parts[1:])
                )
            if head == "trigger":
                if parts[1:2] == ["payload"]:
                    return _dig(execution.trigger_payload, parts[2:])
                if parts[1:2] == ["type"]:
                    return execution.trigger_info.get("triggerType")
            if head in ("account", "org", "project") and parts[1:] == ["identifier"]:
                return {"account": execution.account, "org": execution.org, "project": execution.project}[
                    head
                ]
            return None

        return lookup


def _pipeline_expression(execution: Execution, parts: list[str]) -> Any:
    simple = {
        "sequenceId": execution.run_sequence,
        "executionId": execution.id,
        "name": execution.pipeline_name,
        "identifier": execution.pipeline_id,
        "startTs": execution.start_ts,
        "triggerType": execution.trigger_info.get("triggerType"),
    }
    key = ".".join(parts)
    if key in simple:
        return simple[key]
    if parts[:1] == ["variables"] and len(parts) == 2:
        return execution.variables.get(parts[1])
    if parts[:1] == ["triggeredBy"] and len(parts) == 2:
        triggered_by = execution.trigger_info.get("triggeredBy") or {}
        return {
            "name": triggered_by.get("identifier"),
            "email": (triggered_by.get("extraInfo") or {}).get("email"),
        }.get(parts[1])
    if parts[:1] == ["stages"] and len(parts) == 4 and parts[2] == "variables":
        for stage in execution.all_stages():
            if stage.identifier == parts[1]:
                return variables_of(stage.spec).get(parts[3])
    return None


def _dig(value: Any, path: list[str]) -> Any:
    for part in path:
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _when_status(stage: Node) -> str:
    return str((stage.spec.get("when") or {}).get("pipelineStatus") or "Success")


def evaluate_condition(condition: Any, lookup: Callable[[str], Any]) -> bool:
    """Evaluate a simple Harness ``when`` condition (``true``, ``a == "b"``, ``&&``, ``||``).

    >>> evaluate_condition('<+x> == "1" || false', lambda e: "1")
    True
    """
    if isinstance(condition, bool):
        return condition
    text = str(resolve_expressions(str(condition), lookup)).strip()
    return any(all(_compare(term) for term in clause.split("&&")) for clause in text.split("||"))


def _compare(term: str) -> bool:
    term = term.strip().strip("()").strip()
    for operator in ("==", "!="):
        if operator in term:
            left, right = (side.strip().strip("'\"") for side in term.split(operator, 1))
            return (left == right) if operator == "==" else (left != right)
    return term.strip("'\"").lower() not in ("false", "", "null", "0")


def _failure(message: str, failure_type: str) -> dict[str, Any]:
    return {
        "message": message,
        "failureTypeList": [failure_type],
        "responseMessages": [
            {
                "code": "GENERAL_ERROR",
                "level": "ERROR",
                "message": message,
                "exception": None,
                "failureTypes": [failure_type],
            }
        ],
    }


def manual_trigger_info(user: str = "emulator", email: str = "emulator@harness.io") -> dict[str, Any]:
    """``executionTriggerInfo`` of an execution started through the API with a key."""
    return {
        "triggerType": "MANUAL",
        "triggeredBy": {"uuid": "emulatorUserUuid00000", "identifier": user, "extraInfo": {"email": email}},
        "isRerun": False,
    }
