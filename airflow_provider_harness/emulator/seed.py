"""Seed data: projects that always exist, a built-in ``demo`` data set, or a YAML/JSON seed file.

A seed file lists entities by kind; each entity is the JSON/YAML body Harness would accept::

    projects:
      - {orgIdentifier: default, identifier: demo, name: Demo}
    connectors:
      - {identifier: docker, name: Docker, type: DockerRegistry, orgIdentifier: default,
         projectIdentifier: demo, spec: {dockerRegistryUrl: "https://index.docker.io/v2/"}}
    pipelines:
      - {orgIdentifier: default, projectIdentifier: demo, yaml: "pipeline: ..."}
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from airflow_provider_harness.emulator.plan import dump_yaml
from airflow_provider_harness.emulator.resources import DEFAULT_ORG, KINDS

if TYPE_CHECKING:
    from airflow_provider_harness.emulator.app import Emulator

#: Seed-file section -> resource kind.
SECTIONS: Final = {
    "organizations": "organization",
    "projects": "project",
    "services": "service",
    "environments": "environment",
    "infrastructures": "infrastructure",
    "connectors": "connector",
    "secrets": "secret",
}


def _shell_step(identifier: str, script: str) -> dict[str, Any]:
    return {
        "step": {
            "type": "ShellScript",
            "name": identifier,
            "identifier": identifier,
            "spec": {
                "shell": "Bash",
                "onDelegate": True,
                "source": {"type": "Inline", "spec": {"script": script}},
            },
            "timeout": "10m",
        }
    }


def _pipeline(identifier: str, project: str, stages: list[dict[str, Any]], **extra: Any) -> str:
    body: dict[str, Any] = {
        "name": identifier,
        "identifier": identifier,
        "projectIdentifier": project,
        "orgIdentifier": DEFAULT_ORG,
    }
    body.update(extra)
    body["stages"] = stages
    return dump_yaml({"pipeline": body})


def _stage(identifier: str, steps: list[dict[str, Any]], stage_type: str = "Custom") -> dict[str, Any]:
    return {
        "stage": {
            "name": identifier,
            "identifier": identifier,
            "type": stage_type,
            "spec": {"execution": {"steps": steps}},
        }
    }


def demo_seed(project: str = "demo_project") -> dict[str, Any]:
    """A small data set for demos: one project and a few pipelines that succeed, fail and wait."""
    return {
        "projects": [{"orgIdentifier": DEFAULT_ORG, "identifier": project, "name": "Demo project"}],
        "pipelines": [
            {
                "orgIdentifier": DEFAULT_ORG,
                "projectIdentifier": project,
                "yaml": _pipeline(
                    "hello",
                    project,
                    [
                        _stage("build", [_shell_step("compile", "echo compiling\nsleep 2\necho done")]),
                        _stage(
                            "deploy",
                            [_shell_step("ship", "echo shipping <+pipeline.variables.version>\nsleep 1")],
                        ),
                    ],
                    variables=[{"name": "version", "type": "String", "value": "<+input>.default(1.0.0)"}],
                ),
            },
            {
                "orgIdentifier": DEFAULT_ORG,
                "projectIdentifier": project,
                "yaml": _pipeline(
                    "flaky",
                    project,
                    [_stage("test", [_shell_step("tests", "echo running tests\nsleep 1\nexit 1")])],
                ),
            },
            {
                "orgIdentifier": DEFAULT_ORG,
                "projectIdentifier": project,
                "yaml": _pipeline(
                    "gated",
                    project,
                    [
                        _stage(
                            "approve",
                            [
                                {
                                    "step": {
                                        "type": "HarnessApproval",
                                        "name": "approve",
                                        "identifier": "approve",
                                        "timeout": "1d",
                                        "spec": {
                                            "approvers": {"userGroups": ["account.admin"], "minimumCount": 1}
                                        },
                                    }
                                }
                            ],
                            "Approval",
                        ),
                        _stage("release", [_shell_step("release", "echo released")]),
                    ],
                ),
            },
        ],
    }


def ensure_projects(core: Emulator) -> None:
    """Create the projects named in ``settings.projects`` (``org/project`` or ``project``) when missing."""
    account = core.settings.account_id
    for spec in core.settings.projects:
        org, _, project = spec.rpartition("/")
        org = org or DEFAULT_ORG
        if org != DEFAULT_ORG and core.store.get("organization", (account,), org) is None:
            core.resources.save(
                KINDS["organization"], (account,), {"identifier": org, "name": org}, create=True
            )
        if core.store.get("project", (account, org), project) is None:
            entity = {"identifier": project, "name": project, "orgIdentifier": org}
            core.resources.save(KINDS["project"], (account, org), entity, create=True)


def load_seed(seed: str | dict[str, Any]) -> dict[str, Any]:
    """The seed data: ``demo``, a path to a YAML/JSON file, or already-parsed data."""
    if isinstance(seed, dict):
        return seed
    if seed == "demo":
        return demo_seed()
    import yaml

    data = yaml.safe_load(Path(seed).read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"seed file {seed} must hold a mapping of sections")
    return data


def apply_seed(core: Emulator, seed: str | dict[str, Any]) -> None:
    """Create everything in the seed (for the default account); Harness validation applies."""
    data = load_seed(seed)
    account = core.settings.account_id
    unknown = set(data) - set(SECTIONS) - {"pipelines"}
    if unknown:
        raise ValueError(
            f"unknown seed sections {sorted(unknown)}; known: {sorted([*SECTIONS, 'pipelines'])}"
        )
    for section, kind_name in SECTIONS.items():
        kind = KINDS[kind_name]
        for entity in data.get(section) or []:
            entity = dict(entity)
            org = entity.get("orgIdentifier") or None
            project = entity.get("projectIdentifier") or None
            scope = core.resources.scope_for(kind, account, org, project, entity.get("environmentRef"))
            if kind.name == "project":
                entity.setdefault("orgIdentifier", DEFAULT_ORG)
            core.resources.save(kind, scope, entity, create=True)
    for pipeline in data.get("pipelines") or []:
        scope = (account, pipeline.get("orgIdentifier") or DEFAULT_ORG, pipeline["projectIdentifier"])
        text = pipeline["yaml"] if isinstance(pipeline["yaml"], str) else dump_yaml(pipeline["yaml"])
        core.pipelines.save_pipeline(scope, text, create=True)
