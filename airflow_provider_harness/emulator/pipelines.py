"""YAML-bodied entities of the pipeline service: pipelines, input sets and triggers.

Their not-found / duplicate answers are data in :data:`YAML_KINDS`; the handlers validate YAML the way
Harness does (identifiers without ``$``, YAML identifiers must match the query parameters).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlencode

from airflow_provider_harness.emulator.envelopes import HarnessError, ng_page, spring_page
from airflow_provider_harness.emulator.httpcall import Call, Route, parse_yaml_body
from airflow_provider_harness.emulator.model import now_ms
from airflow_provider_harness.emulator.plan import (
    check_yaml_identifier,
    dump_yaml,
    load_pipeline_yaml,
    pipeline_stage_groups,
    runtime_input_template,
    stage_module,
)
from airflow_provider_harness.emulator.resources import NotFound, _entity_404

if TYPE_CHECKING:
    from airflow_provider_harness.emulator.app import Emulator


@dataclass(frozen=True)
class YamlKind:
    """A YAML entity of the pipeline service and Harness's answers for missing / duplicate ones."""

    name: str
    root: str
    not_found: NotFound
    duplicate: str


YAML_KINDS: Final[dict[str, YamlKind]] = {
    kind.name: kind
    for kind in (
        YamlKind(
            name="pipeline",
            root="pipeline",
            not_found=_entity_404("Pipeline with the given ID: {id} does not exist or has been deleted."),
            duplicate=(
                "Pipeline [{id}] under Project[{project}], Organization [{org}] "
                "already exists or has been deleted."
            ),
        ),
        YamlKind(
            name="inputSet",
            root="inputSet",
            not_found=_entity_404("InputSet with the given ID: {id} does not exist or has been deleted"),
            duplicate=(
                "Input set [{id}] under Project[{project}], Organization [{org}] for Pipeline [{pipeline}] "
                "already exists"
            ),
        ),
        YamlKind(
            name="trigger",
            root="trigger",
            not_found=_entity_404("Trigger [{id}] for Pipeline [{pipeline}] does not exist"),
            duplicate="Trigger [{id}] already exists or its deletion is in progress",
        ),
    )
}

GOVERNANCE_PASS: Final = {"id": "0", "deny": False, "details": [], "message": "", "status": "pass"}


def require_query(call: Call, *names: str) -> list[str]:
    """Values of ``@NotNull`` query parameters; Harness's validation failure when any is missing."""
    values = [call.query(name) or "" for name in names]
    missing = [(name, "must not be null") for name, value in zip(names, values, strict=True) if not value]
    if missing:
        raise HarnessError.validation(missing)
    return values


def pipeline_not_found_for_execute(identifier: str) -> HarnessError:
    """What execute/retry answer for a missing pipeline (400 INVALID_REQUEST, §2.4)."""
    return HarnessError.invalid_request(
        f"Pipeline with the given ID: {identifier} does not exist or has been deleted"
    )


