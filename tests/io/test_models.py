"""MLflowDataSet(dataset="model"): models logged, registered, aliased and loaded back.

Everything is read back from a real SQLite store (registry included) with
``MlflowClient``. ``MLFLOW_TRACKING_URI`` points at another, empty store in every
test here, so a call that fell back on MLflow's process-wide URI would miss.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, DatasetError, MemoryDataset
from kedro.pipeline import Pipeline, node
from kedro.runner import ParallelRunner, SequentialRunner, ThreadRunner
from mlflow.pyfunc import PythonModel
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pipelinex_mlflow import MLflowBasicLoggerHook, MLflowDataSet
from pipelinex_mlflow.masking import MASK
from pipelinex_mlflow.tracking import RunRef, drain_run, set_current_run
from tests._kedro import run_with_hooks

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mlflow.tracking import MlflowClient

X = pd.DataFrame({"engines": [1.0, 2.0, 3.0, 4.0, 5.0], "seats": [2.0, 4, 5, 7, 9]})
Y = pd.Series([10.0, 19.0, 31.0, 40.0, 52.0])


@pytest.fixture(autouse=True)
def wrong_global_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """MLflow's process-wide tracking and registry URIs name a store no test reads."""
    uri = f"sqlite:///{tmp_path / 'wrong.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", uri)
    return uri


