"""IaCM (Infrastructure as Code Management): workspaces, variables, activities, events, time to live, and the
``IACM`` stage's steps (``harness-api.md`` §15, §3.4; the wire contract is in ``docs/emulator.md``, "IaCM").

Routes live under ``/iacm/api/orgs/{org}/projects/{project}``; bodies are bare JSON (no NG envelope), errors
goa bodies (``Route.errors="goa"``), lists bare arrays paged by 1-based ``page`` and ``limit`` (at most 100).
Records are kept in the :class:`~.store.Store` under their own kinds, so they persist with the state file:

* ``iacmWorkspace`` in ``(account, org, project)``: the workspace, its resources, outputs, lock and runs;
* ``iacmActivity``, ``iacmData``, ``iacmEvent``, ``iacmEphemeral`` in ``(account, org, project, workspace)``;
* ``iacmProjectSettings`` in ``(account,)`` keyed ``org/project`` (project ephemeral settings last PUT).

The infrastructure is deterministic: one ``emulator_resource`` per terraform variable, one output per
terraform variable plus ``workspace_id``.  A terraform variable ``emulator_fail`` whose value is a command
makes that command fail.

>>> policy_evaluation([], {"provisioner": "terraform"})
{}
>>> evaluation = policy_evaluation(
...     [{"identifier": "no_tf", "name": "No TF", "field": "provisioner", "deny": ["terraform"],
...       "message": "use opentofu", "severity": "error"}],
...     {"provisioner": "terraform"},
... )
>>> evaluation["status"], evaluation["details"][0]["details"][0]["deny_messages"]
('error', ['use opentofu'])
>>> [c["action"] for c in diff_resources([_resource("a", "1")], [_resource("a", "2"), _resource("b", "3")])]
['changed', 'added']
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Final

from starlette.responses import Response

from airflow_provider_harness.emulator.engine import ScriptAction, StepContext
from airflow_provider_harness.emulator.envelopes import HarnessError
from airflow_provider_harness.emulator.harness_rules import ID_PATTERN_MESSAGE, identifier_error
from airflow_provider_harness.emulator.httpcall import Call, Route, json_response, text_response
from airflow_provider_harness.emulator.model import Execution, Node, now_ms
from airflow_provider_harness.emulator.plan import is_runtime_input, pipeline_stage_groups

if TYPE_CHECKING:
    from airflow_provider_harness.emulator.app import Emulator

log = logging.getLogger(__name__)

BASE: Final = "/iacm/api/orgs/{org}/projects/{project}"

PROVISIONERS: Final = ("terraform", "opentofu", "terragrunt")
WORKSPACE_STATUSES: Final = (
    "active",
    "inactive",
    "provisioning",
    "destroying",
    "failed",
    "unknown",
    "apply_needed",
    "drifted",
)
EVENT_TYPES: Final = (
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
#: Event types that name a workspace status (sending one sets it).
STATUS_EVENT_TYPES: Final = frozenset(EVENT_TYPES) & frozenset(WORKSPACE_STATUSES)
#: Variable kind (path segment / ``kind`` field) -> the workspace field holding those variables.
VARIABLE_KINDS: Final = {"env": "environment_variables", "tf": "terraform_variables"}
VALUE_TYPES: Final = ("string", "secret")
DELAY_UNITS: Final = {"hours": 3600.0, "days": 86400.0}
#: IaCM step types and the provisioner their logs name.
STEP_TYPES: Final = {
    "IACMTerraformPlugin": "terraform",
    "IACMOpenTofuPlugin": "tofu",
    "IACMTerragruntPlugin": "terragrunt",
}
FAIL_VARIABLE: Final = "emulator_fail"
RESOURCE_TYPE: Final = "emulator_resource"
RESOURCE_PROVIDER: Final = "registry.terraform.io/harness/emulator"
POLICY_SET: Final = {"identifier": "emulator", "name": "Emulator policies"}
DEFAULT_LIMIT: Final = 30
MAX_LIMIT: Final = 100
#: Longest the time-to-live loop sleeps before it looks again (wall seconds).
TTL_TICK: Final = 0.5

WORKSPACE: Final = "iacmWorkspace"
ACTIVITY: Final = "iacmActivity"
DATA: Final = "iacmData"
EVENT: Final = "iacmEvent"
EPHEMERAL: Final = "iacmEphemeral"
PROJECT_SETTINGS: Final = "iacmProjectSettings"
#: Kinds held under one workspace (deleted with it; events are an audit trail and stay).
WORKSPACE_CHILD_KINDS: Final = (ACTIVITY, DATA, EPHEMERAL)

Scope = tuple[str, str, str]


@dataclass(frozen=True)
class Command:
    """What an IaCM step ``spec.command`` does.

    ``target``: the infrastructure it compares with or makes real (``desired``, ``empty`` or ``None`` for
    no comparison); ``applies``: whether it changes the resources; ``running_status``: the workspace status
    while the step runs; ``data``: the data documents it records.
    """

    activity: str | None
    target: str | None
    applies: bool = False
    running_status: str | None = None
    data: tuple[str, ...] = ()


COMMANDS: Final[dict[str, Command]] = {
    "init": Command(None, None),
    "plan": Command("plan", "desired", data=("plan",)),
    "plan-destroy": Command("plan", "empty", data=("plan",)),
    "apply": Command("apply", "desired", applies=True, running_status="provisioning", data=("plan", "state")),
    "destroy": Command("destroy", "empty", applies=True, running_status="destroying"),
    "detect-drift": Command("drift", None),
}


def goa_error(status: int, message: str) -> HarnessError:
    """An error rendered as a goa body on IaCM routes (the status picks the goa name)."""
    return HarnessError(f"goa_{status}", message, http_status=status)


def bad_request(message: str) -> HarnessError:
    """goa 400 ``bad_request``."""
    return goa_error(400, message)


def rfc3339(epoch_seconds: float) -> str:
    """UTC RFC 3339 text of an epoch instant, to the second.

    >>> rfc3339(0)
    '1970-01-01T00:00:00Z'
    """
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- validation tables ---------------------------------------------------------------------------
Check = Callable[[Any], bool]
Rule = tuple[str, Check, str]  # (field, check of its value, message when the check fails)


def _text(value: Any) -> bool:
    return isinstance(value, str)


def _non_empty(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _string_map(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _iso_date(value: Any) -> bool:
    try:
        date.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return isinstance(value, str) and len(value) == 10


def _given(value: Any) -> bool:
    return value is not None and value != ""


WORKSPACE_REQUIRED: Final = ("identifier", "name", "provisioner", "provider_connector")
WORKSPACE_TEXT_FIELDS: Final = (
    "provisioner_version",
    "description",
    "repository",
    "repository_branch",
    "repository_commit",
    "repository_sha",
    "repository_path",
    "repository_connector",
)
WORKSPACE_RULES: Final[tuple[Rule, ...]] = (
    ("identifier", lambda v: identifier_error(v) is None, f"identifier {ID_PATTERN_MESSAGE}"),
    ("name", _non_empty, "name must be a non-empty string"),
    ("provisioner", lambda v: v in PROVISIONERS, f"provisioner must be one of {', '.join(PROVISIONERS)}"),
    ("provider_connector", _non_empty, "provider_connector must be a non-empty string"),
    *((name, _text, f"{name} must be a string") for name in WORKSPACE_TEXT_FIELDS),
    ("cost_estimation_enabled", lambda v: isinstance(v, bool), "cost_estimation_enabled must be a boolean"),
    ("tags", _string_map, "tags must be an object of string values"),
    ("default_pipelines", lambda v: isinstance(v, dict), "default_pipelines must be an object"),
    ("variable_sets", lambda v: isinstance(v, list), "variable_sets must be an array"),
    *((name, lambda v: isinstance(v, dict), f"{name} must be an object") for name in VARIABLE_KINDS.values()),
)
#: Defaults of the optional workspace fields (what GET shows when they were never given).
WORKSPACE_DEFAULTS: Final[dict[str, Any]] = {
    **dict.fromkeys(WORKSPACE_TEXT_FIELDS, ""),
    "cost_estimation_enabled": False,
    "tags": {},
    "environment_variables": {},
    "terraform_variables": {},
    "default_pipelines": {},
    "variable_sets": [],
}
VARIABLE_RULES: Final[tuple[Rule, ...]] = (
    ("value", _text, "value must be a string"),
    ("value_type", lambda v: v in VALUE_TYPES, f"value_type must be one of {', '.join(VALUE_TYPES)}"),
)
CLONE_RULES: Final[tuple[Rule, ...]] = (
    WORKSPACE_RULES[0],
    WORKSPACE_RULES[1],
    ("description", _text, "description must be a string"),
)


def _delete_field(body: dict[str, Any]) -> bool:
    return not any(_given(body.get(f"delete_{part}")) for part in ("delay_value", "delay_unit", "on_date"))


#: Ephemeral-config rows: (field, check of the whole body, message); the first failing row is answered.
EPHEMERAL_RULES: Final[tuple[tuple[str, Callable[[dict[str, Any]], bool], str], ...]] = (
    ("pipeline_id", lambda b: b.get("pipeline_id") is not None, '"pipeline_id" is missing from body'),
    ("pipeline_id", lambda b: _non_empty(b["pipeline_id"]), "pipeline_id must be a non-empty string"),
    (
        "destroy_delay_value",
        lambda b: _given(b.get("destroy_delay_value")) != _given(b.get("destroy_on_date")),
        "exactly one of destroy_delay_value and destroy_on_date must be given",
    ),
    (
        "destroy_delay_value",
        lambda b: not _given(b.get("destroy_delay_value")) or _positive(b["destroy_delay_value"]),
        "destroy_delay_value must be a positive number",
    ),
    (
        "destroy_delay_unit",
        lambda b: not _given(b.get("destroy_delay_value")) or b.get("destroy_delay_unit") in DELAY_UNITS,
        "destroy_delay_unit must be one of hours, days",
    ),
    (
        "destroy_on_date",
        lambda b: not _given(b.get("destroy_on_date")) or _iso_date(b["destroy_on_date"]),
        "destroy_on_date must be a date YYYY-MM-DD",
    ),
    (
        "destroy_on_date",
        lambda b: not _given(b.get("destroy_on_date")) or not _past(b["destroy_on_date"]),
        "destroy_on_date must not be in the past",
    ),
    (
        "delete_workspace",
        lambda b: b.get("delete_workspace") is None or isinstance(b["delete_workspace"], bool),
        "delete_workspace must be a boolean",
    ),
    (
        "delete_workspace",
        lambda b: b.get("delete_workspace") is True or _delete_field(b),
        "delete_delay_value, delete_delay_unit and delete_on_date are only allowed with "
        "delete_workspace true",
    ),
    (
        "delete_delay_value",
        lambda b: not (_given(b.get("delete_delay_value")) and _given(b.get("delete_on_date"))),
        "give only one of delete_delay_value and delete_on_date",
    ),
    (
        "delete_delay_value",
        lambda b: not _given(b.get("delete_delay_value")) or _positive(b["delete_delay_value"]),
        "delete_delay_value must be a positive number",
    ),
    (
        "delete_delay_unit",
        lambda b: not _given(b.get("delete_delay_value")) or b.get("delete_delay_unit") in DELAY_UNITS,
        "delete_delay_unit must be one of hours, days",
    ),
    (
        "delete_on_date",
        lambda b: not _given(b.get("delete_on_date")) or _iso_date(b["delete_on_date"]),
        "delete_on_date must be a date YYYY-MM-DD",
    ),
    (
        "delete_on_date",
        lambda b: not _given(b.get("delete_on_date")) or not _past(b["delete_on_date"]),
        "delete_on_date must not be in the past",
    ),
    (
        "provisioner",
        lambda b: not _given(b.get("provisioner")) or b["provisioner"] in PROVISIONERS,
        f"provisioner must be one of {', '.join(PROVISIONERS)}",
    ),
)


def _past(text: str) -> bool:
    return date.fromisoformat(text) < datetime.now(UTC).date()


def check_rules(body: dict[str, Any], rules: Iterable[Rule], required: Iterable[str] = ()) -> None:
    """Raise goa 400 naming the first missing required field or the first field failing its rule."""
    for name in required:
        if body.get(name) is None:
            raise bad_request(f'"{name}" is missing from body')
    for name, check, message in rules:
        if body.get(name) is not None and not check(body[name]):
            raise bad_request(message)


def check_variables(field_name: str, variables: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Validate ``{key: {key, value, value_type}}``; the normalised map (``key`` filled in)."""
    result: dict[str, dict[str, Any]] = {}
    for key, variable in variables.items():
        where = f"{field_name}.{key}"
        if not isinstance(variable, dict):
            raise bad_request(f"{where} must be an object {{key, value, value_type}}")
        if variable.get("key") not in (None, key):
            raise bad_request(f"{where}.key must equal its map key {key!r}")
        for name in ("value", "value_type"):
            if variable.get(name) is None:
                raise bad_request(f'"{where}.{name}" is missing from body')
        for name, check, message in VARIABLE_RULES:
            if not check(variable[name]):
                raise bad_request(f"{where}.{message}")
        result[key] = {"key": key, "value": variable["value"], "value_type": variable["value_type"]}
    return result


