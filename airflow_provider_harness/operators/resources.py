"""Keep Harness resources in shape from DAGs: apply, get, list, delete, test connectors, write secrets.

* :class:`HarnessApplyResourceOperator` - create or update a resource to match a spec (YAML text, a dict
  or a file); idempotent: a second run changes nothing and logs ``unchanged``.
* :class:`HarnessApplySecretOperator` - the same for secrets, with the value read on the worker from an
  Airflow Variable, connection, environment variable or file (``value_from``), masked, never returned.
* :class:`HarnessGetResourceOperator`, :class:`HarnessListResourcesOperator` (all pages, filters) and
  :class:`HarnessDeleteResourceOperator` (already gone = success).
* :class:`HarnessTestConnectorOperator` - fails the task when Harness cannot reach through a connector.

Every kind of ``airflow_provider_harness.client.resource_kinds.RESOURCE_KINDS`` works with every verb;
see ``docs/resources.md`` for the spec format. Operators are thin: they validate, call
:mod:`airflow_provider_harness.client.resources`, log one line per action and return JSON-safe dicts.
Module import is cheap (DAG parse time): httpx, YAML and the client load inside methods.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_harness.airflow_compat import AirflowException, BaseOperator, mask_secret
from airflow_provider_harness.connection_fields import DEFAULT_CONN_ID
from airflow_provider_harness.hooks.harness import HarnessHook

if TYPE_CHECKING:
    from airflow_provider_harness.client.resources import ResourceRef, ResourceSpec, SecretValue
    from airflow_provider_harness.client.transport import HarnessClient

#: Where a secret value may come from (exactly one per ``value_from``).
VALUE_SOURCES = ("variable", "connection", "env", "file")
CONNECTION_FIELDS = ("password", "login", "host", "schema", "extra")


class HarnessConnectorTestError(AirflowException):
    """Harness's connection test of a connector did not succeed."""


def check_value_from(value_from: Any) -> dict[str, str]:
    """Validate a ``value_from`` reference (not the value: it is only read at execute time).

    >>> check_value_from({"env": "DB_PASSWORD"})
    {'env': 'DB_PASSWORD'}
    >>> check_value_from({"connection": "db", "field": "extra.token"})
    {'connection': 'db', 'field': 'extra.token'}
    """
    if not isinstance(value_from, Mapping):
        raise ValueError(
            "value_from: expected a mapping such as {'variable': 'name'}, {'connection': 'conn_id', "
            "'field': 'password'}, {'env': 'NAME'} or {'file': '/path'}"
        )
    sources = [key for key in VALUE_SOURCES if key in value_from]
    unknown = sorted(set(value_from) - {*VALUE_SOURCES, "field", "file_name"})
    if len(sources) != 1 or unknown:
        raise ValueError(
            f"value_from: give exactly one of {list(VALUE_SOURCES)} (plus 'field' for a connection, "
            f"'file_name' for a file secret); got keys {sorted(map(str, value_from))}"
        )
    source = sources[0]
    if not isinstance(value_from[source], str) or not value_from[source]:
        raise ValueError(f"value_from.{source}: expected a non-empty name, got {value_from[source]!r}")
    field = value_from.get("field")
    if field is not None:
        if source != "connection":
            raise ValueError("value_from.field: only used with 'connection'; drop it")
        if field not in CONNECTION_FIELDS and not str(field).startswith("extra."):
            raise ValueError(
                f"value_from.field: {field!r} is not a connection field; "
                f"use one of {list(CONNECTION_FIELDS)} "
                "or 'extra.<key>'"
            )
    return {str(k): str(v) for k, v in value_from.items()}


#: How to give a secret value instead of writing it in a spec (the fix every refusal names).
VALUE_FROM_FIX = (
    "give the value with HarnessApplySecretOperator(value_from=...): an Airflow Variable "
    "{'variable': 'name'}, a connection {'connection': 'conn_id', 'field': 'password'}, an environment "
    "variable {'env': 'NAME'} or a file {'file': '/path'}"
)
#: Jinja markup, neutralized so a templated YAML spec can be inspected before it is rendered.
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)


