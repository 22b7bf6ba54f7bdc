"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point.

The connection form is declared here (``hook-name``, ``ui-field-behaviour``, ``conn-fields``): Airflow
3.3's UI reads only these, without importing the hook.

>>> get_provider_info()["connection-types"][0]["connection-type"]
'harness'
"""

from __future__ import annotations

import copy
from typing import Any

from airflow_provider_harness import __version__
from airflow_provider_harness.connection_fields import CONN_FIELDS, CONN_TYPE, HOOK_NAME, UI_FIELD_BEHAVIOUR

INTEGRATION = "Harness"
#: Plain text: Airflow's Providers page strips RST marks (`_<>) and turns bare URLs into links without
#: the space after them, so a link mid-sentence would run into the next word. The docs link is the
#: package's ``Documentation`` project URL (Airflow 3.3+ links the package name to it).
DESCRIPTION = (
    "Run, wait for, retry and abort Harness pipelines, keep Harness resources in shape, "
    "run IaCM workspaces with a time to live, and react to Harness events."
)


def get_provider_info() -> dict[str, Any]:
    """Return the provider info dict (validated by Airflow against its provider-info schema)."""
    return {
        "package-name": "airflow-provider-harness",
        "name": "Harness",
        "description": DESCRIPTION,
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://apidocs.harness.io/",
                "tags": ["software"],
            }
        ],
        "hooks": [
            {"integration-name": INTEGRATION, "python-modules": ["airflow_provider_harness.hooks.harness"]}
        ],
        "operators": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_provider_harness.operators.executions",
                    "airflow_provider_harness.operators.iacm",
                    "airflow_provider_harness.operators.resources",
                    "airflow_provider_harness.operators.webhooks",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_provider_harness.sensors.executions",
                    "airflow_provider_harness.sensors.events",
                ],
            }
        ],
        "triggers": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_provider_harness.triggers.executions",
                    "airflow_provider_harness.triggers.execution_event",
                    "airflow_provider_harness.triggers.events",
                ],
            }
        ],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_harness.hooks.harness.HarnessHook",
                "hook-name": HOOK_NAME,
                "connection-type": CONN_TYPE,
                "ui-field-behaviour": copy.deepcopy(UI_FIELD_BEHAVIOUR),
                "conn-fields": copy.deepcopy(CONN_FIELDS),
            }
        ],
        "extra-links": ["airflow_provider_harness.execution_tasks.HarnessExecutionLink"],
        # harness://<account>/<org>/<project>[/<pipeline>]: validated and normalised on every Asset.
        "asset-uris": [{"schemes": ["harness"], "handler": "airflow_provider_harness.assets.sanitize_uri"}],
        # The Harness notification receiver (API server, /harness-events). Also registered through the
        # ``airflow.plugins`` entry point, which Airflow loads whatever [core] lazy_discover_providers says.
        "plugins": [
            {
                "name": "harness_events",
                "plugin-class": "airflow_provider_harness.plugins.harness_events.HarnessEventsPlugin",
            }
        ],
    }
