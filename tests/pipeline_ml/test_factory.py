"""pipeline_ml_factory at pipeline-registry time: what it accepts, what it refuses, and why."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline, node
from kedro.runner import ThreadRunner
from kedro_datasets.pickle import PickleDataset

from pipelinex_mlflow import PipelineML, pipeline_ml_factory
from pipelinex_mlflow.pipeline_ml import PipelineModelError, RunModels
from pipelinex_mlflow.pipeline_ml.predictor import InferencePredictor
from pipelinex_mlflow.pipeline_ml.spec import matches

if TYPE_CHECKING:
    from pathlib import Path


def fit(data: list[float]) -> float:
    return sum(data) / len(data)


def center(mean: float, instances: list[float], shift: dict[str, Any]) -> list[float]:
    return [x - mean + shift["by"] for x in instances]


def training() -> Pipeline:
    return Pipeline([node(fit, "data", "mean", name="fit")])


def prepare(raw: list[float]) -> list[float]:
    return raw


def prepare_and_fit() -> Pipeline:
    """Training in two nodes: ``prepare`` (raw -> data), then ``fit_mean``."""
    return Pipeline(
        [
            node(prepare, "raw", "data", name="prepare"),
            node(fit, "data", "mean", name="fit_mean"),
        ]
    )


def inference(*inputs: str) -> Pipeline:
    names = list(inputs) or ["mean", "instances", "params:shift"]
    return Pipeline([node(center, names, "centered", name="center")])


def test_the_pipeline_runs_as_training_and_carries_the_declaration() -> None:
    made = pipeline_ml_factory(training(), inference(), input_name="instances")
    assert isinstance(made, PipelineML)
    assert [n.name for n in made.nodes] == ["fit"]
    assert made.input_name == "instances"
    assert made.spec.artifacts == ["mean"]
    assert made.spec.parameters == ["params:shift"]
    assert made.spec.options.name == "model"


@pytest.mark.parametrize(
    ("inputs", "input_name", "message"),
    [
        (
            ("bias", "instances", "params:shift"),
            "instances",
            "free inputs that the training pipeline neither produces nor reads: bias",
        ),
        (
            ("mean", "instances", "params:shift"),
            "rows",
            "input_name 'rows' is not an input of the inference pipeline. Its "
            "inputs: instances, mean, params:shift",
        ),
        (
            ("mean", "centered_in", "params:shift"),
            "centered",
            "input_name 'centered' is not an input of the inference pipeline (one "
            "of its nodes produces it)",
        ),
    ],
)
def test_a_wrong_pipeline_fails_at_registry_time_naming_the_dataset(
    inputs: tuple[str, ...], input_name: str, message: str
) -> None:
    with pytest.raises(PipelineModelError, match="pipeline_ml_factory: ") as caught:
        pipeline_ml_factory(training(), inference(*inputs), input_name=input_name)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"runner": "ParallelRunner"}, "runner 'ParallelRunner' cannot run the model"),
        ({"copy_mode": "clone"}, "copy_mode 'clone' is not one of assign, copy"),
        ({"alias": "champion"}, "alias 'champion' needs registered_model_name"),
        ({"signature": "inferred"}, "signature 'inferred' is not one of auto, none"),
        ({"model_name": " "}, "the model name must be a non-empty string"),
        ({"pip_requirements": [1]}, "pip_requirements must be a list of strings"),
        (
            {"runner": "ThreadRunner", "kpm_kwargs": {"runner": ThreadRunner()}},
            "runner is given twice",
        ),
        ({"kpm_kwargs": {"runners": "x"}}, "kpm_kwargs takes runner, copy_mode"),
        (
            {
                "log_model_kwargs": {"conda_env": {"dependencies": ["python"]}},
                "extra_pip_requirements": ["scipy"],
            },
            "conda_env replaces the model's pip requirements, so it cannot come "
            "with extra_pip_requirements",
        ),
        (
            {"log_model_kwargs": {"python_model": "model.py"}},
            "python_model cannot be given: the pipeline model sets it",
        ),
    ],
)
def test_a_bad_argument_fails_at_registry_time(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(PipelineModelError, match=message):
        pipeline_ml_factory(training(), inference(), "instances", **kwargs)


@pytest.mark.parametrize(
    ("inputs", "input_name", "message"),
    [
        (
            ("mean", "instances", "params:shift"),
            "params:shift",
            "input_name 'params:shift' is a parameter",
        ),
        (
            ("mean", "instances", "params:runner"),
            "instances",
            "reads params:runner, but 'runner' is the predict param",
        ),
    ],
)
def test_a_parameter_as_input_or_a_runner_parameter_is_refused(
    inputs: tuple[str, ...], input_name: str, message: str
) -> None:
    with pytest.raises(PipelineModelError, match=message):
        pipeline_ml_factory(training(), inference(*inputs), input_name=input_name)


def test_kedro_mlflows_spelling_maps_onto_ours() -> None:
    made = pipeline_ml_factory(
        training(),
        inference(),
        "instances",
        kpm_kwargs={"runner": ThreadRunner(), "copy_mode": "deepcopy"},
        log_model_kwargs={
            "artifact_path": "centerer",
            "registered_model_name": "centering",
            "signature": None,
            "conda_env": {"dependencies": ["python"]},
        },
    )
    options = made.spec.options
    assert (options.name, options.registered_model_name) == ("centerer", "centering")
    assert (options.runner, options.copy_mode) == ("ThreadRunner", "deepcopy")
    assert options.signature == "none"
    assert options.save_args == {"conda_env": {"dependencies": ["python"]}}


def test_summed_tagged_and_filtered_pipelines_are_found_by_their_training_nodes() -> (
    None
):
    made = pipeline_ml_factory(training(), inference(), "instances", model_name="sum")
    other = Pipeline([node(len, "data", "n", name="count")])
    for run_pipeline in (
        Pipeline([]) + made + other,  # what KedroSession does with every run
        (made + other).tag("nightly"),
        (made + other).filter(node_names=["fit"]),
    ):
        (found,) = [m for m in matches(run_pipeline) if m.spec is made.spec]
        assert found.ran == {"fit"}
        assert not found.missing
    assert not [m for m in matches(other) if m.spec is made.spec]


def test_a_namespaced_copy_is_not_logged_and_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    made = pipeline_ml_factory(training(), inference(), "instances", model_name="ns")
    namespaced = Pipeline(made, namespace="eu")
    catalog = DataCatalog({"eu.data": MemoryDataset([1.0])})
    with caplog.at_level(logging.WARNING):
        planned = RunModels.plan(namespaced, catalog)
    assert made.spec not in planned.specs
    assert "model 'ns' is not logged" in caplog.text
    assert "under namespace eu" in caplog.text


def test_namespaced_unnamed_nodes_are_reported_too(
    caplog: pytest.LogCaptureFixture,
) -> None:
    made = pipeline_ml_factory(
        Pipeline([node(fit, "data", "mean")]),  # Kedro names it fit__<hash>
        inference(),
        "instances",
        model_name="unnamed",
    )
    with caplog.at_level(logging.WARNING):
        planned = RunModels.plan(Pipeline(made, namespace="eu"), DataCatalog())
    assert planned.specs == []
    assert "model 'unnamed' is not logged" in caplog.text


def test_a_node_writing_other_datasets_does_not_count_as_training(
    caplog: pytest.LogCaptureFixture,
) -> None:
    made = pipeline_ml_factory(
        prepare_and_fit(),
        inference(),
        "instances",
        model_name="renamed",
    )
    renamed = Pipeline(made, outputs={"mean": "mean_v2"})
    with caplog.at_level(logging.WARNING):
        (found,) = matches(renamed)
    assert (found.ran, found.missing) == ({"prepare"}, {"fit_mean"})
    assert "nodes fit_mean read or write other datasets" in caplog.text


def test_a_run_that_produces_none_of_the_model_inputs_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    made = pipeline_ml_factory(
        prepare_and_fit(),
        inference(),
        "instances",
        model_name="partial",
    )
    with caplog.at_level(logging.WARNING):
        planned = RunModels.plan(made.filter(node_names=["prepare"]), DataCatalog())
    assert made.spec not in planned.specs
    assert "leaves out the training nodes that produce its inputs (fit_mean)" in (
        caplog.text
    )


def test_an_input_the_catalog_keeps_in_memory_fails_before_the_run(
    tmp_path: Path,
) -> None:
    made = pipeline_ml_factory(training(), inference(), "instances", model_name="mem")
    with pytest.raises(PipelineModelError, match="needs mean, which the catalog keeps"):
        RunModels.plan(made, DataCatalog({"data": MemoryDataset([1.0])}))
    persisted = DataCatalog({"mean": PickleDataset(filepath=str(tmp_path / "m.pkl"))})
    assert made.spec in RunModels.plan(made, persisted).specs


def test_a_name_the_registry_refuses_fails_at_run_start_not_in_the_registry(
    tmp_path: Path,
) -> None:
    """MLflow's name rules import MLflow: every `kedro` command reads the registry."""
    made = pipeline_ml_factory(
        training(), inference(), "instances", registered_model_name="a/b"
    )
    persisted = DataCatalog({"mean": PickleDataset(filepath=str(tmp_path / "m.pkl"))})
    with pytest.raises(PipelineModelError, match="refused by MLflow's model registry"):
        RunModels.plan(made, persisted)


