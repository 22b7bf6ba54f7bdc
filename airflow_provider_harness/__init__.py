"""Apache Airflow provider for Harness (harness.io).

Import what you need from the submodules; this module stays cheap to import
because every DAG file that uses the provider pays for it at parse time.
"""

__version__ = "0.1.0"
