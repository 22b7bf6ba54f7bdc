"""Pipeline YAML: validation, runtime inputs (``<+input>``), expressions, and the execution plan.

>>> text = '''
... pipeline:
...   name: p1
...   identifier: p1
...   variables:
...     - name: tag
...       type: String
...       value: <+input>
...   stages:
...     - stage:
...         name: s1
...         identifier: s1
...         type: Custom
...         spec:
...           execution:
...             steps:
...               - step: {name: echo, identifier: echo, type: ShellScript,
...                        spec: {source: {type: Inline, spec: {script: "echo <+pipeline.variables.tag>"}}}}
... '''
>>> pipeline = load_pipeline_yaml(text, org="default", project="p")
>>> merged, missing = merge_runtime_inputs(pipeline, None)
>>> missing
['pipeline.variables.tag']
>>> inputs = parse_input_yaml("pipeline: {variables: [{name: tag, value: v1}]}")
>>> merged, missing = merge_runtime_inputs(pipeline, inputs)
>>> merged["variables"][0]["value"], missing
('v1', [])
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any, Final

import yaml

from airflow_provider_harness.emulator.envelopes import HarnessError
from airflow_provider_harness.emulator.harness_rules import KEYWORDS, YAML_ID_RE, keyword_message
from airflow_provider_harness.emulator.httpcall import parse_yaml_body
from airflow_provider_harness.emulator.model import IdFactory, Node

RUNTIME_INPUT: Final = re.compile(r"^<\+input>(?P<modifiers>.*)$", re.DOTALL)
_DEFAULT_MODIFIER: Final = re.compile(r"\.default\((?P<value>.*?)\)")
_ALLOWED_MODIFIER: Final = re.compile(r"\.allowedValues\((?P<values>.*?)\)")
EXPRESSION: Final = re.compile(r"<\+([A-Za-z_][A-Za-z0-9_.\-]*)>")
_WRAPPERS: Final = ("stage", "step", "stepGroup")

MODULE_BY_STAGE_TYPE: Final[dict[str, str]] = {
    "Deployment": "cd",
    "CI": "ci",
    "SecurityTests": "sto",
    "FeatureFlag": "cf",
    "IACM": "iacm",
}

STAGE_STEP_TYPE: Final[dict[str, str]] = {
    "Deployment": "DEPLOYMENT_STAGE_STEP",
    "CI": "IntegrationStageStepPMS",
    "Approval": "APPROVAL_STAGE",
    "Custom": "CUSTOM_STAGE",
}


def _identifier_error(value: Any, fqn: str) -> HarnessError | None:
    if value is None or value == "":
        return HarnessError.invalid_yaml(f"{fqn}: is missing but it is required")
    # fullmatch, not match: "$" in the pattern would accept a trailing newline ("a\n")
    if not isinstance(value, str) or not YAML_ID_RE.fullmatch(value):
        return HarnessError.invalid_yaml(
            f"{fqn}: does not match the regex pattern {YAML_ID_RE.pattern} (value: {value!r})"
        )
    if value in KEYWORDS:
        return HarnessError.invalid_yaml(f"{fqn}: {keyword_message(value)}")
    return None


def check_yaml_identifier(value: Any, fqn: str) -> str:
    """Validate an identifier inside YAML (no ``$``), raising ``INVALID_YAML_ERROR`` naming the field."""
    error = _identifier_error(value, fqn)
    if error is not None:
        raise error
    return str(value)


def _require_name(mapping: dict[str, Any], fqn: str) -> None:
    if mapping.get("name") in (None, ""):
        raise HarnessError.invalid_yaml(f"{fqn}.name: is missing but it is required")


def load_pipeline_yaml(
    text: str, *, org: str, project: str, expected_identifier: str | None = None
) -> dict[str, Any]:
    """Parse and validate pipeline YAML; return the ``pipeline`` mapping (Harness errors on problems)."""
    doc = parse_yaml_body(text)
    if not isinstance(doc, dict) or not isinstance(doc.get("pipeline"), dict):
        raise HarnessError.invalid_yaml("$.pipeline: is missing but it is required")
    pipeline: dict[str, Any] = doc["pipeline"]
    identifier = check_yaml_identifier(pipeline.get("identifier"), "$.pipeline.identifier")
    _require_name(pipeline, "$.pipeline")
    for key, expected in (("orgIdentifier", org), ("projectIdentifier", project)):
        given = pipeline.get(key)
        if given not in (None, "") and given != expected:
            raise HarnessError.invalid_request(
                f"{key} [{given}] in the pipeline YAML does not match {key} [{expected}] in the query params"
            )
    if expected_identifier is not None and identifier != expected_identifier:
        raise HarnessError.invalid_request("Identifiers given in path param and request body don't match.")
    stages = pipeline.get("stages")
    if not isinstance(stages, list) or not stages:
        raise HarnessError.invalid_yaml("$.pipeline.stages: is missing but it is required (at least 1 stage)")
    seen: set[str] = set()
    for index, element in enumerate(stages):
        for stage, fqn in _stage_elements(element, f"$.pipeline.stages[{index}]"):
            stage_id = check_yaml_identifier(stage.get("identifier"), f"{fqn}.stage.identifier")
            if stage_id in seen:
                raise HarnessError.invalid_yaml(f"Duplicate identifier [{stage_id}] in pipeline stages")
            seen.add(stage_id)
            _require_name(stage, f"{fqn}.stage")
            if not stage.get("type"):
                raise HarnessError.invalid_yaml(f"{fqn}.stage.type: is missing but it is required")
            steps = ((stage.get("spec") or {}).get("execution") or {}).get("steps")
            if not isinstance(steps, list) or not steps:
                raise HarnessError.invalid_yaml(
                    f"{fqn}.stage.spec.execution.steps: is missing but it is required"
                )
            _validate_steps(steps, f"{fqn}.stage.spec.execution.steps", set())
    rules = pipeline.get("notificationRules")
    if rules is not None and not isinstance(rules, list):
        raise HarnessError.invalid_yaml("$.pipeline.notificationRules: must be a list")
    return pipeline


def _stage_elements(element: Any, fqn: str) -> list[tuple[dict[str, Any], str]]:
    if isinstance(element, dict) and isinstance(element.get("stage"), dict):
        return [(element["stage"], fqn)]
    if isinstance(element, dict) and isinstance(element.get("parallel"), list):
        result: list[tuple[dict[str, Any], str]] = []
        for index, child in enumerate(element["parallel"]):
            result += _stage_elements(child, f"{fqn}.parallel[{index}]")
        return result
    raise HarnessError.invalid_yaml(f"{fqn}: must be a stage or a parallel group of stages")


def _validate_steps(steps: list[Any], fqn: str, seen: set[str]) -> None:
    for index, element in enumerate(steps):
        here = f"{fqn}[{index}]"
        if isinstance(element, dict) and isinstance(element.get("parallel"), list):
            _validate_steps(element["parallel"], f"{here}.parallel", seen)
            continue
        if isinstance(element, dict) and isinstance(element.get("stepGroup"), dict):
            group = element["stepGroup"]
            check_yaml_identifier(group.get("identifier"), f"{here}.stepGroup.identifier")
            _require_name(group, f"{here}.stepGroup")
            if not isinstance(group.get("steps"), list) or not group["steps"]:
                raise HarnessError.invalid_yaml(f"{here}.stepGroup.steps: is missing but it is required")
            _validate_steps(group["steps"], f"{here}.stepGroup.steps", seen)
            continue
        if not isinstance(element, dict) or not isinstance(element.get("step"), dict):
            raise HarnessError.invalid_yaml(f"{here}: must be a step, stepGroup or parallel")
        step = element["step"]
        step_id = check_yaml_identifier(step.get("identifier"), f"{here}.step.identifier")
        if step_id in seen:
            raise HarnessError.invalid_yaml(f"Duplicate identifier [{step_id}] in stage steps")
        seen.add(step_id)
        _require_name(step, f"{here}.step")
        if not step.get("type"):
            raise HarnessError.invalid_yaml(f"{here}.step.type: is missing but it is required")


# ---- runtime inputs --------------------------------------------------------------------------------
def parse_input_yaml(text: str | None) -> dict[str, Any] | None:
    """Parse a runtime-input / input-set YAML body; return its ``pipeline`` mapping (or ``None``)."""
    if text is None or not text.strip():
        return None
    doc = parse_yaml_body(text)
    if doc is None:
        return None
    if isinstance(doc, dict) and "inputSet" in doc and isinstance(doc["inputSet"], dict):
        doc = doc["inputSet"]
    if not isinstance(doc, dict) or not isinstance(doc.get("pipeline"), dict):
        raise HarnessError.invalid_yaml("$.pipeline: runtime input YAML must start with pipeline:")
    return doc["pipeline"]


def is_runtime_input(value: Any) -> bool:
    """True for ``<+input>`` values (with or without modifiers)."""
    return isinstance(value, str) and RUNTIME_INPUT.match(value.strip()) is not None


def _runtime_default(value: str) -> tuple[bool, Any]:
    modifiers = RUNTIME_INPUT.match(value.strip())
    assert modifiers is not None
    found = _DEFAULT_MODIFIER.search(modifiers.group("modifiers"))
    if found is None:
        return False, None
    return True, found.group("value").strip().strip("'\"")


def _allowed_values(value: str) -> list[str] | None:
    modifiers = RUNTIME_INPUT.match(value.strip())
    assert modifiers is not None
    found = _ALLOWED_MODIFIER.search(modifiers.group("modifiers"))
    if found is None:
        return None
    return [part.strip().strip("'\"") for part in found.group("values").split(",")]


def _identity(element: Any) -> tuple[str, str] | None:
    if isinstance(element, dict):
        for wrapper in _WRAPPERS:
            inner = element.get(wrapper)
            if isinstance(inner, dict) and "identifier" in inner:
                return wrapper, str(inner["identifier"])
        if "name" in element and ("value" in element or "type" in element):
            return "variable", str(element["name"])
    return None


def _index_inputs(inputs: Any) -> dict[tuple[str, str], Any]:
    index: dict[tuple[str, str], Any] = {}
    if not isinstance(inputs, list):
        return index
    for element in inputs:
        if isinstance(element, dict) and isinstance(element.get("parallel"), list):
            index.update(_index_inputs(element["parallel"]))
            continue
        identity = _identity(element)
        if identity is not None:
            index[identity] = element
    return index


def merge_runtime_inputs(
    template: dict[str, Any], inputs: dict[str, Any] | None, fqn: str = "pipeline"
) -> tuple[dict[str, Any], list[str]]:
    """Fill every ``<+input>`` of ``template`` from ``inputs``; return ``(merged, missing FQNs)``."""
    missing: list[str] = []
    invalid: list[str] = []
    merged = _merge(template, inputs, fqn, missing, invalid)
    if invalid:
        raise HarnessError.invalid_request("; ".join(invalid))
    return merged, missing


def _merge(template: Any, inputs: Any, fqn: str, missing: list[str], invalid: list[str]) -> Any:
    if isinstance(template, str) and is_runtime_input(template):
        if inputs is not None and not is_runtime_input(inputs) and not isinstance(inputs, (dict, list)):
            allowed = _allowed_values(template)
            if allowed is not None and str(inputs) not in allowed:
                invalid.append(f"Value [{inputs}] for {fqn} is not one of the allowed values {allowed}")
            return inputs
        has_default, default = _runtime_default(template)
        if has_default:
            return default
        missing.append(fqn)
        return template
    if isinstance(template, dict):
        source = inputs if isinstance(inputs, dict) else {}
        result = {}
        is_variable = "name" in template and "value" in template
        for key, value in template.items():
            # Wrappers (stage/step/stepGroup) and a variable's value do not add an FQN level.
            same_level = key in _WRAPPERS or (is_variable and key == "value")
            child_fqn = fqn if same_level else f"{fqn}.{key}"
            result[key] = _merge(value, source.get(key), child_fqn, missing, invalid)
        return result
    if isinstance(template, list):
        index = _index_inputs(inputs)
        result_list = []
        for element in template:
            if isinstance(element, dict) and isinstance(element.get("parallel"), list):
                result_list.append({"parallel": _merge(element["parallel"], inputs, fqn, missing, invalid)})
                continue
            identity = _identity(element)
            if identity is None:
                result_list.append(copy.deepcopy(element))
                continue
            child_fqn = f"{fqn}.{identity[1]}"
            result_list.append(_merge(element, index.get(identity), child_fqn, missing, invalid))
        return result_list
    return template


def runtime_input_template(pipeline: dict[str, Any]) -> dict[str, Any] | None:
    """The runtime-input template of a pipeline (only the paths holding ``<+input>``), or ``None``."""
    pruned = _prune(pipeline)
    if pruned is None:
        return None
    pruned = {"identifier": pipeline.get("identifier"), **pruned}
    return {"pipeline": pruned}


def _prune(node: Any) -> Any:
    if is_runtime_input(node):
        return node
    if isinstance(node, dict):
        kept = {k: p for k, v in node.items() if (p := _prune(v)) is not None}
        if not kept:
            return None
        head: dict[str, Any] = {}
        if "identifier" in node:
            head["identifier"] = node["identifier"]
        elif "name" in node:  # variables are matched by name
            head["name"] = node["name"]
        if "type" in node and head:
            head["type"] = node["type"]
        return {**head, **kept}
    if isinstance(node, list):
        kept_list = [p for v in node if (p := _prune(v)) is not None]
        return kept_list or None
    return None


# ---- expressions -----------------------------------------------------------------------------------
def resolve_expressions(value: Any, lookup: Callable[[str], Any]) -> Any:
    """Replace ``<+a.b.c>`` in strings (recursively in dicts/lists); unknown expressions stay as they are."""
    if isinstance(value, str):
        if "<+" not in value:
            return value

        def replace(match: re.Match[str]) -> str:
            resolved = lookup(match.group(1))
            return match.group(0) if resolved is None else str(resolved)

        return EXPRESSION.sub(replace, value)
    if isinstance(value, dict):
        return {k: resolve_expressions(v, lookup) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_expressions(v, lookup) for v in value]
    return value


def variables_of(mapping: dict[str, Any]) -> dict[str, Any]:
    """``variables: [{name, value}]`` as a dict."""
    result: dict[str, Any] = {}
    for variable in mapping.get("variables") or []:
        if isinstance(variable, dict) and "name" in variable:
            result[str(variable["name"])] = variable.get("value")
    return result


# ---- plan ------------------------------------------------------------------------------------------
def stage_module(stage_type: str) -> str:
    """The Harness module a stage type belongs to."""
    return MODULE_BY_STAGE_TYPE.get(stage_type, "pms")


def pipeline_stage_groups(pipeline: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """The stage mappings as sequential groups of parallel stages."""
    groups: list[list[dict[str, Any]]] = []
    for element in pipeline.get("stages") or []:
        groups.append([stage for stage, _ in _stage_elements(element, "$")])
    return groups


def build_stage_nodes(
    pipeline: dict[str, Any], ids: IdFactory, log_prefix: str, selected: set[str] | None = None
) -> list[list[Node]]:
    """Execution nodes for the pipeline's stages (only ``selected`` stage identifiers when given)."""
    result: list[list[Node]] = []
    for group in pipeline_stage_groups(pipeline):
        nodes = [
            _stage_node(stage, ids, log_prefix)
            for stage in group
            if selected is None or stage["identifier"] in selected
        ]
        if nodes:
            result.append(nodes)
    return result


