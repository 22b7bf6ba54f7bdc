"""Helpers for the emulator tests: an httpx client with the emulator's key, and pipeline YAML builders."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import yaml

from airflow_provider_harness.emulator.server import EmulatorHandle

TERMINAL = {"Success", "Failed", "Aborted", "Expired", "ApprovalRejected", "Errored", "IgnoreFailed"}


class Verbs:
    """``get``/``post``/``put``/``delete`` over a client's ``request(method, path, **kwargs)``."""

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        raise NotImplementedError

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)


class Api(Verbs):
    """httpx with the emulator's key and default scope query parameters."""

    def __init__(self, handle: EmulatorHandle) -> None:
        self.handle = handle
        self.client = httpx.Client(
            base_url=handle.base_url, headers={"x-api-key": handle.api_key}, timeout=10
        )

    def scope(self, **extra: Any) -> dict[str, Any]:
        params = {
            "accountIdentifier": self.handle.account_id,
            "orgIdentifier": self.handle.org_id,
            "projectIdentifier": self.handle.project_id,
        }
        params.update({k: v for k, v in extra.items()})
        return {k: v for k, v in params.items() if v is not None}

    def request(
        self, method: str, path: str, *, params: Any = None, scoped: bool = True, **kwargs: Any
    ) -> httpx.Response:
        query = self.scope(**(params or {})) if scoped and not isinstance(params, list) else params
        return self.client.request(method, path, params=query, **kwargs)

    # -- pipelines and executions ------------------------------------------------------------------
    def create_pipeline(self, text: str) -> httpx.Response:
        response = self.post(
            "/pipeline/api/pipelines/v2", content=text, headers={"content-type": "application/yaml"}
        )
        assert response.status_code == 200, response.text
        return response

    def execute(self, pipeline: str, body: str = "", **params: Any) -> httpx.Response:
        return self.post(
            f"/pipeline/api/pipeline/execute/{pipeline}",
            params=params,
            content=body,
            headers={"content-type": "application/yaml"},
        )

    def run(self, pipeline: str, body: str = "", **params: Any) -> str:
        response = self.execute(pipeline, body, **params)
        assert response.status_code == 200, response.text
        return str(response.json()["data"]["planExecution"]["uuid"])

    def summary(self, execution_id: str, **params: Any) -> dict[str, Any]:
        response = self.get(f"/pipeline/api/pipelines/execution/v2/{execution_id}", params=params)
        assert response.status_code == 200, response.text
        return dict(response.json()["data"]["pipelineExecutionSummary"])

    def wait(
        self,
        execution_id: str,
        until: Callable[[dict[str, Any]], bool] | set[str] | None = None,
        timeout: float = 10,
    ) -> dict[str, Any]:
        """Poll the execution until ``until`` (a predicate or a status set; default terminal) holds."""
        check = until if callable(until) else (lambda s, wanted=until or TERMINAL: s["status"] in wanted)
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while True:
            summary = self.summary(execution_id)
            if not seen or seen[-1] != summary["status"]:
                seen.append(summary["status"])
            if check(summary):
                summary["_seen"] = seen
                return summary
            assert time.monotonic() < deadline, f"timed out; statuses seen: {seen}"
            time.sleep(0.005)

    def interrupt(self, execution_id: str, kind: str) -> httpx.Response:
        return self.put(
            f"/pipeline/api/pipeline/execute/interrupt/{execution_id}", params={"interruptType": kind}
        )


# ---- pipeline YAML builders ----------------------------------------------------------------------
def shell(identifier: str, script: str, **extra: Any) -> dict[str, Any]:
    step = {
        "name": identifier,
        "identifier": identifier,
        "type": "ShellScript",
        "timeout": "10m",
        "spec": {
            "shell": "Bash",
            "onDelegate": True,
            "source": {"type": "Inline", "spec": {"script": script}},
        },
    }
    step.update(extra)
    return {"step": step}


def step(identifier: str, step_type: str, spec: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "step": {"name": identifier, "identifier": identifier, "type": step_type, "spec": spec or {}, **extra}
    }


def stage(
    identifier: str, steps: list[dict[str, Any]], stage_type: str = "Custom", **extra: Any
) -> dict[str, Any]:
    body = {"name": f"{identifier} name", "identifier": identifier, "type": stage_type}
    body.update(extra)
    spec = body.setdefault("spec", {})
    spec["execution"] = {"steps": steps}
    return {"stage": body}


def pipeline_yaml(
    identifier: str, stages: list[dict[str, Any]], project: str = "emulator_project", **extra: Any
) -> str:
    body: dict[str, Any] = {
        "name": f"{identifier} name",
        "identifier": identifier,
        "projectIdentifier": project,
        "orgIdentifier": "default",
    }
    body.update(extra)
    body["stages"] = stages
    return yaml.safe_dump({"pipeline": body}, sort_keys=False)
