"""The receiver app in-process (Starlette TestClient) against a migrated Airflow metadata DB.

Real parts: the connection lookup (``AIRFLOW_CONN_HARNESS_EVENTS`` or a DB row), the asset manager,
the DB de-duplication. DAGs are written to the DB the way the dag-processor does
(``update_dag_parsing_results_in_db``), so their assets exist and are active, and un-paused so an asset
event queues a run (``AssetDagRunQueue``) exactly as the scheduler would then pick it up.

The bad-request suite checks each refusal's status and that **nothing** was stored: no asset event, no
queued run.
"""

from __future__ import annotations

import inspect
import json
import logging
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from airflow_provider_harness.client.notifications import parse_notification
from airflow_provider_harness.plugins.receiver import (
    TOKEN_HEADER,
    ConnectionSettings,
    create_app,
)

pytestmark = pytest.mark.integration

TOKEN = "integration-token-5e4d3c2b1a09"
ACCOUNT = "acc_integration"
URL = "/v1/notifications"


# --------------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def receiver_db() -> Path:
    """``airflow db migrate`` on this session's AIRFLOW_HOME (tests/conftest.py), once."""
    import os

    home = Path(os.environ["AIRFLOW_HOME"])
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=600,
    )
    return home / "airflow.db"


@pytest.fixture
def receiver_connection(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """``harness_events`` with the token (environment variable: the first secrets backend)."""
    conn: dict[str, Any] = {"conn_type": "generic", "password": TOKEN, "extra": {}}
    monkeypatch.setenv("AIRFLOW_CONN_HARNESS_EVENTS", json.dumps(conn))
    return conn


@pytest.fixture
def client(receiver_db: Path, receiver_connection: dict[str, Any]) -> Iterator[TestClient]:
    with TestClient(create_app(settings=ConnectionSettings(cache_seconds=0))) as test_client:
        yield test_client


@pytest.fixture
def project() -> str:
    """A project id of its own per test, so assets and events never mix between tests."""
    return f"proj_{uuid.uuid4().hex[:10]}"


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


def notification(project: str, event_type: str = "PipelineSuccess", **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    data: dict[str, Any] = {
        "accountIdentifier": ACCOUNT,
        "orgIdentifier": "default",
        "projectIdentifier": project,
        "pipelineIdentifier": "deploy_service",
        "pipelineName": "Deploy service",
        "planExecutionId": "exec_" + uuid.uuid4().hex[:12],
        "executionUrl": f"https://app.harness.io/ng/#/account/{ACCOUNT}/cd/orgs/default/projects/{project}"
        "/pipelines/deploy_service/executions/x/pipeline",
        "eventType": event_type,
        "nodeStatus": "completed",
        "startTs": now - 30,
        "endTs": now - 1,
    }
    data.update(changes)
    return {"eventData": {k: v for k, v in data.items() if v is not ...}}


def post(client: TestClient, document: Any, token: str | None = TOKEN, **kwargs: Any) -> Any:
    headers = dict(kwargs.pop("headers", {}))
    if token is not None:
        headers[TOKEN_HEADER] = token
    content = kwargs.pop("content", None)
    if content is None:
        content = json.dumps(document).encode()
    return client.post(
        URL, headers={"Content-Type": "application/json", **headers}, content=content, **kwargs
    )


def pipeline_uri(project: str, pipeline: str = "deploy_service") -> str:
    return f"harness://{ACCOUNT}/default/{project}/{pipeline}"


def project_uri(project: str) -> str:
    return f"harness://{ACCOUNT}/default/{project}"


def register_dag(dag_id: str, *uris: str) -> None:
    """Write a DAG scheduled on ``uris`` to the DB as the dag-processor does, and un-pause it."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.collection import update_dag_parsing_results_in_db
    from airflow.models.dag import DagModel
    from airflow.sdk import DAG, Asset
    from airflow.serialization.serialized_objects import LazyDeserializedDAG
    from airflow.utils.session import create_session

    try:
        from airflow.providers.standard.operators.empty import EmptyOperator
    except ImportError:  # pragma: no cover
        from airflow.operators.empty import EmptyOperator  # type: ignore[no-redef]

    with DAG(dag_id, schedule=[Asset(uri) for uri in uris], start_date=datetime(2026, 1, 1)) as dag:
        EmptyOperator(task_id="react")
    dag.relative_fileloc = Path(__file__).name  # what the dag-processor sets (3.0 serializes it)
    if hasattr(LazyDeserializedDAG, "from_dag"):  # Airflow 3.3
        lazy = LazyDeserializedDAG.from_dag(dag)
    else:  # Airflow 3.0
        from airflow.serialization.serialized_objects import SerializedDAG

        lazy = LazyDeserializedDAG(data=SerializedDAG.to_dict(dag))
    takes_duration = "parse_duration" in inspect.signature(update_dag_parsing_results_in_db).parameters
    with create_session() as session:
        DagBundlesManager().sync_bundles_to_db(session=session)
        session.flush()
        if takes_duration:
            update_dag_parsing_results_in_db("dags-folder", None, [lazy], {}, None, set(), session=session)
        else:
            update_dag_parsing_results_in_db("dags-folder", None, [lazy], {}, set(), session=session)
        session.flush()
        session.query(DagModel).filter(DagModel.dag_id == dag_id).update({"is_paused": False})


def stored_events(*uris: str) -> list[dict[str, Any]]:
    """Every asset event on assets with these URIs: ``{"uri", "name", "extra", "id"}``."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(AssetModel.uri, AssetModel.name, AssetEvent.extra, AssetEvent.id)
            .join(AssetEvent, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.uri.in_(uris))
            .order_by(AssetEvent.id)
        ).all()
        return [{"uri": r[0], "name": r[1], "extra": r[2], "id": r[3]} for r in rows]


def queued_runs(*dag_ids: str) -> list[str]:
    """DAG ids with a run queued by an asset event (what the scheduler turns into DAG runs)."""
    from airflow.models.asset import AssetDagRunQueue
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return list(
            session.scalars(
                select(AssetDagRunQueue.target_dag_id).where(AssetDagRunQueue.target_dag_id.in_(dag_ids))
            )
        )


# --------------------------------------------------------------------------------------------------
# accepted
# --------------------------------------------------------------------------------------------------


def test_a_notification_becomes_an_asset_event_and_queues_the_dag(client: TestClient, project: str) -> None:
    register_dag(f"on_deploy_{project}", pipeline_uri(project))
    document = notification(project)
    response = post(client, document)
    assert response.status_code == 201, response.text
    answer = response.json()
    (event,) = stored_events(pipeline_uri(project))
    assert answer["status"] == "accepted"
    assert answer["assets"] == [
        {"name": pipeline_uri(project), "uri": pipeline_uri(project), "eventId": event["id"]}
    ]
    expected = parse_notification(document).event_payload(source="webhook")
    assert event["extra"] == expected
    assert event["extra"]["source"] == "webhook" and event["extra"]["dedupeKey"] == answer["dedupeKey"]
    assert queued_runs(f"on_deploy_{project}") == [f"on_deploy_{project}"]


def test_pipeline_and_project_assets_each_get_the_event(client: TestClient, project: str) -> None:
    register_dag(f"on_pipeline_{project}", pipeline_uri(project))
    register_dag(f"on_project_{project}", project_uri(project))
    response = post(client, notification(project))
    assert response.status_code == 201, response.text
    assert {a["uri"] for a in response.json()["assets"]} == {pipeline_uri(project), project_uri(project)}
    assert sorted(e["uri"] for e in stored_events(pipeline_uri(project), project_uri(project))) == sorted(
        [pipeline_uri(project), project_uri(project)]
    )
    assert sorted(queued_runs(f"on_pipeline_{project}", f"on_project_{project}")) == sorted(
        [f"on_pipeline_{project}", f"on_project_{project}"]
    )
    other = notification(project, pipelineIdentifier="another_pipeline")
    response = post(client, other)  # same project, other pipeline: only the project asset
    assert response.status_code == 201
    assert [a["uri"] for a in response.json()["assets"]] == [project_uri(project)]


def test_every_event_type_is_stored(client: TestClient, project: str) -> None:
    register_dag(f"on_all_{project}", pipeline_uri(project))
    documents = [
        notification(project, "PipelineStart", endTs=...),
        notification(project, "StageStart", stageIdentifier="deploy", endTs=...),
        notification(project, "StageFailed", stageIdentifier="deploy", errorMessage="boom"),
        notification(project, "StepFailed", stageIdentifier="deploy", stepIdentifier="rollout"),
        notification(project, "PipelinePaused", nodeStatus="paused", endTs=...),
        notification(project, "PipelineFailed", nodeStatus="failed"),
        notification(project, "PipelineEnd"),
    ]
    for document in documents:
        assert post(client, document).status_code == 201
    types = [e["extra"]["eventType"] for e in stored_events(pipeline_uri(project))]
    assert types == [d["eventData"]["eventType"] for d in documents]


# --------------------------------------------------------------------------------------------------
# repeats
# --------------------------------------------------------------------------------------------------


def test_a_replay_is_200_and_stores_nothing_even_through_another_app(
    client: TestClient, project: str
) -> None:
    """The repeat is found in the DB: a second app (another API server) answers duplicate too."""
    register_dag(f"replay_{project}", pipeline_uri(project))
    document = notification(project)
    assert post(client, document).status_code == 201
    again = post(client, document)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert again.json()["duplicates"] == [{"name": pipeline_uri(project), "uri": pipeline_uri(project)}]
    with TestClient(create_app(settings=ConnectionSettings(cache_seconds=0))) as other_server:
        assert post(other_server, document).json()["status"] == "duplicate"
    reordered = {"eventData": dict(reversed(list(document["eventData"].items())))}
    assert post(client, reordered).status_code == 200
    assert len(stored_events(pipeline_uri(project))) == 1


def test_concurrent_copies_store_one_event(client: TestClient, project: str) -> None:
    register_dag(f"race_{project}", pipeline_uri(project))
    document = notification(project)
    statuses: list[int] = []
    barrier = threading.Barrier(6)

    def deliver() -> None:
        barrier.wait()
        statuses.append(post(client, document).status_code)

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(statuses) == [200] * 5 + [201]
    assert len(stored_events(pipeline_uri(project))) == 1


def test_an_event_a_trigger_already_emitted_counts_as_a_repeat(client: TestClient, project: str) -> None:
    """A poller's event (extra ``{"from_trigger": True, "payload": {...}}``) with the same dedupeKey."""
    from airflow.assets.manager import asset_manager
    from airflow.models.asset import AssetModel
    from airflow.utils.session import create_session

    register_dag(f"polled_{project}", pipeline_uri(project))
    document = notification(project)
    payload = parse_notification(document).event_payload(source="poll")
    with create_session() as session:
        asset = session.query(AssetModel).filter(AssetModel.uri == pipeline_uri(project)).one()
        asset_manager.register_asset_change(
            asset=asset, extra={"from_trigger": True, "payload": payload}, session=session
        )
    response = post(client, document)
    assert response.status_code == 200 and response.json()["status"] == "duplicate"
    assert len(stored_events(pipeline_uri(project))) == 1


def test_the_same_event_on_a_new_asset_is_stored_there(client: TestClient, project: str) -> None:
    """Per-asset: a project asset a DAG started using after the first delivery gets the repeat."""
    register_dag(f"first_{project}", pipeline_uri(project))
    document = notification(project)
    assert post(client, document).status_code == 201
    register_dag(f"later_{project}", project_uri(project))
    response = post(client, document)
    assert response.status_code == 201
    assert [a["uri"] for a in response.json()["assets"]] == [project_uri(project)]
    assert response.json()["duplicates"] == [{"name": pipeline_uri(project), "uri": pipeline_uri(project)}]


# --------------------------------------------------------------------------------------------------
# nothing uses the asset
# --------------------------------------------------------------------------------------------------


def test_no_dag_uses_the_asset_is_202_and_nothing_is_created(client: TestClient, project: str) -> None:
    from airflow.models.asset import AssetModel
    from airflow.utils.session import create_session

    response = post(client, notification(project))
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "ignored"
    assert pipeline_uri(project) in response.json()["detail"]
    with create_session() as session:  # no asset created either
        assert session.query(AssetModel).filter(AssetModel.uri.like(f"%{project}%")).count() == 0


def test_an_inactive_asset_is_not_used(client: TestClient, project: str) -> None:
    """An asset row left by a DAG that no longer uses it (no AssetActive row) gets nothing."""
    from airflow.models.asset import AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        session.add(AssetModel(name=pipeline_uri(project), uri=pipeline_uri(project), group="asset"))
    response = post(client, notification(project))
    assert response.status_code == 202
    assert stored_events(pipeline_uri(project)) == []


# --------------------------------------------------------------------------------------------------
# bad requests: status, and nothing stored
# --------------------------------------------------------------------------------------------------


def _bad(project: str) -> dict[str, tuple[dict[str, Any], int, str]]:
    week = 7 * 24 * 3600
    return {
        "no-secret": ({"token": None}, 401, "unauthenticated"),
        "wrong-secret": ({"token": TOKEN[:-1] + "0"}, 403, "forbidden"),
        "oversized": ({"content": b"{" + b" " * (256 * 1024) + b"}"}, 413, "payload_too_large"),
        "not-json": ({"content": b"<xml>PipelineSuccess</xml>"}, 400, "malformed"),
        "no-eventData": ({"document": {"pipeline": "deploy_service"}}, 400, "malformed"),
        "unknown-event-type": (
            {"document": notification(project, "DeploymentSucceeded")},
            422,
            "unknown_event_type",
        ),
        "missing-execution": ({"document": notification(project, planExecutionId=...)}, 422, "invalid_event"),
        "stale": (
            {"document": notification(project, startTs=int(time.time()) - week - 60, endTs=...)},
            422,
            "stale_event",
        ),
    }


BAD = ["no-secret", "wrong-secret", "oversized", "not-json", "no-eventData", "unknown-event-type",
       "missing-execution", "stale"]  # fmt: skip


@pytest.mark.parametrize("case", BAD)
def test_bad_request_suite(client: TestClient, project: str, case: str) -> None:
    dag_id = f"bad_{case.replace('-', '_')}_{project}"
    register_dag(dag_id, pipeline_uri(project), project_uri(project))
    kwargs, status, code = _bad(project)[case]
    kwargs = dict(kwargs)
    document = kwargs.pop("document", notification(project))
    response = post(client, document, **kwargs)
    assert response.status_code == status, response.text
    assert response.json()["error"] == code and response.json()["detail"]
    assert stored_events(pipeline_uri(project), project_uri(project)) == []
    assert queued_runs(dag_id) == []


def test_bad_request_suite_replay(client: TestClient, project: str) -> None:
    """The replay case of the suite: the first delivery stores one event per asset, the replay nothing."""
    dag_id = f"bad_replay_{project}"
    register_dag(dag_id, pipeline_uri(project))
    document = notification(project)
    assert post(client, document).status_code == 201
    before = stored_events(pipeline_uri(project))
    response = post(client, document)
    assert response.status_code == 200 and response.json()["status"] == "duplicate"
    assert stored_events(pipeline_uri(project)) == before


def test_account_not_allowed_is_403_and_nothing_stored(
    receiver_db: Path, monkeypatch: pytest.MonkeyPatch, project: str
) -> None:
    conn = {"conn_type": "generic", "password": TOKEN, "extra": {"accounts": ["some_other_account"]}}
    monkeypatch.setenv("AIRFLOW_CONN_HARNESS_EVENTS", json.dumps(conn))
    register_dag(f"acl_{project}", pipeline_uri(project))
    with TestClient(create_app(settings=ConnectionSettings(cache_seconds=0))) as client:
        response = post(client, notification(project))
    assert response.status_code == 403 and response.json()["error"] == "forbidden"
    assert stored_events(pipeline_uri(project)) == []


# --------------------------------------------------------------------------------------------------
# the connection
# --------------------------------------------------------------------------------------------------


def test_missing_connection_is_503_and_nothing_stored(
    receiver_db: Path, monkeypatch: pytest.MonkeyPatch, project: str
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_HARNESS_EVENTS", raising=False)
    register_dag(f"unconfigured_{project}", pipeline_uri(project))
    with TestClient(
        create_app(settings=ConnectionSettings("harness_events_missing", cache_seconds=0))
    ) as client:
        response = post(client, notification(project))
    assert response.status_code == 503
    assert response.json() == {
        "error": "receiver_not_configured",
        "detail": "create the Airflow connection 'harness_events_missing' "
        "with the webhook token as its password",
    }
    assert stored_events(pipeline_uri(project)) == []


def test_connection_in_the_metadata_db_and_its_rotation(
    receiver_db: Path, monkeypatch: pytest.MonkeyPatch, project: str
) -> None:
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    monkeypatch.delenv("AIRFLOW_CONN_HARNESS_EVENTS", raising=False)
    conn_id = f"harness_events_{project}"
    new_token = "rotated-token-77aa88bb99cc"
    with create_session() as session:
        session.add(
            Connection(
                conn_id=conn_id,
                conn_type="generic",
                password=new_token,
                extra=json.dumps({"previous_token": TOKEN}),
            )
        )
    register_dag(f"db_conn_{project}", pipeline_uri(project))
    with TestClient(create_app(settings=ConnectionSettings(conn_id, cache_seconds=0))) as client:
        assert post(client, notification(project), token=TOKEN).status_code == 201  # previous: still ok
        assert post(client, notification(project), token=new_token).status_code == 201
        assert post(client, notification(project), token="not-the-token-at-all").status_code == 403
    assert len(stored_events(pipeline_uri(project))) == 2


def test_the_token_is_not_in_logs_or_answers(
    client: TestClient, project: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    register_dag(f"secret_{project}", pipeline_uri(project))
    answers = [
        post(client, notification(project)).text,
        post(client, notification(project), token=TOKEN + "x").text,
        post(client, notification(project, "Nope")).text,
        post(client, None, content=TOKEN.encode()).text,
    ]
    events = json.dumps(stored_events(pipeline_uri(project)))
    assert TOKEN not in "\n".join(answers) + caplog.text + events
