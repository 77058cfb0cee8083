"""How a pipeline model is logged, registered and run at predict time: its options, checked.

``pipeline_ml_factory`` builds them from its arguments (and kedro-mlflow's
``kpm_kwargs`` and ``log_model_kwargs``); a wrong one fails when the pipeline is
registered, before any run.

Examples:
    >>> ModelOptions(runner="ParallelRunner")
    Traceback (most recent call last):
    ...
    pipelinex_mlflow.pipeline_ml.model_options.PipelineModelError: pipeline_ml_factory: runner 'ParallelRunner' cannot run the model at predict time. Use one of: SequentialRunner, ThreadRunner (ParallelRunner would start a process pool per prediction).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

#: The runners a model may use at predict time (a process pool per request is not one).
PREDICT_RUNNERS = ("SequentialRunner", "ThreadRunner")
CopyMode = Literal["assign", "copy", "deepcopy"]
COPY_MODES: tuple[CopyMode, ...] = ("assign", "copy", "deepcopy")
DEFAULT_MODEL_NAME = "model"
SIGNATURE_MODES = ("auto", "none")


class PipelineModelError(ValueError):
    """A pipeline model that cannot be built or logged, saying what to change."""


@dataclass
class ModelOptions:
    """How the inference pipeline is logged, registered and run at predict time.

    Attributes:
        name: The logged model's name in the run (``runs:/<run id>/<name>``).
        registered_model_name: Register each logged model as a version of it.
        alias: Move this alias to the new version.
        tags: Tags of the new version.
        input_example: The example the signature is inferred from, and that MLflow
            stores; ``None``: the first rows of ``input_name`` when the catalog
            persists it.
        signature: ``"auto"`` (inferred from the example), ``"none"``, or an
            ``mlflow.models.ModelSignature``.
        pip_requirements: The model's requirements; ``None``: the packages the
            inference code and its inputs import, pinned to the installed versions.
        extra_pip_requirements: Added to those.
        include_code: Put the project's package (and pipelinex_mlflow) into the
            model's ``code_paths``, so it loads outside the project.
        code_paths: More files or folders for the model's ``code_paths``.
        runner: The Kedro runner ``predict`` uses (``SequentialRunner`` or
            ``ThreadRunner``; ``params={"runner": ...}`` picks another per call).
        copy_mode: How the model's inputs reach the nodes: ``assign``, ``copy``,
            ``deepcopy``, or a dict of them by dataset name.
        save_args: Anything else ``mlflow.pyfunc.save_model`` takes, and the
            logged model's ``params``, ``tags`` and ``model_type``.
    """

    name: str = DEFAULT_MODEL_NAME
    registered_model_name: str | None = None
    alias: str | None = None
    tags: dict[str, Any] = field(default_factory=dict)
    input_example: Any = None
    signature: Any = "auto"
    pip_requirements: list[str] | None = None
    extra_pip_requirements: list[str] = field(default_factory=list)
    include_code: bool = True
    code_paths: list[str] = field(default_factory=list)
    runner: str = "SequentialRunner"
    copy_mode: CopyMode | dict[str, CopyMode] = "assign"
    save_args: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_options(self)


def _check_options(options: ModelOptions) -> None:
    if not isinstance(options.name, str) or not options.name.strip():
        raise PipelineModelError(
            f"pipeline_ml_factory: the model name must be a non-empty string, not "
            f"{options.name!r}."
        )
    if options.alias and not options.registered_model_name:
        raise PipelineModelError(
            f"pipeline_ml_factory: alias {options.alias!r} needs "
            "registered_model_name: an alias names a version of a registered model."
        )
    # The registry's own name rules import MLflow: checked when a run starts
    # (packaging.check_catalog), not in every `kedro` command's registry.
    if options.runner not in PREDICT_RUNNERS:
        raise PipelineModelError(
            f"pipeline_ml_factory: runner {options.runner!r} cannot run the model at "
            f"predict time. Use one of: {', '.join(PREDICT_RUNNERS)} (ParallelRunner "
            "would start a process pool per prediction)."
        )
    modes = (
        options.copy_mode.values()
        if isinstance(options.copy_mode, dict)
        else [options.copy_mode]
    )
    for mode in modes:
        if mode not in COPY_MODES:
            raise PipelineModelError(
                f"pipeline_ml_factory: copy_mode {mode!r} is not one of "
                f"{', '.join(COPY_MODES)}."
            )
    signature = options.signature
    if isinstance(signature, str) and signature not in SIGNATURE_MODES:
        raise PipelineModelError(
            f"pipeline_ml_factory: signature {signature!r} is not one of "
            f"{', '.join(SIGNATURE_MODES)}, or an mlflow.models.ModelSignature."
        )
    _check_save_args_clashes(options)


#: save_model arguments the pipeline model sets itself: its Python model is the
#: inference pipeline, saved in the folder MLflow gives.
_SET_BY_THE_PIPELINE_MODEL = (
    "python_model",
    "loader_module",
    "data_path",
    "path",
    "mlflow_model",
)


def _check_save_args_clashes(options: ModelOptions) -> None:
    """Refuse save_args (kedro-mlflow's log_model_kwargs) that cannot all hold.

    Examples:
        >>> ModelOptions(save_args={"conda_env": {}}, extra_pip_requirements=["x"])
        Traceback (most recent call last):
        ...
        pipelinex_mlflow.pipeline_ml.model_options.PipelineModelError: pipeline_ml_factory model 'model': conda_env replaces the model's pip requirements, so it cannot come with extra_pip_requirements. Give conda_env alone, or pip_requirements/extra_pip_requirements without it.
    """
    taken = sorted(k for k in options.save_args if k in _SET_BY_THE_PIPELINE_MODEL)
    if taken:
        raise PipelineModelError(
            f"pipeline_ml_factory model {options.name!r}: {', '.join(taken)} "
            "cannot be given: the pipeline model sets it (its Python model is the "
            "inference pipeline). Remove it from log_model_kwargs."
        )
    if options.save_args.get("conda_env") is None:
        return
    given = [
        name
        for name, value in (
            ("pip_requirements", options.pip_requirements),
            ("extra_pip_requirements", options.extra_pip_requirements),
        )
        if value
    ]
    if given:
        raise PipelineModelError(
            f"pipeline_ml_factory model {options.name!r}: conda_env replaces the "
            f"model's pip requirements, so it cannot come with {' or '.join(given)}. "
            "Give conda_env alone, or pip_requirements/extra_pip_requirements "
            "without it."
        )
