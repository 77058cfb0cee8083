"""Permanent refusals are losses; transient failures are retried (real server, proxy).

A loopback proxy (``tests/fault_proxy.py``) stands between ``kedro run`` and a
real `mlflow server`: it answers 400 to one artifact's upload, as a server
refuses an invalid artifact path, and 503 to the first requests of others. The
refused artifact is counted and named once, never retried or spooled; everything
else lands once the proxy lets it through, and the run ends FINISHED.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.conftest import ServerProcess
from tests.fault_proxy import Fault, FaultProxy, mlflow_error
from tests.reliability_project import generate, kedro, kedro_env, output_of

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.server

LOG_BATCH = "/api/2.0/mlflow/runs/log-batch"
STEPS = 3

_PLAIN_LOGGING = """
version: 1
disable_existing_loggers: false
formatters:
  plain:
    format: "%(levelname)s %(name)s: %(message)s"
handlers:
  console:
    class: logging.StreamHandler
    formatter: plain
    stream: ext://sys.stderr
root:
  level: INFO
  handlers: [console]
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    folder = tmp_path / "server"
    folder.mkdir()
    process = ServerProcess(folder)
    process.start()
    yield process
    process.stop()


def test_a_refused_upload_is_lost_alone_and_503s_are_retried_until_they_land(
    tmp_path: Path, server: ServerProcess
) -> None:
    from mlflow.tracking import MlflowClient

    project = generate(tmp_path / "project", steps=STEPS)
    (project / "logging.yml").write_text(_PLAIN_LOGGING)
    with FaultProxy(server.url) as proxy:
        proxy.fail(
            Fault(
                400,
                "PUT",
                "report_1.json",
                body=mlflow_error(
                    "INVALID_PARAMETER_VALUE", "Invalid artifact path: report_1.json"
                ),
            )
        )
        proxy.fail(Fault(503, "POST", LOG_BATCH, times=3, body="Service Unavailable"))
        proxy.fail(Fault(503, "PUT", "report_0.json", times=1, body="Unavailable"))
        env = kedro_env(
            proxy.url,
            # Only our own retries: MLflow's would hide the 503s from the sender.
            MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
            KEDRO_LOGGING_CONFIG=str(project / "logging.yml"),
        )
        result = kedro(project, "run", env=env)
        out = output_of(result)
        assert result.returncode == 0, out
        # Refused once: not retried, not spooled.
        assert len(proxy.answered(400, "report_1.json")) == 1, proxy.answers
        assert len(proxy.answered(503, LOG_BATCH)) == 3, proxy.answers
        assert len(proxy.answered(503, "report_0.json")) == 1, proxy.answers
    assert not list(project.glob("mlflow_spool/*.zip")), out
    assert "Traceback" not in out, out
    (warning,) = [line for line in out.splitlines() if "ends FINISHED, but" in line]
    assert "1 file(s)" in warning, warning
    assert "report_1.json" in warning, warning
    assert "400" in warning, warning

    client = MlflowClient(tracking_uri=server.url)
    (run,) = client.search_runs(
        [client.get_experiment_by_name("reliability").experiment_id]
    )
    assert run.info.status == "FINISHED"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"report_0.json", "report_2.json", "time_log.json"} <= artifacts
    assert "report_1.json" not in artifacts
    assert "report_1.json" in run.data.tags["pipelinex_mlflow.unlogged"]
    assert {f"score_{i}" for i in range(STEPS)} <= set(run.data.metrics)
    assert {"lr", "model.depth"} <= set(run.data.params)
