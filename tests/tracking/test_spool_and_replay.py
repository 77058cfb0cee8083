"""The spool and its replay, against a real SQLite store and a refused port."""

from __future__ import annotations

import socket
import time
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pipelinex_mlflow.tracking import (
    RunEnd,
    RunRef,
    TrackingError,
    replay,
    replay_all,
    start_run,
)
from pipelinex_mlflow.tracking.metric_point import MetricPoint
from pipelinex_mlflow.tracking.sender import RunSender
from pipelinex_mlflow.tracking.spool import (
    Spooled,
    pending_spools,
    read_spool,
    write_spool,
)

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient


def _refused_url() -> str:
    """A loopback URL nobody listens on: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def run(tracking_uri: str) -> RunRef:
    return start_run(tracking_uri, "0")


def _spooled(tmp_path: Path) -> Spooled:
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.txt").write_text("1 2 3")
    report = tmp_path / "report.json"
    report.write_text('{"ok": true}')
    return Spooled(
        params={"lr": "0.5"},
        checked_params={"depth": "3"},
        tags={"team": "a"},
        metrics=[
            MetricPoint("loss", 0.5, 0, 1_700_000_000_000),
            MetricPoint("loss", 0.25, 1, 1_700_000_001_000),
        ],
        files=[(str(report), None), (str(model), "models")],
        texts=[("hello", "notes/hello.txt")],
        end=RunEnd("FINISHED", 1_700_000_002_000),
    )


def test_a_spool_reads_back_what_was_written(tmp_path: Path, run: RunRef) -> None:
    spooled = _spooled(tmp_path)
    path = write_spool(run, spooled, tmp_path / "spool")
    write_spool(run, Spooled(tags={"late": "yes"}), tmp_path / "spool")
    content = read_spool(path, extract_to=tmp_path / "out")
    assert content.run == run
    first, second = content.batches
    assert first.params == spooled.params
    assert first.checked_params == spooled.checked_params
    assert first.metrics == spooled.metrics
    assert first.texts == [("hello", "notes/hello.txt")]
    assert first.end == spooled.end
    assert second.tags == {"late": "yes"}
    (report, _), (model, artifact_path) = first.files
    assert Path(report).read_text() == '{"ok": true}'
    assert artifact_path == "models"
    assert (Path(model) / "weights.txt").read_text() == "1 2 3"
    assert path.stat().st_mode & 0o077 == 0  # the URI may carry credentials


def test_replay_sends_everything_once_and_ends_the_run(
    tmp_path: Path, run: RunRef, client: MlflowClient
) -> None:
    path = write_spool(run, _spooled(tmp_path), tmp_path / "spool")
    result = replay(path)
    assert (result.values, result.files, result.status) == (5, 3, "FINISHED")
    assert result.replayed_path.name == f"{run.run_id}.replayed.zip"
    assert pending_spools(tmp_path / "spool") == []
    logged = client.get_run(run.run_id)
    assert logged.info.status == "FINISHED"
    assert logged.info.end_time == 1_700_000_002_000
    assert logged.data.params == {"lr": "0.5", "depth": "3"}
    assert logged.data.tags["team"] == "a"
    paths = {a.path for a in client.list_artifacts(run.run_id)}
    assert {"report.json", "models", "notes"} <= paths
    assert [a.path for a in client.list_artifacts(run.run_id, "models")] == [
        "models/weights.txt"
    ]
    # Twice adds nothing: the same metric entries are kept once.
    replay(result.replayed_path)
    history = client.get_metric_history(run.run_id, "loss")
    assert sorted((m.step, m.value) for m in history) == [(0, 0.5), (1, 0.25)]


def test_replay_keeps_the_spool_when_the_store_is_away(
    tmp_path: Path, run: RunRef, monkeypatch: pytest.MonkeyPatch
) -> None:
    # MLflow's own retries would outlive the test in a background thread.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    path = write_spool(run, _spooled(tmp_path), tmp_path / "spool")
    started = time.monotonic()
    with pytest.raises(TrackingError, match="The file is kept; replay it again later"):
        replay(path, tracking_uri=_refused_url())
    assert time.monotonic() - started < 60
    assert path.exists()
    assert len(read_spool(path).batches) == 1  # nothing appended by the failed try


def test_replay_of_something_else_says_what_it_is(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.zip"
    with zipfile.ZipFile(bogus, "w") as archive:
        archive.writestr("notes.txt", "hi")
    with pytest.raises(
        TrackingError, match="is not a readable pipelinex_mlflow spool file"
    ):
        replay(bogus)
    assert (tmp_path / "notes.rejected.zip").exists()
    with pytest.raises(TrackingError, match="not a readable"):
        replay(tmp_path / "missing.zip")
    assert replay_all(tmp_path / "empty") == []


def test_a_refused_server_costs_seconds_and_spools_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPELINEX_MLFLOW_SPOOL_DIR", str(tmp_path / "spool"))
    # MLflow's own retries would take minutes: only the first try matters here.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    run = RunRef(_refused_url(), "0123456789abcdef")
    sender = RunSender(run)
    sender.submit(
        params={"lr": "0.5"}, metrics=[MetricPoint("loss", 1.0, 0, 1)], tags={}
    )
    report_file = tmp_path / "report.txt"
    report_file.write_text("done")
    sender.upload(str(report_file), None)
    started = time.monotonic()
    report = sender.close(time.monotonic() + 120, RunEnd("FINISHED", 2))
    assert time.monotonic() - started < 20
    assert report.spool == tmp_path / "spool" / f"{run.run_id}.zip"
    assert (report.spooled_values, report.spooled_files, report.spooled_end) == (
        2,
        1,
        True,
    )
    assert not report.lost
    assert "kedro mlflow replay" in report.summary()
    (batch,) = read_spool(report.spool).batches
    assert batch.params == {"lr": "0.5"}
    assert batch.metrics == [MetricPoint("loss", 1.0, 0, 1)]
    assert batch.end == RunEnd("FINISHED", 2)


def test_what_the_store_refuses_at_replay_is_named_and_the_file_is_done(
    tmp_path: Path, run: RunRef, client: MlflowClient
) -> None:
    """A refusal for good (a param changed since) must not keep the file pending."""
    client.log_param(run.run_id, "lr", "0.1")
    path = write_spool(
        run,
        Spooled(
            params={"lr": "0.5"},
            metrics=[MetricPoint("loss", 0.5, 0, 1_700_000_000_000)],
            end=RunEnd("FINISHED", 1_700_000_001_000),
        ),
        tmp_path / "spool",
    )
    result = replay(path)
    assert result.lost is not None
    assert "1 value(s) were refused by the store" in result.lost
    assert "already holds with other values (lr)" in result.lost
    assert result.replayed_path.name == f"{run.run_id}.replayed.zip"
    assert pending_spools(tmp_path / "spool") == []
    logged = client.get_run(run.run_id)
    assert logged.info.status == "FINISHED"
    assert logged.data.params == {"lr": "0.1"}
    assert logged.data.metrics == {"loss": 0.5}
