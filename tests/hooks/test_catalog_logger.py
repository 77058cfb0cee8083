"""MLflowCatalogLoggerHook: MLflow datasets in the catalog, and automatic values."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from kedro.framework.hooks import hook_impl
from kedro.io import MemoryDataset
from kedro_datasets.json import JSONDataset

from pipelinex_mlflow import (
    MLflowBasicLoggerHook,
    MLflowCatalogLoggerHook,
    MLflowDataSet,
)
from pipelinex_mlflow.tracking import current_run, get_client
from tests.hooks._pipeline import (
    EXPERIMENT,
    inputs,
    labels_pipeline,
    only_run,
    relabel_pipeline,
    run,
    values_pipeline,
)

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient


class PreLogged:
    """Logs a param into the run before anything else, as an earlier hook might."""

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self) -> None:
        run = current_run()
        assert run is not None
        get_client(run.tracking_uri).log_param(run.run_id, "label", "old")


class TestAutoLogging:
    def test_values_by_kind(
        self, basic_hook: MLflowBasicLoggerHook, client: MlflowClient, tmp_path: Path
    ) -> None:
        """Numbers are metrics, plain values params, big or opaque values skipped."""
        datasets = {
            "x": MemoryDataset(2),
            "saved": JSONDataset(filepath=str(tmp_path / "saved.json")),
        }
        run(
            (basic_hook, MLflowCatalogLoggerHook()),
            datasets=datasets,
            pipe=values_pipeline(),
        )
        data = only_run(client).data
        assert data.metrics == {
            "x": 2.0,
            "np_number": 2.5,
            "config.lr": 0.1,
            "__time_begin": data.metrics["__time_begin"],
            "__time_end": data.metrics["__time_end"],
            "__time": data.metrics["__time"],
        }
        logged_params = {k: v for k, v in data.params.items() if not k.startswith("__")}
        assert logged_params == {
            "flag": "True",
            "labels": "{'a', 'b'}",
            "pair": "('x', 1)",
            "config.maybe": "None",
            "config.on": "True",
        }

    def test_each_name_once_and_parameters_keyed_by_path(
        self, basic_hook: MLflowBasicLoggerHook, client: MlflowClient
    ) -> None:
        """``stats`` feeds three nodes but is logged once; ``params:model`` is ``model``."""
        run((basic_hook, MLflowCatalogLoggerHook()))
        logged = only_run(client)
        assert len(client.get_metric_history(logged.info.run_id, "stats.n")) == 1
        # The basic hook logs the parameters: auto leaves them to it (once, as params).
        assert logged.data.params["model.depth"] == "3"
        assert "model.depth" not in logged.data.metrics
        assert logged.data.params["model.kind"] == "rf"

    def test_without_the_basic_hooks_parameters_auto_logs_them(
        self, tracking_uri: str, client: MlflowClient
    ) -> None:
        """With log_parameters=False nothing else logs them: auto does, by kind."""
        basic = MLflowBasicLoggerHook(
            uri=tracking_uri, experiment_name=EXPERIMENT, log_parameters=False
        )
        run((basic, MLflowCatalogLoggerHook()))
        logged = only_run(client)
        assert logged.data.metrics["model.depth"] == 3.0
        assert logged.data.params["model.kind"] == "rf"

    def test_auto_off(
        self, basic_hook: MLflowBasicLoggerHook, client: MlflowClient
    ) -> None:
        run((basic_hook, MLflowCatalogLoggerHook(auto=False)))
        assert "stats.n" not in only_run(client).data.metrics


class TestParamConflicts:
    def test_two_values_in_one_run_keep_the_first(
        self,
        basic_hook: MLflowBasicLoggerHook,
        client: MlflowClient,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """``params:label`` and the output ``label`` share a key: the second warns."""
        datasets = {"params:label": MemoryDataset("base")}
        run(
            (basic_hook, MLflowCatalogLoggerHook()),
            datasets=datasets,
            pipe=relabel_pipeline(),
        )
        logged = only_run(client)
        assert logged.info.status == "FINISHED"
        assert logged.data.params["label"] == "base"  # the basic hook's, first
        assert logged.data.tags["pipelinex_mlflow.changed_param.label"] == "new-base"
        assert "already holds other values for params ['label']" in caplog.text

    def test_a_param_already_in_the_run_is_not_changed(
        self,
        basic_hook: MLflowBasicLoggerHook,
        client: MlflowClient,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """The new value goes to a tag and the rest of the batch still lands."""
        hooks = (basic_hook, MLflowCatalogLoggerHook(), PreLogged())
        run(hooks, datasets={"x": MemoryDataset("2")}, pipe=labels_pipeline())
        logged = only_run(client)
        assert logged.info.status == "FINISHED"
        assert logged.data.params["label"] == "old"
        assert logged.data.params["x"] == "2"
        assert logged.data.tags["pipelinex_mlflow.changed_param.label"] == "new-2"
        assert "already holds other values for params ['label']" in caplog.text


class TestMlflowCatalog:
    def test_entries_log_in_addition_to_the_catalog(
        self, basic_hook: MLflowBasicLoggerHook, client: MlflowClient, tmp_path: Path
    ) -> None:
        """PipelineX's side channel: the catalog still saves; MLflow gets a copy."""
        squared_file = tmp_path / "squared.json"
        hook = MLflowCatalogLoggerHook(
            mlflow_catalog={
                "combined": "m",
                "stats": "json",
                "doubled": MLflowDataSet(dataset="p"),
                "squared": "pkl",
                "params:factor": "p",
                "params:model": None,  # not logged, not even by auto
            }
        )
        datasets = inputs(
            combined=MemoryDataset(),
            squared=JSONDataset(filepath=str(squared_file)),
        )
        run((basic_hook, hook), datasets=datasets)
        logged = only_run(client)
        assert logged.info.status == "FINISHED"
        assert logged.data.metrics["combined"] == 19.5
        assert logged.data.params["doubled"] == "30"
        assert logged.data.params["factor"] == "10"
        assert "doubled" not in logged.data.metrics
        assert "stats.n" not in logged.data.metrics
        artifacts = {a.path for a in client.list_artifacts(logged.info.run_id)}
        assert {"stats.json", "squared.pkl"} <= artifacts
        # The catalog's own file is written where the catalog says.
        assert squared_file.read_text() == "9"
        assert isinstance(datasets["squared"], JSONDataset)

    def test_disabled_logs_nothing_but_still_names_datasets(
        self, basic_hook: MLflowBasicLoggerHook, client: MlflowClient
    ) -> None:
        hook = MLflowCatalogLoggerHook(
            auto=True, mlflow_catalog={"combined": "m"}, enable_mlflow=False
        )
        score = MLflowDataSet(dataset="m")
        run((basic_hook, hook), datasets=inputs(combined=score))
        logged = only_run(client)
        assert score.name == "combined"
        # Only MLflowDataSet's own save: no auto-logged values, no side channel.
        assert set(logged.data.metrics) - {"__time", "__time_begin", "__time_end"} == {
            "combined"
        }
        assert "stats.n" not in logged.data.metrics

    @pytest.mark.parametrize(
        ("spec", "error", "match"),
        [
            (
                3,
                ValueError,
                r"mlflow_catalog\['x'\] must be an MLflowDataSet dataset code",
            ),
            (
                "nope",
                ValueError,
                r"Invalid mlflow_catalog\['x'\]: Unknown MLflowDataSet dataset code",
            ),
        ],
    )
    def test_bad_entries_fail_at_construction(
        self, spec: Any, error: type[Exception], match: str
    ) -> None:
        with pytest.raises(error, match=match):
            MLflowCatalogLoggerHook(mlflow_catalog={"x": spec})


def test_without_a_run_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    run((MLflowCatalogLoggerHook(),))
    warnings = [
        r for r in caplog.records if "Register MLflowBasicLoggerHook" in r.message
    ]
    assert len(warnings) == 1
