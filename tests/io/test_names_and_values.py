"""Names never leave their folder and values never change on the way (real SQLite store).

Found by the security review: a traversing name wrote outside the temporary
folder, ``inf`` came back as 1.8e308, three keys became one, and a long name was
cut to share its key with another.
"""

from __future__ import annotations

import logging
import math
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from kedro.io import DataCatalog, DatasetError
from kedro.pipeline import Pipeline, node

from pipelinex_mlflow import MLflowDataSet
from pipelinex_mlflow.io.naming import name_mlflow_datasets
from pipelinex_mlflow.tracking import RunLogger, RunRef, drain_run, set_current_run

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient


@pytest.fixture
def run(client: MlflowClient, tracking_uri: str) -> RunRef:
    """A run made current, as MLflowBasicLoggerHook does."""
    experiment_id = client.create_experiment("names")
    current = RunRef(tracking_uri, client.create_run(experiment_id).info.run_id)
    set_current_run(current)
    return current


def _reload(name: str, run: RunRef, **kwargs: Any) -> Any:
    """Load ``name`` back from MLflow, not from any in-memory copy."""
    reader = MLflowDataSet(
        dataset_name=name,
        loading_run_id=run.run_id,
        loading_tracking_uri=run.tracking_uri,
        **kwargs,
    )
    return reader.load()


def _files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


