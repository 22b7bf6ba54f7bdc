"""A plain Python client of the Harness API (no Airflow import).

Modules: :mod:`.config` (settings, :class:`~.config.Secret`), :mod:`.call` (requests as data, page
shapes), :mod:`.transport` (sync/async httpx clients with retries), :mod:`.errors` (exception
hierarchy), :mod:`.statuses` (execution status vocabulary), :mod:`.identifiers`, and one module per
API area built on those.

This package ``__init__`` imports nothing, so importing :mod:`.statuses` from a DAG file stays cheap.

>>> from airflow_provider_harness.client.statuses import interpret
>>> interpret("Success").succeeded
True
"""
