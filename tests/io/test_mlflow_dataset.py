"""MLflowDataSet: every code, round trips through real MLflow, and every bad input."""

from __future__ import annotations

import logging
import math
import sys
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest
from kedro.io import DataCatalog, DatasetError, MemoryDataset
from kedro.pipeline import Pipeline, node
from kedro.runner import ParallelRunner, SequentialRunner, ThreadRunner

from pipelinex_mlflow import MLflowBasicLoggerHook, MLflowDataSet, MLflowDataset
from pipelinex_mlflow.tracking import RunRef, drain_run, set_current_run
from tests._kedro import run_with_hooks

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient


def _new_run(client: MlflowClient, tracking_uri: str, experiment: str = "ds") -> RunRef:
    found = client.get_experiment_by_name(experiment)
    experiment_id = (
        found.experiment_id if found else client.create_experiment(experiment)
    )
    return RunRef(tracking_uri, client.create_run(experiment_id).info.run_id)


@pytest.fixture
def saving_run(client: MlflowClient, tracking_uri: str) -> RunRef:
    """A run made current, as MLflowBasicLoggerHook does."""
    run = _new_run(client, tracking_uri)
    set_current_run(run)
    return run


def _round_trip(
    client: MlflowClient,
    tracking_uri: str,
    saving_run: RunRef,
    data: Any,
    **kwargs: Any,
) -> Any:
    """Save in one run, then load it back from another run through loading_run_id."""
    MLflowDataSet(dataset_name="item", **kwargs).save(data)
    set_current_run(_new_run(client, tracking_uri))
    reader = MLflowDataSet(
        dataset_name="item",
        loading_run_id=saving_run.run_id,
        loading_tracking_uri=tracking_uri,
        **kwargs,
    )
    return reader.load()


class TestParamCode:
    def test_string_round_trip(
        self, client: MlflowClient, tracking_uri: str, saving_run: RunRef
    ) -> None:
        assert _round_trip(client, tracking_uri, saving_run, "rf", dataset="p") == "rf"
        assert client.get_run(saving_run.run_id).data.params == {"item": "rf"}

    def test_dict_is_flattened_and_comes_back_as_strings(
        self, client: MlflowClient, tracking_uri: str, saving_run: RunRef
    ) -> None:
        data = {"depth": 3, "opt": {"name": "adam", "lr": 0.1}}
        loaded = _round_trip(client, tracking_uri, saving_run, data, dataset="p")
        assert loaded == {"depth": "3", "opt": {"name": "adam", "lr": "0.1"}}
        params = client.get_run(saving_run.run_id).data.params
        assert params == {
            "item.depth": "3",
            "item.opt.name": "adam",
            "item.opt.lr": "0.1",
        }

    def test_custom_separator(self, client: MlflowClient, saving_run: RunRef) -> None:
        MLflowDataSet(dataset="p", dataset_name="cfg", flatten_separator="/").save(
            {"a": {"b": 1}}
        )
        drain_run(saving_run)  # saves are sent in the background
        assert client.get_run(saving_run.run_id).data.params == {"cfg/a/b": "1"}

    def test_long_value_policy(
        self, client: MlflowClient, outside_kedro: RunRef
    ) -> None:
        ds = MLflowDataSet(
            dataset="p",
            dataset_name="long",
            max_param_length=5,
            long_param_policy="fail",
        )
        with pytest.raises(DatasetError, match="more than max_param_length=5"):
            ds.save("x" * 6)
        assert client.get_run(outside_kedro.run_id).data.params == {}