def _unset(value: Any) -> bool:
    return value is None or value == ""


def _yaml_document(text: str) -> Any:
    """``text`` parsed as YAML, or ``None``; never raises. Jinja is neutralized when the raw text does not
    parse, and a later empty duplicate key does not hide an earlier value (this looks for values)."""
    if "value" not in text:  # no value key anywhere: nothing to find, skip the YAML import
        return None
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
        loader.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            value = loader.construct_object(value_node, deep=True)
            if not (key in result and _unset(value)):
                result[key] = value
        return result

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    neutral = _JINJA.sub(lambda m: "" if m.group().startswith(("{%", "{#")) else "jinja", text)
    for candidate in (text, neutral):
        try:
            return yaml.load(candidate, Loader=Loader)  # a SafeLoader subclass
        except Exception:
            continue
    return None


def inline_secret_value(spec: Any, field: str = "spec") -> tuple[str, Any] | None:
    """Where ``spec`` writes a secret's value inline: ``(field path, value)``; ``None`` when it does not.

    Looks at every spec form (``secret:`` document, ``kind:`` + ``spec:`` with a mapping, YAML text or a
    pasted get response), for a ``SecretText`` (``valueType`` Inline, the default) or ``SecretFile`` with
    a non-empty ``spec.value``. Jinja in YAML text counts as a value (``value: "{{ var.value.pw }}"``).

    >>> inline_secret_value({"secret": {"type": "SecretText", "spec": {"value": "hunter2"}}})
    ('spec.secret.spec.value', 'hunter2')
    >>> reference = {"valueType": "Reference", "value": "vault/db#password"}  # a path, not a value
    >>> inline_secret_value({"secret": {"type": "SecretText", "spec": reference}}) is None
    True
    """
    doc = _yaml_document(spec) if isinstance(spec, str) else spec
    if not isinstance(doc, Mapping):
        return None
    candidates: list[tuple[str, Any]] = []
    if "kind" in doc:
        body = doc.get("spec")
        body = _yaml_document(body) if isinstance(body, str) else body
        if isinstance(body, Mapping) and isinstance(body.get("secret"), Mapping):
            candidates.append((f"{field}.spec.secret", body["secret"]))
        else:
            candidates.append((f"{field}.spec", body))
    if isinstance(doc.get("secret"), Mapping):
        candidates.append((f"{field}.secret", doc["secret"]))
    for path, entity in candidates:
        if not isinstance(entity, Mapping) or entity.get("type") not in ("SecretText", "SecretFile"):
            continue
        inner = entity.get("spec")
        if not isinstance(inner, Mapping) or _unset(inner.get("value")):
            continue
        if entity["type"] == "SecretFile" or inner.get("valueType") in (None, "", "Inline"):
            return f"{path}.spec.value", inner["value"]
    return None


def resolve_value(value_from: Mapping[str, str]) -> SecretValue:
    """Read the secret value on the worker and mask it in Airflow's logs at once."""
    from airflow_provider_harness.client.resources import SecretValue

    ref = check_value_from(value_from)
    data: str | bytes | None
    file_name = ref.get("file_name")
    if "variable" in ref:
        from airflow.sdk import Variable

        try:
            data = Variable.get(ref["variable"])
        except Exception as exc:
            raise ValueError(
                f"value_from.variable: the Airflow Variable {ref['variable']!r} could not be read "
                f"({type(exc).__name__}); create it or fix the name"
            ) from None
    elif "connection" in ref:
        from airflow_provider_harness.airflow_compat import BaseHook

        try:
            conn = BaseHook.get_connection(ref["connection"])
        except Exception as exc:
            raise ValueError(
                f"value_from.connection: the Airflow connection {ref['connection']!r} could not be read "
                f"({type(exc).__name__}); create it or fix the id"
            ) from None
        field = ref.get("field", "password")
        if field.startswith("extra."):
            raw = (conn.extra_dejson or {}).get(field[len("extra.") :])
        else:
            raw = getattr(conn, field, None)
        data = raw if isinstance(raw, str | bytes) else (str(raw) if raw is not None else None)
    elif "env" in ref:
        data = os.environ.get(ref["env"])
    else:
        path = ref["file"]
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise ValueError(f"value_from.file: {path!r} could not be read ({exc.strerror})") from None
        file_name = file_name or os.path.basename(path)
    source = next(k for k in VALUE_SOURCES if k in ref)
    if not data:
        raise ValueError(
            f"value_from.{source}: {ref[source]!r} holds no value; set it before running the task"
        )
    value = SecretValue(data, file_name=file_name)
    for text in value.redactions():
        mask_secret(text)
    return value


