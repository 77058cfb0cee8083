"""What ``pipeline_ml_factory`` declares: an inference pipeline and where its inputs come from.

A spec is checked when it is made (in ``register_pipelines``), so a wrong pipeline
fails before any run. It is also kept in a registry of this process: Kedro sums
the pipelines it runs into a plain ``Pipeline`` (``kedro run`` always does), so
at the end of a run the model to log is found by the training nodes the run ran,
not by the pipeline's class.

Examples:
    >>> from kedro.pipeline import Pipeline, node
    >>> def fit(data):
    ...     return sum(data)
    >>> def predict(total, instances):
    ...     return [total + x for x in instances]
    >>> spec = InferenceSpec(
    ...     training=Pipeline([node(fit, "data", "total", name="fit")]),
    ...     inference=Pipeline([node(predict, ["total", "instances"], "y")]),
    ...     input_name="instances",
    ... )
    >>> spec.artifacts, spec.outputs
    (['total'], ['y'])
    >>> InferenceSpec(
    ...     training=Pipeline([node(fit, "data", "total", name="fit")]),
    ...     inference=Pipeline([node(predict, ["bias", "instances"], "y")]),
    ...     input_name="instances",
    ... )
    Traceback (most recent call last):
    ...
    pipelinex_mlflow.pipeline_ml.model_options.PipelineModelError: pipeline_ml_factory: ...
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kedro.pipeline import Pipeline

from pipelinex_mlflow.kedro_helpers import is_parameter
from pipelinex_mlflow.masking import get_logger
from pipelinex_mlflow.pipeline_ml.model_options import (
    ModelOptions,
    PipelineModelError,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from kedro.pipeline.node import Node

logger = get_logger(__name__)


class InferenceSpec:
    """An inference pipeline, its model input, and the training that feeds it.

    Args:
        training: The pipeline whose run produces the model's inputs; ``None``
            for ``kedro mlflow modelify`` of a plain inference pipeline, whose
            inputs then all come from the catalog.
        inference: The pipeline the model runs at predict time.
        input_name: The inference pipeline's input that ``predict`` gets.
        options: How the model is logged and run.

    Raises:
        PipelineModelError: Naming the offending dataset or argument.
    """

    def __init__(
        self,
        training: Pipeline | None,
        inference: Pipeline,
        input_name: str,
        options: ModelOptions | None = None,
    ) -> None:
        self.training = training
        self.inference = inference
        self.input_name = input_name
        self.options = options or ModelOptions()
        _check_pipelines(training, inference, input_name)
        inputs = inference.inputs()
        self.parameters = sorted(name for name in inputs if is_parameter(name))
        self.artifacts = sorted(inputs - {input_name} - set(self.parameters))
        self.outputs = sorted(inference.outputs())

    @property
    def training_nodes(self) -> frozenset[str]:
        """The names of the training nodes (none without training)."""
        if self.training is None:
            return frozenset()
        return frozenset(node.name for node in self.training.nodes)

    def producers(self) -> dict[str, str]:
        """The training node that produces each artifact it produces."""
        if self.training is None:
            return {}
        produced = {}
        for node in self.training.nodes:
            for output in node.outputs:
                if output in self.artifacts:
                    produced[output] = node.name
        return produced

    def __repr__(self) -> str:
        return (
            f"InferenceSpec(model={self.options.name!r}, input_name="
            f"{self.input_name!r}, artifacts={self.artifacts}, outputs={self.outputs})"
        )


def _check_pipelines(
    training: Pipeline | None, inference: Pipeline, input_name: str
) -> None:
    for what, value in (("training", training), ("inference", inference)):
        if value is None and what == "training":
            continue
        if not isinstance(value, Pipeline):
            raise PipelineModelError(
                f"pipeline_ml_factory: {what} must be a kedro Pipeline, not "
                f"{type(value).__name__}."
            )
        if not value.nodes:
            raise PipelineModelError(
                f"pipeline_ml_factory: the {what} pipeline has no nodes."
            )
    if not isinstance(input_name, str) or not input_name:
        raise PipelineModelError(
            "pipeline_ml_factory: input_name must be the name of an input of the "
            f"inference pipeline, not {input_name!r}."
        )
    inputs = inference.inputs()
    if is_parameter(input_name):
        raise PipelineModelError(
            f"pipeline_ml_factory: input_name {input_name!r} is a parameter; the "
            "model's input must be a dataset (parameters travel inside the model)."
        )
    if "params:runner" in inputs:
        raise PipelineModelError(
            "pipeline_ml_factory: the inference pipeline reads params:runner, but "
            "'runner' is the predict param that picks the Kedro runner. Rename the "
            "parameter."
        )
    if input_name not in inputs:
        produced = input_name in inference.all_outputs()
        raise PipelineModelError(
            f"pipeline_ml_factory: input_name {input_name!r} is not an input of the "
            "inference pipeline"
            + (" (one of its nodes produces it)" if produced else "")
            + f". Its inputs: {', '.join(sorted(inputs)) or 'none'}."
        )
    if not inference.outputs():
        raise PipelineModelError(
            "pipeline_ml_factory: the inference pipeline has no output for predict "
            "to return."
        )
    if training is not None:
        _check_training_carries(training, inputs, input_name)


def _check_training_carries(
    training: Pipeline, inputs: set[str], input_name: str
) -> None:
    """Refuse an inference input, other than ``input_name``, that training lacks.

    The model only carries what training persists, so every other free input of
    the inference pipeline must be a parameter, a training output or a training
    input.
    """
    carried = training.all_outputs() | training.inputs()
    free = sorted(
        name
        for name in inputs - {input_name}
        if not is_parameter(name) and name not in carried
    )
    if free:
        raise PipelineModelError(
            "pipeline_ml_factory: the inference pipeline has free inputs that the "
            f"training pipeline neither produces nor reads: {', '.join(free)}. The "
            f"model can only carry what training persists; only {input_name!r} "
            "(input_name) comes from the caller. Produce them in training, make them "
            "training inputs, or pass them as params:."
        )


# --------------------------------------------------------------------------------------
# The registry of this process's specs, and which of them a run's pipeline ran
# --------------------------------------------------------------------------------------
_registry: dict[tuple[str, frozenset[str]], InferenceSpec] = {}
_registry_lock = threading.Lock()


def register(spec: InferenceSpec) -> None:
    """Remember ``spec``; a spec of the same model and training nodes is replaced."""
    with _registry_lock:
        _registry[(spec.options.name, spec.training_nodes)] = spec


def registered_specs() -> list[InferenceSpec]:
    """Every spec of this process, in the order they were made."""
    with _registry_lock:
        return list(_registry.values())


@dataclass
class SpecMatch:
    """How much of a spec's training a run's pipeline holds.

    Attributes:
        spec: The spec.
        ran: The training nodes the pipeline runs.
        missing: The training nodes it leaves out.
        namespaces: Namespaces under which the pipeline holds renamed copies of
            training nodes (their datasets are renamed too).
    """

    spec: InferenceSpec
    ran: set[str]
    missing: set[str]
    namespaces: set[str]

    @property
    def produced_here(self) -> list[str]:
        """The model inputs this run produces."""
        return sorted(
            artifact
            for artifact, node in self.spec.producers().items()
            if node in self.ran
        )

    @property
    def produced_before(self) -> list[str]:
        """The model inputs training produces but this run does not."""
        return sorted(
            artifact
            for artifact, node in self.spec.producers().items()
            if node not in self.ran
        )


def matches(pipeline: Pipeline) -> list[SpecMatch]:
    """The registered specs whose training nodes ``pipeline`` runs, even partly.

    A node counts when Kedro's node equality holds (same name, inputs and
    outputs), so tags, filters and a re-made ``create_pipeline()`` keep it. A node
    of the same name that reads or writes other datasets does not count, with a
    warning; a namespaced copy is reported apart.
    """
    nodes_by_name = {node.name: node for node in pipeline.nodes}
    found = []
    for spec in registered_specs():
        if spec.training is None:
            continue
        ran, missing, namespaces, differing = set(), set(), set(), []
        for node in spec.training.nodes:
            same = nodes_by_name.get(node.name)
            if same is not None and same == node:
                ran.add(node.name)
                continue
            missing.add(node.name)
            if same is not None:
                differing.append(node.name)
            namespaces.update(_namespaces_of(node, pipeline.nodes))
        if ran and differing:
            logger.warning(
                "pipeline_ml_factory model %r: this run's nodes %s read or write other "
                "datasets than the training nodes of those names, so they do not "
                "count as its training.",
                spec.options.name,
                ", ".join(sorted(differing)),
            )
        if ran or namespaces:
            found.append(SpecMatch(spec, ran, missing, namespaces))
    return found


def _namespaces_of(node: Node, nodes: Iterable[Node]) -> set[str]:
    """The namespaces holding a renamed copy of ``node`` (same function)."""
    return {
        str(other.namespace)
        for other in nodes
        if other.namespace
        and (other.func is node.func or other.name.endswith(f".{node.name}"))
    }
