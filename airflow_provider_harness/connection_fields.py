"""The Harness connection form, described once.

Airflow 3.2+ reads the declarative ``ui-field-behaviour`` and ``conn-fields`` from the provider info;
older 3.x UIs call the hook's ``get_ui_field_behaviour`` / ``get_connection_form_widgets``. Both are
generated from the tables below, so they cannot drift.

>>> sorted(CONN_FIELDS)[:3]
['account_id', 'ca_bundle', 'max_retries']
"""

from __future__ import annotations

from typing import Any

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
        "description": "Your Harness account id, as in https://app.harness.io/ng/account/<ACCOUNT_ID>/...",
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
        "description": "How many times a request that is safe to repeat is retried, with exponential backoff.",
        "schema": {"type": ["integer", "null"], "default": 5, "minimum": 0, "maximum": 20},
    },
}


def ui_field_behaviour_for_hook() -> dict[str, Any]:
    """The same behaviour in the shape ``get_ui_field_behaviour`` returns (underscored keys)."""
    return {
        "hidden_fields": list(UI_FIELD_BEHAVIOUR["hidden-fields"]),
        "relabeling": dict(UI_FIELD_BEHAVIOUR["relabeling"]),
        "placeholders": dict(UI_FIELD_BEHAVIOUR["placeholders"]),
    }


def connection_form_widgets() -> dict[str, Any]:
    """wtforms widgets for the extra fields (Airflow 3.0/3.1 UIs); imports wtforms lazily."""
    from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import BooleanField, IntegerField, StringField
    from wtforms.validators import NumberRange, Optional

    widgets: dict[str, Any] = {}
    for name, spec in CONN_FIELDS.items():
        types = spec["schema"]["type"]
        label = lazy_gettext(spec["label"])
        description = spec["description"]
        if "boolean" in types:
            widgets[name] = BooleanField(label, description=description, default=spec["schema"].get("default"))
        elif "integer" in types or "number" in types:
            widgets[name] = IntegerField(
                label,
                validators=[Optional(), NumberRange(min=spec["schema"].get("minimum"))],
                widget=BS3TextFieldWidget(),
                description=description,
            )
        else:
            widgets[name] = StringField(label, widget=BS3TextFieldWidget(), description=description)
    return widgets