@pytest.fixture
def client(tracking_uri: str) -> MlflowClient:
    """A client reading the test's store, registry included."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


@pytest.fixture
def saving_run(client: MlflowClient, tracking_uri: str) -> Iterator[RunRef]:
    experiment_id = client.create_experiment(
        "models", artifact_location=(Path.cwd() / "artifacts").as_uri()
    )
    run = RunRef(tracking_uri, client.create_run(experiment_id).info.run_id)
    set_current_run(run)
    yield run
    set_current_run(None)


def _regressor() -> Any:
    return make_pipeline(StandardScaler(), LinearRegression()).fit(X, Y)


class Doubler(PythonModel):  # type: ignore[misc]
    """A custom pyfunc model."""

    def predict(self, context: Any, model_input: pd.DataFrame) -> Any:
        return model_input["engines"] * 2


def _model_entry(**kwargs: Any) -> MLflowDataSet:
    defaults: dict[str, Any] = {"dataset": "model", "flavor": "sklearn"}
    return MLflowDataSet(**{**defaults, **kwargs})


def _only_model(client: MlflowClient, run: RunRef) -> Any:
    experiment_id = client.get_run(run.run_id).info.experiment_id
    (model,) = client.search_logged_models([experiment_id])
    return model


class TestSklearn:
    def test_save_registers_aliases_and_loads_back_an_estimator(
        self, client: MlflowClient, saving_run: RunRef, tracking_uri: str
    ) -> None:
        client.log_param(saving_run.run_id, "depth", "3")
        model = _regressor()
        _model_entry(
            dataset_name="regressor",
            registered_model_name="spaceflights",
            alias="champion",
            tags={"team": "pricing"},
        ).save(model)
        drain_run(saving_run)

        logged = _only_model(client, saving_run)
        assert (logged.name, logged.status.name) == ("regressor", "READY")
        assert logged.source_run_id == saving_run.run_id
        assert logged.params == {"depth": "3"}  # the run's params, as MLflow does
        outputs = client.get_run(saving_run.run_id).outputs
        assert [o.model_id for o in outputs.model_outputs] == [logged.model_id]
        version = client.get_model_version_by_alias("spaceflights", "champion")
        assert (str(version.version), version.tags) == ("1", {"team": "pricing"})
        assert version.run_id == saving_run.run_id
        assert '"version": "1"' in logged.tags["mlflow.modelVersions"]
        tag = client.get_run(saving_run.run_id).data.tags[
            "pipelinex_mlflow.model.regressor"
        ]
        assert tag == (
            f"models:/{logged.model_id} in run {saving_run.run_id}, registered as "
            "'spaceflights' version 1 (alias @champion)"
        )
        # The requirements were pinned from the flavor, not inferred.
        files = {a.path for a in client.list_logged_model_artifacts(logged.model_id)}
        assert {"MLmodel", "requirements.txt"} <= files

        loaded = _model_entry(dataset_name="regressor", caching=False).load()
        assert type(loaded) is type(model)
        np.testing.assert_allclose(loaded.predict(X), model.predict(X))

    def test_a_second_save_makes_version_two_and_moves_the_alias(
        self, client: MlflowClient, saving_run: RunRef
    ) -> None:
        entry = _model_entry(
            dataset_name="regressor", registered_model_name="reg", alias="champion"
        )
        entry.save(_regressor())
        entry.save(LinearRegression().fit(X, Y))
        assert str(client.get_model_version_by_alias("reg", "champion").version) == "2"
        loaded = _model_entry(model_uri="models:/reg@champion").load()
        assert type(loaded) is LinearRegression

    @pytest.mark.parametrize(
        "uri",
        [
            "models:/reg@champion",
            "models:/reg/1",
            "models:/{model_id}",
            "runs:/{run_id}/regressor",
        ],
    )
    def test_loads_by_every_uri_form(
        self, client: MlflowClient, saving_run: RunRef, tracking_uri: str, uri: str
    ) -> None:
        model = _regressor()
        _model_entry(
            dataset_name="regressor", registered_model_name="reg", alias="champion"
        ).save(model)
        logged = _only_model(client, saving_run)
        set_current_run(None)  # a later run, elsewhere: the URI says where
        reader = _model_entry(
            model_uri=uri.format(model_id=logged.model_id, run_id=saving_run.run_id),
            loading_tracking_uri=tracking_uri,
        )
        assert reader.exists()
        np.testing.assert_allclose(reader.load().predict(X), model.predict(X))

    def test_loads_from_loading_run_id(
        self, client: MlflowClient, saving_run: RunRef, tracking_uri: str
    ) -> None:
        model = _regressor()
        _model_entry(dataset_name="regressor").save(model)
        set_current_run(None)
        reader = _model_entry(
            dataset_name="regressor",
            loading_run_id=saving_run.run_id,
            loading_tracking_uri=tracking_uri,
        )
        assert reader.exists()
        np.testing.assert_allclose(reader.load().predict(X), model.predict(X))

    def test_save_args_reach_save_model_and_the_logged_model(
        self, client: MlflowClient, saving_run: RunRef
    ) -> None:
        _model_entry(
            dataset_name="regressor",
            save_args={
                "input_example": X.head(2),
                "model_type": "regressor",
                "tags": {"owner": "ml"},
                "extra_pip_requirements": ["pyarrow"],
            },
        ).save(_regressor())
        logged = _only_model(client, saving_run)
        assert logged.model_type == "regressor"
        assert logged.tags["owner"] == "ml"
        from mlflow.models import Model

        folder = Path(logged.artifact_location.removeprefix("file://"))
        saved = Model.load(str(folder / "MLmodel"))
        # An input example gives an inferred signature.
        assert [c["name"] for c in saved.signature.inputs.to_dict()] == [
            "engines",
            "seats",
        ]
        requirements = (folder / "requirements.txt").read_text()
        # Pinned from the flavor, with the library of its default format (skops).
        assert "scikit-learn==" in requirements
        assert "skops==" in requirements
        assert "pyarrow" in requirements


class TestKedroMlflowSpellings:
    def test_flavor_module_path_and_registration_in_save_args(
        self, client: MlflowClient, saving_run: RunRef
    ) -> None:
        _model_entry(
            flavor="mlflow.sklearn",
            dataset_name="regressor",
            save_args={"registered_model_name": "moved"},
        ).save(_regressor())
        (version,) = client.search_model_versions("name = 'moved'")
        assert version.run_id == saving_run.run_id

    @pytest.mark.parametrize(
        "uri", ["models:/reg@champion", "runs:/{run_id}/regressor"]
    )
    def test_model_uri_in_load_args_loads_that_model(
        self, client: MlflowClient, saving_run: RunRef, tracking_uri: str, uri: str
    ) -> None:
        model = _regressor()
        _model_entry(
            dataset_name="regressor", registered_model_name="reg", alias="champion"
        ).save(model)
        drain_run(saving_run)
        set_current_run(None)  # a later run, elsewhere: the URI says where
        model_uri = uri.format(run_id=saving_run.run_id)
        reader = _model_entry(
            dataset_name="other",
            loading_tracking_uri=tracking_uri,
            load_args={"model_uri": model_uri},
        )
        assert f"model_uri='{model_uri}'" in str(reader)
        assert reader.exists()
        loaded = reader.load()
        assert type(loaded) is type(model)
        np.testing.assert_allclose(loaded.predict(X), model.predict(X))


class TestOtherRuns:
    def test_saving_experiment_name_logs_into_a_new_finished_run(
        self, client: MlflowClient, saving_run: RunRef
    ) -> None:
        _model_entry(dataset_name="regressor", saving_experiment_name="elsewhere").save(
            _regressor()
        )
        experiment = client.get_experiment_by_name("elsewhere")
        assert experiment is not None
        (run,) = client.search_runs([experiment.experiment_id])
        assert run.info.status == "FINISHED"
        (logged,) = client.search_logged_models([experiment.experiment_id])
        assert logged.source_run_id == run.info.run_id

    def test_a_metric_downstream_of_two_models_is_linked_to_both(
        self, client: MlflowClient, saving_run: RunRef
    ) -> None:
        _model_entry(dataset_name="first").save(_regressor())
        _model_entry(dataset_name="second").save(LinearRegression().fit(X, Y))
        metric = MLflowDataSet(dataset="m", dataset_name="score")
        metric.link_to_models(("first", "second", "never_saved"))
        metric.save(0.5)
        drain_run(saving_run)
        experiment_id = client.get_run(saving_run.run_id).info.experiment_id
        models = client.search_logged_models([experiment_id])
        assert {m.name: [x.key for x in m.metrics] for m in models} == {
            "first": ["score"],
            "second": ["score"],
        }
        history = client.get_metric_history(saving_run.run_id, "score")
        assert [m.value for m in history] == [0.5]  # one run metric, not two


class TestNames:
    def test_transcoded_entries_are_one_model(self, saving_run: RunRef) -> None:
        model = _regressor()
        writer = _model_entry()
        writer.bind_catalog_name("regressor@sklearn")
        writer.save(model)
        reader = _model_entry(flavor="pyfunc", caching=False)
        reader.bind_catalog_name("regressor@pyfunc")
        np.testing.assert_allclose(reader.load().predict(X), model.predict(X))

    def test_two_entries_that_become_one_model_name_are_refused(self) -> None:
        from pipelinex_mlflow.io.naming import name_mlflow_datasets

        catalog = DataCatalog(
            {"first": _model_entry(dataset_name="ns/model"), "ns_model": _model_entry()}
        )
        pipeline = Pipeline(
            [
                node(_regressor, None, "first", name="a"),
                node(_regressor, None, "ns_model", name="b"),
            ]
        )
        with pytest.raises(
            DatasetError,
            match=_literal(
                "'ns/model' and 'ns_model' would both be logged as model 'ns_model'"
            ),
        ):
            name_mlflow_datasets(pipeline, catalog)

    def test_registration_ignores_mlflows_process_wide_registry(
        self, client: MlflowClient, saving_run: RunRef, wrong_global_store: str
    ) -> None:
        from mlflow.tracking import MlflowClient

        _model_entry(
            dataset_name="regressor", registered_model_name="reg", alias="champion"
        ).save(_regressor())
        assert client.get_model_version_by_alias("reg", "champion").run_id == (
            saving_run.run_id
        )
        wrong = MlflowClient(wrong_global_store, registry_uri=wrong_global_store)
        assert wrong.search_registered_models() == []


class TestFlavorLeftOut:
    def test_told_by_the_object_on_save_and_by_mlmodel_on_load(
        self, client: MlflowClient, saving_run: RunRef
    ) -> None:
        model = _regressor()
        MLflowDataSet(dataset="model", dataset_name="regressor").save(model)
        MLflowDataSet(dataset="model", dataset_name="doubler").save(Doubler())
        loaded = MLflowDataSet(
            dataset="model", dataset_name="regressor", caching=False
        ).load()
        assert type(loaded) is type(model)  # sklearn's loader, not pyfunc
        doubler = MLflowDataSet(
            dataset="model", dataset_name="doubler", caching=False
        ).load()
        assert list(doubler.predict(X)) == [2.0, 4.0, 6.0, 8.0, 10.0]

    def test_an_object_no_flavor_saves(self, outside_kedro: RunRef) -> None:
        with pytest.raises(
            DatasetError,
            match=_literal(
                "Cannot tell which MLflow model flavor saves a builtins.dict"
            ),
        ):
            MLflowDataSet(dataset="model", dataset_name="d").save({"a": 1})


class TestPyfunc:
    def test_python_model_round_trip(
        self, client: MlflowClient, saving_run: RunRef
    ) -> None:
        entry = _model_entry(
            flavor="pyfunc",
            dataset_name="doubler",
            registered_model_name="doubler",
            alias="champion",
        )
        entry.save(Doubler())
        loaded = _model_entry(
            flavor="pyfunc", model_uri="models:/doubler@champion"
        ).load()
        assert list(loaded.predict(X)) == [2.0, 4.0, 6.0, 8.0, 10.0]
        assert _only_model(client, saving_run).status.name == "READY"

    def test_a_missing_flavor_library_loads_as_pyfunc_with_a_warning(
        self, saving_run: RunRef, tracking_uri: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        model = _regressor()
        _model_entry(dataset_name="regressor", registered_model_name="reg").save(model)
        reader = _model_entry(
            flavor="xgboost",  # not installed here
            model_uri="models:/reg/1",
            loading_tracking_uri=tracking_uri,
        )
        loaded = reader.load()
        np.testing.assert_allclose(loaded.predict(X), model.predict(X))
        assert "loading the model as pyfunc instead (pip install xgboost" in caplog.text

    def test_an_sklearn_model_loads_as_pyfunc(self, saving_run: RunRef) -> None:
        model = _regressor()
        _model_entry(dataset_name="regressor").save(model)
        loaded = _model_entry(
            flavor="pyfunc", dataset_name="regressor", caching=False
        ).load()
        np.testing.assert_allclose(loaded.predict(X), model.predict(X))


def _train(x: pd.DataFrame, y: pd.Series) -> tuple[Any, float]:
    model = _regressor()
    return model, float(model.score(x, y))


def _evaluate(
    model: Any, x: pd.DataFrame, y: pd.Series
) -> tuple[float, dict[str, Any]]:
    predicted = model.predict(x)
    return float(np.mean(np.abs(predicted - y))), {"r2": float(model.score(x, y))}


def _row_count(x: pd.DataFrame) -> int:
    return len(x)


def _pipeline() -> Pipeline:
    return Pipeline(
        [
            node(_train, ["x", "y"], ["regressor", "train_score"], name="train"),
            node(
                _evaluate, ["regressor", "x", "y"], ["mae", "report"], name="evaluate"
            ),
            node(_row_count, "x", "rows", name="count"),
        ]
    )


def _catalog(catalog_class: type = DataCatalog) -> Any:
    catalog = catalog_class.from_config(
        {
            "regressor": {
                "type": "pipelinex_mlflow.MLflowDataSet",
                "dataset": "model",
                "flavor": "sklearn",
                "registered_model_name": "spaceflights",
                "alias": "champion",
            },
            "train_score": {"type": "pipelinex_mlflow.MLflowDataSet", "dataset": "m"},
            "mae": {"type": "pipelinex_mlflow.MLflowDataSet", "dataset": "m"},
            "report": {"type": "pipelinex_mlflow.MLflowDataSet", "dataset": "a"},
            "rows": {"type": "pipelinex_mlflow.MLflowDataSet", "dataset": "m"},
        }
    )
    catalog["x"] = MemoryDataset(X)
    catalog["y"] = MemoryDataset(Y)
    return catalog


class TestInPipelines:
    @pytest.mark.parametrize("runner_class", [SequentialRunner, ThreadRunner])
    def test_metrics_downstream_of_the_model_are_linked_to_it(
        self, client: MlflowClient, tracking_uri: str, runner_class: type
    ) -> None:
        hook = MLflowBasicLoggerHook(uri=tracking_uri, experiment_name="pipe")
        run_with_hooks(_pipeline(), _catalog(), (hook,), runner=runner_class())
        self._assert_linked(client)

    def test_parallel_runner_links_across_worker_processes(
        self, client: MlflowClient, tracking_uri: str
    ) -> None:
        from kedro.io import SharedMemoryDataCatalog

        hook = MLflowBasicLoggerHook(uri=tracking_uri, experiment_name="pipe")
        run_with_hooks(
            _pipeline(),
            _catalog(SharedMemoryDataCatalog),
            (hook,),
            runner=ParallelRunner(max_workers=2),
        )
        self._assert_linked(client)

    @staticmethod
    def _assert_linked(client: MlflowClient) -> None:
        experiment = client.get_experiment_by_name("pipe")
        assert experiment is not None
        (run,) = client.search_runs([experiment.experiment_id])
        assert run.info.status == "FINISHED"
        (model,) = client.search_logged_models([experiment.experiment_id])
        # The evaluation node's metrics describe the model; the training node's
        # own score and the unrelated row count do not get linked.
        assert sorted(m.key for m in model.metrics) == ["mae", "report.r2"]
        assert {"mae", "report.r2", "train_score", "rows"} <= set(run.data.metrics)
        version = client.get_model_version_by_alias("spaceflights", "champion")
        assert version.run_id == run.info.run_id


class TestTrackingOff:
    def test_saves_and_loads_in_memory(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from pipelinex_mlflow.tracking import set_tracking_off

        set_tracking_off(True)
        try:
            entry = _model_entry(dataset_name="regressor")
            model = _regressor()
            entry.save(model)
            assert entry.load() is model
        finally:
            set_tracking_off(False)


class TestBadInput:
    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            (
                {"flavor": "sklearnn"},
                "Unknown MLflow model flavor 'sklearnn'. Installed flavors: pyfunc, sklearn",
            ),
            ({"flavor": "xgboost"}, "pip install xgboost"),
            ({"flavor": 3}, "flavor must be the name of an MLflow flavor"),
            ({"flavor": "mlflow.xgboost"}, "pip install xgboost"),
            ({"alias": "champion"}, "alias 'champion' needs registered_model_name"),
            ({"registered_model_name": "r", "alias": "v2"}, "is reserved"),
            ({"tags": {"a": 1}}, "need registered_model_name"),
            ({"model_uri": "models:/reg"}, "no version or alias"),
            (
                {"model_uri": "models:/reg/1", "registered_model_name": "reg"},
                "read-only",
            ),
            (
                {
                    "model_uri": "models:/reg/1",
                    "load_args": {"model_uri": "models:/reg/2"},
                },
                "load_args model_uri 'models:/reg/2' and model_uri 'models:/reg/1' "
                "both say which model the entry holds. Give the URI once",
            ),
            (
                {
                    "loading_run_id": "0123abcd",
                    "load_args": {"model_uri": "models:/r/1"},
                },
                "load_args model_uri 'models:/r/1' and loading_run_id '0123abcd' both "
                "say which model the entry holds. Remove loading_run_id",
            ),
            (
                {
                    "registered_model_name": "reg",
                    "alias": "champion",
                    "load_args": {"model_uri": "models:/reg@champion"},
                },
                "and registered_model_name 'reg' both say which model the entry "
                "holds. A model_uri entry is read-only",
            ),
            ({"load_args": {"model_uri": None}}, "load_args model_uri must be"),
            ({"load_args": {"model_uri": "models:/reg"}}, "no version or alias"),
            ({"pyfunc_workflow": "python_model"}, "applies to flavor 'pyfunc' only"),
            (
                {"flavor": "pyfunc", "pyfunc_workflow": "nope"},
                "Invalid pyfunc_workflow",
            ),
        ],
    )
    def test_construction_errors(self, kwargs: dict[str, Any], message: str) -> None:
        with pytest.raises(DatasetError, match=_literal(message)):
            _model_entry(**kwargs)

    def test_model_arguments_on_another_code(self) -> None:
        with pytest.raises(
            DatasetError, match="flavor, alias apply to dataset: model only"
        ):
            MLflowDataSet(dataset="m", flavor="sklearn", alias="a")

    def test_saving_to_a_model_uri_entry(self, outside_kedro: RunRef) -> None:
        with pytest.raises(DatasetError, match="cannot be saved to"):
            _model_entry(model_uri="models:/reg/1", dataset_name="r").save(_regressor())

    def test_an_object_the_flavor_cannot_log(
        self, client: MlflowClient, outside_kedro: RunRef
    ) -> None:
        with pytest.raises(
            DatasetError,
            match=_literal("cannot save a builtins.dict: it wants a scikit-learn"),
        ):
            _model_entry(dataset_name="regressor").save({"not": "a model"})
        with pytest.raises(
            DatasetError, match=_literal("it wants an mlflow.pyfunc.PythonModel")
        ):
            _model_entry(flavor="pyfunc", dataset_name="f").save(42)
        experiment_id = client.get_run(outside_kedro.run_id).info.experiment_id
        assert client.search_logged_models([experiment_id]) == []

    def test_loader_module_workflow_saves_a_module_name_only(
        self, client: MlflowClient, outside_kedro: RunRef
    ) -> None:
        entry = _model_entry(
            flavor="pyfunc", pyfunc_workflow="loader_module", dataset_name="m"
        )
        with pytest.raises(DatasetError, match="saves the name of a loader module"):
            entry.save(Doubler())
        experiment_id = client.get_run(outside_kedro.run_id).info.experiment_id
        assert client.search_logged_models([experiment_id]) == []

    def test_unknown_save_args_are_refused_before_any_model_exists(
        self, client: MlflowClient, outside_kedro: RunRef
    ) -> None:
        with pytest.raises(
            DatasetError,
            match=_literal(
                "save_model does not take save_args no_such_arg. It takes: "
            ),
        ):
            _model_entry(dataset_name="r", save_args={"no_such_arg": 1}).save(
                _regressor()
            )
        with pytest.raises(DatasetError, match="cannot save a pandas"):
            _model_entry(dataset_name="r").save(X)  # has transform, not fit
        experiment_id = client.get_run(outside_kedro.run_id).info.experiment_id
        assert client.search_logged_models([experiment_id]) == []

    def test_a_save_model_failure_marks_the_model_failed(
        self, client: MlflowClient, outside_kedro: RunRef
    ) -> None:
        with pytest.raises(DatasetError, match="could not save the sklearn"):
            _model_entry(
                dataset_name="r", save_args={"serialization_format": "bogus"}
            ).save(_regressor())
        assert _only_model(client, outside_kedro).status.name == "FAILED"

    def test_missing_alias_version_and_model_say_what_exists(
        self, saving_run: RunRef, tracking_uri: str
    ) -> None:
        _model_entry(
            dataset_name="r", registered_model_name="reg", alias="champion"
        ).save(_regressor())
        cases = {
            "models:/reg@staging": "has no alias 'staging'. Its aliases: @champion (version 1)",
            "models:/reg/7": "has no version 7. Its versions: 1.",
            "models:/nope/1": "no registered model 'nope'. Registered models: reg.",
            "models:/m-0123": "Logged model with ID 'm-0123' not found",
        }
        for uri, message in cases.items():
            reader = _model_entry(model_uri=uri, loading_tracking_uri=tracking_uri)
            assert not reader.exists()
            with pytest.raises(DatasetError, match=_literal(message)):
                reader.load()

    def test_loading_a_model_the_run_did_not_log(self, saving_run: RunRef) -> None:
        _model_entry(dataset_name="regressor").save(_regressor())
        with pytest.raises(
            DatasetError,
            match=_literal("logged no model 'other'. Its models: regressor"),
        ):
            _model_entry(dataset_name="other").load()

    def test_failed_registration_keeps_the_logged_model_and_says_so(
        self, client: MlflowClient, outside_kedro: RunRef
    ) -> None:
        # MLflow refuses a version tag key over 250 characters.
        entry = _model_entry(
            dataset_name="regressor",
            registered_model_name="reg",
            tags={"k" * 300: "v"},
        )
        with pytest.raises(
            DatasetError, match="could not register it as 'reg'"
        ) as raised:
            entry.save(_regressor())
        logged = _only_model(client, outside_kedro)
        assert logged.status.name == "READY"
        assert f"was logged (models:/{logged.model_id})" in str(raised.value)
        assert "The logged model stays in place" in str(raised.value)
        drain_run(outside_kedro)
        tags = client.get_run(outside_kedro.run_id).data.tags
        assert tags["pipelinex_mlflow.model.regressor"].startswith(
            f"models:/{logged.model_id}"
        )


def _literal(text: str) -> str:
    import re

    return re.escape(text)


class TestMasking:
    def test_secrets_in_model_params_and_tags_and_version_tags_are_masked(
        self, client: MlflowClient, saving_run: RunRef
    ) -> None:
        _model_entry(
            dataset_name="regressor",
            registered_model_name="masked",
            tags={"db_password": "hunter2", "source": "postgresql://u:hunter2@h/db"},
            save_args={
                "params": {"api_token": "hunter2", "alpha": 0.5},
                "tags": {"store": "https://a.blob.core.windows.net/c?sig=hunter2"},
            },
        ).save(_regressor())
        model = _only_model(client, saving_run)
        (version,) = client.search_model_versions("name = 'masked'")
        texts = [
            *model.params.values(),
            *model.tags.values(),
            *version.tags.values(),
        ]
        assert not [text for text in texts if "hunter2" in text]
        assert model.params["api_token"] == MASK
        assert model.params["alpha"] == "0.5"
        assert version.tags["db_password"] == MASK
        assert version.tags["source"].startswith("postgresql://u:")
