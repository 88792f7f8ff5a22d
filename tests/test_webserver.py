"""The Dagster UI, for real: `dagster dev` on a free 127.0.0.1 port, driven through its GraphQL API.

Launches what the UI's "Materialize all" launches (every asset of the code location, over the
landed partition range, as one run) and waits for the queued run to succeed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from pipelines.settings import PROJECT_ROOT
from tests.conftest import Workspace

LOCATION = "pipelines"
REPOSITORY = "__repository__"
ASSET_JOB = "__ASSET_JOB"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DagsterUI:
    def __init__(self, url: str) -> None:
        self.url = url

    def graphql(self, query: str, **variables: object) -> dict:
        response = requests.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=60
        )
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]


@pytest.fixture
def dagster_ui(workspace: Workspace, tmp_path: Path) -> Iterator[DagsterUI]:
    port = free_port()
    log = (tmp_path / "dagster_dev.log").open("w")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster"),
            "dev",
            "-w",
            "workspace.yaml",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=PROJECT_ROOT,
        env={**os.environ, **workspace.env()},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "dagster_dev.log").read_text()[-3000:]
            try:
                if requests.get(f"{url}/server_info", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(1)
        else:
            pytest.fail("dagster dev did not answer within 180 s")
        yield DagsterUI(url)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


ASSET_GRAPH = """
query {
  assetNodes(loadMaterializations: false) {
    assetKey { path }
    isPartitioned
    dependencyKeys { path }
    assetChecksOrError { ... on AssetChecks { checks { name } } }
  }
}
"""

LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message stack }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""

RUN_STATUS = """
query Status($runId: ID!) {
  runOrError(runId: $runId) { ... on Run { status } }
}
"""


def test_materialize_all_through_the_ui_api(dagster_ui: DagsterUI) -> None:
    from pipelines.run import landed_days

    nodes = dagster_ui.graphql(ASSET_GRAPH)["assetNodes"]
    keys = [node["assetKey"]["path"] for node in nodes]
    assert ["segments", "customer_segments"] in keys
    assert ["raw", "pos_order_lines"] in keys
    features = next(n for n in nodes if n["assetKey"]["path"] == ["marts", "customer_features"])
    assert features["dependencyKeys"], "the dbt models are wired to their upstream assets"

    days = landed_days()
    params = {
        "selector": {
            "repositoryLocationName": LOCATION,
            "repositoryName": REPOSITORY,
            "jobName": ASSET_JOB,
            "assetSelection": [{"path": key} for key in keys],
        },
        "executionMetadata": {
            "tags": [
                {"key": "dagster/asset_partition_range_start", "value": days[0].isoformat()},
                {"key": "dagster/asset_partition_range_end", "value": days[-1].isoformat()},
            ]
        },
    }
    launched = dagster_ui.graphql(LAUNCH, params=params)["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]

    deadline = time.monotonic() + 600
    status = "QUEUED"
    while time.monotonic() < deadline and status not in {"SUCCESS", "FAILURE", "CANCELED"}:
        time.sleep(2)
        status = dagster_ui.graphql(RUN_STATUS, runId=run_id)["runOrError"]["status"]
    assert status == "SUCCESS"