def test_two_models_of_one_name_in_a_run_are_refused() -> None:
    first = pipeline_ml_factory(training(), inference(), "instances", model_name="twin")
    other_training = Pipeline([node(fit, "data2", "mean2", name="fit2")])
    pipeline_ml_factory(
        other_training,
        inference("mean2", "instances", "params:shift"),
        "instances",
        model_name="twin",
    )
    with pytest.raises(PipelineModelError, match="several pipeline_ml_factory models"):
        RunModels.plan(
            first + other_training,
            DataCatalog(
                {
                    "mean": PickleDataset(filepath="m.pkl"),
                    "mean2": PickleDataset(filepath="m2.pkl"),
                }
            ),
        )


class TestPredictor:
    def predictor(self, **kwargs: Any) -> InferencePredictor:
        return InferencePredictor(
            inference(),
            input_name="instances",
            artifacts={"mean": 2.0},
            parameters={"params:shift": {"by": 0.0, "note": None}},
            **kwargs,
        )

    def test_params_override_leaves_by_dotted_name_and_pick_the_runner(self) -> None:
        predictor = self.predictor()
        assert predictor.predict([3.0], None) == [1.0]
        assert predictor.predict([3.0], {"shift.by": 10.0}) == [11.0]
        assert predictor.predict([3.0], {"runner": "ThreadRunner"}) == [1.0]
        # An override never leaks into the next call.
        assert predictor.predict([3.0], None) == [1.0]

    def test_only_values_a_signature_can_describe_are_listed(self) -> None:
        assert self.predictor().parameter_defaults() == {"shift.by": 0.0}

    def test_an_unknown_param_or_runner_is_refused_with_what_exists(self) -> None:
        with pytest.raises(ValueError, match=r"reads no parameter 'shift\.size'") as c:
            self.predictor().predict([3.0], {"shift.size": 1})
        assert "It reads: runner, shift.by" in str(c.value)
        with pytest.raises(ValueError, match="SequentialRunner, ThreadRunner, not"):
            self.predictor().predict([3.0], {"runner": "ParallelRunner"})

    def test_keys_a_dotted_name_cannot_carry_are_left_out_and_defaults_pass_back(
        self,
    ) -> None:
        predictor = InferencePredictor(
            inference(),
            input_name="instances",
            artifacts={"mean": 2.0},
            parameters={
                "params:shift": {
                    "by": 1.0,
                    "weights": {0: 1.0},
                    "a.b": 2,
                    "tags": ["x"],
                    "runner": "mine",
                }
            },
        )
        defaults = predictor.parameter_defaults()
        assert defaults == {
            "shift.by": 1.0,
            "shift.tags": ["x"],
            "shift.runner": "mine",
        }
        # MLflow hands predict every signature param, defaults included.
        assert predictor.predict([3.0], {"runner": "SequentialRunner", **defaults}) == [
            2.0
        ]
        assert predictor.predict([3.0], {"shift": {"by": 5.0}}) == [6.0]

    def test_deepcopy_keeps_the_carried_values_intact(self) -> None:
        def grow(state: list[int], instances: list[int]) -> list[int]:
            state.append(1)
            return [len(state) + x for x in instances]

        def make(**kwargs: Any) -> InferencePredictor:
            return InferencePredictor(
                Pipeline([node(grow, ["state", "instances"], "out")]),
                input_name="instances",
                artifacts={"state": []},
                parameters={},
                **kwargs,
            )

        careful = make(copy_mode={"state": "deepcopy"})
        assert [careful.predict([0], None) for _ in range(2)] == [[1], [1]]
        assigned = make()
        assert [assigned.predict([0], None) for _ in range(2)] == [[1], [2]]
