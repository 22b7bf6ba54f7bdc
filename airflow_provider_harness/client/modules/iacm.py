"""Harness IaCM (Infrastructure as Code Management): workspaces, runs, time to live, events, outputs.

IaCM is a goa service under ``/iacm/api/orgs/{org}/projects/{project}`` (harness-api.md §15, §3.4): the
account travels in the ``Harness-Account`` header, bodies are bare JSON, lists page from 1, errors are goa
bodies (``{name, id, message, temporary, timeout, fault}``) and a missing workspace is a plain HTTP 404.
This file is the module's one place in the client:

* :data:`WORKSPACE` - the workspace row of the resource table, so the generic apply / get / list / delete
  operators manage workspaces (policy evaluation and secret variables are fields of the row);
* call builders for the rest of a workspace: variables, resources and outputs, data, pipelines,
  activities and their resource changes, time to live (ephemeral config), events, clone, force-unlock;
* :class:`EphemeralConfig` - a time to live, checked before any request;
* :func:`check_policy_evaluation` - what create / update / clone answer; a failed evaluation raises
  :class:`~airflow_provider_harness.client.errors.HarnessPolicyError` naming the policy;
* :func:`workspace_run_inputs` and :func:`run_outcome` - a workspace run is the workspace's IaCM pipeline
  executed with the workspace as input (Harness has no ``/runs`` endpoint), and what it changed.

Import-light (no httpx, no yaml at import time): the resource table imports this file.

>>> EphemeralConfig(pipeline_id="destroy_ws", destroy_delay_value=6).body()["destroy_delay_unit"]
'hours'
>>> workspace_call({"orgIdentifier": "o", "projectIdentifier": "p"}, "ws", "/resources").path
'/iacm/api/orgs/o/projects/p/workspaces/ws/resources'
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_harness.client.call import IACM_API, IACM_PAGE, ApiCall, ResponseKind
from airflow_provider_harness.client.errors import HarnessPolicyError
from airflow_provider_harness.client.identifiers import validate_identifier
from airflow_provider_harness.client.resource_model import SERVER_FIELDS, Permissions, ResourceKind

if TYPE_CHECKING:
    from airflow_provider_harness.client.transport import HarnessClient

log = logging.getLogger(__name__)

BASE = "/iacm/api/orgs/{org}/projects/{project}"
PROVISIONERS: tuple[str, ...] = ("terraform", "opentofu", "terragrunt")
WORKSPACE_STATUSES: tuple[str, ...] = (
    "active",
    "inactive",
    "provisioning",
    "destroying",
    "failed",
    "unknown",
    "apply_needed",
    "drifted",
)
#: ``SendEventRequest.event_type`` values (harness-api.md §15).
EVENT_TYPES: tuple[str, ...] = (
    "plan",
    "drifted",
    "provisioning",
    "destroying",
    "active",
    "inactive",
    "apply_needed",
    "failed",
    "stage-complete",
)
#: The variable kinds of the variables API and the workspace field each one edits.
VARIABLE_KINDS: dict[str, str] = {"env": "environment_variables", "tf": "terraform_variables"}
VALUE_TYPES: tuple[str, ...] = ("string", "secret")
DELAY_UNITS: tuple[str, ...] = ("hours", "days")
RUN_ACTIONS: tuple[str, ...] = ("plan", "apply", "destroy")
#: The stage type of IaCM stages in pipeline YAML.
IACM_STAGE_TYPE = "IACM"
#: What stands in for a secret value (secret variables, sensitive outputs) in everything we show.
MASK = "***"
PERMISSIONS = Permissions(
    "iac_workspace_view", "iac_workspace_edit", "iac_workspace_edit", "iac_workspace_delete"
)
_ACTIVITY_FILTERS = frozenset(
    {
        "workspace",
        "pipeline",
        "pipeline_execution_id",
        "pipeline_stage_id",
        "activity_type",
        "activity_status",
        "start_time",
        "end_time",
    }
)
_DATA_FILTERS = frozenset(
    {"pipeline_execution_id", "pipeline_stage_id", "provisioner_type", "data_type", "stack_path"}
)


# ----------------------------------------------------------------------------------- the workspace row


def _variables(entity: Mapping[str, Any]) -> Iterator[tuple[str, str, Any]]:
    for name in VARIABLE_KINDS.values():
        values = entity.get(name)
        if isinstance(values, Mapping):
            for key, variable in values.items():
                yield name, str(key), variable


def _is_secret(variable: Any) -> bool:
    return isinstance(variable, Mapping) and variable.get("value_type") == "secret"


def _workspace_public(entity: dict[str, Any]) -> dict[str, Any]:
    """A workspace with the values of its secret variables replaced by ``***``."""
    for _, _, variable in _variables(entity):
        if _is_secret(variable) and isinstance(variable, dict) and "value" in variable:
            variable["value"] = MASK
    return entity


def _workspace_secrets(entity: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(
        str(variable["value"])
        for _, _, variable in _variables(entity)
        if _is_secret(variable) and variable.get("value")
    )


def _check_workspace(entity: dict[str, Any], where: str) -> None:
    """Provisioner, variables (``{key: {key, value, value_type}}``) and tags, before any request."""
    provisioner = entity.get("provisioner")
    if provisioner is not None and provisioner not in PROVISIONERS:
        raise ValueError(f"{where}.provisioner: {provisioner!r} is not one of {list(PROVISIONERS)}")
    for name in VARIABLE_KINDS.values():
        values = entity.get(name)
        if values is None:
            continue
        if not isinstance(values, Mapping):
            raise ValueError(
                f"{where}.{name}: expected a mapping of key -> {{value, value_type}}, "
                f"got {type(values).__name__}"
            )
        checked: dict[str, Any] = {}
        for key, variable in values.items():
            here = f"{where}.{name}.{key}"
            if not isinstance(variable, Mapping):
                raise ValueError(f"{here}: expected {{value, value_type}}, got {type(variable).__name__}")
            value_type = variable.get("value_type", "string")
            if value_type not in VALUE_TYPES:
                raise ValueError(
                    f"{here}.value_type: {value_type!r} is not one of {list(VALUE_TYPES)} "
                    "(a secret variable's value is a Harness secret reference such as account.db_password)"
                )
            if variable.get("key") not in (None, key):
                raise ValueError(f"{here}.key: {variable.get('key')!r} differs from the map key {key!r}")
            if not isinstance(variable.get("value"), str):
                raise ValueError(f"{here}.value: required, as text")
            checked[str(key)] = {"key": str(key), "value": variable["value"], "value_type": value_type}
        entity[name] = checked
    tags = entity.get("tags")
    if tags is not None and not (
        isinstance(tags, Mapping) and all(isinstance(v, str) for v in tags.values())
    ):
        raise ValueError(f"{where}.tags: expected a mapping of text keys to text values")


@dataclass(frozen=True)
class PolicyFinding:
    """One policy's verdict in an evaluation."""

    identifier: str
    name: str
    status: str
    messages: tuple[str, ...] = ()
    policy_set: str = ""

    def describe(self) -> str:
        where = f", policy set {self.policy_set!r}" if self.policy_set else ""
        text = f"policy {self.name or self.identifier!r} ({self.identifier}{where})"
        return f"{text}: {'; '.join(self.messages)}" if self.messages else text