def _stage_node(stage: dict[str, Any], ids: IdFactory, log_prefix: str) -> Node:
    identifier = str(stage["identifier"])
    spec = copy.deepcopy(stage)
    steps = spec.get("spec", {}).get("execution", {}).pop("steps", [])
    key = f"{log_prefix}/level1:stages/level2:{identifier}"
    fqn = f"pipeline.stages.{identifier}"
    node = Node(
        uuid=ids.uuid(),
        setup_id=ids.uuid(),
        kind="stage",
        identifier=identifier,
        name=str(stage.get("name") or identifier),
        type=str(stage.get("type")),
        spec=spec,
        log_key=key,
        fqn=fqn,
    )
    node.items = _step_groups(
        steps, ids, f"{key}/level3:spec/level4:execution/level5:steps", 6, f"{fqn}.spec.execution.steps"
    )
    return node


def _step_groups(steps: list[Any], ids: IdFactory, key_prefix: str, level: int, fqn: str) -> list[list[Node]]:
    groups: list[list[Node]] = []
    for element in steps:
        if isinstance(element, dict) and isinstance(element.get("parallel"), list):
            group = [
                n
                for child in element["parallel"]
                for n in _step_groups([child], ids, key_prefix, level, fqn)[0]
            ]
            groups.append(group)
        else:
            groups.append([_step_node(element, ids, key_prefix, level, fqn)])
    return groups