# ---- infrastructure --------------------------------------------------------------------------------
def _resource(name: str, value: Any) -> dict[str, Any]:
    return {
        "type": RESOURCE_TYPE,
        "name": name,
        "module": "root",
        "provider": RESOURCE_PROVIDER,
        "mode": "managed",
        "attributes": {"value": value},
    }


def desired_infrastructure(workspace: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The resources and outputs a successful apply leaves (from the terraform variables)."""
    variables = workspace.get("terraform_variables") or {}
    resources = [_resource(key, var["value"]) for key, var in variables.items()]
    outputs = [
        {"name": key, "value": var["value"], "sensitive": var["value_type"] == "secret"}
        for key, var in variables.items()
    ]
    outputs.append({"name": "workspace_id", "value": workspace["identifier"], "sensitive": False})
    return resources, outputs


def diff_resources(current: list[dict[str, Any]], target: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Resource changes from ``current`` to ``target`` (matched by type and name; unchanged left out)."""
    before = {(r["type"], r["name"]): r for r in current}
    after = {(r["type"], r["name"]): r for r in target}
    changes: list[dict[str, Any]] = []
    for key in [*after, *(k for k in before if k not in after)]:
        old, new = before.get(key), after.get(key)
        if old is not None and new is not None and old["attributes"] == new["attributes"]:
            continue
        action = "added" if old is None else "deleted" if new is None else "changed"
        base = new or old
        assert base is not None
        changes.append(
            {
                "type": base["type"],
                "name": base["name"],
                "module": base["module"],
                "provider": base["provider"],
                "action": action,
                "before": None if old is None else copy.deepcopy(old["attributes"]),
                "after": None if new is None else copy.deepcopy(new["attributes"]),
            }
        )
    return changes


def resource_counts(changes: list[dict[str, Any]], total_after: int) -> dict[str, int]:
    """``{added, changed, deleted, unchanged}`` of a change list (``total_after``: resources after it)."""
    counts = {action: sum(1 for c in changes if c["action"] == action) for action in ("added", "changed")}
    counts["deleted"] = sum(1 for c in changes if c["action"] == "deleted")
    counts["unchanged"] = total_after - counts["added"] - counts["changed"]
    return counts


def _dig(value: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


_SEVERITY_ORDER: Final = {"pass": 0, "warning": 1, "error": 2}


def policy_evaluation(policies: list[dict[str, Any]], workspace: dict[str, Any]) -> dict[str, Any]:
    """The OPA-shaped policy evaluation of ``workspace`` against the emulator's policies (``{}``: none)."""
    if not policies:
        return {}
    results = []
    for policy in policies:
        value = _dig(workspace, str(policy["field"]))
        denied = value is not None and value in policy.get("deny", [])
        message = policy.get("message") or f"{policy['field']} must not be {value!r}"
        results.append(
            {
                "policy": {
                    "identifier": policy["identifier"],
                    "name": policy.get("name") or policy["identifier"],
                },
                "status": policy.get("severity", "error") if denied else "pass",
                "deny_messages": [message] if denied else [],
            }
        )
    worst = max((str(r["status"]) for r in results), key=lambda status: _SEVERITY_ORDER[status])
    return {
        "id": f"pe_{now_ms()}",
        "status": worst,
        "details": [{**POLICY_SET, "status": worst, "details": results}],
    }


def check_policies(policies: Any) -> list[dict[str, Any]]:
    """Validate the admin policy list; ``ValueError`` naming the problem."""
    if not isinstance(policies, list):
        raise ValueError("policies must be a JSON array")
    result = []
    for index, policy in enumerate(policies):
        if not isinstance(policy, dict):
            raise ValueError(f"policy {index} must be an object")
        for name in ("identifier", "field"):
            if not _non_empty(policy.get(name)):
                raise ValueError(f"policy {index}: {name} is required")
        if not isinstance(policy.get("deny"), list):
            raise ValueError(f"policy {index}: deny must be a list of values")
        severity = policy.get("severity", "error")
        if severity not in ("error", "warning"):
            raise ValueError(f"policy {index}: severity must be error or warning")
        result.append({**policy, "severity": severity, "name": policy.get("name") or policy["identifier"]})
    return result


class IacmApi:
    """The IaCM routes, the ``IACM`` stage's step simulation and the time-to-live loop."""

    def __init__(self, core: Emulator) -> None:
        self.core = core
        self.policies: list[dict[str, Any]] = []
        self._wake: asyncio.Event | None = None
        core.engine.register_step_types(STEP_TYPES, self.run_step)
        core.engine.on_stage_end(self.stage_ended)

    @property
    def store(self) -> Any:
        return self.core.store

    def reset(self) -> None:
        """Forget the emulator policies (data lives in the store, which is reset separately)."""
        self.policies = []

    # ---- routes ----------------------------------------------------------------------------------
    def routes(self) -> list[Route]:
        """Every IaCM route (goa errors)."""
        ws = f"{BASE}/workspaces"
        item = f"{ws}/{{workspace}}"
        table: list[tuple[str, str, Callable[[Call], Any]]] = [
            ("GET", ws, self.list_workspaces),
            ("POST", ws, self.create_workspace),
            ("GET", item, self.get_workspace),
            ("PUT", item, self.update_workspace),
            ("DELETE", item, self.delete_workspace),
            ("POST", f"{item}/clone", self.clone_workspace),
            ("POST", f"{item}/actions/force-unlock", self.force_unlock),
            ("GET", f"{item}/variables", self.list_variables),
            ("POST", f"{item}/variables", self.create_variable),
            ("GET", f"{item}/variables/{{kind}}/{{key}}", self.get_variable),
            ("PUT", f"{item}/variables/{{kind}}/{{key}}", self.update_variable),
            ("DELETE", f"{item}/variables/{{kind}}/{{key}}", self.delete_variable),
            ("GET", f"{item}/resources", self.resources),
            ("GET", f"{item}/data", self.list_data),
            ("GET", f"{item}/data/{{id}}", self.get_data),
            ("GET", f"{item}/pipelines", self.pipelines),
            ("POST", f"{item}/events", self.send_event),
            ("GET", f"{item}/ephemeral-config", self.get_ephemeral),
            ("PUT", f"{item}/ephemeral-config", self.put_ephemeral),
            ("DELETE", f"{item}/ephemeral-config", self.delete_ephemeral),
            ("GET", f"{BASE}/activities", self.list_activities),
            ("GET", f"{BASE}/activities/{{id}}/resource-changes", self.resource_changes),
            ("PUT", f"{BASE}/settings/ephemeral-config", self.put_project_settings),
            ("DELETE", f"{BASE}/settings/ephemeral-config", self.delete_project_settings),
        ]
        return [Route(method, path, handler, errors="goa") for method, path, handler in table]

    # ---- request helpers -------------------------------------------------------------------------
    def scope(self, call: Call) -> Scope:
        """``(account, org, project)`` of the path; goa 404 when the project does not exist."""
        org, project = call.params["org"], call.params["project"]
        if self.store.get("project", (call.account, org), project) is None:
            raise goa_error(404, f"project {org}/{project} not found")
        return (call.account, org, project)

    @staticmethod
    async def body(call: Call) -> dict[str, Any]:
        """The JSON object body; goa 400 otherwise."""
        raw = await call.body()
        try:
            value = json.loads(raw.decode("utf-8")) if raw.strip() else None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise bad_request(f"request body is not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise bad_request("request body must be a JSON object")
        return value

    @staticmethod
    def page(call: Call, items: list[Any]) -> list[Any]:
        """One page of ``items`` (``page`` from 1, ``limit`` 1..100, default 30); 400 naming the field."""
        bounds = {"page": (1, None, 1), "limit": (1, MAX_LIMIT, DEFAULT_LIMIT)}
        values: dict[str, int] = {}
        for name, (low, high, default) in bounds.items():
            raw = call.query(name)
            if raw is None or raw == "":
                values[name] = default
                continue
            try:
                values[name] = int(raw)
            except ValueError:
                raise bad_request(f"{name} must be an integer, got {raw!r}") from None
            if values[name] < low or (high is not None and values[name] > high):
                limit = f"between {low} and {high}" if high else f"at least {low}"
                raise bad_request(f"{name} must be {limit}, got {values[name]}")
        start = (values["page"] - 1) * values["limit"]
        return items[start : start + values["limit"]]

    def record(self, scope: Scope, workspace: str) -> dict[str, Any]:
        """The workspace record; goa 404 when missing."""
        record: dict[str, Any] | None = self.store.get(WORKSPACE, scope, workspace)
        if record is None:
            raise goa_error(404, f"workspace {workspace} not found")
        return record

    def refuse_if_locked(self, record: dict[str, Any]) -> None:
        """goa 409 while a pipeline execution holds the workspace."""
        lock = record.get("lock")
        if lock:
            identifier = record["workspace"]["identifier"]
            raise goa_error(
                409,
                f"workspace {identifier} is locked by pipeline execution {lock['execution']}; "
                "wait for it to finish or force-unlock it",
            )

    # ---- workspaces ------------------------------------------------------------------------------
    @staticmethod
    def summary(workspace: dict[str, Any]) -> dict[str, Any]:
        """The list entry of a workspace."""
        keys = (
            "account",
            "org",
            "project",
            "identifier",
            "name",
            "description",
            "status",
            "provisioner",
            "tags",
            "created",
            "updated",
        )
        return {key: workspace.get(key) for key in keys}

    async def list_workspaces(self, call: Call) -> Response:
        scope = self.scope(call)
        statuses = set(call.query_list("status"))
        tags = [tag.split(":", 1) for tag in call.query_map.get("tags", []) if tag]
        term = (call.query("searchTerm") or "").lower()
        sort = call.query("sort") or "identifier"
        sort = sort if sort in ("identifier", "name", "created", "updated") else "identifier"
        found = []
        for record in self.store.items_in(WORKSPACE, scope):
            ws = record["workspace"]
            if statuses and ws["status"] not in statuses:
                continue
            if term and term not in ws["identifier"].lower() and term not in ws["name"].lower():
                continue
            if not all(t[0] in ws["tags"] and (len(t) == 1 or ws["tags"][t[0]] == t[1]) for t in tags):
                continue
            found.append(ws)
        found.sort(key=lambda ws: (ws[sort], ws["identifier"]))
        return json_response([self.summary(ws) for ws in self.page(call, found)])

    def _workspace_from(
        self, body: dict[str, Any], scope: Scope, base: dict[str, Any] | None
    ) -> dict[str, Any]:
        """A validated workspace from a create/update body (``base``: the current one, for updates)."""
        check_rules(body, WORKSPACE_RULES, WORKSPACE_REQUIRED if base is None else WORKSPACE_REQUIRED[1:])
        variables = {
            name: check_variables(name, body[name])
            for name in VARIABLE_KINDS.values()
            if body.get(name) is not None
        }
        now = now_ms()
        workspace = copy.deepcopy(base) if base is not None else {**copy.deepcopy(WORKSPACE_DEFAULTS)}
        for name in (*WORKSPACE_REQUIRED, *WORKSPACE_DEFAULTS):
            if body.get(name) is not None and name != "identifier":
                workspace[name] = copy.deepcopy(body[name])
        workspace.update(variables)
        if base is None:
            workspace.update(
                identifier=body["identifier"],
                account=scope[0],
                org=scope[1],
                project=scope[2],
                status="inactive",
                created=now,
            )
        workspace["updated"] = now
        return workspace

    def _write(
        self, scope: Scope, workspace: dict[str, Any], record: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Evaluate the policies and, unless one denies with ``error``, store the workspace."""
        evaluation = policy_evaluation(self.policies, workspace)
        if evaluation.get("status") != "error":
            if record is None:
                record = {
                    "workspace": workspace,
                    "resources": [],
                    "outputs": [],
                    "lock": None,
                    "pipelines": [],
                }
            record["workspace"] = workspace
            self.store.put(WORKSPACE, scope, workspace["identifier"], record)
        return {"policy_evaluation": evaluation}

    async def create_workspace(self, call: Call) -> Response:
        scope = self.scope(call)
        body = await self.body(call)
        workspace = self._workspace_from(body, scope, None)
        if self.store.get(WORKSPACE, scope, workspace["identifier"]) is not None:
            raise goa_error(409, f"workspace {workspace['identifier']} already exists")
        return json_response(self._write(scope, workspace, None))

    async def get_workspace(self, call: Call) -> Response:
        scope = self.scope(call)
        return json_response(self.record(scope, call.params["workspace"])["workspace"])

    async def update_workspace(self, call: Call) -> Response:
        scope = self.scope(call)
        identifier = call.params["workspace"]
        record = self.record(scope, identifier)
        body = await self.body(call)
        if body.get("identifier") is not None and body["identifier"] != identifier:
            raise bad_request(f"identifier {body['identifier']!r} in the body does not match {identifier!r}")
        self.refuse_if_locked(record)
        workspace = self._workspace_from(body, scope, record["workspace"])
        return json_response(self._write(scope, workspace, record))

    async def delete_workspace(self, call: Call) -> Response:
        scope = self.scope(call)
        identifier = call.params["workspace"]
        self.refuse_if_locked(self.record(scope, identifier))
        self.remove_workspace(scope, identifier)
        return Response(status_code=204)

    def remove_workspace(self, scope: Scope, identifier: str) -> None:
        """Delete a workspace and everything under it (its events stay, as an audit trail)."""
        self.store.delete(WORKSPACE, scope, identifier)
        for kind in WORKSPACE_CHILD_KINDS:
            self.store.delete_scope(kind, (*scope, identifier))

    async def clone_workspace(self, call: Call) -> Response:
        scope = self.scope(call)
        source = self.record(scope, call.params["workspace"])
        body = await self.body(call)
        check_rules(body, CLONE_RULES, ("identifier", "name"))
        if self.store.get(WORKSPACE, scope, body["identifier"]) is not None:
            raise goa_error(409, f"workspace {body['identifier']} already exists")
        now = now_ms()
        workspace = copy.deepcopy(source["workspace"])
        workspace.update(
            identifier=body["identifier"], name=body["name"], status="inactive", created=now, updated=now
        )
        if body.get("description") is not None:
            workspace["description"] = body["description"]
        return json_response(self._write(scope, workspace, None))

    async def force_unlock(self, call: Call) -> Response:
        scope = self.scope(call)
        record = self.record(scope, call.params["workspace"])
        if record.get("lock"):
            record["lock"] = None
            self.store.mark_dirty()
        return Response(status_code=204)

    # ---- variables -------------------------------------------------------------------------------
    @staticmethod
    def _kind(kind: Any) -> str:
        if kind not in VARIABLE_KINDS:
            raise bad_request(f"kind must be one of {', '.join(VARIABLE_KINDS)}, got {kind!r}")
        return str(VARIABLE_KINDS[kind])

    def _variable(self, call: Call) -> tuple[dict[str, Any], str, str, dict[str, Any]]:
        """``(workspace record, kind, key, variables of that kind)`` of a variable path."""
        scope = self.scope(call)
        record = self.record(scope, call.params["workspace"])
        kind = call.params["kind"]
        variables = record["workspace"][self._kind(kind)]
        key = call.params["key"]
        if key not in variables:
            raise goa_error(404, f"variable {kind}/{key} not found in workspace {call.params['workspace']}")
        return record, kind, key, variables

    async def list_variables(self, call: Call) -> Response:
        workspace = self.record(self.scope(call), call.params["workspace"])["workspace"]
        return json_response(
            [
                {**variable, "kind": kind}
                for kind, field_name in VARIABLE_KINDS.items()
                for variable in workspace[field_name].values()
            ]
        )

    async def create_variable(self, call: Call) -> Response:
        record = self.record(self.scope(call), call.params["workspace"])
        body = await self.body(call)
        check_rules(body, (("key", _non_empty, "key must be a non-empty string"), *VARIABLE_RULES))
        for name in ("key", "value", "value_type", "kind"):
            if body.get(name) is None:
                raise bad_request(f'"{name}" is missing from body')
        variables = record["workspace"][self._kind(body["kind"])]
        if body["key"] in variables:
            raise goa_error(409, f"variable {body['kind']}/{body['key']} already exists")
        variables[body["key"]] = {
            "key": body["key"],
            "value": body["value"],
            "value_type": body["value_type"],
        }
        self._touched(record)
        return json_response({**variables[body["key"]], "kind": body["kind"]})

    async def get_variable(self, call: Call) -> Response:
        _, kind, key, variables = self._variable(call)
        return json_response({**variables[key], "kind": kind})

    async def update_variable(self, call: Call) -> Response:
        record, kind, key, variables = self._variable(call)
        body = await self.body(call)
        check_rules(body, VARIABLE_RULES, ("value", "value_type"))
        variables[key] = {"key": key, "value": body["value"], "value_type": body["value_type"]}
        self._touched(record)
        return json_response({**variables[key], "kind": kind})

    async def delete_variable(self, call: Call) -> Response:
        record, _, key, variables = self._variable(call)
        del variables[key]
        self._touched(record)
        return Response(status_code=204)

    def _touched(self, record: dict[str, Any]) -> None:
        record["workspace"]["updated"] = now_ms()
        self.store.mark_dirty()

    # ---- resources, data, pipelines --------------------------------------------------------------
    async def resources(self, call: Call) -> Response:
        record = self.record(self.scope(call), call.params["workspace"])
        return json_response({"resources": record["resources"], "outputs": record["outputs"]})

    def _newest_first(self, kind: str, scope: tuple[str, ...]) -> list[dict[str, Any]]:
        return sorted(self.store.items_in(kind, scope), key=lambda r: r["seq"], reverse=True)

    async def list_data(self, call: Call) -> Response:
        scope = self.scope(call)
        workspace = call.params["workspace"]
        self.record(scope, workspace)
        filters = {
            name: call.query(name) for name in ("pipeline_execution_id", "pipeline_stage_id", "data_type")
        }
        found = [
            r["meta"]
            for r in self._newest_first(DATA, (*scope, workspace))
            if all(not wanted or r["meta"][name] == wanted for name, wanted in filters.items())
        ]
        return json_response(self.page(call, found))

    async def get_data(self, call: Call) -> Response:
        scope = self.scope(call)
        workspace = call.params["workspace"]
        self.record(scope, workspace)
        data = self.store.get(DATA, (*scope, workspace), call.params["id"])
        if data is None:
            raise goa_error(404, f"data {call.params['id']} not found in workspace {workspace}")
        return text_response(json.dumps(data["document"]))

    def fixed_pipelines(self, scope: Scope, workspace: str) -> list[str]:
        """Pipelines whose YAML names ``workspace`` (not as a runtime input) in an ``IACM`` stage."""
        names = []
        for record in self.store.items_in("pipeline", scope):
            try:
                pipeline = self.core.pipelines.parsed(scope, record)
            except HarnessError:
                continue
            for group in pipeline_stage_groups(pipeline):
                for stage in group:
                    target = (stage.get("spec") or {}).get("workspace")
                    if stage.get("type") == "IACM" and target == workspace and not is_runtime_input(target):
                        names.append(str(pipeline["identifier"]))
        return names

    async def pipelines(self, call: Call) -> Response:
        scope = self.scope(call)
        workspace = call.params["workspace"]
        record = self.record(scope, workspace)
        names = sorted({*record["pipelines"], *self.fixed_pipelines(scope, workspace)})
        return json_response(
            {"account": scope[0], "org": scope[1], "project": scope[2], "pipelines": self.page(call, names)}
        )

    # ---- activities ------------------------------------------------------------------------------
    def _activities(self, scope: Scope) -> list[dict[str, Any]]:
        found = [
            r
            for r in self.store.all(ACTIVITY)
            if (r["activity"]["account"], r["activity"]["org"], r["activity"]["project"]) == scope
        ]
        return sorted(found, key=lambda r: r["seq"], reverse=True)

    async def list_activities(self, call: Call) -> Response:
        scope = self.scope(call)
        exact = (
            "workspace",
            "pipeline",
            "pipeline_execution_id",
            "pipeline_stage_id",
            "activity_type",
            "activity_status",
        )
        wanted = {name: call.query(name) for name in exact}
        bounds = []
        for name, compare in (("start_time", int.__ge__), ("end_time", int.__le__)):
            raw = call.query(name)
            if raw:
                try:
                    bounds.append((compare, int(raw)))
                except ValueError:
                    raise bad_request(f"{name} must be epoch milliseconds, got {raw!r}") from None
        found = [
            activity
            for activity in (r["activity"] for r in self._activities(scope))
            if all(not value or activity[name] == value for name, value in wanted.items())
            and all(compare(activity["created"], limit) for compare, limit in bounds)
        ]
        return json_response(self.page(call, found))

    async def resource_changes(self, call: Call) -> Response:
        scope = self.scope(call)
        workspace = call.query("workspace")
        for record in self._activities(scope):
            if record["activity"]["id"] == call.params["id"] and workspace in (
                None,
                "",
                record["activity"]["workspace"],
            ):
                return json_response({"resource_changes": record["resource_changes"]})
        raise goa_error(404, f"activity {call.params['id']} not found")

    # ---- events ----------------------------------------------------------------------------------
    def record_event(
        self,
        scope: Scope,
        workspace: str,
        event_type: str,
        *,
        source: str,
        execution_id: str = "",
        stage_id: str = "",
        data: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Record an event; a status-named one also sets the workspace's status."""
        event_id = self.core.ids.uuid()
        self.store.put(
            EVENT,
            (*scope, workspace),
            event_id,
            {
                "id": event_id,
                "account": scope[0],
                "org": scope[1],
                "project": scope[2],
                "workspace": workspace,
                "event_type": event_type,
                "pipeline_execution_id": execution_id,
                "pipeline_stage_id": stage_id,
                "data": data or {},
                "metadata": metadata or {},
                "source": source,
                "created": now_ms(),
                "seq": time.time_ns(),
            },
        )
        record = self.store.get(WORKSPACE, scope, workspace)
        if event_type in STATUS_EVENT_TYPES and record is not None:
            record["workspace"]["status"] = event_type
            self._touched(record)

    async def send_event(self, call: Call) -> Response:
        scope = self.scope(call)
        workspace = call.params["workspace"]
        self.record(scope, workspace)
        body = await self.body(call)
        rules: tuple[Rule, ...] = (
            ("event_type", lambda v: v in EVENT_TYPES, f"event_type must be one of {', '.join(EVENT_TYPES)}"),
            ("pipeline_execution_id", _text, "pipeline_execution_id must be a string"),
            ("pipeline_stage_id", _text, "pipeline_stage_id must be a string"),
            ("data", lambda v: isinstance(v, dict), "data must be an object"),
            ("metadata", lambda v: isinstance(v, dict), "metadata must be an object"),
        )
        check_rules(body, rules, ("event_type",))
        self.record_event(
            scope,
            workspace,
            body["event_type"],
            source="api",
            execution_id=body.get("pipeline_execution_id") or "",
            stage_id=body.get("pipeline_stage_id") or "",
            data=body.get("data"),
            metadata=body.get("metadata"),
        )
        return Response(status_code=204)

    def events(self, workspace: str | None = None) -> list[dict[str, Any]]:
        """Every recorded event (of one workspace), oldest first (admin)."""
        found = sorted(
            (e for e in self.store.all(EVENT) if workspace in (None, "", e["workspace"])),
            key=lambda e: e["seq"],
        )
        return [{key: value for key, value in e.items() if key != "seq"} for e in found]

    # ---- ephemeral (time to live) ----------------------------------------------------------------
    def _due(self, value: Any, unit: Any, on_date: Any) -> float:
        """The wall instant an emulated delay (or a date's midnight UTC) is due at."""
        now = time.time()
        if _given(value):
            emulated = float(value) * DELAY_UNITS[str(unit)]
        else:
            midnight = datetime.combine(date.fromisoformat(str(on_date)), datetime.min.time(), UTC)
            emulated = max(0.0, midnight.timestamp() - now)
        return now + self.core.settings.wall_seconds(emulated)

    async def put_ephemeral(self, call: Call) -> Response:
        scope = self.scope(call)
        workspace = call.params["workspace"]
        self.record(scope, workspace)
        body = await self.body(call)
        for _field, check, message in EPHEMERAL_RULES:
            if not check(body):
                raise bad_request(message)
        destroy_at = self._due(
            body.get("destroy_delay_value"), body.get("destroy_delay_unit"), body.get("destroy_on_date")
        )
        delete = bool(body.get("delete_workspace"))
        delete_at: float | None = None
        if delete:
            delete_at = destroy_at
            if _given(body.get("delete_delay_value")) or _given(body.get("delete_on_date")):
                delete_at = self._due(
                    body.get("delete_delay_value"), body.get("delete_delay_unit"), body.get("delete_on_date")
                )
            if delete_at < destroy_at:
                name = "delete_on_date" if _given(body.get("delete_on_date")) else "delete_delay_value"
                raise bad_request(f"{name}: the delete time must not be before the destroy time")
        config = {
            "account": scope[0],
            "org": scope[1],
            "project": scope[2],
            "workspace": workspace,
            "pipeline_id": body["pipeline_id"],
            "trigger_id": f"ephemeral_{workspace}",
            "provisioner": body.get("provisioner") or "",
            "destroy_at": destroy_at,
            "delete_at": delete_at,
            "delete_workspace": delete,
            "destroyed": False,
        }
        self.store.put(EPHEMERAL, (*scope, workspace), "config", config)
        if self._wake is not None:
            self._wake.set()
        return json_response(
            {
                "destroy_at": rfc3339(destroy_at),
                "delete_at": rfc3339(delete_at) if delete_at is not None else "",
                "status": "scheduled",
            }
        )

    async def get_ephemeral(self, call: Call) -> Response:
        scope = self.scope(call)
        workspace = call.params["workspace"]
        self.record(scope, workspace)
        config = self.store.get(EPHEMERAL, (*scope, workspace), "config")
        if config is None:
            return json_response({"enabled": False})
        return json_response(
            {
                "enabled": True,
                "pipeline_id": config["pipeline_id"],
                "trigger_id": config["trigger_id"],
                "destroy_at": rfc3339(config["destroy_at"]),
                "delete_at": rfc3339(config["delete_at"]) if config["delete_at"] is not None else "",
                "delete_workspace": config["delete_workspace"],
            }
        )

    async def delete_ephemeral(self, call: Call) -> Response:
        scope = self.scope(call)
        workspace = call.params["workspace"]
        self.record(scope, workspace)
        self.store.delete(EPHEMERAL, (*scope, workspace), "config")
        return Response(status_code=204)

    async def put_project_settings(self, call: Call) -> Response:
        scope = self.scope(call)
        body = await self.body(call)
        self.store.put(PROJECT_SETTINGS, (scope[0],), f"{scope[1]}/{scope[2]}", body)
        return json_response({"job_id": self.core.ids.uuid(), "status": "pending"}, 202)

    async def delete_project_settings(self, call: Call) -> Response:
        scope = self.scope(call)
        self.store.delete(PROJECT_SETTINGS, (scope[0],), f"{scope[1]}/{scope[2]}")
        return json_response({"job_id": self.core.ids.uuid(), "status": "pending"}, 202)

    def project_settings(self, account: str) -> dict[str, Any]:
        """``{"org/project": settings last PUT}`` of an account (admin)."""
        return dict(self.store.resources.get(PROJECT_SETTINGS, {}).get(account, {}))

    def process_due(self, now: float | None = None) -> float | None:
        """Do the time-to-live work that is due; the next due instant (``None``: nothing scheduled)."""
        now = time.time() if now is None else now
        upcoming: list[float] = []
        for config in list(self.store.all(EPHEMERAL)):
            scope: Scope = (config["account"], config["org"], config["project"])
            workspace = config["workspace"]
            record = self.store.get(WORKSPACE, scope, workspace)
            if record is None:
                self.store.delete(EPHEMERAL, (*scope, workspace), "config")
                continue
            if record.get("lock"):  # a pipeline holds it: try again later
                upcoming.append(now + TTL_TICK)
                continue
            if not config["destroyed"]:
                if config["destroy_at"] > now:
                    upcoming.append(config["destroy_at"])
                    continue
                self._ttl_destroy(scope, record, config)
            if config["delete_workspace"] and config["delete_at"] is not None:
                if config["delete_at"] > now:
                    upcoming.append(config["delete_at"])
                    continue
                log.info("IaCM time to live: deleting workspace %s", workspace)
                self.remove_workspace(scope, workspace)
            else:
                self.store.delete(EPHEMERAL, (*scope, workspace), "config")
        return min(upcoming) if upcoming else None

    def _ttl_destroy(self, scope: Scope, record: dict[str, Any], config: dict[str, Any]) -> None:
        workspace = config["workspace"]
        log.info("IaCM time to live: destroying workspace %s", workspace)
        self.record_event(scope, workspace, "destroying", source="ttl")
        changes = diff_resources(record["resources"], [])
        record["resources"], record["outputs"] = [], []
        self._activity(
            scope,
            workspace,
            "destroy",
            "success",
            changes,
            0,
            pipeline=config["pipeline_id"],
            pipeline_name=config["pipeline_id"],
        )
        self.record_event(scope, workspace, "inactive", source="ttl")
        config["destroyed"] = True
        self.store.mark_dirty()

    async def ttl_loop(self) -> None:
        """Do time-to-live work when it is due (woken early when a schedule changes)."""
        self._wake = asyncio.Event()
        while True:
            try:
                upcoming = self.process_due()
            except Exception:
                log.exception("IaCM time-to-live processing failed")
                upcoming = None
            wait = TTL_TICK if upcoming is None else min(TTL_TICK, max(0.0, upcoming - time.time()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
            self._wake.clear()

    def startup(self) -> None:
        """At start-up: release locks of executions that no longer run, and do overdue time-to-live work."""
        executions = self.core.store.executions
        for record in self.store.all(WORKSPACE):
            lock = record.get("lock")
            if lock and (lock["execution"] not in executions or executions[lock["execution"]].terminal):
                record["lock"] = None
                self.store.mark_dirty()
        self.process_due()

    # ---- the IACM stage's steps ------------------------------------------------------------------
    def _activity(
        self,
        scope: Scope,
        workspace: str,
        activity_type: str,
        status: str,
        changes: list[dict[str, Any]],
        total_after: int,
        *,
        pipeline: str,
        pipeline_name: str,
        execution_id: str = "",
        stage_id: str = "",
    ) -> None:
        activity_id = self.core.ids.uuid()
        now = now_ms()
        activity = {
            "id": activity_id,
            "account": scope[0],
            "org": scope[1],
            "project": scope[2],
            "workspace": workspace,
            "pipeline": pipeline,
            "pipeline_name": pipeline_name,
            "pipeline_execution_id": execution_id,
            "pipeline_stage_id": stage_id,
            "activity_type": activity_type,
            "activity_status": status,
            "resource_counts": resource_counts(changes, total_after),
            "created": now,
            "updated": now,
        }
        record = {"activity": activity, "resource_changes": changes, "seq": time.time_ns()}
        self.store.put(ACTIVITY, (*scope, workspace), activity_id, record)

    def _data(
        self,
        scope: Scope,
        workspace: str,
        data_type: str,
        document: dict[str, Any],
        execution_id: str,
        stage_id: str,
    ) -> None:
        data_id = self.core.ids.uuid()
        meta = {
            "id": data_id,
            "data_type": data_type,
            "pipeline_execution_id": execution_id,
            "pipeline_stage_id": stage_id,
            "created": now_ms(),
        }
        self.store.put(
            DATA, (*scope, workspace), data_id, {"meta": meta, "document": document, "seq": time.time_ns()}
        )

    async def run_step(self, ctx: StepContext) -> tuple[str, dict[str, Any] | None]:
        """One IaCM step: lock, (running status), the step time, then the command's effect."""
        spec = ctx.step.spec.get("spec") or {}
        command = str(ctx.resolve(spec.get("command") or ""))
        if command not in COMMANDS:
            return ctx.fail(f"Unknown IaCM command {command!r}; expected one of {', '.join(COMMANDS)}")
        workspace = ctx.resolve((ctx.stage.spec.get("spec") or {}).get("workspace"))
        if not _non_empty(workspace) or is_runtime_input(workspace):
            return ctx.fail(f"IaCM stage {ctx.stage.identifier} has no workspace (stage spec.workspace)")
        problems: list[str] = []
        actions = [
            ScriptAction("effect", effect=lambda: self._begin(ctx, workspace, command, problems)),
            ScriptAction("sleep", seconds=self.core.settings.default_step_seconds),
            ScriptAction("effect", effect=lambda: self._end(ctx, workspace, command, problems)),
        ]
        if await ctx.run(actions):
            return ctx.fail(problems[-1] if problems else f"IaCM {command} failed")
        return "Success", None

    def _begin(self, ctx: StepContext, workspace: str, command: str, problems: list[str]) -> int:
        execution = ctx.execution
        record = self.store.get(WORKSPACE, execution.scope, workspace)
        if record is None:
            problems.append(f"Workspace {workspace} not found")
            return 1
        lock = record.get("lock")
        if lock and lock["execution"] != execution.id:
            problems.append(f"Workspace {workspace} is locked by pipeline execution {lock['execution']}")
            return 1
        if not lock:
            record["lock"] = {"execution": execution.id, "stage": ctx.stage.identifier, "since": now_ms()}
            ctx.log(f"Locked workspace {workspace} for this execution")
        if execution.pipeline_id not in record["pipelines"]:
            record["pipelines"].append(execution.pipeline_id)
        self.store.mark_dirty()
        ws = record["workspace"]
        tool = STEP_TYPES.get(ctx.step.type, ws["provisioner"])
        version = f" {ws['provisioner_version']}" if ws.get("provisioner_version") else ""
        ctx.log(
            f"{tool}{version} {command} in workspace {workspace} (provisioner {ws['provisioner']}, emulated)"
        )
        running = COMMANDS[command].running_status
        if running:
            self.record_event(
                execution.scope,
                workspace,
                running,
                source="pipeline",
                execution_id=execution.id,
                stage_id=ctx.stage.identifier,
            )
        return 0

    def _end(self, ctx: StepContext, workspace: str, command: str, problems: list[str]) -> int:
        execution, stage_id = ctx.execution, ctx.stage.identifier
        scope = execution.scope
        record = self.store.get(WORKSPACE, scope, workspace)
        if record is None:
            problems.append(f"Workspace {workspace} not found")
            return 1
        ws = record["workspace"]
        spec = COMMANDS[command]
        run = {"pipeline": execution.pipeline_id, "pipeline_name": execution.pipeline_name}
        ids = {"execution_id": execution.id, "stage_id": stage_id}
        fail = (ws["terraform_variables"].get(FAIL_VARIABLE) or {}).get("value")
        if fail == command:
            problems.append(
                f"{ws['provisioner']} {command} failed in workspace {workspace} "
                f"(terraform variable {FAIL_VARIABLE} is {command!r})"
            )
            if spec.activity:
                self._activity(
                    scope, workspace, spec.activity, "failure", [], len(record["resources"]), **run, **ids
                )
            self.record_event(
                scope, workspace, "failed", source="pipeline", execution_id=execution.id, stage_id=stage_id
            )
            return 1
        desired, outputs = desired_infrastructure(ws)
        if spec.target is None:
            changes: list[dict[str, Any]] = []
        else:
            changes = diff_resources(record["resources"], desired if spec.target == "desired" else [])
        total_after = len(desired) if spec.target == "desired" else 0
        if spec.target is None:
            total_after = len(record["resources"])
        added, changed, deleted, _ = resource_counts(changes, total_after).values()
        if spec.applies:
            if spec.target == "desired":
                record["resources"], record["outputs"] = desired, outputs
            else:
                record["resources"], record["outputs"] = [], []
            done = f"{added} added, {changed} changed, {deleted} destroyed"
            ctx.log(f"{command.capitalize()} complete! Resources: {done}.")
        elif spec.target is not None:
            ctx.log(f"Plan: {added} to add, {changed} to change, {deleted} to destroy.")
        else:
            ctx.log(f"{command} finished: {len(record['resources'])} resources, no changes.")
        if spec.activity:
            self._activity(scope, workspace, spec.activity, "success", changes, total_after, **run, **ids)
        for data_type in spec.data:
            document: dict[str, Any] = (
                {"resource_changes": changes}
                if data_type == "plan"
                else {
                    "resources": record["resources"],
                    "outputs": {
                        o["name"]: {"value": o["value"], "sensitive": o["sensitive"]}
                        for o in record["outputs"]
                    },
                }
            )
            self._data(scope, workspace, data_type, copy.deepcopy(document), execution.id, stage_id)
        if spec.activity == "plan":
            self.record_event(
                scope, workspace, "plan", source="pipeline", execution_id=execution.id, stage_id=stage_id
            )
            if changes:
                self.record_event(
                    scope,
                    workspace,
                    "apply_needed",
                    source="pipeline",
                    execution_id=execution.id,
                    stage_id=stage_id,
                )
        if spec.applies:
            final = "active" if spec.target == "desired" else "inactive"
            self.record_event(
                scope, workspace, final, source="pipeline", execution_id=execution.id, stage_id=stage_id
            )
        self.store.mark_dirty()
        return 0

    def stage_ended(self, execution: Execution, stage: Node) -> None:
        """Release the workspace locks a finished stage holds."""
        for record in self.store.items_in(WORKSPACE, execution.scope):
            lock = record.get("lock")
            if lock and lock["execution"] == execution.id and lock["stage"] == stage.identifier:
                record["lock"] = None
                self.store.mark_dirty()