@dataclass(frozen=True)
class PolicyEvaluation:
    """Harness's policy evaluation (OPA) of a workspace change: ``status`` ``pass``/``warning``/``error``.

    >>> PolicyEvaluation.from_data({}).failed, PolicyEvaluation.from_data(None).status
    (False, '')
    """

    status: str = ""
    findings: tuple[PolicyFinding, ...] = ()

    @classmethod
    def from_data(cls, data: Any) -> PolicyEvaluation:
        if not isinstance(data, Mapping):
            return cls()
        findings: list[PolicyFinding] = []
        for policy_set in data.get("details") or ():
            if not isinstance(policy_set, Mapping):
                continue
            set_name = str(policy_set.get("name") or policy_set.get("identifier") or "")
            for item in policy_set.get("details") or ():
                if not isinstance(item, Mapping):
                    continue
                raw_policy = item.get("policy")
                policy: Mapping[str, Any] = raw_policy if isinstance(raw_policy, Mapping) else {}
                messages = item.get("deny_messages") or item.get("denyMessages") or ()
                findings.append(
                    PolicyFinding(
                        identifier=str(policy.get("identifier") or ""),
                        name=str(policy.get("name") or ""),
                        status=str(item.get("status") or ""),
                        messages=tuple(str(m) for m in messages if m),
                        policy_set=set_name,
                    )
                )
        return cls(str(data.get("status") or "").lower(), tuple(findings))

    @property
    def failed(self) -> bool:
        return self.status in ("error", "failed", "deny")

    def with_status(self, *statuses: str) -> list[PolicyFinding]:
        return [f for f in self.findings if f.status.lower() in statuses]


