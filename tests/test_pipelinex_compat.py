"""PipelineX's configs, hooks and helpers run unchanged (real SQLite store).

One test class per finding of the PipelineX-compatibility review: hooks take
``enable_mlflow``; PipelineX's helper functions and dataset loggers exist and log
to the right run; tracking switched off runs the pipeline without MLflow; the
caller's own ``mlflow.start_run()`` run is logged into; PipelineX-era
``run_params`` names; the ``./mlruns`` history brought into SQLite.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline, node
from kedro_datasets.json import JSONDataset

import pipelinex_mlflow
from pipelinex_mlflow import (
    MLflowArtifactsLoggerHook,
    MLflowBasicLoggerHook,
    MLflowCatalogLoggerHook,
    MLflowDataSet,
    MLflowDataSetsLoggerHook,
    MLflowEnvVarsLoggerHook,
    MLflowOutputsLoggerHook,
    MLflowTimeLoggerHook,
)
from pipelinex_mlflow.tracking import TrackingError, current_run, normalize_tracking_uri
from tests._kedro import artifact_paths, run_with_hooks

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

EXPERIMENT = "pipelinex"

#: PipelineX 0.8.0's top-level MLflow-on-Kedro names (its hooks, dataset, helpers).
PIPELINEX_NAMES = (
    "MLflowArtifactsLoggerHook",
    "MLflowBasicLoggerHook",
    "MLflowCatalogLoggerHook",
    "MLflowDataSet",
    "MLflowDataSetsLoggerHook",
    "MLflowEnvVarsLoggerHook",
    "MLflowOutputsLoggerHook",
    "MLflowTimeLoggerHook",
    "dump_dict",
    "env_vars_to_dict",
    "get_kedro_runner",
    "get_timestamp",
    "get_timestamp_int",
    "get_timestamps",
    "load_dict",
    "log_metric_env_vars",
    "log_param_env_vars",
    "mlflow_end_run",
    "mlflow_log_artifacts",
    "mlflow_log_dataset",
    "mlflow_log_metrics",
    "mlflow_log_params",
    "mlflow_log_time",
    "mlflow_log_values",
    "mlflow_start_run",
    "running_parallel",
)


def _runs(client: MlflowClient, experiment: str = EXPERIMENT) -> list[Run]:
    found = client.get_experiment_by_name(experiment)
    return [] if found is None else client.search_runs([found.experiment_id])


def _report(score: float, lr: float) -> tuple[float, dict[str, Any]]:
    pipelinex_mlflow.mlflow_log_params({"helper_lr": lr, "zero": 0})
    pipelinex_mlflow.mlflow_log_metrics({"helper_score": score, "not_a_number": "x"})
    pipelinex_mlflow.mlflow_log_values({"helper": {"depth": 3, "kind": "rf"}})
    return score * 2, {"score": score}


def _pipeline() -> Pipeline:
    return Pipeline(
        [
            node(lambda: 0.5, None, "score", name="make_score"),
            node(
                _report, ["score", "params:lr"], ["doubled", "summary"], name="report"
            ),
        ]
    )


def _catalog(**datasets: Any) -> DataCatalog:
    return DataCatalog({"params:lr": MemoryDataset(0.1), **datasets})


class TestSignatures:
    def test_every_pipelinex_name_is_importable_from_the_top_level(self) -> None:
        missing = [
            name for name in PIPELINEX_NAMES if not hasattr(pipelinex_mlflow, name)
        ]
        assert missing == []

    @pytest.mark.parametrize(
        "hook_class",
        [
            MLflowBasicLoggerHook,
            MLflowCatalogLoggerHook,
            MLflowArtifactsLoggerHook,
            MLflowEnvVarsLoggerHook,
            MLflowTimeLoggerHook,
            MLflowDataSetsLoggerHook,
            MLflowOutputsLoggerHook,
        ],
    )
    def test_every_hook_takes_enable_mlflow(self, hook_class: type) -> None:
        assert hook_class(enable_mlflow=True).enable_mlflow is True
        assert hook_class(enable_mlflow=False).enable_mlflow is False

    def test_the_2021_starter_catalog_hook_call(self) -> None:
        hook = MLflowCatalogLoggerHook(auto=True, enable_mlflow=True)
        assert hook.auto


class TestHelpers:
    def test_node_code_logs_to_the_pipeline_run(
        self, client: MlflowClient, tracking_uri: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        hook = MLflowBasicLoggerHook(uri=tracking_uri, experiment_name=EXPERIMENT)
        run_with_hooks(_pipeline(), _catalog(), (hook,))
        (run,) = _runs(client)
        assert run.data.params["helper_lr"] == "0.1"
        assert run.data.params["zero"] == "0"  # PipelineX dropped falsy values
        assert run.data.params["helper.kind"] == "rf"
        assert run.data.metrics["helper_score"] == 0.5
        assert run.data.metrics["helper.depth"] == 3.0
        assert "'not_a_number'" in caplog.text

    def test_start_log_and_end_a_run_of_its_own(
        self, client: MlflowClient, tracking_uri: str, tmp_path: Path
    ) -> None:
        (tmp_path / "report.txt").write_text("hello")
        (tmp_path / "credentials.yml").write_text("secret: x")
        pipelinex_mlflow.mlflow_start_run(
            uri=tracking_uri,
            experiment_name=EXPERIMENT,
            run_name="manual",
            tags={"a": 1},
        )
        try:
            pipelinex_mlflow.mlflow_log_params({"p": "v"})
            pipelinex_mlflow.mlflow_log_metrics({"m": 1.5}, step=2)
            # Outside a Kedro run the values have landed when the call returns.
            (started,) = _runs(client)
            assert started.data.params == {"p": "v"}
            assert started.data.metrics == {"m": 1.5}
            pipelinex_mlflow.log_param_env_vars(["HOME"], prefix="env..")
            pipelinex_mlflow.mlflow_log_artifacts(
                [tmp_path / "report.txt", tmp_path / "credentials.yml"], "files"
            )
            pipelinex_mlflow.mlflow_log_dataset(
                JSONDataset(filepath=str(tmp_path / "report.txt"))
            )
            timed = pipelinex_mlflow.mlflow_log_time(lambda: 7)
            assert timed() == 7
        finally:
            pipelinex_mlflow.mlflow_end_run()
        assert current_run() is None
        (run,) = _runs(client)
        assert run.info.status == "FINISHED"
        assert run.info.run_name == "manual"
        assert run.data.tags["a"] == "1"
        assert run.data.params["p"] == "v"
        assert run.data.params["env..HOME"]
        history = client.get_metric_history(run.info.run_id, "m")
        assert [(m.value, m.step) for m in history] == [(1.5, 2)]
        assert "__time_for__lambda_" in run.data.metrics  # <lambda>, made a key
        paths = artifact_paths(client, run.info.run_id)
        assert {"files/report.txt", "report.txt"} <= paths
        assert "files/credentials.yml" not in paths

    def test_without_any_run_nothing_is_created_and_a_warning_says_so(
        self, client: MlflowClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        pipelinex_mlflow.mlflow_log_params({"p": "v"})
        pipelinex_mlflow.mlflow_log_metrics({"m": 1.0})
        assert "found no MLflow run to log to" in caplog.text
        assert client.search_experiments() == [] or all(
            not client.search_runs([e.experiment_id])
            for e in client.search_experiments()
        )

    def test_log_metrics_names_ints_a_float_cannot_hold(
        self, client: MlflowClient, tracking_uri: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        pipelinex_mlflow.mlflow_start_run(uri=tracking_uri, experiment_name=EXPERIMENT)
        pipelinex_mlflow.mlflow_log_metrics(
            {"ok": 2, "rounded": 2**80 + 1, "too_large": 10**400}
        )
        pipelinex_mlflow.mlflow_end_run()
        (run,) = _runs(client)
        assert run.data.metrics == {"ok": 2.0, "rounded": float(2**80)}
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert any("'too_large'" in w and "did not log" in w for w in warnings)
        assert any("rounds 'rounded'" in w for w in warnings)

    def test_start_run_masks_secret_tags_and_is_off_when_tracking_is(
        self, client: MlflowClient, tracking_uri: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        pipelinex_mlflow.mlflow_start_run(
            uri=tracking_uri,
            experiment_name=EXPERIMENT,
            tags={"api_token": "tok-1", "db": "postgresql://u:pw-tag@h/db"},
        )
        pipelinex_mlflow.mlflow_log_metrics({"ok": 1.0, "huge": float("inf")})
        pipelinex_mlflow.mlflow_end_run()
        (run,) = _runs(client)
        assert run.data.tags["api_token"] == "*****"  # noqa: S105 - the mask
        assert run.data.tags["db"] == "postgresql://u:*****@h/db"
        assert run.data.metrics == {"ok": 1.0}  # infinity named in a warning, not sent

        monkeypatch.setenv("PIPELINEX_MLFLOW_DISABLE", "1")
        pipelinex_mlflow.mlflow_start_run(uri=tracking_uri, experiment_name="never")
        pipelinex_mlflow.mlflow_log_params({"p": 1})
        pipelinex_mlflow.mlflow_end_run()
        assert client.get_experiment_by_name("never") is None

    def test_a_pipeline_run_inside_a_started_run_leaves_it_current(
        self, client: MlflowClient, tracking_uri: str
    ) -> None:
        pipelinex_mlflow.mlflow_start_run(uri=tracking_uri, experiment_name="outer")
        started = current_run()
        hook = MLflowBasicLoggerHook(uri=tracking_uri, experiment_name=EXPERIMENT)
        run_with_hooks(_pipeline(), _catalog(), (hook,))
        assert current_run() == started
        pipelinex_mlflow.mlflow_log_params({"after": "pipeline"})
        pipelinex_mlflow.mlflow_end_run()
        (outer,) = _runs(client, "outer")
        assert outer.data.params == {"after": "pipeline"}
        assert outer.info.status == "FINISHED"

    def test_start_run_needs_a_run_or_an_experiment(self) -> None:
        with pytest.raises(ValueError, match=r"run_id .* or experiment_name"):
            pipelinex_mlflow.mlflow_start_run()

    def test_small_helpers(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("PX_ONE", "1")
        assert pipelinex_mlflow.env_vars_to_dict(["PX_ONE"], prefix="env..") == {
            "env..PX_ONE": "1"
        }
        assert pipelinex_mlflow.env_vars_to_dict("__ALL__")["PX_ONE"] == "1"
        pipelinex_mlflow.dump_dict(tmp_path / "d.json", {"a": 1})
        assert pipelinex_mlflow.load_dict(tmp_path / "d.json") == {"a": 1}
        assert len(str(pipelinex_mlflow.get_timestamp_int())) == 14
        assert pipelinex_mlflow.get_kedro_runner() is None
        assert pipelinex_mlflow.running_parallel() is False

    def test_datasets_logger_logs_persisted_plain_values_too(
        self, client: MlflowClient, tracking_uri: str, tmp_path: Path
    ) -> None:
        hooks = (
            MLflowBasicLoggerHook(uri=tracking_uri, experiment_name=EXPERIMENT),
            MLflowDataSetsLoggerHook(),
        )
        catalog = _catalog(score=JSONDataset(filepath=str(tmp_path / "score.json")))
        run_with_hooks(_pipeline(), catalog, hooks)
        (run,) = _runs(client)
        assert run.data.metrics["score"] == 0.5  # a persisted input, logged too
        assert run.data.metrics["doubled"] == 1.0
        assert run.data.metrics["summary.score"] == 0.5


class TestTrackingOff:
    @pytest.fixture(params=["argument", "environment"])
    def off_hook(
        self,
        request: pytest.FixtureRequest,
        monkeypatch: pytest.MonkeyPatch,
        tracking_uri: str,
    ) -> MLflowBasicLoggerHook:
        if request.param == "environment":
            monkeypatch.setenv("PIPELINEX_MLFLOW_DISABLE", "1")
            return MLflowBasicLoggerHook(uri=tracking_uri, experiment_name=EXPERIMENT)
        return MLflowBasicLoggerHook(
            uri=tracking_uri, experiment_name=EXPERIMENT, enable_mlflow=False
        )

    def test_the_pipeline_runs_as_if_tracking_did_not_exist(
        self,
        off_hook: MLflowBasicLoggerHook,
        client: MlflowClient,
        tmp_path: Path,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        report_file = tmp_path / "summary.json"
        catalog = _catalog(
            score=MLflowDataSet(dataset="m"),
            doubled=MLflowDataSet(dataset="p", caching=False),
            summary=MLflowDataSet(dataset="json", filepath=str(report_file)),
        )
        pipeline = _pipeline() + Pipeline(
            [
                node(
                    lambda d, s: (d, s),
                    ["doubled", "summary"],
                    ["d2", "s2"],
                    name="read",
                )
            ]
        )
        hooks = (
            off_hook,
            MLflowCatalogLoggerHook(auto=True),
            MLflowTimeLoggerHook(),
            MLflowEnvVarsLoggerHook(param_env_vars=["HOME"]),
            MLflowArtifactsLoggerHook(filepaths_before_pipeline_run=["."]),
        )
        with caplog.at_level(logging.INFO):
            result = run_with_hooks(pipeline, catalog, hooks)
        assert result["d2"].load() == 1.0
        assert result["s2"].load() == {"score": 0.5}
        assert report_file.exists()  # file codes still write their files
        assert "MLflow tracking is off for this Kedro run" in caplog.text
        assert "found no MLflow run" not in caplog.text
        assert "has no MLflow run" not in caplog.text
        assert _runs(client) == []
        assert current_run() is None

    def test_tracking_comes_back_for_the_next_run(
        self, client: MlflowClient, tracking_uri: str
    ) -> None:
        off = MLflowBasicLoggerHook(
            uri=tracking_uri, experiment_name=EXPERIMENT, enable_mlflow=False
        )
        run_with_hooks(_pipeline(), _catalog(), (off,))
        on = MLflowBasicLoggerHook(uri=tracking_uri, experiment_name=EXPERIMENT)
        run_with_hooks(_pipeline(), _catalog(score=MLflowDataSet(dataset="m")), (on,))
        (run,) = _runs(client)
        assert run.data.metrics["score"] == 0.5


@pytest.fixture
def fluent(tracking_uri: str) -> Iterator[Any]:
    """MLflow's fluent API pointed at the test's store, reset afterwards."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    try:
        yield mlflow
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]