class TestNamesStayInTheirFolder:
    @pytest.mark.parametrize(
        "name",
        ["../../../../tmp/x", "/tmp/x", "a/../../x", "..", "~/x", "C:/x", "a\\..\\x"],
    )
    def test_dataset_name_is_refused_when_the_catalog_is_built(self, name: str) -> None:
        with pytest.raises(DatasetError, match="would leave its folder"):
            MLflowDataSet(dataset="json", dataset_name=name)

    @pytest.mark.parametrize("path", ["../../etc", "/etc", "reports/../../x"])
    def test_artifact_path_is_refused_before_anything_is_written(
        self, path: str
    ) -> None:
        with pytest.raises(
            DatasetError, match=r"artifact_path .* would leave its folder"
        ):
            MLflowDataSet(dataset="json", artifact_path=path)

    @pytest.mark.filterwarnings("ignore:One or more dataset names contain")
    def test_a_catalog_entry_named_to_escape_is_refused_before_a_run_starts(
        self, tmp_path: Path
    ) -> None:
        escaping = f"../../../../{tmp_path.name}/escaped"
        catalog = DataCatalog({escaping: MLflowDataSet(dataset="json")})
        pipeline = Pipeline([node(lambda: {"a": 1}, None, escaping)])
        with pytest.raises(
            DatasetError, match=r"catalog entry .* would leave its folder"
        ):
            name_mlflow_datasets(pipeline, catalog)
        assert not list(tmp_path.rglob("escaped*"))

    def test_a_name_with_folders_stays_inside(
        self, run: RunRef, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # The save gets a temporary folder of its own, and only that is searched:
        # the shared one holds other processes' files, which come and go meanwhile.
        temporary = tmp_path / "tmp"
        temporary.mkdir()
        monkeypatch.setattr(tempfile, "tempdir", str(temporary))
        dataset = MLflowDataSet(dataset="json", dataset_name="reports/summary")
        dataset.save({"a": 1})
        drain_run(run)
        written = {p for p in _files_under(temporary) if p.name.startswith("summary")}
        scratch = dataset._backend.files.scratch.path  # type: ignore[attr-defined]
        assert written
        assert all(p.is_relative_to(scratch) for p in written), written
        assert _reload("reports/summary", run, dataset="json", file_caching=False) == {
            "a": 1
        }


class TestValuesComeBackUnchanged:
    @pytest.mark.parametrize("number", [math.inf, -math.inf])
    def test_infinity_is_refused_not_turned_into_another_number(
        self, outside_kedro: RunRef, client: MlflowClient, number: float
    ) -> None:
        for code, data in (("m", number), ("m", [1.0, number]), ("a", {"x": number})):
            with pytest.raises(DatasetError, match=r"cannot store"):
                MLflowDataSet(dataset=code, dataset_name="loss").save(data)
        drain_run(outside_kedro)
        assert client.get_run(outside_kedro.run_id).data.metrics == {}

    def test_nan_round_trips_with_one_warning(
        self, run: RunRef, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.WARNING):
            MLflowDataSet(dataset="m", dataset_name="nan_loss").save(math.nan)
            MLflowDataSet(dataset="m", dataset_name="nan_loss").save(math.nan)
        drain_run(run)
        assert math.isnan(_reload("nan_loss", run, dataset="m"))
        warned = [r for r in caplog.records if "is NaN" in r.getMessage()]
        assert len(warned) == 1

    def test_values_whose_keys_would_merge_are_kept_apart_and_load_back(
        self, run: RunRef, client: MlflowClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        MLflowDataSet(dataset="a", dataset_name="coll").save(
            {"a|b": 1, "a_b": 2, "a?b": 3}
        )
        MLflowDataSet(dataset="p", dataset_name="cfg").save({"a": {"b": 1}, "a.b": 2})
        drain_run(run)
        data = client.get_run(run.run_id).data
        assert sorted(data.metrics.values()) == [1.0, 2.0, 3.0]
        assert "coll.a_b" in data.metrics
        assert sorted(data.params.values()) == ["1", "2"]
        assert "cfg.a.b" in data.params
        assert _reload("coll", run, dataset="a") == {"a|b": 1, "a_b": 2, "a?b": 3}
        assert _reload("cfg", run, dataset="p") == {"a": {"b": "1"}, "a.b": "2"}
        messages = [r.getMessage() for r in caplog.records]
        assert any("'coll.a|b'" in m and "'coll.a_b'" in m for m in messages)
        assert any(
            "['cfg']['a']['b'] = 1 and ['cfg']['a.b'] = 2" in m for m in messages
        )

    def test_a_value_the_run_holds_under_its_key_is_kept_under_another(
        self, run: RunRef, client: MlflowClient
    ) -> None:
        """The hook logged ``model.alpha``; a dataset named ``model`` saves another."""
        hook_params = RunLogger(run)
        hook_params.log_params({"model": {"alpha": 0.5}})
        hook_params.flush()
        MLflowDataSet(dataset="p", dataset_name="model").save({"alpha": 0.9})
        drain_run(run)
        params = client.get_run(run.run_id).data.params
        assert params["model.alpha"] == "0.5"
        assert sorted(params.values()) == ["0.5", "0.9"]
        assert _reload("model", run, dataset="p") == {"alpha": "0.9"}
        MLflowDataSet(dataset="p", dataset_name="model.alpha").save(0.7)
        drain_run(run)
        assert _reload("model.alpha", run, dataset="p") == "0.7"

    def test_two_catalog_entries_that_would_share_a_key_are_refused(self) -> None:
        catalog = DataCatalog(
            {"a|b": MLflowDataSet(dataset="m"), "a_b": MLflowDataSet(dataset="m")}
        )
        pipeline = Pipeline([node(lambda: (1, 2), None, ["a|b", "a_b"])])
        with pytest.raises(DatasetError, match="'a_b' and 'a\\|b' would both"):
            name_mlflow_datasets(pipeline, catalog)

    def test_long_names_keep_distinct_keys_and_round_trip(
        self, run: RunRef, client: MlflowClient
    ) -> None:
        first, second = "x" * 260 + "_first", "x" * 260 + "_second"
        MLflowDataSet(dataset="m", dataset_name=first).save(1.0)
        MLflowDataSet(dataset="m", dataset_name=second).save(2.0)
        drain_run(run)
        metrics = client.get_run(run.run_id).data.metrics
        assert len(metrics) == 2
        assert all(len(key) == 250 for key in metrics)
        assert _reload(first, run, dataset="m") == 1.0
        assert _reload(second, run, dataset="m") == 2.0