def check_policy_evaluation(data: Any) -> PolicyEvaluation:
    """Read a create / update / clone answer (``{"policy_evaluation": ...}``): raise when the evaluation
    failed (Harness did not apply the change), log warnings, return the evaluation.

    >>> check_policy_evaluation({"policy_evaluation": {"status": "pass"}}).status
    'pass'
    """
    evaluation = PolicyEvaluation.from_data(
        data.get("policy_evaluation") if isinstance(data, Mapping) else None
    )
    if evaluation.failed:
        denied = evaluation.with_status("error", "failed", "deny") or list(evaluation.findings)
        named = "; ".join(f.describe() for f in denied) or "no policy named"
        raise HarnessPolicyError(
            f"Harness's policy evaluation failed, so the change was not applied: {named}",
            code="POLICY_EVALUATION_FAILURE",
            policies=[f.identifier for f in denied],
            hint="Change the workspace so the policy passes, or ask the policy owner",
        )
    for finding in evaluation.with_status("warning"):
        log.warning("Harness policy warning: %s", finding.describe())
    return evaluation


WORKSPACE = ResourceKind(
    name="workspace",
    title="Workspace",
    aliases=("iacm_workspace", "iacmWorkspace"),
    module="iacm",
    api=IACM_API,
    scopes=("project",),
    default_scope="project",
    base_path=f"{BASE}/workspaces",
    item_path=f"{BASE}/workspaces/{{identifier}}",
    page=IACM_PAGE,
    permissions=PERMISSIONS,
    yaml_root="workspace",
    scope_in_body=False,
    write_scope_in_query=False,
    required_fields=("name", "provisioner", "provider_connector"),
    list_filters=frozenset({"searchTerm", "sort", "status", "tags"}),
    exact_fields=frozenset({"tags", "environment_variables", "terraform_variables"}),
    server_fields=SERVER_FIELDS | {"account", "org", "project", "created", "updated"},
    check_write=check_policy_evaluation,
    read_after_write=True,
    check_spec=_check_workspace,
    public_view=_workspace_public,
    secret_strings=_workspace_secrets,
)

#: The rows this module adds to the resource table.
KINDS: tuple[ResourceKind, ...] = (WORKSPACE,)


# -------------------------------------------------------------------------------------------- calls


def project_path(scope: Mapping[str, str], suffix: str = "") -> str:
    """``/iacm/api/orgs/{org}/projects/{project}`` + ``suffix``; ``ValueError`` naming a missing id."""
    org, project = scope.get("orgIdentifier"), scope.get("projectIdentifier")
    if not org or not project:
        raise ValueError(
            "org_id/project_id: IaCM workspaces live in a project; pass org_id= and project_id= "
            "(or set them as the connection's defaults)"
        )
    base = BASE.format(
        org=validate_identifier(org, field="org_id"), project=validate_identifier(project, field="project_id")
    )
    return base + suffix


def iacm_call(
    method: str,
    scope: Mapping[str, str],
    suffix: str,
    *,
    response: ResponseKind = IACM_API.response,
    permission: str = PERMISSIONS.view,
    **options: Any,
) -> ApiCall[Any]:
    """One IaCM request under the project (``Harness-Account`` header, bare JSON)."""
    return ApiCall(
        method,
        project_path(scope, suffix),
        account=IACM_API.account,
        response=response,
        permission=permission,
        **options,
    )


def workspace_call(
    scope: Mapping[str, str], workspace_id: str, suffix: str = "", method: str = "GET", **options: Any
) -> ApiCall[Any]:
    """A request about one workspace: ``…/workspaces/{workspace_id}`` + ``suffix``."""
    ws = validate_identifier(workspace_id, field="workspace_id")
    return iacm_call(method, scope, f"/workspaces/{ws}{suffix}", **options)


def _filters(given: Mapping[str, Any], allowed: frozenset[str], what: str) -> dict[str, Any]:
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise ValueError(f"filters: {unknown} are not filters of {what}; use {sorted(allowed)}")
    return {key: value for key, value in given.items() if value is not None}


def clone_call(
    scope: Mapping[str, str], source_id: str, identifier: str, name: str, description: str | None = None
) -> ApiCall[PolicyEvaluation]:
    """Clone a workspace's configuration and variables into a new workspace (no state, no resources)."""
    body = {"identifier": validate_identifier(identifier, field="identifier"), "name": name}
    if not isinstance(name, str) or not name.strip():
        raise ValueError("name: the clone needs a name")
    if description:
        body["description"] = description
    return workspace_call(
        scope,
        source_id,
        "/clone",
        "POST",
        json=body,
        repeatable=False,
        permission=PERMISSIONS.create,
        parse=check_policy_evaluation,
    )


