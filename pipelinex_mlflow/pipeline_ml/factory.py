"""``pipeline_ml_factory``: a training pipeline whose run also logs the inference pipeline.

kedro-mlflow's name and main arguments (``training``, ``inference``,
``input_name``, ``kpm_kwargs``, ``log_model_kwargs``), so its users can switch.

Examples:
    >>> import logging
    >>> logging.disable(logging.WARNING)  # no project here: a test's may linger
    >>> from kedro.pipeline import Pipeline, node
    >>> def fit(data):
    ...     return sum(data)
    >>> def predict(total, instances):
    ...     return [total + x for x in instances]
    >>> training = pipeline_ml_factory(
    ...     training=Pipeline([node(fit, "data", "total", name="fit")]),
    ...     inference=Pipeline([node(predict, ["total", "instances"], "y")]),
    ...     input_name="instances",
    ...     registered_model_name="adder",
    ... )
    >>> [n.name for n in training.nodes], training.input_name
    (['fit'], 'instances')
    >>> logging.disable(logging.NOTSET)
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from kedro.pipeline import Pipeline

from pipelinex_mlflow.masking import get_logger
from pipelinex_mlflow.pipeline_ml.model_options import (
    DEFAULT_MODEL_NAME,
    ModelOptions,
    PipelineModelError,
)
from pipelinex_mlflow.pipeline_ml.spec import InferenceSpec, register

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

logger = get_logger(__name__)

# kedro-mlflow's log_model_kwargs key -> our argument.
_LOG_MODEL_KWARGS = {
    "name": "model_name",
    "artifact_path": "model_name",
    "registered_model_name": "registered_model_name",
    "signature": "signature",
    "input_example": "input_example",
    "pip_requirements": "pip_requirements",
    "extra_pip_requirements": "extra_pip_requirements",
    "code_paths": "code_paths",
}
_KPM_KWARGS = ("runner", "copy_mode")


class PipelineML(Pipeline):
    """The training pipeline, carrying the inference pipeline it logs as a model.

    It runs exactly as the training pipeline. Summing, filtering or tagging it
    (what ``kedro run`` does) keeps the model logging: the end of the run finds
    the model by the training nodes that ran, not by this class.

    Attributes:
        training: The training pipeline.
        inference: The inference pipeline logged as the model.
        input_name: The inference input that ``predict`` gets.
        spec: The whole declaration (:class:`InferenceSpec`).
    """

    def __init__(self, spec: InferenceSpec) -> None:
        assert spec.training is not None  # noqa: S101 - the factory passes one
        super().__init__(spec.training.nodes)
        self.spec = spec
        self.training = spec.training
        self.inference = spec.inference
        self.input_name = spec.input_name


def pipeline_ml_factory(
    training: Pipeline,
    inference: Pipeline,
    input_name: str,
    kpm_kwargs: Mapping[str, Any] | None = None,
    log_model_kwargs: Mapping[str, Any] | None = None,
    *,
    model_name: str | None = None,
    registered_model_name: str | None = None,
    alias: str | None = None,
    tags: Mapping[str, Any] | None = None,
    input_example: Any = None,
    signature: Any = None,
    pip_requirements: Sequence[str] | None = None,
    extra_pip_requirements: Sequence[str] | None = None,
    include_code: bool = True,
    code_paths: Sequence[str] | None = None,
    runner: Any = None,
    copy_mode: str | Mapping[str, str] | None = None,
) -> PipelineML:
    """Make ``training`` log ``inference`` as one MLflow model at the end of its runs.

    After a successful run, every inference input that training produced or read
    (persisted datasets) and every ``params:`` value travel inside the model;
    ``predict(model_input, params=...)`` runs the inference pipeline on
    ``model_input`` as ``input_name``, with ``params`` overriding parameter values
    by dotted name (``{"model.threshold": 0.7}``) and choosing the ``runner``.

    Args:
        training: The pipeline that runs.
        inference: The pipeline the model runs at predict time.
        input_name: The inference input that ``predict`` gets.
        kpm_kwargs: kedro-mlflow's spelling of ``runner`` and ``copy_mode``.
        log_model_kwargs: kedro-mlflow's spelling of the model arguments (``name``,
            ``registered_model_name``, ``signature``, ``input_example``,
            ``pip_requirements``, ``code_paths``...); other keys go to
            ``mlflow.pyfunc.save_model``.
        model_name: The logged model's name (``runs:/<run id>/<name>``);
            ``model`` by default.
        registered_model_name: Register each logged model as a version of it.
        alias: Move this alias (``champion``) to the new version.
        tags: Tags of the new version.
        input_example: The example MLflow stores and infers the signature from;
            by default the first rows of ``input_name`` when the catalog persists it.
        signature: ``"auto"`` (the default: inferred from the example), ``"none"``,
            or an ``mlflow.models.ModelSignature``.
        pip_requirements: The model's requirements. By default the distributions
            the inference code and its inputs import, pinned to the installed
            versions.
        extra_pip_requirements: Added to the default requirements.
        include_code: Put the project's package and pipelinex_mlflow into the
            model (``code_paths``), so it loads outside the project.
        code_paths: More files or folders to put into the model.
        runner: The runner ``predict`` uses: ``SequentialRunner`` (default) or
            ``ThreadRunner``, as a name, class or instance.
        copy_mode: How the model's inputs reach the nodes: ``assign`` (default),
            ``copy``, ``deepcopy``, or a dict of them by dataset name.

    Returns:
        The training pipeline, with the model declaration attached.

    Raises:
        PipelineModelError: For an inference input training neither produces nor
            reads, an ``input_name`` that is not an inference input, or a bad
            argument, naming the offending dataset.
    """
    explicit: dict[str, Any] = {
        "model_name": model_name,
        "registered_model_name": registered_model_name,
        "signature": signature,
        "input_example": input_example,
        "pip_requirements": pip_requirements,
        "extra_pip_requirements": extra_pip_requirements,
        "code_paths": code_paths,
        "runner": runner,
        "copy_mode": copy_mode,
    }
    save_args = _merge_kedro_mlflow_kwargs(explicit, kpm_kwargs, log_model_kwargs)
    options = ModelOptions(
        name=explicit["model_name"] or DEFAULT_MODEL_NAME,
        registered_model_name=explicit["registered_model_name"],
        alias=alias,
        tags=dict(tags or {}),
        input_example=explicit["input_example"],
        signature=_signature_mode(explicit["signature"]),
        pip_requirements=_strings(explicit["pip_requirements"], "pip_requirements"),
        extra_pip_requirements=_strings(
            explicit["extra_pip_requirements"], "extra_pip_requirements"
        )
        or [],
        include_code=include_code,
        code_paths=_strings(explicit["code_paths"], "code_paths") or [],
        runner=_runner_name(explicit["runner"]),
        copy_mode=dict(explicit["copy_mode"])
        if isinstance(explicit["copy_mode"], dict)
        else explicit["copy_mode"] or "assign",
        save_args=save_args,
    )
    spec = InferenceSpec(training, inference, input_name, options)
    register(spec)
    _warn_without_run_hook(options.name)
    return PipelineML(spec)


def _warn_without_run_hook(model_name: str) -> None:
    """Say so when the project registers no hook that would log the model.

    By class name: the hooks layer sits above this one. A process that never
    imported ``kedro.framework.project`` has no project configured: nothing to
    check, and importing it here would set up Kedro's logging as a side effect.
    """
    project = sys.modules.get("kedro.framework.project")
    if project is None:
        return
    in_project: str | None = project.PACKAGE_NAME
    hooks = getattr(project.settings, "HOOKS", ())
    if in_project and not any(
        type(hook).__name__ == "MLflowBasicLoggerHook" for hook in hooks
    ):
        logger.warning(
            "pipeline_ml_factory model %r is never logged: settings.py HOOKS has no "
            "pipelinex_mlflow.MLflowBasicLoggerHook, which logs it at the end of "
            "each run.",
            model_name,
        )


def _merge_kedro_mlflow_kwargs(
    explicit: dict[str, Any],
    kpm_kwargs: Mapping[str, Any] | None,
    log_model_kwargs: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Fold kedro-mlflow's dicts into ``explicit``; return the keys left for MLflow."""
    moved: list[tuple[str, Any]] = []
    for key, value in (kpm_kwargs or {}).items():
        if key not in _KPM_KWARGS:
            raise PipelineModelError(
                f"pipeline_ml_factory: kpm_kwargs takes {', '.join(_KPM_KWARGS)}, not "
                f"{key!r}."
            )
        moved.append((key, value))
    save_args = {}
    for key, value in (log_model_kwargs or {}).items():
        if key in _LOG_MODEL_KWARGS:
            moved.append((_LOG_MODEL_KWARGS[key], value))
        else:
            save_args[key] = value
    for key, value in moved:
        if explicit[key] is not None:
            raise PipelineModelError(
                f"pipeline_ml_factory: {key} is given twice (as an argument and in "
                "kpm_kwargs or log_model_kwargs). Give it once."
            )
        # kedro-mlflow's signature=None means "no signature".
        explicit[key] = "none" if key == "signature" and value is None else value
    return save_args


def _signature_mode(signature: Any) -> Any:
    return "auto" if signature is None else signature


def _runner_name(runner: Any) -> str:
    if runner is None:
        return "SequentialRunner"
    if isinstance(runner, str):
        return runner
    cls = runner if isinstance(runner, type) else type(runner)
    return cls.__name__


def _strings(values: Sequence[str] | str | None, what: str) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, str):
        return [values]
    if not all(isinstance(value, str) for value in values):
        raise PipelineModelError(
            f"pipeline_ml_factory: {what} must be a list of strings, not {values!r}."
        )
    return list(values)
