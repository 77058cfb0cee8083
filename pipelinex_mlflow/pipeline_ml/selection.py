"""Which inference pipeline ``kedro mlflow modelify`` logs, from registered pipeline names.

A ``pipeline_ml_factory`` pipeline, or any pipeline that holds the whole training
of one (``__default__`` summing it with others), names its declared model; any
other pipeline is taken as the inference pipeline itself, whose inputs besides
``--input-name`` all come from the catalog.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from pipelinex_mlflow.pipeline_ml.factory import PipelineML
from pipelinex_mlflow.pipeline_ml.model_options import ModelOptions, PipelineModelError
from pipelinex_mlflow.pipeline_ml.spec import InferenceSpec, matches

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kedro.pipeline import Pipeline


def select_spec(
    pipeline: Pipeline,
    input_name: str | None,
    model_name: str | None,
    **overrides: Any,
) -> InferenceSpec:
    """The spec ``modelify`` logs for ``pipeline``, with ``overrides`` of its options.

    Args:
        pipeline: The registered pipeline (or the sum of several) named on the
            command line.
        input_name: The model input; needed for a plain inference pipeline.
        model_name: Which declared model, when the pipeline holds several; the
            logged model's name otherwise.
        overrides: ``ModelOptions`` fields given on the command line (``None``:
            not given).

    Raises:
        PipelineModelError: When no model, or no single model, fits.
    """
    given = {k: v for k, v in overrides.items() if v is not None}
    declared = _declared(pipeline)
    if model_name is not None and declared:
        declared = [s for s in declared if s.options.name == model_name]
        if not declared:
            raise PipelineModelError(
                f"The pipeline declares no pipeline_ml_factory model {model_name!r}. "
                f"It declares: {', '.join(s.options.name for s in _declared(pipeline))}."
            )
    if len(declared) > 1 and model_name is None:
        raise PipelineModelError(
            "The pipeline declares several pipeline_ml_factory models: "
            f"{', '.join(s.options.name for s in declared)}. Pick one with "
            "--model-name."
        )
    if declared:
        spec = declared[0]
        options = dataclasses.replace(spec.options, **given)
        return InferenceSpec(
            spec.training, spec.inference, input_name or spec.input_name, options
        )
    if input_name is None:
        raise PipelineModelError(
            "The pipeline declares no pipeline_ml_factory model, so it is logged as "
            "the inference pipeline itself: say which of its inputs the model gets "
            f"with --input-name (its inputs: {', '.join(sorted(pipeline.inputs()))})."
        )
    if model_name is not None:
        given["name"] = model_name
    return InferenceSpec(None, pipeline, input_name, ModelOptions(**given))


def _declared(pipeline: Pipeline) -> list[InferenceSpec]:
    """The models whose whole training ``pipeline`` holds (a PipelineML's first)."""
    found = [match.spec for match in matches(pipeline) if not match.missing]
    if isinstance(pipeline, PipelineML):
        found = [pipeline.spec, *(s for s in found if s is not pipeline.spec)]
    return found


def combined(pipelines: Mapping[str, Pipeline], names: str) -> Pipeline:
    """The registered pipeline ``names`` (comma-separated: their sum).

    Raises:
        PipelineModelError: For a name the registry does not have.
    """
    chosen = []
    for name in (part.strip() for part in names.split(",")):
        try:
            chosen.append(pipelines[name])
        except KeyError:
            raise PipelineModelError(
                f"No pipeline named {name!r}. The project's pipelines: "
                f"{', '.join(sorted(pipelines))}."
            ) from None
    if len(chosen) == 1:
        return chosen[0]
    return sum(chosen[1:], chosen[0])