def force_unlock_call(scope: Mapping[str, str], workspace_id: str) -> ApiCall[None]:
    """Release a workspace's state lock (held by a run that died, or still running: use with care)."""
    return workspace_call(
        scope,
        workspace_id,
        "/actions/force-unlock",
        "POST",
        permission=PERMISSIONS.edit,
        parse=lambda _: None,
    )


def _variable_kind(kind: str) -> str:
    if kind not in VARIABLE_KINDS:
        raise ValueError(
            f"kind: {kind!r} is not a variable kind; use 'env' (environment) or 'tf' (terraform)"
        )
    return kind


def _variable_key(key: str) -> str:
    if not isinstance(key, str) or not key or "/" in key:
        raise ValueError(f"key: {key!r} is not a variable name")
    return key


def _value_type(value_type: str) -> str:
    if value_type not in VALUE_TYPES:
        raise ValueError(f"value_type: {value_type!r} is not one of {list(VALUE_TYPES)}")
    return value_type


def variables_call(scope: Mapping[str, str], workspace_id: str) -> ApiCall[list[dict[str, Any]]]:
    """Every variable of a workspace: ``[{key, value, value_type, kind}]``."""
    return workspace_call(scope, workspace_id, "/variables", parse=lambda data: list(data or []))


def variable_call(
    scope: Mapping[str, str],
    workspace_id: str,
    kind: str,
    key: str,
    method: Literal["GET", "PUT", "DELETE"] = "GET",
    *,
    value: str | None = None,
    value_type: str = "string",
) -> ApiCall[Any]:
    """Read (GET), change (PUT, with ``value``) or delete (DELETE) one variable."""
    suffix = f"/variables/{_variable_kind(kind)}/{_variable_key(key)}"
    if method == "PUT":
        if not isinstance(value, str):
            raise ValueError("value: required, as text")
        body = {"value": value, "value_type": _value_type(value_type)}
        secrets = (value,) if value_type == "secret" else ()
        return workspace_call(
            scope, workspace_id, suffix, "PUT", json=body, secrets=secrets, permission=PERMISSIONS.edit
        )
    permission = PERMISSIONS.edit if method == "DELETE" else PERMISSIONS.view
    return workspace_call(scope, workspace_id, suffix, method, permission=permission)


def create_variable_call(
    scope: Mapping[str, str], workspace_id: str, kind: str, key: str, value: str, value_type: str = "string"
) -> ApiCall[Any]:
    """Add a variable (``kind`` ``env`` or ``tf``); a secret variable's value is a secret reference."""
    if not isinstance(value, str):
        raise ValueError("value: required, as text")
    body = {
        "key": _variable_key(key),
        "value": value,
        "value_type": _value_type(value_type),
        "kind": _variable_kind(kind),
    }
    return workspace_call(
        scope,
        workspace_id,
        "/variables",
        "POST",
        json=body,
        repeatable=False,
        secrets=(value,) if value_type == "secret" else (),
        permission=PERMISSIONS.edit,
    )


@dataclass(frozen=True)
class WorkspaceResources:
    """What a workspace manages now: its resources and outputs (sensitive output values masked)."""

    resources: tuple[dict[str, Any], ...] = ()
    outputs: tuple[dict[str, Any], ...] = ()

    @classmethod
    def from_data(cls, data: Any) -> WorkspaceResources:
        data = data if isinstance(data, Mapping) else {}
        resources = tuple(dict(r) for r in data.get("resources") or () if isinstance(r, Mapping))
        outputs = tuple(
            {**o, "value": MASK} if o.get("sensitive") else dict(o)
            for o in data.get("outputs") or ()
            if isinstance(o, Mapping)
        )
        return cls(resources, outputs)

    def output_values(self) -> dict[str, Any]:
        """``{name: value}``; sensitive outputs are ``***`` (read them in Harness, never through XCom)."""
        return {str(o.get("name")): o.get("value") for o in self.outputs if o.get("name")}


def resources_call(scope: Mapping[str, str], workspace_id: str) -> ApiCall[WorkspaceResources]:
    """The workspace's resources and outputs."""
    return workspace_call(scope, workspace_id, "/resources", parse=WorkspaceResources.from_data)