class _HarnessResourceOperator(BaseOperator):
    """Shared arguments: connection, kind, scope and parent; the hook is created on first use."""

    template_fields: Sequence[str] = (
        "harness_conn_id",
        "kind",
        "org_id",
        "project_id",
        "scope",
        "pipeline_id",
        "environment_id",
    )
    ui_color = "#e6f0fd"

    def __init__(
        self,
        *,
        kind: str | None = None,
        harness_conn_id: str = DEFAULT_CONN_ID,
        org_id: str | None = None,
        project_id: str | None = None,
        scope: Literal["account", "org", "project"] | None = None,
        pipeline_id: str | None = None,
        environment_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.kind = kind
        self.harness_conn_id = harness_conn_id
        self.org_id = org_id
        self.project_id = project_id
        self.scope = scope
        self.pipeline_id = pipeline_id
        self.environment_id = environment_id

    @cached_property
    def hook(self) -> HarnessHook:
        return HarnessHook(self.harness_conn_id)

    @property
    def client(self) -> HarnessClient:
        return self.hook.get_client()

    def _parent(self, kind_name: str) -> str | None:
        """``pipeline_id`` / ``environment_id`` as the kind's parent; the other one must not be set."""
        from airflow_provider_harness.client.resource_kinds import resource_kind

        kind = resource_kind(kind_name)
        wanted = kind.parent.arg if kind.parent else None
        for arg in ("pipeline_id", "environment_id"):
            if getattr(self, arg) and arg != wanted:
                raise ValueError(f"{arg}: {kind.a} does not take {arg}; drop it")
        return getattr(self, wanted) if wanted else None

    def _ref(self, identifier: str | None) -> ResourceRef:
        from airflow_provider_harness.client.resources import resource_ref

        if not self.kind:
            raise ValueError("kind: required; e.g. 'project', 'pipeline', 'connector'")
        return resource_ref(
            self.hook.config,
            self.kind,
            identifier,
            scope=self.scope or None,
            org_id=self.org_id or None,
            project_id=self.project_id or None,
            parent=self._parent(self.kind),
        )


class HarnessApplyResourceOperator(_HarnessResourceOperator):
    """Create or update a Harness resource so it matches ``spec``; a second run logs ``unchanged``.

    ``spec`` is YAML text or a dict: either what Harness shows (``pipeline:``, ``inputSet:``,
    ``trigger:``, ``service:``, ``environment:``, ``infrastructureDefinition:``, ``connector:``,
    ``project:``, ``organization:``) or ``{"kind": ..., "org_id": ..., "project_id": ..., "spec": {...}}``.
    ``spec_file`` reads the same from a file on the worker. Arguments (``org_id``, ``project_id``,
    ``pipeline_id`` ...) fill what the spec leaves out. Returns ``{"kind", "identifier", "action", ...}``
    with ``action`` one of ``created``, ``updated``, ``unchanged``.

    >>> HarnessApplyResourceOperator(
    ...     task_id="team_project",
    ...     spec={"kind": "project", "org_id": "platform", "spec": {"identifier": "team_a", "name": "A"}},
    ... ).spec["kind"]
    'project'
    """

    template_fields: Sequence[str] = (*_HarnessResourceOperator.template_fields, "spec", "spec_file", "git")
    template_fields_renderers = {"spec": "yaml", "git": "json"}

    def __init__(
        self,
        *,
        spec: str | Mapping[str, Any] | None = None,
        spec_file: str | None = None,
        git: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.spec = spec  # an inline secret value is refused here, when the DAG is parsed
        self.spec_file = spec_file
        self.git = git

    def __setattr__(self, key: str, value: Any) -> None:
        """``spec`` never holds a secret value (Airflow shows rendered fields in the UI and stores them).

        Written in the DAG: ``ValueError`` when the DAG is parsed. Produced by rendering (a template, an
        XCom, a Variable, a mapped argument): the value is masked, the field keeps a placeholder (so
        nothing shows or stores it, and no traceback of the render carries it) and the task fails in
        ``execute``.
        """
        if key == "spec":
            found = inline_secret_value(value)
            self.__dict__.pop("_spec_refused", None)
            if found is not None:
                path = found[0]
                rendering = "spec" in self.__dict__ or getattr(self, "_BaseOperator__from_mapped", False)
                if not rendering:
                    raise ValueError(
                        f"{path}: a secret value must not be written in a spec - specs are templated, so "
                        "Airflow would show it in the Rendered Template tab and store it in the metadata "
                        f"DB; {VALUE_FROM_FIX}"
                    )
                mask_secret(str(found[1]))
                del found
                value = f"(refused: {path} held a secret value)"
                super().__setattr__(
                    "_spec_refused",
                    f"{path}: the rendered spec carried a secret value; it was kept out of the rendered "
                    f"fields (Airflow shows a placeholder) and nothing was sent to Harness. Keep values out "
                    f"of specs: {VALUE_FROM_FIX}",
                )
        super().__setattr__(key, value)

    def _spec(self) -> ResourceSpec:
        from airflow_provider_harness.client.resources import parse_spec

        refused = self.__dict__.get("_spec_refused")
        if refused:
            raise ValueError(refused)
        if (self.spec is None) == (self.spec_file is None):
            raise ValueError("spec / spec_file: give exactly one (YAML text or a dict, or a file path)")
        source: str | Mapping[str, Any]
        if self.spec_file is not None:
            try:
                with open(self.spec_file, encoding="utf-8") as handle:
                    source = handle.read()
            except OSError as exc:
                raise ValueError(
                    f"spec_file: {self.spec_file!r} could not be read ({exc.strerror})"
                ) from None
            name = str(self.spec_file)
        else:
            assert self.spec is not None
            source, name = self.spec, "spec"
        return parse_spec(
            source,
            self.hook.config,
            kind=self.kind or None,
            scope=self.scope or None,
            org_id=self.org_id or None,
            project_id=self.project_id or None,
            pipeline_id=self.pipeline_id or None,
            environment_id=self.environment_id or None,
            git=self.git or None,
            source_name=name,
        )

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow_provider_harness.client.resources import apply

        spec = self._spec()
        if spec.takes_value:
            raise ValueError(
                f"{spec.ref.describe()}: a {spec.secret_type} secret carries a value; use "
                "HarnessApplySecretOperator with value_from= so the value stays out of specs, logs and XCom"
            )
        result = apply(self.client, spec)
        self.log.info("%s", result.describe())
        return result.to_dict()


class HarnessApplySecretOperator(HarnessApplyResourceOperator):
    """Create or update a Harness secret; its value comes from Airflow, never from the spec.

    ``value_from`` (not templated) is one of ``{"variable": "name"}``, ``{"connection": "conn_id",
    "field": "password"}`` (also ``login``, ``host``, ``schema``, ``extra.<key>``), ``{"env": "NAME"}``
    or ``{"file": "/path"}`` (file secrets; ``file_name`` optional). The value is read on the worker,
    masked in logs at once, sent only in the create/update request and never returned (XCom gets
    metadata only). Harness never returns secret values, so a second run with the same metadata is
    ``unchanged``; ``rotate=True`` writes the value anyway (rotation). A value written in ``spec`` is
    refused when the DAG is parsed (rendered template fields are shown in the UI and stored).

    >>> HarnessApplySecretOperator(
    ...     task_id="db_password",
    ...     spec={"kind": "secret", "spec": {"identifier": "db_pw", "name": "DB", "type": "SecretText"}},
    ...     value_from={"env": "DB_PASSWORD"},
    ... ).value_from
    {'env': 'DB_PASSWORD'}
    """

    def __init__(
        self,
        *,
        value_from: Mapping[str, str] | None = None,
        rotate: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("kind", "secret")
        super().__init__(**kwargs)
        # Static (never templated): a reference, checked at DAG parse time.
        self.value_from = check_value_from(value_from) if value_from is not None else None
        self.rotate = rotate

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow_provider_harness.client.errors import HarnessError, redact
        from airflow_provider_harness.client.resources import apply, redact_error

        spec = self._spec()
        from airflow_provider_harness.client.resource_kinds import article

        if spec.kind.name != "secret":
            raise ValueError(
                f"kind: HarnessApplySecretOperator applies secrets, the spec is {article(spec.kind.name)}"
            )
        if self.value_from is not None and not spec.takes_value:
            raise ValueError(
                f"value_from: {spec.ref.describe()} is a {spec.secret_type} secret without an inline value; "
                "drop value_from (only SecretText with valueType Inline and SecretFile take one)"
            )
        value = resolve_value(self.value_from) if self.value_from is not None else None
        secrets = value.redactions() if value is not None else ()
        try:
            result = apply(self.client, spec, value=value, rotate=self.rotate)
        except HarnessError as exc:
            raise redact_error(exc, secrets) from None
        except Exception as exc:
            message = str(exc)
            if any(s in message for s in secrets):
                raise AirflowException(redact(message, secrets)) from None
            raise
        self.log.info("%s", result.describe())
        return result.to_dict()


class HarnessGetResourceOperator(_HarnessResourceOperator):
    """Read one resource; returns its entity (the DTO, or the parsed YAML document for YAML kinds).

    Secret values are never part of it. Fails with Harness's not-found error when it does not exist.
    A trigger is read through its details endpoint and also gets ``webhook_url`` (the custom webhook URL
    with its token replaced by ``***``; the token is masked in the task log) and ``webhook`` (the URL's
    non-secret parts: version, ids), both None for triggers without a webhook URL.

    >>> HarnessGetResourceOperator(task_id="get", kind="pipeline", identifier="build").identifier
    'build'
    """

    template_fields: Sequence[str] = (*_HarnessResourceOperator.template_fields, "identifier", "git")

    def __init__(self, *, identifier: str, git: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.identifier = identifier
        self.git = git

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow_provider_harness.client.resources import get_call

        ref = self._ref(self.identifier)
        assert ref.identifier
        details = ref.kind.details_path is not None
        resource = self.client.send(
            get_call(ref.kind, ref.scope, ref.identifier, parent=ref.parent, git=self.git, details=details)
        )
        self.log.info("%s: found", ref.describe())
        result = resource.public()
        if details:
            webhook = resource.webhook_url
            for secret in webhook.secrets() if webhook else ():
                mask_secret(secret)
            result["webhook_url"] = webhook.redacted if webhook else None
            result["webhook"] = webhook.public() if webhook else None
        return result


class HarnessListResourcesOperator(_HarnessResourceOperator):
    """List every resource of a kind in a scope (all pages), with Harness's filters.

    ``filters`` pass through as Harness query parameters (``searchTerm``, ``type`` ...; pipelines also
    take filter-body fields such as ``pipelineTags``). ``limit`` stops early; ``identifiers_only``
    returns just the identifiers to keep XCom small.

    >>> HarnessListResourcesOperator(task_id="ls", kind="connector", filters={"type": "K8sCluster"}).filters
    {'type': 'K8sCluster'}
    """

    template_fields: Sequence[str] = (*_HarnessResourceOperator.template_fields, "filters")
    template_fields_renderers = {"filters": "json"}

    def __init__(
        self,
        *,
        filters: Mapping[str, Any] | None = None,
        limit: int | None = None,
        identifiers_only: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.filters = filters
        self.limit = limit
        self.identifiers_only = identifiers_only

    def execute(self, context: Any) -> list[Any]:
        from airflow_provider_harness.client.resources import list_resources

        if self.limit is not None and (not isinstance(self.limit, int) or self.limit < 1):
            raise ValueError(f"limit: expected a positive whole number, got {self.limit!r}")
        ref = self._ref(None)
        items = list_resources(self.client, ref, filters=self.filters or None, limit=self.limit)
        result: list[Any] = (
            [item.get(ref.kind.id_field) for item in items] if self.identifiers_only else list(items)
        )
        self.log.info("%s: %d listed", ref.describe(), len(result))
        return result


class HarnessDeleteResourceOperator(_HarnessResourceOperator):
    """Delete a resource. Already gone is success (logged); a delete Harness refuses fails with its message.

    ``force_delete=True`` sends Harness's ``forceDelete`` (services, environments, infrastructures,
    connectors, secrets still referenced elsewhere; the account setting must allow it).

    >>> HarnessDeleteResourceOperator(task_id="rm", kind="project", org_id="o", identifier="team_a").kind
    'project'
    """

    template_fields: Sequence[str] = (*_HarnessResourceOperator.template_fields, "identifier", "git")

    def __init__(
        self,
        *,
        identifier: str,
        git: Mapping[str, Any] | None = None,
        force_delete: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.identifier = identifier
        self.git = git
        self.force_delete = force_delete

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow_provider_harness.client.errors import HarnessError
        from airflow_provider_harness.client.resources import delete

        ref = self._ref(self.identifier)
        try:
            deleted = delete(self.client, ref, git=self.git, force=self.force_delete)
        except HarnessError as exc:
            exc.message = f"Harness refused to delete {ref.describe()}: {exc.message}"
            exc.args = (exc.message,)
            raise
        self.log.info("%s: %s", ref.describe(), "deleted" if deleted else "already gone, nothing to delete")
        return {"kind": ref.kind.name, "identifier": ref.identifier, "deleted": deleted}


class HarnessTestConnectorOperator(_HarnessResourceOperator):
    """Run Harness's connection test of a connector; the task fails when it does not succeed.

    >>> HarnessTestConnectorOperator(task_id="test_k8s", connector_id="k8s").connector_id
    'k8s'
    """

    template_fields: Sequence[str] = (*_HarnessResourceOperator.template_fields, "connector_id")

    def __init__(self, *, connector_id: str, **kwargs: Any) -> None:
        kwargs.setdefault("kind", "connector")
        super().__init__(**kwargs)
        self.connector_id = connector_id

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow_provider_harness.client.resources import test_connector

        ref = self._ref(self.connector_id)
        result = test_connector(self.client, ref)
        if not result.succeeded:
            details = (
                "; ".join(filter(None, [result.error_summary, *result.errors])) or "no details from Harness"
            )
            raise HarnessConnectorTestError(f"{ref.describe()}: connection test {result.status}: {details}")
        self.log.info("%s: connection test %s", ref.describe(), result.status)
        return result.to_dict()


__all__ = [
    "HarnessApplyResourceOperator",
    "HarnessApplySecretOperator",
    "HarnessConnectorTestError",
    "HarnessDeleteResourceOperator",
    "HarnessGetResourceOperator",
    "HarnessListResourcesOperator",
    "HarnessTestConnectorOperator",
    "check_value_from",
    "inline_secret_value",
    "resolve_value",
]
