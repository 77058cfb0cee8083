"""Logs an inference pipeline, with the training outputs it reads, as one MLflow model.

At the end of a training run (or for ``kedro mlflow modelify``), every inference
input is loaded from the catalog and pickled into the model with the pipeline;
the input example runs through the pipeline once, which both checks that the
model predicts and gives MLflow its signature. The project's package and
pipelinex_mlflow travel as the model's ``code_paths``, and the requirements are
the distributions the inference code and its inputs import, pinned to the
installed versions: the model loads in a fresh process anywhere.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import inspect
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro.io import MemoryDataset

from pipelinex_mlflow.io.model_backend import ModelBackend
from pipelinex_mlflow.masking import get_logger
from pipelinex_mlflow.pipeline_ml.predictor import RUNNER_PARAM, InferencePredictor
from pipelinex_mlflow.pipeline_ml.spec import InferenceSpec, PipelineModelError
from pipelinex_mlflow.tracking import TrackingError
from pipelinex_mlflow.tracking.models import link_run_metrics

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from kedro.io import CatalogProtocol

    from pipelinex_mlflow.tracking import RunLogger
    from pipelinex_mlflow.tracking.models import LoggedModelRef

logger = get_logger(__name__)

#: Rows of a persisted ``input_name`` table kept as the model's input example.
EXAMPLE_ROWS = 5
_THIS_DISTRIBUTION = "pipelinex-mlflow"
# Always needed to load the model, whatever the inference code imports.
_LOADING_DISTRIBUTIONS = ("mlflow", "kedro", "cloudpickle", "pandas")


def check_catalog(spec: InferenceSpec, catalog: CatalogProtocol[Any, Any]) -> None:
    """Refuse a model input the catalog keeps in memory only (gone after the run).

    Raises:
        PipelineModelError: Naming the datasets and what to declare instead.
    """
    in_memory = [name for name in spec.artifacts if _in_memory(catalog, name)]
    if in_memory:
        raise PipelineModelError(
            f"pipeline_ml_factory model {spec.options.name!r} needs "
            f"{', '.join(in_memory)}, which the catalog keeps in memory only, so the "
            "model could not carry it after the run. Declare each in catalog.yml as "
            "a persisted dataset (for example type: pickle.PickleDataset, or "
            "pipelinex_mlflow.MLflowDataSet with dataset: pkl)."
        )


def _in_memory(catalog: CatalogProtocol[Any, Any], name: str) -> bool:
    dataset = catalog.get(name, fallback_to_runtime_pattern=True)
    # ParallelRunner's catalog holds SharedMemoryDataset, no MemoryDataset subclass.
    return (
        dataset is None
        or isinstance(dataset, MemoryDataset)
        or type(dataset).__name__ == "SharedMemoryDataset"
    )


def log_pipeline_model(
    spec: InferenceSpec,
    catalog: CatalogProtocol[Any, Any],
    run_logger: RunLogger,
    linked_metrics: Sequence[str] = (),
) -> LoggedModelRef:
    """Log ``spec``'s inference pipeline into the run of ``run_logger``.

    The run's latest values of the metric entries ``linked_metrics`` are linked
    to the model (MLflow shows them on its page).

    Raises:
        PipelineModelError: When an input cannot be loaded, the pipeline fails on
            the input example, or MLflow refuses the model.
    """
    from pipelinex_mlflow.tracking.pyfunc_adapter import (
        MODEL_CODE_FILE,
        PREDICTOR_ARTIFACT,
        infer_signature,
        write_predictor,
    )

    options = spec.options
    check_catalog(spec, catalog)
    predictor = InferencePredictor(
        spec.inference,
        input_name=spec.input_name,
        artifacts={name: _load(catalog, name, spec) for name in spec.artifacts},
        parameters={name: _load(catalog, name, spec) for name in spec.parameters},
        runner=options.runner,
        copy_mode=options.copy_mode,
    )
    example = _input_example(spec, catalog)
    save_args: dict[str, Any] = dict(options.save_args)
    if example is not None:
        save_args["input_example"] = example
    signature = options.signature
    if isinstance(signature, str):
        signature = None
        if options.signature == "auto" and example is not None:
            try:
                output = predictor.predict(example, None)
            except Exception as exc:
                raise PipelineModelError(
                    f"The inference pipeline of model {options.name!r} fails on its "
                    f"input example: {type(exc).__name__}: {exc}"
                ) from exc
            signature = infer_signature(
                example,
                output,
                {RUNNER_PARAM: options.runner, **predictor.parameter_defaults()},
            )
    if signature is not None:
        save_args["signature"] = signature
    save_args["pip_requirements"] = options.pip_requirements or [
        *pinned_requirements(spec, predictor),
        *options.extra_pip_requirements,
    ]
    with tempfile.TemporaryDirectory(prefix="pipelinex_mlflow-model-") as tmp:
        code = Path(tmp, "code")
        code.mkdir()
        code_paths = [
            *(_code_paths(code) if options.include_code else []),
            *options.code_paths,
        ]
        if code_paths:
            save_args["code_paths"] = code_paths
        pickled = Path(tmp) / "predictor.pkl"
        try:
            write_predictor(predictor, pickled)
        except TrackingError as exc:
            raise PipelineModelError(f"Model {options.name!r}: {exc}") from exc
        save_args["artifacts"] = {
            **save_args.get("artifacts", {}),
            PREDICTOR_ARTIFACT: str(pickled),
        }
        backend = ModelBackend(
            "pyfunc",
            registered_model_name=options.registered_model_name,
            alias=options.alias,
            tags=options.tags or None,
            save_args=save_args,
            pyfunc_workflow="python_model",
        )
        # The model's code file makes a KedroPipelineModel (models-from-code).
        logged = backend.save(str(MODEL_CODE_FILE), options.name, run_logger)
    try:
        link_run_metrics(run_logger.run, logged, linked_metrics)
    except TrackingError as exc:  # the model is there: say what is missing from it
        logger.warning("Model %r is logged, but %s", options.name, exc)
    return logged


def _load(catalog: CatalogProtocol[Any, Any], name: str, spec: InferenceSpec) -> Any:
    try:
        return catalog.load(name)
    except Exception as exc:
        raise PipelineModelError(
            f"Cannot load {name!r}, an input of the inference pipeline of model "
            f"{spec.options.name!r}: {type(exc).__name__}: {exc}"
        ) from exc


def _input_example(spec: InferenceSpec, catalog: CatalogProtocol[Any, Any]) -> Any:
    if spec.options.input_example is not None:
        return spec.options.input_example
    name = spec.input_name
    if _in_memory(catalog, name):
        logger.info(
            "Model %r gets no signature: the catalog does not persist its input %r; "
            "give pipeline_ml_factory an input_example.",
            spec.options.name,
            name,
        )
        return None
    try:
        data = catalog.load(name)
    except Exception as exc:  # an example is a nicety: the model is logged anyway
        logger.warning(
            "Model %r gets no signature: loading its input %r failed (%s: %s).",
            spec.options.name,
            name,
            type(exc).__name__,
            exc,
        )
        return None
    head = getattr(data, "head", None)
    return head(EXAMPLE_ROWS) if callable(head) else data


def _code_paths(into: Path) -> list[str]:
    """Copies of the project's package and pipelinex_mlflow, what the model imports.

    Copied without ``__pycache__`` (MLflow would copy the bytecode too), and
    without pipelinex_mlflow's vendored JavaScript (1.2 MB the model never runs).
    """
    from kedro.framework.project import PACKAGE_NAME

    this_package = Path(__file__).resolve().parents[1]
    packages = [this_package]
    package_name: str | None = PACKAGE_NAME  # None outside a project
    if package_name:
        project_package = importlib.import_module(package_name)
        packages.insert(0, Path(inspect.getfile(project_package)).parent)
    copies = []
    for package in packages:
        copy = into / package.name
        skipped = ["__pycache__", "*.py[co]"]
        if package == this_package:
            skipped.append("_vendor")
        shutil.copytree(package, copy, ignore=shutil.ignore_patterns(*skipped))
        copies.append(str(copy))
    return copies


def pinned_requirements(
    spec: InferenceSpec, predictor: InferencePredictor
) -> list[str]:
    """``name==version`` of each distribution the model needs to load and predict.

    The inference nodes' modules (and what they import) and the classes of the
    carried values name the top-level packages; the package index names their
    distributions. pipelinex_mlflow's own requirements come too; the project's
    package and pipelinex_mlflow travel as code.

    Examples:
        >>> from kedro.pipeline import Pipeline, node
        >>> spec = InferenceSpec(
        ...     None, Pipeline([node(len, "instances", "n")]), "instances"
        ... )
        >>> predictor = InferencePredictor(
        ...     spec.inference, input_name="instances", artifacts={}, parameters={}
        ... )
        >>> any(r.startswith("mlflow==") for r in pinned_requirements(spec, predictor))
        True
    """
    from kedro.framework.project import PACKAGE_NAME

    packages = set(_imported_packages(spec, predictor))
    packages -= {"pipelinex_mlflow", PACKAGE_NAME or "", "builtins", "__main__"}
    packages -= set(sys.stdlib_module_names)
    by_package = _distributions_by_package()
    distributions = set(_LOADING_DISTRIBUTIONS) | set(_own_requirements())
    for package in packages:
        distributions.update(by_package.get(package, ()))
    pinned = []
    for name in sorted(distributions, key=str.lower):
        try:
            pinned.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return [p for p in pinned if not p.lower().startswith(f"{_THIS_DISTRIBUTION}==")]


@functools.cache
def _distributions_by_package() -> Mapping[str, list[str]]:
    """Top-level package -> distributions; read once (it scans every installed one)."""
    return importlib.metadata.packages_distributions()


def _imported_packages(
    spec: InferenceSpec, predictor: InferencePredictor
) -> Iterable[str]:
    for node in spec.inference.nodes:
        func = getattr(node.func, "func", node.func)  # functools.partial
        module = sys.modules.get(getattr(func, "__module__", "") or "")
        if module is None:
            continue
        yield module.__name__.split(".")[0]
        for value in vars(module).values():
            name = (
                getattr(value, "__name__", None)
                if inspect.ismodule(value)
                else (getattr(value, "__module__", None))
            )
            if isinstance(name, str):
                yield name.split(".")[0]
    for value in [*predictor.artifacts.values(), *predictor.parameters.values()]:
        for cls in type(value).__mro__:
            yield cls.__module__.split(".")[0]


def _own_requirements() -> list[str]:
    from packaging.requirements import Requirement

    try:
        declared = importlib.metadata.requires(_THIS_DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        return []
    names = []
    for text in declared:
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            names.append(requirement.name)
    return names
