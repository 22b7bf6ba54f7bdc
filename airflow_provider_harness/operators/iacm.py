"""Harness IaCM from a DAG: run a workspace, give it a time to live, send it events.

Workspaces themselves are resources: create, update, read, list and delete them with the resource
operators (``HarnessApplyResourceOperator(spec={"kind": "workspace", ...})``), which report ``created`` /
``updated`` / ``unchanged`` and never show secret variable values.

* :class:`HarnessWorkspaceRunOperator` - run the workspace's plan / apply / destroy pipeline with the
  workspace as input, wait like :class:`~.executions.HarnessRunPipelineOperator` (sync or deferred,
  abort on kill, no second run on an Airflow retry, "Harness execution" link), return what it changed
  and the workspace's outputs.
* :class:`HarnessWorkspaceTTLOperator` - set (or remove) a workspace's time to live.
* :class:`HarnessWorkspaceEventOperator` - send a workspace event.

Module import is cheap (DAG parse time): httpx, YAML and the client load inside methods.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from airflow_provider_harness.airflow_compat import BaseOperator
from airflow_provider_harness.connection_fields import DEFAULT_CONN_ID
from airflow_provider_harness.hooks.harness import HarnessTaskMixin
from airflow_provider_harness.operators.executions import HarnessExecutionError, HarnessRunPipelineOperator


class HarnessWorkspaceRunOperator(HarnessRunPipelineOperator):
    """Run an IaCM workspace (plan, apply or destroy) and return what the run changed.

    Harness has no "run a workspace" endpoint: a run is an execution of a pipeline with an IaCM stage
    (``type: IACM``) whose ``workspace`` is this workspace, fixed or given as a runtime input (this
    operator fills ``<+input>``). ``pipeline_id`` defaults to the workspace's ``default_pipelines[action]``.
    Waiting, ``deferrable``, ``timeout``, ``cancel_on_kill``, ``retry_strategy`` and the reattach on an
    Airflow retry are those of :class:`~.executions.HarnessRunPipelineOperator`.

    Returns ``{"execution_id", "workspace_id", "action", "activity_type", "activity_status",
    "resources": {"added", "changed", "destroyed"}, "workspace_status", "outputs": {name: value}}``;
    sensitive outputs are ``***`` (only the execution id when ``wait_for_completion=False``).

    Example::

        HarnessWorkspaceRunOperator(
            task_id="apply_infra",
            workspace_id="backfill_env",
            action="apply",
            pipeline_id="iacm_apply",
            deferrable=True,
        )
    """

    template_fields: Sequence[str] = (*HarnessRunPipelineOperator.template_fields, "workspace_id", "action")

    def __init__(
        self,
        *,
        workspace_id: str,
        action: str = "apply",
        pipeline_id: str | None = None,
        module: str | None = "iacm",
        **kwargs: Any,
    ) -> None:
        super().__init__(pipeline_id=pipeline_id or "", module=module, **kwargs)
        self.workspace_id = workspace_id
        self.action = action

    def _checked_workspace(self) -> str:
        from airflow_provider_harness.client.identifiers import validate_identifier
        from airflow_provider_harness.client.modules.iacm import RUN_ACTIONS

        workspace_id = validate_identifier(self.workspace_id, field="workspace_id")
        if self.action not in RUN_ACTIONS:
            raise ValueError(f"action: {self.action!r} is not one of {list(RUN_ACTIONS)}")
        return workspace_id

    def execute(self, context: Any) -> dict[str, Any]:  # type: ignore[override]
        from airflow_provider_harness.client.executions import load_yaml_field
        from airflow_provider_harness.client.identifiers import validate_identifier
        from airflow_provider_harness.client.modules import iacm
        from airflow_provider_harness.client.resource_kinds import resource_kind
        from airflow_provider_harness.client.resources import ResourceRef, get

        workspace_id = self._checked_workspace()
        if self.pipeline_id:
            validate_identifier(self.pipeline_id, field="pipeline_id", allow_dollar=False)
        self._validate_common()
        given = self.runtime_inputs
        if isinstance(given, str):
            given = load_yaml_field(given, "runtime_inputs") if given.strip() else None
        if given is not None and not isinstance(given, Mapping):
            raise ValueError("runtime_inputs: expected a 'pipeline:' document")
        where = f"{self.scope['orgIdentifier']}/{self.scope['projectIdentifier']}"
        workspace = get(self.client, ResourceRef(iacm.WORKSPACE, self.scope, workspace_id))
        if workspace is None:
            raise HarnessExecutionError(
                f"workspace_id: workspace {workspace_id!r} does not exist in {where}; create it first "
                "(HarnessApplyResourceOperator with kind 'workspace')"
            )
        pipeline_id = self.pipeline_id or iacm.default_pipeline(workspace.entity, self.action)
        if not pipeline_id:
            raise ValueError(
                f"pipeline_id: workspace {workspace_id!r} names no default {self.action} pipeline; "
                "pass pipeline_id="
            )
        pipeline_id = validate_identifier(pipeline_id, field="pipeline_id", allow_dollar=False)
        pipeline = get(self.client, ResourceRef(resource_kind("pipeline"), self.scope, pipeline_id))
        if pipeline is None:
            raise HarnessExecutionError(f"pipeline_id: pipeline {pipeline_id!r} does not exist in {where}")
        self.pipeline_id = pipeline_id
        self.runtime_inputs = iacm.workspace_run_inputs(pipeline.entity, pipeline_id, workspace_id, given)
        self.log.info("Running %s of workspace %s with pipeline %s", self.action, workspace_id, pipeline_id)
        return self._outcome(super().execute(context))

    def execute_complete(  # type: ignore[override]
        self,
        context: Mapping[str, Any],
        event: dict[str, Any] | None = None,
        execution_id: str | None = None,
        try_number: int | None = None,
    ) -> dict[str, Any]:
        return self._outcome(super().execute_complete(context, event, execution_id, try_number))

    def _outcome(self, result: Any) -> dict[str, Any]:
        """The run's outcome (``result`` is the execution id, or already an outcome after a restart)."""
        from airflow_provider_harness.client.modules.iacm import run_outcome

        if isinstance(result, Mapping):
            return dict(result)
        workspace_id = self._checked_workspace()
        if not self.wait_for_completion:
            return {"execution_id": result, "workspace_id": workspace_id, "action": self.action}
        outcome = run_outcome(self.client, self.scope, workspace_id, str(result), self.action)
        self.log.info("%s", outcome.describe())
        return outcome.to_dict()