def _step_node(element: dict[str, Any], ids: IdFactory, key_prefix: str, level: int, fqn: str) -> Node:
    if "stepGroup" in element:
        group = copy.deepcopy(element["stepGroup"])
        children = group.pop("steps", [])
        identifier = str(group["identifier"])
        key = f"{key_prefix}/level{level}:{identifier}"
        node = Node(
            uuid=ids.uuid(),
            setup_id=ids.uuid(),
            kind="stepGroup",
            identifier=identifier,
            name=str(group.get("name") or identifier),
            type="StepGroup",
            spec=group,
            log_key=key,
            fqn=f"{fqn}.{identifier}",
        )
        node.items = _step_groups(
            children, ids, f"{key}/level{level + 1}:steps", level + 2, f"{fqn}.{identifier}.steps"
        )
        return node
    step = copy.deepcopy(element["step"])
    identifier = str(step["identifier"])
    return Node(
        uuid=ids.uuid(),
        setup_id=ids.uuid(),
        kind="step",
        identifier=identifier,
        name=str(step.get("name") or identifier),
        type=str(step.get("type")),
        spec=step,
        log_key=f"{key_prefix}/level{level}:{identifier}",
        fqn=f"{fqn}.{identifier}",
    )


def dump_yaml(doc: Any) -> str:
    """YAML text the way Harness stores it (block style, key order kept)."""
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)


def overlay_inputs(base: Any, top: Any) -> Any:
    """Merge two runtime-input trees (``top`` wins; list items matched by identifier / variable name).

    >>> overlay_inputs({"variables": [{"name": "a", "value": 1}]}, {"variables": [{"name": "a", "value": 2}]})
    {'variables': [{'name': 'a', 'value': 2}]}
    """
    if top is None:
        return copy.deepcopy(base)
    if base is None:
        return copy.deepcopy(top)
    if isinstance(base, dict) and isinstance(top, dict):
        result = copy.deepcopy(base)
        for key, value in top.items():
            result[key] = overlay_inputs(base.get(key), value)
        return result
    if isinstance(base, list) and isinstance(top, list):
        result_list = copy.deepcopy(base)
        positions = {_identity(item): i for i, item in enumerate(result_list) if _identity(item) is not None}
        for item in top:
            identity = _identity(item)
            if identity is not None and identity in positions:
                result_list[positions[identity]] = overlay_inputs(result_list[positions[identity]], item)
            else:
                result_list.append(copy.deepcopy(item))
        return result_list
    return copy.deepcopy(top)