def data_list_call(scope: Mapping[str, str], workspace_id: str, **filters: Any) -> ApiCall[Any]:
    """The workspace's data records (plans, states), newest first; paged (send with ``paginate``)."""
    params = _filters(filters, _DATA_FILTERS, "workspace data")
    return workspace_call(scope, workspace_id, "/data", params=params, page=IACM_PAGE)


def data_call(scope: Mapping[str, str], workspace_id: str, data_id: str) -> ApiCall[str]:
    """One data record's content (text: a plan or a state document)."""
    if not isinstance(data_id, str) or not data_id or "/" in data_id:
        raise ValueError(f"data_id: {data_id!r} is not a data record id")
    return workspace_call(scope, workspace_id, f"/data/{data_id}", response="text")


def pipelines_call(scope: Mapping[str, str], workspace_id: str) -> ApiCall[list[str]]:
    """The pipelines that use the workspace (first 100)."""
    return workspace_call(
        scope,
        workspace_id,
        "/pipelines",
        params={"page": 1, "limit": 100},
        parse=lambda data: [str(p) for p in (data or {}).get("pipelines") or []],
    )


def activities_call(scope: Mapping[str, str], **filters: Any) -> ApiCall[Any]:
    """IaCM activities (plan, apply, destroy, drift runs), newest first; paged. Filter by ``workspace``,
    ``pipeline_execution_id``, ``activity_type``, ``activity_status`` ..."""
    params = _filters(filters, _ACTIVITY_FILTERS, "activities")
    if params.get("workspace"):
        params["workspace"] = validate_identifier(params["workspace"], field="workspace")
    return iacm_call("GET", scope, "/activities", params=params, page=IACM_PAGE)


def resource_changes_call(
    scope: Mapping[str, str], activity_id: str, workspace_id: str | None = None
) -> ApiCall[list[dict[str, Any]]]:
    """The resources one activity added, changed and deleted."""
    if not isinstance(activity_id, str) or not activity_id or "/" in activity_id:
        raise ValueError(f"activity_id: {activity_id!r} is not an activity id")
    params = {"workspace": validate_identifier(workspace_id, field="workspace_id")} if workspace_id else {}
    return iacm_call(
        "GET",
        scope,
        f"/activities/{activity_id}/resource-changes",
        params=params,
        parse=lambda data: list((data or {}).get("resource_changes") or []),
    )