class TestMetricCode:
    def test_number(
        self, client: MlflowClient, tracking_uri: str, saving_run: RunRef
    ) -> None:
        assert _round_trip(client, tracking_uri, saving_run, 3, dataset="m") == 3.0
        assert client.get_run(saving_run.run_id).data.metrics == {"item": 3.0}

    def test_sequence_is_a_history(
        self, client: MlflowClient, tracking_uri: str, saving_run: RunRef
    ) -> None:
        loaded = _round_trip(
            client, tracking_uri, saving_run, [0.5, 0.25, 0.125], dataset="m"
        )
        assert loaded == [0.5, 0.25, 0.125]
        history = client.get_metric_history(saving_run.run_id, "item")
        assert [(m.step, m.value) for m in history] == [(0, 0.5), (1, 0.25), (2, 0.125)]

    def test_single_item_history_stays_a_list(
        self, client: MlflowClient, tracking_uri: str, saving_run: RunRef
    ) -> None:
        assert _round_trip(client, tracking_uri, saving_run, [7], dataset="m") == [7.0]

    def test_dict_gives_one_metric_per_key(
        self, client: MlflowClient, tracking_uri: str, saving_run: RunRef
    ) -> None:
        import numpy as np

        data = {"acc": np.float32(0.5), "loss": [2, 1], "f1": {"macro": 0.25}}
        loaded = _round_trip(client, tracking_uri, saving_run, data, dataset="m")
        assert loaded == {"acc": 0.5, "loss": [2.0, 1.0], "f1": {"macro": 0.25}}
        assert set(client.get_run(saving_run.run_id).data.metrics) == {
            "item.acc",
            "item.loss",
            "item.f1.macro",
        }

    def test_a_step_keyed_dict_in_a_kedro_run_is_flattened_and_warned_per_entry(
        self,
        client: MlflowClient,
        tracking_uri: str,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """kedro-mlflow's ``{step: value}`` history: one metric per key, said once."""
        catalog = DataCatalog(
            {
                "x": MLflowDataSet(dataset="m"),
                "y": MLflowDataSet(dataset="a"),
                "named": MLflowDataSet(dataset="m"),
            }
        )
        pipeline = Pipeline(
            [
                node(lambda: {0: 0.9, 5: 0.7}, None, "x", name="steps_m"),
                node(lambda: {1: 0.5, 2: "late"}, None, "y", name="steps_a"),
                node(lambda: {"0": 1.0}, None, "named", name="text_keys"),
            ]
        )
        hook = MLflowBasicLoggerHook(uri=tracking_uri, experiment_name="steps")
        with caplog.at_level(logging.WARNING):
            run_with_hooks(pipeline, catalog, (hook,))
        experiment = client.get_experiment_by_name("steps")
        assert experiment is not None
        (run,) = client.search_runs([experiment.experiment_id])
        assert run.info.status == "FINISHED"
        ours = {k: v for k, v in run.data.metrics.items() if k[0] in "xyn"}
        assert ours == {"x.0": 0.9, "x.5": 0.7, "y.1": 0.5, "named.0": 1.0}
        assert run.data.params["y.2"] == "late"
        warned = sorted(
            r.getMessage()
            for r in caplog.records
            if "keys are all ints" in r.getMessage()
        )
        assert len(warned) == 2, warned
        assert warned[0].startswith("MLflowDataSet 'x' (dataset='m')")
        assert "one MLflow key per dict key ('x.0', 'x.5')" in warned[0]
        assert "save a list of the values with dataset='m'" in warned[0]
        assert "metric 'x' at steps 0..n-1" in warned[0]
        assert warned[1].startswith("MLflowDataSet 'y' (dataset='a')")
        assert "('y.1', 'y.2')" in warned[1]

    def test_a_step_keyed_dict_is_warned_once_per_entry(
        self,
        client: MlflowClient,
        outside_kedro: RunRef,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        entry = MLflowDataSet(dataset="m", dataset_name="loss")
        with caplog.at_level(logging.WARNING):
            entry.save({0: 3.0, 1: 2.0})
            entry.save({2: [1.0, 0.5]})
        assert client.get_run(outside_kedro.run_id).data.metrics == {
            "loss.0": 3.0,
            "loss.1": 2.0,
            "loss.2": 0.5,
        }
        warned = [r for r in caplog.records if "keys are all ints" in r.getMessage()]
        assert len(warned) == 1

    @pytest.mark.parametrize("bad", ["high", {"a": "x"}, [1, "b"], [], True])
    def test_non_numbers_are_refused(
        self, client: MlflowClient, outside_kedro: RunRef, bad: Any
    ) -> None:
        ds = MLflowDataSet(dataset="m", dataset_name="bad")
        with pytest.raises(
            DatasetError, match="MLflowDataSet\\(dataset='m'\\) can log numbers"
        ):
            ds.save(bad)
        assert client.get_run(outside_kedro.run_id).data.metrics == {}

    def test_non_number_message_names_the_fix(self, outside_kedro: RunRef) -> None:
        with pytest.raises(DatasetError, match=r"'bad' is str 'high'. Use dataset='p'"):
            MLflowDataSet(dataset="m", dataset_name="bad").save("high")


class TestAutoCode:
    def test_dict_comes_back_as_saved(
        self, client: MlflowClient, tracking_uri: str, saving_run: RunRef
    ) -> None:
        data = {
            "lr": 0.1,
            "epochs": 10,
            "name": "rf",
            "layers": [64, 32],
            "shape": (2, 3),
            "classes": {"cat", "dog"},
            "flag": True,
            "nothing": None,
            "nested": {"depth": 3, "kind": "gini"},
        }
        loaded = _round_trip(client, tracking_uri, saving_run, data, dataset="a")
        assert loaded == {
            **data,
            "epochs": 10.0,
            "nested": {"depth": 3.0, "kind": "gini"},
        }
        run = client.get_run(saving_run.run_id).data
        assert set(run.metrics) == {"item.lr", "item.epochs", "item.nested.depth"}
        assert run.params["item.name"] == "rf"
        assert run.params["item.classes"] == "{'cat', 'dog'}"

    @pytest.mark.parametrize(
        ("value", "kind"), [(2.5, "metrics"), ("txt", "params"), ([1, 2], "params")]
    )
    def test_scalars_by_type(
        self,
        client: MlflowClient,
        tracking_uri: str,
        saving_run: RunRef,
        value: Any,
        kind: str,
    ) -> None:
        assert (
            _round_trip(client, tracking_uri, saving_run, value, dataset="a") == value
        )
        assert "item" in getattr(client.get_run(saving_run.run_id).data, kind)

    def test_unsupported_type_suggests_a_file_code(self, outside_kedro: RunRef) -> None:
        with pytest.raises(DatasetError, match="Save it as a file instead"):
            MLflowDataSet(dataset="a", dataset_name="df").save(pd.DataFrame({"a": [1]}))


def _image() -> Any:
    from PIL import Image

    return Image.new("RGB", (4, 3), color=(255, 0, 0))


def _plotly_figure() -> Any:
    import plotly.graph_objects as go

    return go.Figure(go.Bar(x=["a"], y=[1]))


def _matplotlib_figure() -> Any:
    import matplotlib as mpl

    mpl.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure()
    figure.add_subplot().plot([1, 2], [3, 4])
    return figure


FRAME = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})