class TestCallersRun:
    def test_the_pipeline_logs_into_the_callers_run_and_leaves_it_open(
        self, fluent: Any, client: MlflowClient, tracking_uri: str
    ) -> None:
        """The Kedro docs' pattern: ``with mlflow.start_run(): session.run()``."""
        experiment_id = client.create_experiment("callers")
        hook = MLflowBasicLoggerHook(uri=tracking_uri, experiment_name=EXPERIMENT)
        with fluent.start_run(experiment_id=experiment_id) as outer:
            run_with_hooks(
                _pipeline(), _catalog(score=MLflowDataSet(dataset="m")), (hook,)
            )
            still = client.get_run(outer.info.run_id)
            assert still.info.status == "RUNNING"
        logged = client.get_run(outer.info.run_id)
        assert logged.info.status == "FINISHED"
        assert logged.data.metrics["score"] == 0.5
        assert logged.data.params["lr"] == "0.1"
        assert "kedro.command" in logged.data.tags
        assert _runs(client) == []  # no run of its own

    def test_nested_makes_a_child_run_instead(
        self, fluent: Any, client: MlflowClient, tracking_uri: str
    ) -> None:
        hook = MLflowBasicLoggerHook(
            uri=tracking_uri, experiment_name=EXPERIMENT, nested=True
        )
        with fluent.start_run(experiment_id=client.create_experiment("outer")) as outer:
            run_with_hooks(_pipeline(), _catalog(), (hook,))
        (child,) = _runs(client)
        assert child.data.tags["mlflow.parentRunId"] == outer.info.run_id

    def test_a_dataset_saved_in_the_callers_run(
        self, fluent: Any, client: MlflowClient
    ) -> None:
        with fluent.start_run(experiment_id=client.create_experiment("saves")) as outer:
            MLflowDataSet(dataset="m", dataset_name="accuracy").save(0.75)
            MLflowDataSet(dataset="json", dataset_name="report").save({"a": 1})
            assert MLflowDataSet(dataset="m", dataset_name="accuracy").load() == 0.75
        logged = client.get_run(outer.info.run_id)
        assert logged.data.metrics["accuracy"] == 0.75
        assert "report.json" in artifact_paths(client, outer.info.run_id)