def send_event_call(
    scope: Mapping[str, str],
    workspace_id: str,
    event_type: str,
    *,
    pipeline_execution_id: str | None = None,
    pipeline_stage_id: str | None = None,
    data: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> ApiCall[None]:
    """Send a workspace event (``event_type`` one of :data:`EVENT_TYPES`)."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"event_type: {event_type!r} is not one of {list(EVENT_TYPES)}")
    for name, value in (("data", data), ("metadata", metadata)):
        if value is not None and not isinstance(value, Mapping):
            raise ValueError(f"{name}: expected a mapping, got {type(value).__name__}")
    body: dict[str, Any] = {"event_type": event_type}
    optional: tuple[tuple[str, Any], ...] = (
        ("pipeline_execution_id", pipeline_execution_id),
        ("pipeline_stage_id", pipeline_stage_id),
        ("data", dict(data) if data else None),
        ("metadata", dict(metadata) if metadata else None),
    )
    for name, value in optional:
        if value:
            body[name] = value
    return workspace_call(
        scope,
        workspace_id,
        "/events",
        "POST",
        json=body,
        repeatable=False,
        permission=PERMISSIONS.edit,
        parse=lambda _: None,
    )


# ------------------------------------------------------------------------------------- time to live


def _as_date(value: date | str | None, name: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{name}: {value!r} is not a date; use YYYY-MM-DD, e.g. 2026-12-31") from None


def _delay(value: Any, unit: Any, name: str) -> timedelta | None:
    unit_name = f"{name.rsplit('_', 1)[0]}_unit"
    if value is None:
        if unit is not None:
            raise ValueError(f"{unit_name}: given without {name}; give both or neither")
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)  # a templated operator option renders to text
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected a whole number of {unit or 'hours'} of 1 or more, got {value!r}")
    unit = unit or "hours"
    if unit not in DELAY_UNITS:
        raise ValueError(f"{unit_name}: {unit!r} is not one of {list(DELAY_UNITS)}")
    return timedelta(hours=value) if unit == "hours" else timedelta(days=value)


@dataclass(frozen=True)
class EphemeralConfig:
    """A workspace's time to live: destroy its infrastructure after a delay or on a date, and optionally
    delete the workspace afterwards. ``pipeline_id`` is the pipeline Harness runs to destroy it.

    Checked on creation (``ValueError`` naming the field): exactly one of ``destroy_delay_value`` /
    ``destroy_on_date``; units ``hours`` or ``days``; dates ``YYYY-MM-DD``, not in the past; delete
    options only with ``delete_workspace=True``, not before the destroy.

    >>> EphemeralConfig(pipeline_id="p", destroy_delay_value=6, destroy_delay_unit="weeks")
    Traceback (most recent call last):
    ...
    ValueError: destroy_delay_unit: 'weeks' is not one of ['hours', 'days']
    """

    pipeline_id: str
    destroy_delay_value: int | str | None = None
    destroy_delay_unit: str | None = None
    destroy_on_date: date | str | None = None
    delete_workspace: bool = False
    delete_delay_value: int | str | None = None
    delete_delay_unit: str | None = None
    delete_on_date: date | str | None = None
    provisioner: str | None = None
    today: date | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        validate_identifier(self.pipeline_id, field="pipeline_id", allow_dollar=False)
        today = self.today or datetime.now(UTC).date()
        destroy_delay = _delay(self.destroy_delay_value, self.destroy_delay_unit, "destroy_delay_value")
        destroy_date = _as_date(self.destroy_on_date, "destroy_on_date")
        if (destroy_delay is None) == (destroy_date is None):
            raise ValueError(
                "destroy_delay_value/destroy_on_date: give exactly one of them "
                f"({'both were given' if destroy_date else 'neither was given'})"
            )
        if not isinstance(self.delete_workspace, bool):
            raise ValueError(f"delete_workspace: expected True or False, got {self.delete_workspace!r}")
        delete_delay = _delay(self.delete_delay_value, self.delete_delay_unit, "delete_delay_value")
        delete_date = _as_date(self.delete_on_date, "delete_on_date")
        if (delete_delay or delete_date) and not self.delete_workspace:
            raise ValueError("delete_workspace: delete_delay_value/delete_on_date need delete_workspace=True")
        if delete_delay and delete_date:
            raise ValueError("delete_delay_value/delete_on_date: give one of them, not both")
        for name, day in (("destroy_on_date", destroy_date), ("delete_on_date", delete_date)):
            if day is not None and day < today:
                raise ValueError(
                    f"{name}: {day.isoformat()} is in the past (today is {today.isoformat()} UTC)"
                )
        destroy_at = destroy_delay if destroy_delay is not None else _days_from(today, destroy_date)
        delete_at = delete_delay if delete_delay is not None else _days_from(today, delete_date)
        if destroy_at is not None and delete_at is not None and delete_at < destroy_at:
            raise ValueError(
                "delete_delay_value/delete_on_date: the workspace would be deleted before it is destroyed"
            )
        if self.provisioner is not None and self.provisioner not in PROVISIONERS:
            raise ValueError(f"provisioner: {self.provisioner!r} is not one of {list(PROVISIONERS)}")

    def body(self) -> dict[str, Any]:
        """The ``PUT …/ephemeral-config`` body."""
        body: dict[str, Any] = {"pipeline_id": self.pipeline_id}
        if self.destroy_delay_value is not None:
            body["destroy_delay_value"] = int(self.destroy_delay_value)
            body["destroy_delay_unit"] = self.destroy_delay_unit or "hours"
        else:
            body["destroy_on_date"] = _iso(self.destroy_on_date)
        body["delete_workspace"] = self.delete_workspace
        if self.delete_delay_value is not None:
            body["delete_delay_value"] = int(self.delete_delay_value)
            body["delete_delay_unit"] = self.delete_delay_unit or "hours"
        elif self.delete_on_date:
            body["delete_on_date"] = _iso(self.delete_on_date)
        if self.provisioner:
            body["provisioner"] = self.provisioner
        return body


def _days_from(today: date, day: date | None) -> timedelta | None:
    return None if day is None else timedelta(days=(day - today).days)


def _iso(value: date | str | None) -> str:
    parsed = _as_date(value, "date")
    return parsed.isoformat() if parsed else ""


def ephemeral_config_call(scope: Mapping[str, str], workspace_id: str) -> ApiCall[dict[str, Any]]:
    """The workspace's time to live: ``{enabled, pipeline_id, trigger_id, destroy_at, delete_at, ...}``."""
    return workspace_call(scope, workspace_id, "/ephemeral-config", parse=lambda data: dict(data or {}))


def set_ephemeral_config_call(
    scope: Mapping[str, str], workspace_id: str, config: EphemeralConfig
) -> ApiCall[dict[str, Any]]:
    """Set the time to live; answers ``{destroy_at, delete_at, status}``."""
    return workspace_call(
        scope,
        workspace_id,
        "/ephemeral-config",
        "PUT",
        json=config.body(),
        permission=PERMISSIONS.edit,
        parse=lambda data: dict(data or {}),
    )


def delete_ephemeral_config_call(scope: Mapping[str, str], workspace_id: str) -> ApiCall[None]:
    """Remove the time to live (the workspace then stays)."""
    return workspace_call(
        scope, workspace_id, "/ephemeral-config", "DELETE", permission=PERMISSIONS.edit, parse=lambda _: None
    )


def project_ephemeral_call(
    scope: Mapping[str, str], settings: Mapping[str, Any] | None = None
) -> ApiCall[dict[str, Any]]:
    """Enable ephemeral workspaces for the project (PUT ``settings``) or disable them (``None``: DELETE).
    Harness answers 202 with ``{job_id, status}``: the change is applied asynchronously."""
    if settings is not None and not isinstance(settings, Mapping):
        raise ValueError(f"settings: expected a mapping, got {type(settings).__name__}")
    return iacm_call(
        "PUT" if settings is not None else "DELETE",
        scope,
        "/settings/ephemeral-config",
        json=dict(settings) if settings is not None else None,
        permission=PERMISSIONS.edit,
        parse=lambda data: dict(data or {}),
    )


# ------------------------------------------------------------------------------------ workspace runs


def _stage_entries(stages: Any) -> Iterator[Mapping[str, Any]]:
    for element in stages or ():
        if not isinstance(element, Mapping):
            continue
        if isinstance(element.get("stage"), Mapping):
            yield element["stage"]
        for nested in element.get("parallel") or ():
            if isinstance(nested, Mapping) and isinstance(nested.get("stage"), Mapping):
                yield nested["stage"]


def iacm_stages(pipeline: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """``(stage identifier, workspace)`` of each IaCM stage of a pipeline document (``pipeline:`` root).

    >>> iacm_stages({"pipeline": {"stages": [{"stage": {"identifier": "s", "type": "IACM",
    ...                                                 "spec": {"workspace": "<+input>"}}}]}})
    [('s', '<+input>')]
    """
    inner = pipeline.get("pipeline")
    root: Mapping[str, Any] = inner if isinstance(inner, Mapping) else pipeline
    found = []
    for stage in _stage_entries(root.get("stages")):
        if stage.get("type") == IACM_STAGE_TYPE:
            raw_spec = stage.get("spec")
            spec: Mapping[str, Any] = raw_spec if isinstance(raw_spec, Mapping) else {}
            found.append((str(stage.get("identifier")), spec.get("workspace")))
    return found


def workspace_run_inputs(
    pipeline: Mapping[str, Any], pipeline_id: str, workspace_id: str, given: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """Runtime inputs that point the pipeline's IaCM stages at ``workspace_id`` (merged into ``given``).

    A stage whose workspace is fixed must name this workspace; a stage taking it as ``<+input>`` gets it.
    ``None`` when nothing is needed. ``ValueError`` (naming the field) when the pipeline cannot run it.
    """
    stages = iacm_stages(pipeline)
    if not stages:
        raise ValueError(
            f"pipeline_id: pipeline {pipeline_id!r} has no IaCM stage (type: IACM); use the workspace's "
            "plan / apply / destroy pipeline"
        )
    wanted = []
    for stage_id, workspace in stages:
        if isinstance(workspace, str) and workspace.strip().startswith("<+input>"):
            wanted.append(stage_id)
        elif workspace != workspace_id:
            raise ValueError(
                f"workspace_id: stage {stage_id!r} of pipeline {pipeline_id!r} always runs workspace "
                f"{workspace!r}, not {workspace_id!r}; use a pipeline whose stage takes the workspace as "
                "a runtime input"
            )
    if not wanted and not given:
        return None
    document = {"pipeline": dict((given or {}).get("pipeline") or {})}
    root = document["pipeline"]
    root.setdefault("identifier", pipeline_id)
    entries = [dict(e) for e in root.get("stages") or []]
    by_id = {str(e["stage"].get("identifier")): e for e in entries if isinstance(e.get("stage"), Mapping)}
    for stage_id in wanted:
        entry = by_id.get(stage_id)
        if entry is None:
            entry = {"stage": {"identifier": stage_id, "type": IACM_STAGE_TYPE}}
            entries.append(entry)
        stage = dict(entry["stage"])
        stage["spec"] = {**dict(stage.get("spec") or {}), "workspace": workspace_id}
        entry["stage"] = stage
    root["stages"] = entries
    return document


def default_pipeline(workspace: Mapping[str, Any], action: str) -> str | None:
    """The pipeline named for ``action`` in a workspace's ``default_pipelines`` (id or ``{pipeline: id}``)."""
    defaults = workspace.get("default_pipelines")
    if not isinstance(defaults, Mapping):
        return None
    chosen = defaults.get(action)
    if isinstance(chosen, Mapping):
        chosen = chosen.get("pipeline") or chosen.get("workspace_pipeline") or chosen.get("project_pipeline")
    return str(chosen) if chosen else None


@dataclass(frozen=True)
class WorkspaceRunOutcome:
    """What one workspace run did: the IaCM activity, resource counts and the workspace's outputs."""

    execution_id: str
    workspace_id: str
    action: str
    activity_type: str | None
    activity_status: str | None
    added: int
    changed: int
    destroyed: int
    workspace_status: str | None
    outputs: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe, for XCom (sensitive outputs are ``***``)."""
        return {
            "execution_id": self.execution_id,
            "workspace_id": self.workspace_id,
            "action": self.action,
            "activity_type": self.activity_type,
            "activity_status": self.activity_status,
            "resources": {"added": self.added, "changed": self.changed, "destroyed": self.destroyed},
            "workspace_status": self.workspace_status,
            "outputs": dict(self.outputs),
        }

    def describe(self) -> str:
        return (
            f"workspace {self.workspace_id} {self.action}: activity {self.activity_status or 'not found'}, "
            f"{self.added} added, {self.changed} changed, {self.destroyed} destroyed; "
            f"status {self.workspace_status}"
        )


def _count(counts: Any, *names: str) -> int:
    if not isinstance(counts, Mapping):
        return 0
    for name in names:
        value = counts.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 0


def run_outcome(
    client: HarnessClient, scope: Mapping[str, str], workspace_id: str, execution_id: str, action: str
) -> WorkspaceRunOutcome:
    """Read what execution ``execution_id`` did to the workspace (its activities) and the outputs now."""
    from airflow_provider_harness.client.resources import ResourceRef, get

    activities = [
        a
        for a in client.paginate(
            activities_call(scope, workspace=workspace_id, pipeline_execution_id=execution_id), page_size=100
        )
        if isinstance(a, Mapping)
    ]
    chosen = next((a for a in activities if a.get("activity_type") == action), None)
    chosen = chosen or (activities[0] if activities else {})
    counts = chosen.get("resource_counts")
    resources = client.send(resources_call(scope, workspace_id))
    workspace = get(client, ResourceRef(WORKSPACE, scope, workspace_id))
    return WorkspaceRunOutcome(
        execution_id=execution_id,
        workspace_id=workspace_id,
        action=action,
        activity_type=chosen.get("activity_type"),
        activity_status=chosen.get("activity_status"),
        added=_count(counts, "added", "imported"),
        changed=_count(counts, "changed"),
        destroyed=_count(counts, "deleted", "removed"),
        workspace_status=workspace.entity.get("status") if workspace else None,
        outputs=resources.output_values(),
    )


__all__ = [
    "BASE",
    "EVENT_TYPES",
    "KINDS",
    "MASK",
    "PROVISIONERS",
    "RUN_ACTIONS",
    "VARIABLE_KINDS",
    "WORKSPACE",
    "WORKSPACE_STATUSES",
    "EphemeralConfig",
    "PolicyEvaluation",
    "PolicyFinding",
    "WorkspaceResources",
    "WorkspaceRunOutcome",
    "activities_call",
    "check_policy_evaluation",
    "clone_call",
    "create_variable_call",
    "data_call",
    "data_list_call",
    "default_pipeline",
    "delete_ephemeral_config_call",
    "ephemeral_config_call",
    "force_unlock_call",
    "iacm_call",
    "iacm_stages",
    "pipelines_call",
    "project_ephemeral_call",
    "project_path",
    "resource_changes_call",
    "resources_call",
    "run_outcome",
    "send_event_call",
    "set_ephemeral_config_call",
    "variable_call",
    "variables_call",
    "workspace_call",
    "workspace_run_inputs",
]