class TestFileCodes:
    @pytest.mark.parametrize(
        ("code", "data", "artifact"),
        [
            ("json", {"a": [1, 2]}, "item.json"),
            ("csv", FRAME, "item.csv"),
            ("xls", FRAME, "item.xlsx"),
            ("xlsx", FRAME, "item.xlsx"),
            ("parquet", FRAME, "item.parquet"),
            ("feather", FRAME, "item.feather"),
            ("pkl", {"model": [1, 2, 3]}, "item.pkl"),
            ("pickle", (1, "two"), "item.pkl"),
            ("txt", "hello", "item.txt"),
            ("md", "# Title", "item.md"),
            ("yml", {"a": 1}, "item.yml"),
            ("yaml", {"b": [1]}, "item.yaml"),
        ],
    )
    def test_round_trip(
        self,
        client: MlflowClient,
        tracking_uri: str,
        saving_run: RunRef,
        code: str,
        data: Any,
        artifact: str,
    ) -> None:
        loaded = _round_trip(client, tracking_uri, saving_run, data, dataset=code)
        if isinstance(data, pd.DataFrame):
            pd.testing.assert_frame_equal(loaded, data)
        else:
            assert loaded == data
        assert [a.path for a in client.list_artifacts(saving_run.run_id)] == [artifact]

    @pytest.mark.parametrize(
        ("code", "suffix"),
        [("png", "png"), ("img", "png"), ("jpg", "jpg"), ("jpeg", "jpeg")],
    )
    def test_images(
        self,
        client: MlflowClient,
        tracking_uri: str,
        saving_run: RunRef,
        code: str,
        suffix: str,
    ) -> None:
        loaded = _round_trip(client, tracking_uri, saving_run, _image(), dataset=code)
        assert loaded.size == (4, 3)
        assert [a.path for a in client.list_artifacts(saving_run.run_id)] == [
            f"item.{suffix}"
        ]

    def test_matplotlib_figure_as_png(
        self, client: MlflowClient, tracking_uri: str, saving_run: RunRef
    ) -> None:
        loaded = _round_trip(
            client, tracking_uri, saving_run, _matplotlib_figure(), dataset="png"
        )
        assert loaded.size[0] > 100

    def test_matplotlib_figure_as_svg(
        self, client: MlflowClient, tracking_uri: str, saving_run: RunRef
    ) -> None:
        loaded = _round_trip(
            client, tracking_uri, saving_run, _matplotlib_figure(), dataset="svg"
        )
        assert "<svg" in loaded

    def test_matplotlib_figure_as_pdf_is_write_only(
        self, client: MlflowClient, saving_run: RunRef
    ) -> None:
        ds = MLflowDataSet(dataset="pdf", dataset_name="chart", caching=False)
        ds.save(_matplotlib_figure())
        drain_run(saving_run)  # saves are sent in the background
        (artifact,) = client.list_artifacts(saving_run.run_id)
        assert artifact.path == "chart.pdf"
        assert artifact.file_size > 1000
        with pytest.raises(DatasetError, match="Loading not supported"):
            ds.load()

    def test_plotly_html_renders_offline(
        self, client: MlflowClient, tracking_uri: str, saving_run: RunRef
    ) -> None:
        loaded = _round_trip(
            client, tracking_uri, saving_run, _plotly_figure(), dataset="html"
        )
        assert "Plotly.newPlot" in loaded
        assert '<script src="https://cdn.plot.ly' not in loaded
        assert len(loaded) > 1_000_000, "plotly.js must be inlined"

    def test_artifact_path_and_user_filepath(
        self,
        client: MlflowClient,
        tracking_uri: str,
        saving_run: RunRef,
        tmp_path: Path,
    ) -> None:
        local = tmp_path / "out" / "scores.csv"
        ds = MLflowDataSet(dataset="csv", filepath=str(local), artifact_path="tables/")
        ds.save(FRAME)
        assert local.exists()
        drain_run(saving_run)  # saves are sent in the background
        assert [a.path for a in client.list_artifacts(saving_run.run_id, "tables")] == [
            "tables/scores.csv"
        ]

    def test_loading_never_overwrites_the_users_file(
        self,
        client: MlflowClient,
        tracking_uri: str,
        saving_run: RunRef,
        tmp_path: Path,
    ) -> None:
        MLflowDataSet(dataset="txt", dataset_name="note").save("from MLflow")
        local = tmp_path / "note.txt"
        local.write_text("mine")
        set_current_run(_new_run(client, tracking_uri))
        reader = MLflowDataSet(
            dataset="txt", filepath=str(local), loading_run_id=saving_run.run_id
        )
        assert reader.load() == "from MLflow"
        assert local.read_text() == "mine"
        # Without loading_run_id the user's own file is what they asked for.
        assert MLflowDataSet(dataset="txt", filepath=str(local)).load() == "mine"

    def test_default_file_is_per_run_never_stale(
        self, client: MlflowClient, tracking_uri: str, saving_run: RunRef
    ) -> None:
        ds = MLflowDataSet(dataset="txt", dataset_name="note", caching=False)
        ds.save("first run")
        assert ds.load() == "first run"
        second = _new_run(client, tracking_uri)
        set_current_run(second)
        with pytest.raises(DatasetError, match=r"has no artifact 'note\.txt'"):
            ds.load()
        ds.save("second run")
        assert ds.load() == "second run"

    def test_missing_optional_dependency(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setitem(sys.modules, "openpyxl", None)
        with pytest.raises(
            DatasetError, match=r'pip install "pipelinex-mlflow\[xls\]"'
        ):
            MLflowDataSet(dataset="xls")


class TestNestedDatasets:
    def test_config_dict(
        self,
        client: MlflowClient,
        tracking_uri: str,
        saving_run: RunRef,
        tmp_path: Path,
    ) -> None:
        config = {"type": "pandas.CSVDataset", "filepath": str(tmp_path / "f.csv")}
        loaded = _round_trip(client, tracking_uri, saving_run, FRAME, dataset=config)
        pd.testing.assert_frame_equal(loaded, FRAME)
        assert [a.path for a in client.list_artifacts(saving_run.run_id)] == ["f.csv"]

    def test_instance(
        self, client: MlflowClient, saving_run: RunRef, tmp_path: Path
    ) -> None:
        from kedro_datasets.json import JSONDataset

        MLflowDataSet(dataset=JSONDataset(filepath=str(tmp_path / "x.json"))).save(
            {"k": 1}
        )
        drain_run(saving_run)  # saves are sent in the background
        assert [a.path for a in client.list_artifacts(saving_run.run_id)] == ["x.json"]

    def test_versioned(
        self,
        client: MlflowClient,
        tracking_uri: str,
        saving_run: RunRef,
        tmp_path: Path,
    ) -> None:
        from kedro.io import Version
        from kedro_datasets.json import JSONDataset

        inner = JSONDataset(
            filepath=str(tmp_path / "v.json"), version=Version(None, None)
        )
        MLflowDataSet(dataset=inner, dataset_name="v").save({"version": 1})
        drain_run(saving_run)  # saves are sent in the background
        assert [a.path for a in client.list_artifacts(saving_run.run_id)] == ["v.json"]
        set_current_run(_new_run(client, tracking_uri))
        again = JSONDataset(
            filepath=str(tmp_path / "v.json"), version=Version(None, None)
        )
        reader = MLflowDataSet(dataset=again, loading_run_id=saving_run.run_id)
        assert reader.load() == {"version": 1}

    def test_partitioned_folder(
        self,
        client: MlflowClient,
        tracking_uri: str,
        saving_run: RunRef,
        tmp_path: Path,
    ) -> None:
        config = {
            "type": "partitions.PartitionedDataset",
            "path": str(tmp_path / "parts"),
            "dataset": "text.TextDataset",
            "filename_suffix": ".txt",
        }
        MLflowDataSet(dataset=config, artifact_path="raw").save({"a": "A", "b": "B"})
        drain_run(saving_run)  # saves are sent in the background
        listed = [a.path for a in client.list_artifacts(saving_run.run_id, "raw/parts")]
        assert listed == ["raw/parts/a.txt", "raw/parts/b.txt"]
        set_current_run(_new_run(client, tracking_uri))
        reader = MLflowDataSet(
            dataset=config, artifact_path="raw", loading_run_id=saving_run.run_id
        )
        (tmp_path / "parts" / "a.txt").write_text("changed locally")
        loaded = reader.load()
        assert {k: v() for k, v in loaded.items()} == {"a": "A", "b": "B"}


class TestRuns:
    def test_none_code_never_touches_mlflow(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Any MLflow call would fail: no run, and a tracking URI nobody answers.
        monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
        ds = MLflowDataSet()
        ds.save({"x": 1})
        assert ds.load() == {"x": 1}
        assert ds.exists()
        ds.release()
        assert not ds.exists()

    @pytest.mark.parametrize("code", ["p", "m", "a", "json"])
    def test_no_run_means_a_clear_error_and_no_orphan(
        self, client: MlflowClient, code: str
    ) -> None:
        ds = MLflowDataSet(dataset=code, dataset_name="x")
        with pytest.raises(
            DatasetError,
            match=r"has no MLflow run to save to\. Register MLflowBasicLoggerHook",
        ):
            ds.save({"a": 1} if code != "m" else 1)
        experiments = [e.experiment_id for e in client.search_experiments()]
        assert client.search_runs(experiments) == []

    def test_unnamed_dataset_says_how_to_name_it(self, outside_kedro: RunRef) -> None:
        with pytest.raises(DatasetError, match="no name to log under"):
            MLflowDataSet(dataset="m").save(1)

    def test_saving_run_id_writes_there_and_leaves_it_as_it_was(
        self, client: MlflowClient, tracking_uri: str, saving_run: RunRef
    ) -> None:
        target = _new_run(client, tracking_uri)
        client.set_terminated(target.run_id)
        MLflowDataSet(
            dataset="m", dataset_name="late", saving_run_id=target.run_id
        ).save(1)
        drain_run(target)  # saves are sent in the background
        assert client.get_run(target.run_id).data.metrics == {"late": 1.0}
        assert client.get_run(target.run_id).info.status == "FINISHED"
        assert client.get_run(saving_run.run_id).data.metrics == {}

    def test_saving_experiment_name_starts_and_ends_its_own_run(
        self, client: MlflowClient, saving_run: RunRef
    ) -> None:
        MLflowDataSet(
            dataset="p", dataset_name="side", saving_experiment_name="side_exp"
        ).save("v")
        experiment = client.get_experiment_by_name("side_exp")
        assert experiment is not None
        (run,) = client.search_runs([experiment.experiment_id])
        assert run.info.status == "FINISHED"
        assert run.data.params == {"side": "v"}
        assert run.data.tags["pipelinex_mlflow.source_run_id"] == saving_run.run_id

    def test_reads_one_run_while_writing_another(
        self, client: MlflowClient, tracking_uri: str, saving_run: RunRef
    ) -> None:
        MLflowDataSet(dataset="m", dataset_name="best").save(0.9)
        current = _new_run(client, tracking_uri)
        set_current_run(current)
        ds = MLflowDataSet(
            dataset="m", dataset_name="best", loading_run_id=saving_run.run_id
        )
        assert ds.load() == 0.9
        ds.save(0.95)
        drain_run(current)  # saves are sent in the background
        assert client.get_run(current.run_id).data.metrics == {"best": 0.95}
        assert client.get_run(saving_run.run_id).data.metrics == {"best": 0.9}

    def test_loading_from_a_run_without_the_key(
        self, client: MlflowClient, tracking_uri: str, saving_run: RunRef
    ) -> None:
        with pytest.raises(DatasetError, match="has no param or metric 'ghost'"):
            MLflowDataSet(dataset="m", dataset_name="ghost").load()

    def test_loads_values_logged_by_other_tools(
        self, client: MlflowClient, saving_run: RunRef
    ) -> None:
        client.log_param(saving_run.run_id, "legacy", "v1")
        client.log_metric(saving_run.run_id, "curve", 1.0, step=0)
        client.log_metric(saving_run.run_id, "curve", 2.0, step=1)
        assert MLflowDataSet(dataset="p", dataset_name="legacy").load() == "v1"
        assert MLflowDataSet(dataset="m", dataset_name="curve").load() == [1.0, 2.0]

    def test_exists_tells_the_truth(
        self, client: MlflowClient, tracking_uri: str, saving_run: RunRef
    ) -> None:
        metric = MLflowDataSet(dataset="m", dataset_name="acc", caching=False)
        artifact = MLflowDataSet(
            dataset="json", dataset_name="cfg", caching=False, file_caching=False
        )
        assert not metric.exists()
        assert not artifact.exists()
        metric.save(1)
        artifact.save({"a": 1})
        assert metric.exists()
        assert artifact.exists()
        set_current_run(_new_run(client, tracking_uri))
        assert not MLflowDataSet(dataset="m", dataset_name="acc").exists()
        assert MLflowDataSet(
            dataset="m", dataset_name="acc", loading_run_id=saving_run.run_id
        ).exists()
        assert MLflowDataSet(
            dataset="json", dataset_name="cfg", loading_run_id=saving_run.run_id
        ).exists()

    def test_exists_without_any_run_is_false(self) -> None:
        assert not MLflowDataSet(dataset="m", dataset_name="x").exists()

    def test_in_memory_copy_is_per_run(
        self, client: MlflowClient, tracking_uri: str, saving_run: RunRef
    ) -> None:
        ds = MLflowDataSet(dataset="p", dataset_name="word")
        data = {"k": [1]}
        ds.save(data)
        loaded = ds.load()
        assert loaded == data
        assert loaded is not data, "the default copy mode must protect the saved value"
        set_current_run(_new_run(client, tracking_uri))
        with pytest.raises(DatasetError, match="has no param or metric 'word'"):
            ds.load()


class TestConfiguration:
    def test_unknown_code_lists_the_allowed_ones(self) -> None:
        with pytest.raises(
            DatasetError,
            match=r"Unknown MLflowDataSet dataset code 'xml'. Must be one of: a, csv, feather",
        ):
            MLflowDataSet(dataset="xml")

    def test_unknown_code_fails_when_the_catalog_is_built(self) -> None:
        catalog = DataCatalog.from_config(
            {"bad": {"type": "pipelinex_mlflow.MLflowDataSet", "dataset": "xml"}}
        )
        with pytest.raises(
            DatasetError, match="Unknown MLflowDataSet dataset code 'xml'"
        ):
            catalog.get("bad")

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"dataset": "m", "filepath": "x.csv"}, "'filepath' does not apply"),
            (
                {"dataset": "m", "saving_tracking_uri": "sqlite:///x.db"},
                "needs 'saving_run_id'",
            ),
            ({"dataset": "m", "copy_mode": "clone"}, "Invalid copy_mode 'clone'"),
            (
                {"dataset": "p", "long_param_policy": "drop"},
                "Invalid long_param_policy",
            ),
            ({"dataset": 3}, "must be a code string, a dict or a Kedro dataset"),
        ],
    )
    def test_contradictory_arguments(self, kwargs: dict[str, Any], match: str) -> None:
        with pytest.raises(DatasetError, match=match):
            MLflowDataSet(**kwargs)

    def test_describe_hides_credentials(self) -> None:
        ds = MLflowDataSet(
            dataset="m",
            dataset_name="acc",
            loading_run_id="r1",
            loading_tracking_uri="https://user:s3cret@mlflow.example.com",
        )
        text = repr(ds)
        assert "s3cret" not in text
        assert "dataset='m'" in text
        assert "name='acc'" in text
        assert "loading_run_id='r1'" in text

    def test_pickles_for_parallel_runner(self, saving_run: RunRef) -> None:
        ds = MLflowDataSet(dataset="json", dataset_name="cfg", metadata={"owner": "me"})
        ds.save({"a": 1})
        clone = ForkingPickler.loads(ForkingPickler.dumps(ds))
        assert clone.name == "cfg"
        assert clone.metadata == {"owner": "me"}
        assert clone._cache is None

    def test_both_spellings_resolve_from_yaml(self) -> None:
        catalog = DataCatalog.from_config(
            {
                "a": {"type": "pipelinex_mlflow.MLflowDataSet", "dataset": "m"},
                "b": {"type": "pipelinex_mlflow.MLflowDataset", "dataset": "m"},
            }
        )
        assert isinstance(catalog.get("a"), MLflowDataset)
        assert isinstance(catalog.get("b"), MLflowDataSet)