class TestOldRunParamNames:
    def test_extra_params_and_pipeline_name_are_logged_with_one_warning(
        self, client: MlflowClient, tracking_uri: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        hook = MLflowBasicLoggerHook(
            uri=tracking_uri,
            experiment_name=EXPERIMENT,
            logging_kedro_run_params=["extra_params", "pipeline_name"],
        )
        run_with_hooks(_pipeline(), _catalog(), (hook,), runtime_params={"lr": 0.2})
        (run,) = _runs(client)
        assert run.data.params["___extra_params.lr"] == "0.2"
        assert run.data.params["___pipeline_name"] == "__default__"
        assert "'extra_params' is Kedro 0.17's name" in caplog.text
        assert "'pipeline_name' is Kedro 0.17's name" in caplog.text


class TestFileStoreHistory:
    def test_the_error_gives_the_command_that_brings_mlruns_into_sqlite(
        self, tmp_path: Path, client: MlflowClient
    ) -> None:
        """PipelineX users' ./mlruns: migrated by the quoted command, then used."""
        project = tmp_path / "project"
        project.mkdir()
        _write_file_store(project / "mlruns")
        with pytest.raises(TrackingError, match="mlflow migrate-filestore") as raised:
            normalize_tracking_uri("./mlruns", project)
        command = re.search(r"`(mlflow migrate-filestore [^`]+)`", str(raised.value))
        assert command is not None
        subprocess.run(
            [sys.executable, "-m", *command.group(1).split()],
            check=True,
            capture_output=True,
        )
        target = re.search(r"uri='([^']+)'", str(raised.value))
        assert target is not None
        hook = MLflowBasicLoggerHook(
            uri=target.group(1), experiment_name="experiment_001"
        )
        run_with_hooks(_pipeline(), _catalog(), (hook,), project_path=str(project))
        from mlflow.tracking import MlflowClient

        migrated = MlflowClient(tracking_uri=target.group(1))
        names = {r.info.run_name for r in _runs(migrated, "experiment_001")}
        assert "from-pipelinex" in names
        assert len(names) == 2


def _write_file_store(folder: Path) -> None:
    """An ``mlruns`` folder as PipelineX's MLflow 1.x/2.x wrote it: one run."""
    script = f"""
import os, time
os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
from mlflow.entities import Metric, Param
from mlflow.store.tracking.file_store import FileStore
store = FileStore({str(folder)!r})
experiment_id = store.create_experiment("experiment_001")
now = int(time.time() * 1000)
run = store.create_run(experiment_id, "me", now, [], "from-pipelinex")
store.log_batch(run.info.run_id, [Metric("score", 0.9, now, 0)], [Param("lr", "0.1")], [])
"""
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
