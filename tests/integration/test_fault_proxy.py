"""Permanent refusals are losses; transient failures are retried (real server, proxy).

A loopback proxy (``tests/fault_proxy.py``) stands between ``kedro run`` (or a
run's sender) and a real `mlflow server`: it answers 400 to one artifact's
upload, as a server refuses an invalid artifact path, and 503 to the first
requests of others. The refused artifact is counted and named once, never
retried or spooled; everything else lands once the proxy lets it through, and
the run ends FINISHED. Gateways answer without MLflow's JSON: such an answer is
judged by its HTTP status (408, 429 and 5xx pass; 400 and 413 refuse a value).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pipelinex_mlflow.tracking import RunEnd, RunRef
from pipelinex_mlflow.tracking.metric_point import MetricPoint
from pipelinex_mlflow.tracking.sender import SEND_TRIES, UNLOGGED_TAG, RunSender
from pipelinex_mlflow.tracking.spool import read_spool
from tests.conftest import ServerProcess
from tests.fault_proxy import Fault, FaultProxy, mlflow_error
from tests.reliability_project import (
    PLAIN_LOGGING,
    generate,
    kedro,
    kedro_env,
    output_of,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from mlflow.tracking import MlflowClient

    from tests.conftest import MlflowServer

pytestmark = pytest.mark.server

LOG_BATCH = "/api/2.0/mlflow/runs/log-batch"
STEPS = 3
#: A metric key the proxy refuses (the quote ends the key in the request's JSON,
#: so the unlogged tag that names it is not refused too).
PROXY_REFUSED = "refused_metric"
#: A metric key the real server refuses: it would climb out of the run's folder.
SERVER_REFUSED = "a/../b"
SIGNATURE = "0123456789abcdef0123"
SIGNED_URL = (
    "https://bucket.s3.amazonaws.com/report.json?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    f"&X-Amz-Credential=AKIAEXAMPLEKEY%2F20260101&X-Amz-Signature={SIGNATURE}"
)


def test_a_refused_upload_is_lost_alone_and_503s_are_retried_until_they_land(
    tmp_path: Path, server: ServerProcess
) -> None:
    from mlflow.tracking import MlflowClient

    project = generate(tmp_path / "project", steps=STEPS)
    (project / "logging.yml").write_text(PLAIN_LOGGING)
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
    # The end reached the store, and the log says so (the spool tests rely on
    # this line being absent when it did not).
    assert f"MLflow run {warning.split()[4]} ended FINISHED" in out, out

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


# --------------------------------------------------------------------------------------
# One run's sender behind the proxy
# --------------------------------------------------------------------------------------
@pytest.fixture
def proxied(
    mlflow_server_process: MlflowServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[tuple[FaultProxy, RunRef, MlflowClient]]:
    """A proxy in front of the session's server, and a new run reached through it."""
    from mlflow.tracking import MlflowClient

    # Only our own retries: MLflow's would hide the faults from the sender.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("PIPELINEX_MLFLOW_SPOOL_DIR", str(tmp_path / "spool"))
    client = MlflowClient(tracking_uri=mlflow_server_process.url)
    experiment_id = client.create_experiment(f"faults-{time.time_ns()}")
    run_id = client.create_run(experiment_id).info.run_id
    with FaultProxy(mlflow_server_process.url) as proxy:
        yield proxy, RunRef(proxy.url, run_id), client


def _metrics(count: int, *extra: str) -> list[MetricPoint]:
    entries = [
        MetricPoint(f"m{i}", float(i), 0, 1_700_000_000_000) for i in range(count)
    ]
    for position, key in enumerate(extra):
        entries.insert(position * 3, MetricPoint(key, 1.0, 0, 1_700_000_000_000))
    return entries