def _train(depth: int) -> tuple[dict[str, Any], float, pd.DataFrame, list[float]]:
    return {"depth": depth, "kind": "tree"}, depth / 10, FRAME, [3.0, 2.0]


def _pipeline() -> Pipeline:
    return Pipeline(
        [
            node(
                _train,
                "params:depth",
                ["config", "val_score", "pred_df", "loss"],
                name="train",
            )
        ]
    )


def _yaml_catalog() -> dict[str, Any]:
    return {
        "config": {"type": "pipelinex_mlflow.MLflowDataSet", "dataset": "a"},
        "pred_df": {"type": "pipelinex_mlflow.MLflowDataSet", "dataset": "csv"},
        "loss": {
            "type": "pipelinex_mlflow.MLflowDataset",
            "dataset": "m",
            "dataset_name": "train_loss",
        },
        "{name}_score": {"type": "pipelinex_mlflow.MLflowDataSet", "dataset": "m"},
    }


class TestInPipelines:
    @pytest.mark.parametrize("runner_class", [SequentialRunner, ThreadRunner])
    def test_yaml_catalog_with_factory(
        self, client: MlflowClient, tracking_uri: str, runner_class: type
    ) -> None:
        catalog = DataCatalog.from_config(_yaml_catalog())
        catalog["params:depth"] = MemoryDataset(4)
        hook = MLflowBasicLoggerHook(uri=tracking_uri, experiment_name="pipe")
        run_with_hooks(_pipeline(), catalog, (hook,), runner=runner_class())
        self._assert_landed(client)

    def test_python_catalog_dict(self, client: MlflowClient, tracking_uri: str) -> None:
        catalog_dict = {
            "config": MLflowDataSet(dataset="a"),
            "pred_df": MLflowDataSet(dataset="csv"),
            "loss": MLflowDataSet(dataset="m", dataset_name="train_loss"),
            "val_score": MLflowDataSet(dataset="m"),
            "params:depth": MemoryDataset(4),
        }
        hook = MLflowBasicLoggerHook(uri=tracking_uri, experiment_name="pipe")
        run_with_hooks(_pipeline(), DataCatalog(catalog_dict), (hook,))
        self._assert_landed(client)

    def test_parallel_runner_saves_from_worker_processes(
        self, client: MlflowClient, tracking_uri: str
    ) -> None:
        from kedro.io import SharedMemoryDataCatalog

        catalog = SharedMemoryDataCatalog.from_config(_yaml_catalog())
        catalog["params:depth"] = MemoryDataset(4)
        hook = MLflowBasicLoggerHook(uri=tracking_uri, experiment_name="pipe")
        run_with_hooks(
            _pipeline(), catalog, (hook,), runner=ParallelRunner(max_workers=2)
        )
        self._assert_landed(client)

    @staticmethod
    def _assert_landed(client: MlflowClient) -> None:
        experiment = client.get_experiment_by_name("pipe")
        assert experiment is not None
        (run,) = client.search_runs([experiment.experiment_id])
        assert run.info.status == "FINISHED"
        assert run.data.metrics["val_score"] == 0.4
        assert run.data.metrics["config.depth"] == 4.0
        assert run.data.params["config.kind"] == "tree"
        assert run.data.params["depth"] == "4"
        assert [
            m.value for m in client.get_metric_history(run.info.run_id, "train_loss")
        ] == [3.0, 2.0]
        assert "pred_df.csv" in [a.path for a in client.list_artifacts(run.info.run_id)]


