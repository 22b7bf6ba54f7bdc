"""Admin endpoints under ``/_emulator`` (a prefix real Harness never uses); no API key needed.

* ``GET /_emulator/health``
* ``POST /_emulator/reset`` - forget data, faults, counters, deliveries (settings are kept)
* ``GET|PUT /_emulator/settings`` - body ``{"time_scale": 0.01, "legacy_interrupts": true}``
* ``GET|POST|DELETE /_emulator/faults`` - POST body (or a list of them)::

      {"kind": "error|html|rate_limit|latency|drop", "status": 503, "count": 3,
       "path_prefix": "/pipeline", "method": "GET", "delay_ms": 0, "skip": 0, "probability": 1.0,
       "body": null, "content_type": null}

* ``DELETE /_emulator/faults/{id}``
* ``GET|DELETE /_emulator/counters`` - query ``path_prefix``, ``method``
* ``GET|DELETE /_emulator/notifications`` - query ``eventType``, ``planExecutionId``
* ``GET /_emulator/executions`` - query ``pipelineIdentifier``, ``status``
* ``POST /_emulator/executions/{id}/approve`` and ``.../reject`` - body ``{"step": "id", "comments": "..."}``
* ``GET /_emulator/secrets/sha256`` - query ``identifier``, ``org``, ``project`` (empty = higher scope),
  ``account``; answers ``{"sha256": "<hex of the stored value>"}`` (``null`` when none was given); the
  value itself is never stored, so it cannot be returned
* ``DELETE /_emulator/triggers/{id}/token`` - query ``pipeline``, ``org``, ``project`` (default
  ``default``/``emulator_project``), ``account``: make a custom trigger tokenless, like one created before
  Harness introduced webhook tokens; its ``webhookUrl`` becomes the v2 URL, which then accepts it
* ``POST /_emulator/api-keys`` - body ``{"api_key": "pat.acc2.x.y", "account_id": "acc2"}``
* ``POST /_emulator/save`` - write the state file now
* ``GET|PUT /_emulator/iacm/policies`` - the IaCM policies workspace writes are evaluated against; PUT body
  (replaces them all; ``[]`` removes them; kept in memory, forgotten on reset)::

      [{"identifier": "no_tf", "name": "No Terraform", "field": "provisioner", "deny": ["terraform"],
        "message": "use opentofu", "severity": "error|warning"}]

* ``GET /_emulator/iacm/events`` - query ``workspace``: recorded IaCM events, oldest first (API, pipeline
  and time-to-live events; ``source`` says which)
* ``GET /_emulator/iacm/settings`` - query ``account``: ``{"org/project": body}`` of the project ephemeral
  settings last PUT (``DELETE`` removes the entry)
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from airflow_provider_harness.emulator.httpcall import Call, Route, json_response
from airflow_provider_harness.emulator.settings import DEFAULT_PROJECT, DEFAULT_PROJECT_ORG

if TYPE_CHECKING:
    from airflow_provider_harness.emulator.app import Emulator


def _bad(message: str, status: int = 400) -> Response:
    return json_response({"error": message}, status)


class AdminApi:
    """Test and demo controls."""

    def __init__(self, core: Emulator) -> None:
        self.core = core

    def routes(self) -> list[Route]:
        """Admin routes (all without auth)."""
        a = "/_emulator"
        return [
            Route("GET", f"{a}/health", self.health, auth="none"),
            Route("POST", f"{a}/reset", self.reset, auth="none"),
            Route("GET", f"{a}/settings", self.get_settings, auth="none"),
            Route("PUT", f"{a}/settings", self.put_settings, auth="none"),
            Route("PATCH", f"{a}/settings", self.put_settings, auth="none"),
            Route("POST", f"{a}/settings", self.put_settings, auth="none"),
            Route("GET", f"{a}/faults", self.list_faults, auth="none"),
            Route("POST", f"{a}/faults", self.add_faults, auth="none"),
            Route("DELETE", f"{a}/faults", self.clear_faults, auth="none"),
            Route("DELETE", f"{a}/faults/{{faultId}}", self.delete_fault, auth="none"),
            Route("GET", f"{a}/counters", self.counters, auth="none"),
            Route("DELETE", f"{a}/counters", self.clear_counters, auth="none"),
            Route("GET", f"{a}/notifications", self.notifications, auth="none"),
            Route("DELETE", f"{a}/notifications", self.clear_notifications, auth="none"),
            Route("GET", f"{a}/executions", self.executions, auth="none"),
            Route("POST", f"{a}/executions/{{planExecutionId}}/approve", self.approve, auth="none"),
            Route("POST", f"{a}/executions/{{planExecutionId}}/reject", self.reject, auth="none"),
            Route("GET", f"{a}/secrets/sha256", self.secret_sha256, auth="none"),
            Route(
                "DELETE", f"{a}/triggers/{{triggerIdentifier}}/token", self.drop_trigger_token, auth="none"
            ),
            Route("POST", f"{a}/api-keys", self.add_api_key, auth="none"),
            Route("POST", f"{a}/save", self.save, auth="none"),
            Route("GET", f"{a}/iacm/policies", self.iacm_policies, auth="none"),
            Route("PUT", f"{a}/iacm/policies", self.set_iacm_policies, auth="none"),
            Route("GET", f"{a}/iacm/events", self.iacm_events, auth="none"),
            Route("GET", f"{a}/iacm/settings", self.iacm_settings, auth="none"),
        ]

    async def _body(self, call: Call) -> Any:
        import json

        text = (await call.body()).decode("utf-8", "replace").strip()
        if not text:
            return {}
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise _AdminError(f"body is not valid JSON: {exc.msg}") from None

    async def health(self, call: Call) -> Response:
        settings = self.core.settings
        return json_response(
            {
                "status": "ok",
                "uptimeSeconds": round(time.time() - self.core.started_at, 3),
                "accountId": settings.account_id,
                "baseUrl": settings.base_url,
                "executions": len(self.core.store.executions),
            }
        )

    async def reset(self, call: Call) -> Response:
        from airflow_provider_harness.emulator.seed import ensure_projects

        self.core.reset()
        ensure_projects(self.core)
        return json_response({"reset": True})

    async def get_settings(self, call: Call) -> Response:
        return json_response(self.core.settings.runtime_view())

    async def put_settings(self, call: Call) -> Response:
        try:
            body = await self._body(call)
            if not isinstance(body, dict):
                return _bad("settings body must be a JSON object")
            view = self.core.settings.apply(body)
        except (ValueError, _AdminError) as exc:
            return _bad(str(exc))
        self.core.webhooks.settings_changed()  # queued webhook events follow the new delay
        return json_response(view)

    async def list_faults(self, call: Call) -> Response:
        return json_response([fault.to_json() for fault in self.core.faults.faults])

    async def add_faults(self, call: Call) -> Response:
        try:
            body = await self._body(call)
            specs = body if isinstance(body, list) else [body]
            added = []
            for spec in specs:
                if not isinstance(spec, dict):
                    return _bad("a fault must be a JSON object")
                added.append(self.core.faults.add(spec).to_json())
        except (ValueError, TypeError, _AdminError) as exc:
            return _bad(str(exc))
        return json_response(added if isinstance(body, list) else added[0])

    async def clear_faults(self, call: Call) -> Response:
        self.core.faults.clear()
        return json_response({"cleared": True})

    async def delete_fault(self, call: Call) -> Response:
        if not self.core.faults.remove(call.params["faultId"]):
            return _bad("no such fault", 404)
        return json_response({"deleted": True})

    async def counters(self, call: Call) -> Response:
        prefix = call.query("path_prefix") or ""
        method = (call.query("method") or "").upper()
        requests = {
            key: count
            for key, count in self.core.request_counts.items()
            if (not method or key.split(" ", 1)[0] == method) and key.split(" ", 1)[1].startswith(prefix)
        }
        executions: dict[str, int] = {}
        for execution in self.core.store.executions.values():
            key = f"{execution.account}/{execution.org}/{execution.project}/{execution.pipeline_id}"
            executions[key] = executions.get(key, 0) + 1
        return json_response(
            {"requests": requests, "totalRequests": sum(requests.values()), "executions": executions}
        )

    async def clear_counters(self, call: Call) -> Response:
        self.core.request_counts.clear()
        return json_response({"cleared": True})

    async def notifications(self, call: Call) -> Response:
        event_type = call.query("eventType")
        execution_id = call.query("planExecutionId")
        deliveries = [
            d
            for d in self.core.notifier.deliveries
            if (not event_type or d["eventType"] == event_type)
            and (not execution_id or d["planExecutionId"] == execution_id)
        ]
        return json_response(deliveries)

    async def clear_notifications(self, call: Call) -> Response:
        self.core.notifier.clear()
        return json_response({"cleared": True})

    async def executions(self, call: Call) -> Response:
        pipeline = call.query("pipelineIdentifier")
        status = call.query("status")
        result = [
            {
                "planExecutionId": e.id,
                "accountIdentifier": e.account,
                "orgIdentifier": e.org,
                "projectIdentifier": e.project,
                "pipelineIdentifier": e.pipeline_id,
                "status": e.status,
                "runSequence": e.run_sequence,
                "notes": e.notes,
                "startTs": e.start_ts,
                "endTs": e.end_ts,
                "triggerType": e.trigger_info.get("triggerType"),
                "retryOf": e.retry_of,
            }
            for e in self.core.store.executions.values()
            if (not pipeline or e.pipeline_id == pipeline) and (not status or e.status == status)
        ]
        return json_response(result)

    async def _decide(self, call: Call, approve: bool) -> Response:
        execution = self.core.store.executions.get(call.params["planExecutionId"])
        if execution is None:
            return _bad("no such execution", 404)
        try:
            body = await self._body(call)
        except _AdminError as exc:
            return _bad(str(exc))
        body = body if isinstance(body, dict) else {}
        try:
            node = self.core.engine.decide_approval(
                execution,
                approve=approve,
                step_identifier=body.get("step"),
                comments=str(body.get("comments") or ""),
            )
        except LookupError as exc:
            return _bad(str(exc), 409)
        return json_response({"planExecutionId": execution.id, "step": node.identifier, "approved": approve})

    async def approve(self, call: Call) -> Response:
        return await self._decide(call, True)

    async def reject(self, call: Call) -> Response:
        return await self._decide(call, False)

    async def secret_sha256(self, call: Call) -> Response:
        identifier = call.query("identifier")
        if not identifier:
            return _bad("give identifier (and org, project for org- or project-level secrets)")
        account = call.query("account") or self.core.settings.account_id
        scope = (account, call.query("org") or "", call.query("project") or "")
        record = self.core.store.get("secret", scope, identifier)
        if record is None:
            where = "/".join(part for part in scope if part)
            return _bad(f"no secret {identifier!r} in {where}", 404)
        return json_response({"sha256": record.get("valueSha256")})

    async def drop_trigger_token(self, call: Call) -> Response:
        identifier = call.params["triggerIdentifier"]
        pipeline = call.query("pipeline")
        if not pipeline:
            return _bad("give pipeline (and org, project when not default/emulator_project)")
        scope = (
            call.query("account") or self.core.settings.account_id,
            call.query("org") or DEFAULT_PROJECT_ORG,
            call.query("project") or DEFAULT_PROJECT,
            pipeline,
        )
        record = self.core.store.get("trigger", scope, identifier)
        if record is None:
            return _bad(f"no trigger {identifier!r} of pipeline {'/'.join(scope)}", 404)
        record["token"] = None
        self.core.store.mark_dirty()
        return json_response({"webhookUrl": self.core.pipelines.webhook_url(scope, record)})

    async def add_api_key(self, call: Call) -> Response:
        try:
            body = await self._body(call)
        except _AdminError as exc:
            return _bad(str(exc))
        key, account = (body or {}).get("api_key"), (body or {}).get("account_id")
        if not isinstance(key, str) or not isinstance(account, str) or not key or not account:
            return _bad("give api_key and account_id")
        self.core.settings.extra_api_keys[key] = account
        return json_response({"api_key_added": True, "account_id": account})

    async def save(self, call: Call) -> Response:
        if self.core.store.path is None:
            return _bad("the emulator runs without a state file")
        self.core.store.save_now()
        return json_response({"saved": str(self.core.store.path)})

    async def iacm_policies(self, call: Call) -> Response:
        return json_response(self.core.iacm.policies)

    async def set_iacm_policies(self, call: Call) -> Response:
        from airflow_provider_harness.emulator.iacm import check_policies

        try:
            self.core.iacm.policies = check_policies(await self._body(call))
        except (ValueError, _AdminError) as exc:
            return _bad(str(exc))
        return json_response(self.core.iacm.policies)

    async def iacm_events(self, call: Call) -> Response:
        return json_response(self.core.iacm.events(call.query("workspace")))

    async def iacm_settings(self, call: Call) -> Response:
        account = call.query("account") or self.core.settings.account_id
        return json_response(self.core.iacm.project_settings(account))


class _AdminError(Exception):
    """A malformed admin request."""