def _wait_for(condition: Callable[[], object], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize("status", [429, 503, 504, 408])
def test_a_bare_transient_answer_keeps_the_values_until_the_store_heals(
    proxied: tuple[FaultProxy, RunRef, MlflowClient], status: int
) -> None:
    proxy, run, client = proxied
    proxy.fail(Fault(status, "POST", LOG_BATCH, body=f"{status} from the gateway"))
    sender = RunSender(run)
    sender.submit(params={"lr": "0.5"}, metrics=_metrics(20), tags={"team": "a"})
    _wait_for(lambda: proxy.answered(status, LOG_BATCH))
    proxy.heal()
    report = sender.close(time.monotonic() + 60, RunEnd.now("FINISHED"))
    assert not report, report.summary()
    finished = client.get_run(run.run_id)
    assert len(finished.data.metrics) == 20
    assert finished.data.params == {"lr": "0.5"}
    assert UNLOGGED_TAG not in finished.data.tags
    assert finished.info.status == "FINISHED"


@pytest.mark.parametrize("status", [400, 413])
def test_a_bare_refusal_loses_only_the_refused_value_once(
    proxied: tuple[FaultProxy, RunRef, MlflowClient], status: int
) -> None:
    proxy, run, client = proxied
    proxy.fail(
        Fault(
            status,
            "POST",
            LOG_BATCH,
            body=f"<html>{status} Request refused</html>",
            body_part=f'{PROXY_REFUSED}"',
        )
    )
    sender = RunSender(run)
    sender.submit(
        params={"lr": "0.5"}, metrics=_metrics(20, PROXY_REFUSED), tags={"team": "a"}
    )
    report = sender.close(time.monotonic() + 20, RunEnd.now("FINISHED"))
    assert report.lost_values == 1, report.summary()
    assert report.spool is None, report.summary()
    assert PROXY_REFUSED in report.summary()
    assert str(status) in report.summary()
    finished = client.get_run(run.run_id)
    assert set(finished.data.metrics) == {f"m{i}" for i in range(20)}
    assert finished.data.params == {"lr": "0.5"}
    assert PROXY_REFUSED in finished.data.tags[UNLOGGED_TAG]
    assert "1 value(s)" in finished.data.tags[UNLOGGED_TAG]
    assert finished.info.status == "FINISHED"


@pytest.mark.parametrize("how", ["deleted run", "400 to every batch"])
def test_a_refused_run_costs_a_bounded_number_of_requests_and_one_line(
    proxied: tuple[FaultProxy, RunRef, MlflowClient], how: str
) -> None:
    proxy, run, client = proxied
    if how == "deleted run":
        client.delete_run(run.run_id)
    else:
        proxy.fail(Fault(400, "POST", LOG_BATCH, body="Bad Request"))
    sender = RunSender(run)
    sender.submit(params={}, metrics=_metrics(1000), tags={})
    report = sender.drain(time.monotonic() + 120)
    assert report.lost_values == 1000, report.summary()
    assert len(proxy.answered(None, LOG_BATCH)) <= 10, len(proxy.answers)
    assert len(report.errors) == 1, report.errors[:5]
    assert len(report.summary()) < 1000, report.summary()[:2000]
    sender.close(time.monotonic() + 10)


def test_a_transient_failure_in_a_split_counts_no_value_twice(
    proxied: tuple[FaultProxy, RunRef, MlflowClient],
) -> None:
    proxy, run, client = proxied
    # The first request that holds m6 but not the refused key (a part of a split,
    # after the refused one was lost) meets a 503.
    proxy.fail(
        Fault(
            503,
            "POST",
            LOG_BATCH,
            times=SEND_TRIES,  # each of the sender's tries in a row
            body="Service Unavailable",
            body_part='"m6"',
            body_lacks=SERVER_REFUSED,
        )
    )
    sender = RunSender(run)
    sender.submit(params={}, metrics=_metrics(7, SERVER_REFUSED), tags={})
    report = sender.close(time.monotonic() + 60, RunEnd.now("FINISHED"))
    assert len(proxy.answered(503, LOG_BATCH)) == SEND_TRIES, proxy.answers
    assert report.lost_values == 1, report.summary()
    finished = client.get_run(run.run_id)
    assert set(finished.data.metrics) == {f"m{i}" for i in range(7)}
    assert "1 value(s)" in finished.data.tags[UNLOGGED_TAG]
    assert finished.info.status == "FINISHED"


def test_the_unlogged_tag_holds_no_secret_from_a_refused_upload(
    proxied: tuple[FaultProxy, RunRef, MlflowClient], tmp_path: Path
) -> None:
    proxy, run, client = proxied
    proxy.fail(Fault(400, "PUT", "report.json", body=f"Upload refused: {SIGNED_URL}"))
    report_file = tmp_path / "report.json"
    report_file.write_text("{}")
    sender = RunSender(run)
    sender.upload(str(report_file), None)
    sender.submit(params={}, metrics=_metrics(3), tags={})
    report = sender.close(time.monotonic() + 60, RunEnd.now("FINISHED"))
    assert report.lost_files == ["report.json"], report.summary()
    tag = client.get_run(run.run_id).data.tags[UNLOGGED_TAG]
    assert "report.json" in tag
    assert "400 Client Error" in tag  # the reason is kept, masked
    assert SIGNATURE not in tag
    assert "AKIAEXAMPLEKEY" not in tag
    assert SIGNATURE not in report.summary()


def test_an_artifact_path_outside_the_run_costs_only_its_file_and_the_spool_reads(
    proxied: tuple[FaultProxy, RunRef, MlflowClient], tmp_path: Path
) -> None:
    proxy, run, _ = proxied
    proxy.fail(Fault(503, body="Service Unavailable"))  # the store stays away
    files = {}
    for name in ("good.txt", "odd.txt", "back.txt"):
        files[name] = tmp_path / name
        files[name].write_text(name)
    sender = RunSender(run)
    sender.upload(str(files["good.txt"]), "reports")
    sender.upload(str(files["odd.txt"]), "caf\udce9")
    sender.upload(str(files["back.txt"]), "a\\b")
    sender.submit(params={}, metrics=_metrics(3), tags={})
    report = sender.close(time.monotonic() + 5, RunEnd.now("FINISHED"))
    assert report.lost_files == ["a\\b/back.txt"], report.summary()
    assert "backslash" in report.summary()
    assert report.spool is not None, report.summary()
    content = read_spool(report.spool, tmp_path / "extracted")  # no BadSpoolError
    spooled = sorted(
        (Path(local).name, artifact_path)
        for batch in content.batches
        for local, artifact_path in batch.files
    )
    assert spooled == [("good.txt", "reports"), ("odd.txt", "caf\ufffd")]
    assert sum(batch.value_count for batch in content.batches) == 3
