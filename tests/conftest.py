"""Settings shared by every test: an isolated Airflow home, fixed before Airflow is first imported.

Airflow reads ``AIRFLOW_HOME`` and its ``AIRFLOW__*`` variables once, when ``airflow`` is first imported
(it then writes ``airflow.cfg`` and opens the metadata DB there). pytest imports this file before any
test module, so setting them here keeps every test - unit, integration and e2e - off ``~/airflow``.
The home is a fresh temporary folder per pytest process, removed at exit; set
``HARNESS_TEST_AIRFLOW_HOME=/some/dir`` to use (and keep) a folder of your own.
The metadata DB is only migrated when an e2e test asks for it (``tests/e2e/conftest.py``).
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

if "airflow" in sys.modules:  # pragma: no cover - a plugin imported Airflow before this file ran
    raise RuntimeError(
        "airflow was imported before tests/conftest.py could isolate AIRFLOW_HOME; "
        "a pytest plugin imports it too early (run pytest with -p no:<plugin> to find which)"
    )

if os.environ.get("HARNESS_TEST_AIRFLOW_HOME"):
    AIRFLOW_HOME = Path(os.environ["HARNESS_TEST_AIRFLOW_HOME"]).resolve()
    AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
else:
    AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="harness-airflow-home-"))
    atexit.register(shutil.rmtree, AIRFLOW_HOME, ignore_errors=True)
(AIRFLOW_HOME / "dags").mkdir(exist_ok=True)

os.environ.update(
    {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(AIRFLOW_HOME / "dags"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    }
)
