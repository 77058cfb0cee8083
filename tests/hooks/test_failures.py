"""When MLflow rejects what the companion hooks send, the run goes on and says so."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from kedro.framework.hooks import hook_impl

from pipelinex_mlflow import (
    MLflowArtifactsLoggerHook,
    MLflowCatalogLoggerHook,
    MLflowEnvVarsLoggerHook,
    MLflowTimeLoggerHook,
)
from pipelinex_mlflow.tracking import RunRef, current_run, set_current_run
from tests.hooks._pipeline import only_run, run

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from pipelinex_mlflow import MLflowBasicLoggerHook

MISSING_RUN_ID = "0" * 32


class PointAtMissingRun:
    """Makes the current run one the store does not hold, once the real run started."""

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self) -> None:
        run = current_run()
        assert run is not None
        set_current_run(RunRef(run.tracking_uri, MISSING_RUN_ID))


@pytest.mark.parametrize("runner", ["sequential", "parallel"])
def test_rejected_logging_only_warns(
    runner: str,
    basic_hook: MLflowBasicLoggerHook,
    client: MlflowClient,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "notes.txt").write_text("notes")
    companions = (
        MLflowTimeLoggerHook(),
        MLflowCatalogLoggerHook(),
        MLflowEnvVarsLoggerHook(param_env_vars=["HOME"]),
        MLflowArtifactsLoggerHook(
            filepaths_before_pipeline_run=["notes.txt"],
            filepaths_after_pipeline_run=["notes.txt"],
        ),
    )
    result = run(
        (basic_hook, *companions, PointAtMissingRun()),
        runner,
        project_path=str(tmp_path),
    )
    assert set(result) == {"combined"}
    logged = only_run(client)
    assert logged.info.status == "FINISHED"
    assert not any(k.startswith("_time_to_run") for k in logged.data.metrics)
    # Sends happen in the background; what MLflow refused is named once, when the
    # Kedro run ends, with how many values and which files.
    (report,) = [
        r.message
        for r in caplog.records
        if r.levelname == "WARNING" and f"For MLflow run {MISSING_RUN_ID}" in r.message
    ]
    lost_values = int(report.split(", ")[1].split(" value(s)")[0])
    # Time metrics (4 nodes) and one env var at least; the node values of
    # ParallelRunner workers are reported by the workers.
    assert lost_values >= 5
    for name in ("notes.txt", "time_log.json", "gantt.html"):
        assert name in report
    assert "not found" in report
    if runner == "parallel":
        printed = capfd.readouterr()
        assert f"for MLflow run {MISSING_RUN_ID}" in printed.out + printed.err
