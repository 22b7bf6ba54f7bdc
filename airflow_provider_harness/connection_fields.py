"""The Harness connection form, described once.

Airflow 3.2+ reads the declarative ``ui-field-behaviour`` and ``conn-fields`` from the provider info
(3.3's UI reads only those); 3.0/3.1 UIs call the hook's ``get_ui_field_behaviour`` /
``get_connection_form_widgets``. Both are generated from the tables below, so they cannot drift:
:func:`widget_specs` maps the table to widget descriptions (pure data, testable without wtforms) and
:func:`connection_form_widgets` only turns those into wtforms fields.

>>> sorted(CONN_FIELDS)[:3]
['account_id', 'ca_bundle', 'max_retries']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

CONN_TYPE = "harness"
DEFAULT_CONN_ID = "harness_default"
HOOK_NAME = "Harness"

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "port", "login"],
    "relabeling": {"host": "Harness URL", "password": "API key"},
    "placeholders": {
        "host": "https://app.harness.io (self-managed: https://harness.example.com or …/gateway)",
        "password": "pat.<account>.<token id>.<secret> or sat.<account>.<token id>.<secret>",
        "extra": '{"account_id": "...", "org_id": "default", "project_id": "..."}',
    },
}

#: Extra fields: name -> (label, description, JSON schema). Stored in ``Connection.extra``.
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "account_id": {
        "label": "Account ID",
        "description": "Your Harness account id, as in https://app.harness.io/ng/account/<ACCOUNT_ID>/... "
        "(may be left empty with a pat./sat. API key, which names its account).",
        "schema": {"type": ["string", "null"]},
    },
    "org_id": {
        "label": "Default organization",
        "description": "Organization identifier used when a task does not name one (for example 'default').",
        "schema": {"type": ["string", "null"]},
    },
    "project_id": {
        "label": "Default project",
        "description": "Project identifier used when a task does not name one.",
        "schema": {"type": ["string", "null"]},
    },
    "verify_ssl": {
        "label": "Verify TLS certificates",
        "description": "Turn off only for a self-managed Harness with a self-signed certificate.",
        "schema": {"type": ["boolean", "null"], "default": True},
    },
    "ca_bundle": {
        "label": "CA bundle path",
        "description": "Path to a PEM file of CA certificates for a self-managed Harness (optional).",
        "schema": {"type": ["string", "null"]},
    },
    "timeout": {
        "label": "Request timeout (seconds)",
        "description": "Timeout of one HTTP request to Harness.",
        "schema": {"type": ["number", "null"], "default": 30, "minimum": 1},
    },
    "proxy": {
        "label": "Proxy URL",
        "description": "HTTP(S) proxy, e.g. http://proxy:3128. HTTPS_PROXY/NO_PROXY are respected too.",
        "schema": {"type": ["string", "null"]},
    },
    "max_retries": {
        "label": "Retries on 429/5xx/network errors",
        "description": "How many times a request that is safe to repeat is retried (exponential backoff).",
        "schema": {"type": ["integer", "null"], "default": 5, "minimum": 0, "maximum": 20},
    },
    "requests_per_minute": {
        "label": "Requests per minute (per process)",
        "description": "Budget of one triggerer for this API key; Harness allows about 1000 a minute per "
        "key, so use about 900 divided by the processes sharing the key.",
        "schema": {"type": ["integer", "null"], "default": 450, "minimum": 1},
    },
    "coalesce_polls": {
        "label": "Coalesce status polls",
        "description": "Deferred tasks of one project share one list call per poll instead of one call per "
        "execution. Empty: automatic (once the list is the cheaper way); false: never; true: always.",
        "schema": {"type": ["boolean", "null"], "default": None},
    },
}


def ui_field_behaviour_for_hook() -> dict[str, Any]:
    """The same behaviour in the shape ``get_ui_field_behaviour`` returns (underscored keys)."""
    return {
        "hidden_fields": list(UI_FIELD_BEHAVIOUR["hidden-fields"]),
        "relabeling": dict(UI_FIELD_BEHAVIOUR["relabeling"]),
        "placeholders": dict(UI_FIELD_BEHAVIOUR["placeholders"]),
    }


@dataclass(frozen=True)
class WidgetSpec:
    """One extra field of the 3.0/3.1 connection form, as data: ``kind`` is the wtforms field class name.

    >>> widget_specs()["verify_ssl"].kind
    'BooleanField'
    """

    kind: Literal["BooleanField", "IntegerField", "StringField"]
    label: str
    description: str
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None


def widget_specs() -> dict[str, WidgetSpec]:
    """The extra fields of :data:`CONN_FIELDS` as widget descriptions, in the same order."""
    specs: dict[str, WidgetSpec] = {}
    for name, field in CONN_FIELDS.items():
        schema = field["schema"]
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        kind: Literal["BooleanField", "IntegerField", "StringField"]
        if "boolean" in types:
            kind = "BooleanField"
        elif "integer" in types or "number" in types:
            kind = "IntegerField"
        else:
            kind = "StringField"
        specs[name] = WidgetSpec(
            kind=kind,
            label=field["label"],
            description=field.get("description", ""),
            default=schema.get("default"),
            minimum=schema.get("minimum"),
            maximum=schema.get("maximum"),
        )
    return specs


def connection_form_widgets() -> dict[str, Any]:
    """wtforms widgets for the extra fields (Airflow 3.0/3.1 UIs); imports wtforms lazily.

    Only names Airflow 3.0/3.1 mock when wtforms is absent from the UI process are used
    (``StringField``, ``IntegerField``, ``BooleanField``, ``validators.Optional``).
    """
    from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import BooleanField, IntegerField, StringField
    from wtforms.validators import NumberRange, Optional

    classes = {"BooleanField": BooleanField, "IntegerField": IntegerField, "StringField": StringField}
    widgets: dict[str, Any] = {}
    for name, spec in widget_specs().items():
        field_class = classes[spec.kind]
        kwargs: dict[str, Any] = {"description": spec.description}
        if spec.default is not None:
            kwargs["default"] = spec.default
        if spec.kind == "IntegerField":
            kwargs["validators"] = [Optional(), NumberRange(min=spec.minimum, max=spec.maximum)]
        if spec.kind != "BooleanField":
            kwargs["widget"] = BS3TextFieldWidget()
        widgets[name] = field_class(lazy_gettext(spec.label), **kwargs)
    return widgets