def test_parallel_runner_with_spawned_workers(
    client: MlflowClient, tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spawned workers run no hooks, but find the run through the environment."""
    from kedro.io import SharedMemoryDataCatalog

    monkeypatch.setenv("KEDRO_MP_CONTEXT", "spawn")
    catalog = SharedMemoryDataCatalog.from_config(_yaml_catalog())
    catalog["params:depth"] = MemoryDataset(4)
    hook = MLflowBasicLoggerHook(uri=tracking_uri, experiment_name="pipe")
    run_with_hooks(_pipeline(), catalog, (hook,), runner=ParallelRunner(max_workers=2))
    TestInPipelines._assert_landed(client)


class TestInsideAKedroRun:
    """In a Kedro run a save never fails a node for MLflow's sake (the first rule)."""

    @pytest.mark.parametrize(
        ("kwargs", "data", "message"),
        [
            ({"dataset": "m"}, "high", "'entry' is str 'high'. Use dataset='p'"),
            ({"dataset": "m"}, math.inf, "cannot store"),
            ({"dataset": "a"}, pd.DataFrame({"a": [1]}), "Save it as a file instead"),
            (
                {"dataset": "p", "max_param_length": 5, "long_param_policy": "fail"},
                "x" * 6,
                "more than max_param_length=5",
            ),
            ({"dataset": "model"}, {"a": 1}, "Cannot tell which MLflow model flavor"),
        ],
        ids=["text metric", "infinity", "frame by type", "long param", "no flavor"],
    )
    def test_what_mlflow_cannot_take_is_a_warning_and_stays_in_memory(
        self,
        client: MlflowClient,
        saving_run: RunRef,
        caplog: pytest.LogCaptureFixture,
        kwargs: dict[str, Any],
        data: Any,
        message: str,
    ) -> None:
        entry = MLflowDataSet(dataset_name="entry", **kwargs)
        entry.save(data)
        loaded = entry.load()
        if isinstance(data, pd.DataFrame):
            pd.testing.assert_frame_equal(loaded, data)
        else:
            assert loaded == data
        (warning,) = [
            r.getMessage() for r in caplog.records if "entry" in r.getMessage()
        ]
        assert warning.startswith(
            f"MLflowDataSet could not record 'entry' in MLflow run {saving_run.run_id}"
        )
        assert message in warning
        drain_run(saving_run)
        data_logged = client.get_run(saving_run.run_id).data
        assert (data_logged.params, data_logged.metrics) == ({}, {})

    def test_the_entrys_own_file_fails_as_it_would_untracked(
        self, saving_run: RunRef, tmp_path: Path
    ) -> None:
        """Writing the nested dataset's file is the pipeline's, not tracking's."""
        entry = MLflowDataSet(
            dataset={"type": "pandas.CSVDataset", "filepath": str(tmp_path)},
            dataset_name="table",
        )
        with pytest.raises(DatasetError, match=r"[Dd]irectory"):
            entry.save(pd.DataFrame({"a": [1]}))
