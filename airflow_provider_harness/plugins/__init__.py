"""Airflow plugins of the provider: the Harness notification receiver in Airflow's API server.

:mod:`.harness_events` holds the plugin (registered through the ``airflow.plugins`` entry point and the
provider info's ``plugins``), :mod:`.receiver` the FastAPI app it mounts at ``/harness-events``, and
:mod:`.asset_events` the metadata-DB side (asset events, de-duplication). See docs/events.md.

This package ``__init__`` imports nothing: every Airflow process loads the plugin.
"""