class HarnessWorkspaceTTLOperator(HarnessTaskMixin, BaseOperator):
    """Give an IaCM workspace a time to live: destroy its infrastructure after a delay (or on a date) and
    optionally delete the workspace afterwards. ``remove=True`` takes the time to live away instead.

    The options are Harness's (``destroy_delay_value`` + ``destroy_delay_unit`` ``hours``/``days``, or
    ``destroy_on_date`` ``YYYY-MM-DD``; the same for ``delete_*`` with ``delete_workspace=True``); bad
    combinations fail before any request, naming the field. ``pipeline_id`` is the pipeline Harness runs
    to destroy. Returns ``{"workspace_id", "destroy_at", "delete_at", "status"}``.

    Example::

        HarnessWorkspaceTTLOperator(
            task_id="expire_in_6h",
            workspace_id="backfill_env",
            pipeline_id="iacm_destroy",
            destroy_delay_value=6,
            destroy_delay_unit="hours",
            delete_workspace=True,
        )
    """

    template_fields: Sequence[str] = (
        "workspace_id",
        "pipeline_id",
        "destroy_delay_value",
        "delete_delay_value",
        "destroy_on_date",
        "delete_on_date",
        "org_id",
        "project_id",
        "harness_conn_id",
    )
    ui_color = "#eef7e8"

    def __init__(
        self,
        *,
        workspace_id: str,
        pipeline_id: str | None = None,
        destroy_delay_value: int | str | None = None,
        destroy_delay_unit: str | None = None,
        destroy_on_date: date | str | None = None,
        delete_workspace: bool = False,
        delete_delay_value: int | str | None = None,
        delete_delay_unit: str | None = None,
        delete_on_date: date | str | None = None,
        remove: bool = False,
        harness_conn_id: str = DEFAULT_CONN_ID,
        org_id: str | None = None,
        project_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.workspace_id = workspace_id
        self.pipeline_id = pipeline_id
        self.destroy_delay_value = destroy_delay_value
        self.destroy_delay_unit = destroy_delay_unit
        self.destroy_on_date = destroy_on_date
        self.delete_workspace = delete_workspace
        self.delete_delay_value = delete_delay_value
        self.delete_delay_unit = delete_delay_unit
        self.delete_on_date = delete_on_date
        self.remove = remove
        self.harness_conn_id = harness_conn_id
        self.org_id = org_id
        self.project_id = project_id

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow_provider_harness.client.identifiers import validate_identifier
        from airflow_provider_harness.client.modules import iacm

        workspace_id = validate_identifier(self.workspace_id, field="workspace_id")
        self.validate_scope_ids()
        if self.remove:
            given = [n for n in ("pipeline_id", "destroy_delay_value", "destroy_on_date") if getattr(self, n)]
            if given:
                raise ValueError(f"remove: removing the time to live takes no {given}; drop them")
            self.client.send(iacm.delete_ephemeral_config_call(self.scope, workspace_id))
            self.log.info("Removed the time to live of workspace %s", workspace_id)
            return {"workspace_id": workspace_id, "destroy_at": None, "delete_at": None, "status": "removed"}
        if not self.pipeline_id:
            raise ValueError(
                "pipeline_id: the pipeline Harness runs to destroy the workspace; pass pipeline_id="
            )
        config = iacm.EphemeralConfig(
            pipeline_id=self.pipeline_id,
            destroy_delay_value=self.destroy_delay_value,
            destroy_delay_unit=self.destroy_delay_unit,
            destroy_on_date=self.destroy_on_date or None,
            delete_workspace=self.delete_workspace,
            delete_delay_value=self.delete_delay_value,
            delete_delay_unit=self.delete_delay_unit,
            delete_on_date=self.delete_on_date or None,
        )
        answer = self.client.send(iacm.set_ephemeral_config_call(self.scope, workspace_id, config))
        result = {
            "workspace_id": workspace_id,
            "destroy_at": answer.get("destroy_at") or None,
            "delete_at": answer.get("delete_at") or None,
            "status": answer.get("status"),
        }
        self.log.info(
            "Workspace %s: destroy at %s%s",
            workspace_id,
            result["destroy_at"],
            f", delete at {result['delete_at']}" if result["delete_at"] else "",
        )
        return result


class HarnessWorkspaceEventOperator(HarnessTaskMixin, BaseOperator):
    """Send an IaCM workspace event (``event_type``: ``plan``, ``drifted``, ``provisioning``,
    ``destroying``, ``active``, ``inactive``, ``apply_needed``, ``failed`` or ``stage-complete``).

    Example::

        HarnessWorkspaceEventOperator(
            task_id="report_drift",
            workspace_id="backfill_env",
            event_type="drifted",
            metadata={"drift_counts": {"changed": 2}},
        )
    """

    template_fields: Sequence[str] = (
        "workspace_id",
        "event_type",
        "pipeline_execution_id",
        "pipeline_stage_id",
        "data",
        "metadata",
        "org_id",
        "project_id",
        "harness_conn_id",
    )
    template_fields_renderers = {"data": "json", "metadata": "json"}

    def __init__(
        self,
        *,
        workspace_id: str,
        event_type: str,
        pipeline_execution_id: str | None = None,
        pipeline_stage_id: str | None = None,
        data: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        harness_conn_id: str = DEFAULT_CONN_ID,
        org_id: str | None = None,
        project_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.workspace_id = workspace_id
        self.event_type = event_type
        self.pipeline_execution_id = pipeline_execution_id
        self.pipeline_stage_id = pipeline_stage_id
        self.data = data
        self.metadata = metadata
        self.harness_conn_id = harness_conn_id
        self.org_id = org_id
        self.project_id = project_id

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow_provider_harness.client.modules.iacm import send_event_call

        self.validate_scope_ids()
        call = send_event_call(
            self.scope,
            self.workspace_id,
            self.event_type,
            pipeline_execution_id=self.pipeline_execution_id,
            pipeline_stage_id=self.pipeline_stage_id,
            data=self.data,
            metadata=self.metadata,
        )
        self.client.send(call)
        self.log.info("Sent %s event to workspace %s", self.event_type, self.workspace_id)
        return {"workspace_id": self.workspace_id, "event_type": self.event_type}


__all__ = ["HarnessWorkspaceEventOperator", "HarnessWorkspaceRunOperator", "HarnessWorkspaceTTLOperator"]