class PipelineApi:
    """Pipelines, input sets and triggers."""

    def __init__(self, core: Emulator) -> None:
        self.core = core
        self._parsed: dict[tuple[str, str, str, str], tuple[int, dict[str, Any]]] = {}

    def routes(self) -> list[Route]:
        """All pipeline-service CRUD routes."""
        p = "/pipeline/api/pipelines"
        i = "/pipeline/api/inputSets"
        t = "/pipeline/api/triggers"
        return [
            Route("POST", f"{p}/v2", self.create_pipeline_v2),
            Route("POST", p, self.create_pipeline_legacy),
            Route("GET", f"{p}/{{pipelineIdentifier}}", self.get_pipeline),
            Route("PUT", f"{p}/v2/{{pipelineIdentifier}}", self.update_pipeline_v2),
            Route("PUT", f"{p}/{{pipelineIdentifier}}", self.update_pipeline_legacy),
            Route("DELETE", f"{p}/{{pipelineIdentifier}}", self.delete_pipeline),
            Route("POST", f"{p}/list", self.list_pipelines),
            Route("GET", f"{p}/summary/{{pipelineIdentifier}}", self.pipeline_summary),
            Route("POST", i, self.create_input_set),
            Route("GET", i, self.list_input_sets),
            Route("GET", f"{i}/{{inputSetIdentifier}}", self.get_input_set),
            Route("PUT", f"{i}/{{inputSetIdentifier}}", self.update_input_set),
            Route("DELETE", f"{i}/{{inputSetIdentifier}}", self.delete_input_set),
            Route("POST", f"{i}/template", self.input_set_template),
            Route("POST", t, self.create_trigger),
            Route("GET", t, self.list_triggers),
            Route("GET", f"{t}/{{triggerIdentifier}}", self.get_trigger),
            Route("GET", f"{t}/{{triggerIdentifier}}/details", self.get_trigger_details),
            Route("PUT", f"{t}/{{triggerIdentifier}}", self.update_trigger),
            Route("DELETE", f"{t}/{{triggerIdentifier}}", self.delete_trigger),
        ]

    # ---- shared ----------------------------------------------------------------------------------
    @property
    def store(self) -> Any:
        return self.core.store

    def _scope(self, call: Call) -> tuple[str, str, str]:
        org, project = require_query(call, "orgIdentifier", "projectIdentifier")
        return (call.account, org, project)

    @staticmethod
    def _error(kind: str, scope: tuple[str, ...], identifier: str, pipeline: str = "") -> dict[str, str]:
        return {
            "id": identifier,
            "account": scope[0],
            "org": scope[1],
            "project": scope[2],
            "env": "",
            "pipeline": pipeline,
        }

    def find(self, account: str, org: str, project: str, identifier: str) -> dict[str, Any] | None:
        """A stored pipeline record or ``None``."""
        record: dict[str, Any] | None = self.store.get("pipeline", (account, org, project), identifier)
        return record

    def parsed(self, scope: tuple[str, str, str], record: dict[str, Any]) -> dict[str, Any]:
        """The validated ``pipeline`` mapping of a stored record (cached per version)."""
        key = (*scope, record["entity"]["identifier"])
        cached = self._parsed.get(key)
        if cached is not None and cached[0] == record["version"]:
            return cached[1]
        pipeline = load_pipeline_yaml(record["yaml"], org=scope[1], project=scope[2])
        self._parsed[key] = (record["version"], pipeline)
        return pipeline

    def save_pipeline(
        self, scope: tuple[str, str, str], yaml_text: str, *, create: bool, expected: str | None = None
    ) -> dict[str, Any]:
        """Validate and store pipeline YAML (shared by the handlers and seeding)."""
        account, org, project = scope
        pipeline = load_pipeline_yaml(yaml_text, org=org, project=project, expected_identifier=expected)
        identifier = str(pipeline["identifier"])
        ctx = self._error("pipeline", scope, identifier)
        self.core.resources.require_project(account, org, project)
        existing = self.find(account, org, project, identifier)
        if create and existing is not None:
            raise HarnessError.duplicate(YAML_KINDS["pipeline"].duplicate.format(**ctx))
        if not create and existing is None:
            raise YAML_KINDS["pipeline"].not_found.error(**ctx)
        now = now_ms()
        tags = pipeline.get("tags") or {}
        record: dict[str, Any] = {
            "entity": {
                "identifier": identifier,
                "name": pipeline.get("name"),
                "description": pipeline.get("description") or "",
                "tags": tags if isinstance(tags, dict) else {},
            },
            "yaml": yaml_text,
            "createdAt": existing["createdAt"] if existing else now,
            "lastModifiedAt": now,
            "version": (existing["version"] + 1) if existing else 0,
        }
        self.store.put("pipeline", scope, identifier, record)
        self._parsed[(*scope, identifier)] = (record["version"], pipeline)
        return record

    # ---- pipelines -------------------------------------------------------------------------------
    async def create_pipeline_v2(self, call: Call) -> Any:
        record = self.save_pipeline(self._scope(call), await call.text(), create=True)
        return {"identifier": record["entity"]["identifier"], "governanceMetadata": GOVERNANCE_PASS}

    async def create_pipeline_legacy(self, call: Call) -> Any:
        record = self.save_pipeline(self._scope(call), await call.text(), create=True)
        return record["entity"]["identifier"]

    async def update_pipeline_v2(self, call: Call) -> Any:
        identifier = call.params["pipelineIdentifier"]
        record = self.save_pipeline(self._scope(call), await call.text(), create=False, expected=identifier)
        return {"identifier": record["entity"]["identifier"], "governanceMetadata": GOVERNANCE_PASS}

    async def update_pipeline_legacy(self, call: Call) -> Any:
        identifier = call.params["pipelineIdentifier"]
        record = self.save_pipeline(self._scope(call), await call.text(), create=False, expected=identifier)
        return record["entity"]["identifier"]

    def _lookup_pipeline(self, call: Call) -> tuple[tuple[str, str, str], dict[str, Any]]:
        scope = self._scope(call)
        identifier = call.params["pipelineIdentifier"]
        record = self.find(*scope, identifier)
        if record is None:
            raise YAML_KINDS["pipeline"].not_found.error(**self._error("pipeline", scope, identifier))
        return scope, record

    async def get_pipeline(self, call: Call) -> Any:
        scope, record = self._lookup_pipeline(call)
        pipeline = self.parsed(scope, record)
        modules = sorted({stage_module(s["type"]) for g in pipeline_stage_groups(pipeline) for s in g})
        return {
            "yamlPipeline": record["yaml"],
            "resolvedTemplatesPipelineYaml": record["yaml"],
            "entityValidityDetails": {"valid": True, "invalidYaml": None},
            "modules": modules,
            "storeType": "INLINE",
        }

    async def delete_pipeline(self, call: Call) -> Any:
        scope, record = self._lookup_pipeline(call)
        identifier = record["entity"]["identifier"]
        self.store.delete("pipeline", scope, identifier)
        for child_kind in ("inputSet", "trigger"):  # Harness deletes them with their pipeline
            self.store.delete_scope(child_kind, (*scope, identifier))
        self._parsed.pop((*scope, identifier), None)
        return True

    def _summary(self, scope: tuple[str, str, str], record: dict[str, Any]) -> dict[str, Any]:
        pipeline = self.parsed(scope, record)
        stages = [s for g in pipeline_stage_groups(pipeline) for s in g]
        identifier = record["entity"]["identifier"]
        executions = [
            e for e in self.store.executions.values() if e.scope == scope and e.pipeline_id == identifier
        ]
        last = max(executions, key=lambda e: e.start_ts, default=None)
        return {
            "name": record["entity"]["name"],
            "identifier": identifier,
            "description": record["entity"]["description"],
            "tags": record["entity"]["tags"],
            "version": record["version"],
            "numOfStages": len(stages),
            "createdAt": record["createdAt"],
            "lastUpdatedAt": record["lastModifiedAt"],
            "modules": sorted({stage_module(s["type"]) for s in stages}),
            "executionSummaryInfo": {
                "numOfErrors": [],
                "deployments": [],
                "lastExecutionTs": last.start_ts if last else None,
                "lastExecutionStatus": last.status if last else None,
                "lastExecutionId": last.id if last else None,
            },
            "filters": {},
            "stageNames": [s.get("name") for s in stages],
            "storeType": "INLINE",
            "isDraft": False,
            "yamlVersion": "0",
            "entityValidityDetails": {"valid": True, "invalidYaml": None},
        }

    async def pipeline_summary(self, call: Call) -> Any:
        scope, record = self._lookup_pipeline(call)
        return self._summary(scope, record)

    async def list_pipelines(self, call: Call) -> Any:
        scope = self._scope(call)
        body = await call.json(required=False) or {}
        if not isinstance(body, dict):
            raise HarnessError.validation([("body", "must be a filter object")])
        search = (call.query("searchTerm") or "").lower()
        wanted = set(body.get("pipelineIdentifiers") or [])
        name = str(body.get("name") or "").lower()
        tag_filters = body.get("pipelineTags") or []
        records = []
        for record in self.store.items_in("pipeline", scope):
            entity = record["entity"]
            text = f"{entity['identifier']} {entity['name']}".lower()
            if search and search not in text:
                continue
            if wanted and entity["identifier"] not in wanted:
                continue
            if name and name not in str(entity["name"]).lower():
                continue
            if tag_filters and not all(
                str(entity["tags"].get(t.get("key"), None)) == str(t.get("value"))
                or (t.get("value") in (None, "") and t.get("key") in entity["tags"])
                for t in tag_filters
            ):
                continue
            records.append(record)
        records.sort(key=lambda r: r["lastModifiedAt"], reverse=True)
        page, size = call.query_int("page", 0), call.query_int("size", 25)
        if page < 0 or size < 1:
            raise HarnessError.invalid_request("page must be >= 0 and size must be > 0")
        window = records[page * size : (page + 1) * size]
        summaries = [self._summary(scope, r) for r in window]
        result = spring_page(records, page=page, size=size)
        result["content"] = summaries
        return result

    # ---- input sets ------------------------------------------------------------------------------
    def _load_input_set(
        self, text: str, scope: tuple[str, str, str], pipeline_id: str, expected: str | None
    ) -> dict[str, Any]:
        doc = parse_yaml_body(text)
        if not isinstance(doc, dict) or not isinstance(doc.get("inputSet"), dict):
            raise HarnessError.invalid_yaml("$.inputSet: is missing but it is required")
        spec = doc["inputSet"]
        identifier = check_yaml_identifier(spec.get("identifier"), "$.inputSet.identifier")
        if not spec.get("name"):
            raise HarnessError.invalid_yaml("$.inputSet.name: is missing but it is required")
        if expected is not None and identifier != expected:
            raise HarnessError.invalid_request(
                "Identifiers given in path param and request body don't match."
            )
        for key, value in (("orgIdentifier", scope[1]), ("projectIdentifier", scope[2])):
            if spec.get(key) not in (None, "", value):
                raise HarnessError.invalid_request(
                    f"{key} [{spec.get(key)}] in the input set YAML does not match [{value}]"
                )
        inner = spec.get("pipeline")
        if not isinstance(inner, dict):
            raise HarnessError.invalid_yaml("$.inputSet.pipeline: is missing but it is required")
        if inner.get("identifier") not in (None, pipeline_id):
            raise HarnessError.invalid_request(
                f"Pipeline identifier [{inner.get('identifier')}] in the input set "
                f"does not match [{pipeline_id}]"
            )
        return spec

    def _input_set_scope(self, call: Call) -> tuple[tuple[str, str, str], str, tuple[str, ...]]:
        scope = self._scope(call)
        (pipeline_id,) = require_query(call, "pipelineIdentifier")
        return scope, pipeline_id, (*scope, pipeline_id)

    def _input_set_dto(self, scope: tuple[str, ...], record: dict[str, Any]) -> dict[str, Any]:
        entity = record["entity"]
        return {
            "accountId": scope[0],
            "orgIdentifier": scope[1],
            "projectIdentifier": scope[2],
            "pipelineIdentifier": scope[3],
            "identifier": entity["identifier"],
            "inputSetYaml": record["yaml"],
            "name": entity["name"],
            "description": entity["description"],
            "tags": entity["tags"],
            "storeType": "INLINE",
            "entityValidityDetails": {"valid": True, "invalidYaml": None},
            "isOutdated": False,
            "errorResponse": False,
            "createdAt": record["createdAt"],
            "lastUpdatedAt": record["lastModifiedAt"],
        }

    async def _save_input_set(self, call: Call, *, create: bool) -> Any:
        scope, pipeline_id, is_scope = self._input_set_scope(call)
        if self.find(*scope, pipeline_id) is None:
            raise pipeline_not_found_for_execute(pipeline_id)
        text = await call.text()
        expected = call.params.get("inputSetIdentifier")
        spec = self._load_input_set(text, scope, pipeline_id, expected)
        identifier = spec["identifier"]
        ctx = self._error("inputSet", scope, identifier, pipeline_id)
        existing = self.store.get("inputSet", is_scope, identifier)
        if create and existing is not None:
            raise HarnessError.duplicate(YAML_KINDS["inputSet"].duplicate.format(**ctx))
        if not create and existing is None:
            raise YAML_KINDS["inputSet"].not_found.error(**ctx)
        now = now_ms()
        tags = spec.get("tags") or {}
        record = {
            "entity": {
                "identifier": identifier,
                "name": spec["name"],
                "description": spec.get("description") or "",
                "tags": tags if isinstance(tags, dict) else {},
            },
            "yaml": text,
            "createdAt": existing["createdAt"] if existing else now,
            "lastModifiedAt": now,
        }
        self.store.put("inputSet", is_scope, identifier, record)
        return self._input_set_dto(is_scope, record)

    async def create_input_set(self, call: Call) -> Any:
        return await self._save_input_set(call, create=True)

    async def update_input_set(self, call: Call) -> Any:
        return await self._save_input_set(call, create=False)

    def input_set(self, scope: tuple[str, str, str], pipeline_id: str, identifier: str) -> dict[str, Any]:
        """A stored input set record, or Harness's not-found error."""
        record: dict[str, Any] | None = self.store.get("inputSet", (*scope, pipeline_id), identifier)
        if record is None:
            raise YAML_KINDS["inputSet"].not_found.error(
                **self._error("inputSet", scope, identifier, pipeline_id)
            )
        return record

    async def get_input_set(self, call: Call) -> Any:
        scope, pipeline_id, is_scope = self._input_set_scope(call)
        return self._input_set_dto(
            is_scope, self.input_set(scope, pipeline_id, call.params["inputSetIdentifier"])
        )

    async def delete_input_set(self, call: Call) -> Any:
        scope, pipeline_id, is_scope = self._input_set_scope(call)
        identifier = call.params["inputSetIdentifier"]
        self.input_set(scope, pipeline_id, identifier)
        self.store.delete("inputSet", is_scope, identifier)
        return True

    async def list_input_sets(self, call: Call) -> Any:
        _, pipeline_id, is_scope = self._input_set_scope(call)
        search = (call.query("searchTerm") or "").lower()
        items = []
        for record in self.store.items_in("inputSet", is_scope):
            entity = record["entity"]
            if search and search not in f"{entity['identifier']} {entity['name']}".lower():
                continue
            items.append(
                {
                    "identifier": entity["identifier"],
                    "name": entity["name"],
                    "pipelineIdentifier": pipeline_id,
                    "description": entity["description"],
                    "inputSetType": "INPUT_SET",
                    "tags": entity["tags"],
                    "createdAt": record["createdAt"],
                    "lastUpdatedAt": record["lastModifiedAt"],
                    "isOutdated": False,
                    "entityValidityDetails": {"valid": True, "invalidYaml": None},
                    "storeType": "INLINE",
                }
            )
        index, size = call.query_int("pageIndex", 0), call.query_int("pageSize", 100)
        if index < 0 or size < 1 or size > 100:
            raise HarnessError.validation([("pageSize", "must be between 1 and 100")])
        return ng_page(items, page_index=index, page_size=size)

    async def input_set_template(self, call: Call) -> Any:
        scope, pipeline_id, is_scope = self._input_set_scope(call)
        record = self.find(*scope, pipeline_id)
        if record is None:
            raise pipeline_not_found_for_execute(pipeline_id)
        template = runtime_input_template(self.parsed(scope, record))
        return {
            "inputSetTemplateYaml": dump_yaml(template) if template else "",
            "modules": [],
            "hasInputSets": bool(self.store.items_in("inputSet", is_scope)),
        }

    # ---- triggers --------------------------------------------------------------------------------
    def _trigger_scope(self, call: Call) -> tuple[tuple[str, str, str], str, tuple[str, ...]]:
        scope = self._scope(call)
        (target,) = require_query(call, "targetIdentifier")
        return scope, target, (*scope, target)

    def webhook_url(self, scope: tuple[str, ...], record: dict[str, Any]) -> str | None:
        """The custom webhook URL of a trigger (v3 with its token; v2 for a tokenless, pre-token trigger),
        or ``None`` for other trigger types."""
        if record["entity"]["type"] != "Webhook" or record.get("webhookType") != "Custom":
            return None
        query = urlencode(
            {
                "accountIdentifier": scope[0],
                "orgIdentifier": scope[1],
                "projectIdentifier": scope[2],
                "pipelineIdentifier": scope[3],
                "triggerIdentifier": record["entity"]["identifier"],
            }
        )
        base = f"{self.core.settings.base_url}/gateway/pipeline/api/webhook/custom"
        token = record.get("token")
        return f"{base}/{token}/v3?{query}" if token else f"{base}/v2?{query}"

    def _trigger_dto(self, scope: tuple[str, ...], record: dict[str, Any]) -> dict[str, Any]:
        entity = record["entity"]
        return {
            "name": entity["name"],
            "identifier": entity["identifier"],
            "description": entity["description"],
            "type": entity["type"],
            "accountIdentifier": scope[0],
            "orgIdentifier": scope[1],
            "projectIdentifier": scope[2],
            "targetIdentifier": scope[3],
            "yaml": record["yaml"],
            "enabled": entity["enabled"],
            "errorResponse": False,
        }

    def _trigger_details(self, scope: tuple[str, ...], record: dict[str, Any]) -> dict[str, Any]:
        entity = record["entity"]
        url = self.webhook_url(scope, record)
        curl = (
            f"curl -X POST -H 'content-type: application/json' -H 'X-Api-Key: sample_api_key' --url '{url}' "
            '-d \'{"sample_key": "sample_value"}\''
            if url
            else None
        )
        last = record.get("lastTriggerExecutionDetails")
        details: dict[str, Any] = {
            "name": entity["name"],
            "identifier": entity["identifier"],
            "description": entity["description"],
            "type": entity["type"],
            "triggerStatus": {"status": "SUCCESS", "validationStatus": {"statusResult": "SUCCESS"}},
            "webhookDetails": {"webhookSecret": None, "webhookSourceRepo": "CUSTOM"} if url else None,
            "tags": entity["tags"],
            "executions": [0, 0, 0, 0, 0, 0, 0],
            "yaml": record["yaml"],
            "webhookUrl": url,
            "webhookCurlCommand": curl,
            "enabled": entity["enabled"],
            "isPipelineInputOutdated": False,
        }
        if last:
            details["lastTriggerExecutionDetails"] = last
        return {k: v for k, v in details.items() if v is not None}

    def _load_trigger(
        self, text: str, scope: tuple[str, str, str], target: str, expected: str | None
    ) -> dict[str, Any]:
        doc = parse_yaml_body(text)
        if not isinstance(doc, dict) or not isinstance(doc.get("trigger"), dict):
            raise HarnessError.invalid_yaml("$.trigger: is missing but it is required")
        spec = doc["trigger"]
        identifier = check_yaml_identifier(spec.get("identifier"), "$.trigger.identifier")
        if not spec.get("name"):
            raise HarnessError.invalid_yaml("$.trigger.name: is missing but it is required")
        if expected is not None and identifier != expected:
            raise HarnessError.invalid_request(
                "Identifiers given in path param and request body don't match."
            )
        if spec.get("pipelineIdentifier") not in (None, "", target):
            raise HarnessError.invalid_request(
                f"pipelineIdentifier [{spec.get('pipelineIdentifier')}] in the trigger YAML does not match "
                f"targetIdentifier [{target}]"
            )
        for key, value in (("orgIdentifier", scope[1]), ("projectIdentifier", scope[2])):
            if spec.get(key) not in (None, "", value):
                raise HarnessError.invalid_request(
                    f"{key} [{spec.get(key)}] in the trigger YAML does not match [{value}]"
                )
        source = spec.get("source")
        if not isinstance(source, dict) or not source.get("type"):
            raise HarnessError.invalid_yaml("$.trigger.source.type: is missing but it is required")
        return spec

    async def _save_trigger(self, call: Call, *, create: bool) -> dict[str, Any]:
        scope, target, trigger_scope = self._trigger_scope(call)
        if self.find(*scope, target) is None:
            raise pipeline_not_found_for_execute(target)
        text = await call.text()
        spec = self._load_trigger(text, scope, target, call.params.get("triggerIdentifier"))
        identifier = spec["identifier"]
        ctx = self._error("trigger", scope, identifier, target)
        existing = self.store.get("trigger", trigger_scope, identifier)
        if create and existing is not None:
            raise HarnessError.duplicate(YAML_KINDS["trigger"].duplicate.format(**ctx))
        if not create and existing is None:
            raise YAML_KINDS["trigger"].not_found.error(**ctx)
        now = now_ms()
        source = spec["source"]
        tags = spec.get("tags") or {}
        record = {
            "entity": {
                "identifier": identifier,
                "name": spec["name"],
                "description": spec.get("description") or "",
                "type": source["type"],
                "enabled": spec.get("enabled", True) is not False,
                "tags": tags if isinstance(tags, dict) else {},
            },
            "webhookType": (source.get("spec") or {}).get("type"),
            "yaml": text,
            "spec": spec,
            "token": existing.get("token") if existing else self.core.ids.token(),
            "createdAt": existing["createdAt"] if existing else now,
            "lastModifiedAt": now,
        }
        self.store.put("trigger", trigger_scope, identifier, record)
        return self._trigger_dto(trigger_scope, record)

    async def create_trigger(self, call: Call) -> Any:
        return await self._save_trigger(call, create=True)

    async def update_trigger(self, call: Call) -> Any:
        return await self._save_trigger(call, create=False)

    def _lookup_trigger(self, call: Call) -> tuple[tuple[str, ...], dict[str, Any]]:
        scope, target, trigger_scope = self._trigger_scope(call)
        identifier = call.params["triggerIdentifier"]
        record = self.store.get("trigger", trigger_scope, identifier)
        if record is None:
            raise YAML_KINDS["trigger"].not_found.error(**self._error("trigger", scope, identifier, target))
        return trigger_scope, record

    async def get_trigger(self, call: Call) -> Any:
        return self._trigger_dto(*self._lookup_trigger(call))

    async def get_trigger_details(self, call: Call) -> Any:
        return self._trigger_details(*self._lookup_trigger(call))

    async def delete_trigger(self, call: Call) -> Any:
        trigger_scope, record = self._lookup_trigger(call)
        self.store.delete("trigger", trigger_scope, record["entity"]["identifier"])
        return True

    async def list_triggers(self, call: Call) -> Any:
        _, _, trigger_scope = self._trigger_scope(call)
        search = (call.query("searchTerm") or "").lower()
        records = [
            r
            for r in self.store.items_in("trigger", trigger_scope)
            if not search or search in f"{r['entity']['identifier']} {r['entity']['name']}".lower()
        ]
        page, size = call.query_int("page", 0), call.query_int("size", 100)
        if page < 0 or size < 1:
            raise HarnessError.invalid_request("page must be >= 0 and size must be > 0")
        return ng_page(
            [self._trigger_details(trigger_scope, r) for r in records], page_index=page, page_size=size
        )

    def triggers_of(
        self, account: str, org: str, project: str, pipeline: str | None
    ) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
        """Trigger records of one pipeline (or of every pipeline of the project when ``pipeline`` is None)."""
        result: list[tuple[tuple[str, ...], dict[str, Any]]] = []
        prefix = f"{account}/{org}/{project}/"
        for key, bucket in self.store.resources.get("trigger", {}).items():
            if not key.startswith(prefix):
                continue
            target = key[len(prefix) :]
            if pipeline is not None and target != pipeline:
                continue
            result += [((account, org, project, target), record) for record in bucket.values()]
        return result
