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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro.io import DatasetError

from pipelinex_mlflow.io.model_backend import ModelBackend
from pipelinex_mlflow.kedro_helpers import keeps_in_memory
from pipelinex_mlflow.masking import get_logger
from pipelinex_mlflow.pipeline_ml.model_options import PipelineModelError
from pipelinex_mlflow.pipeline_ml.predictor import RUNNER_PARAM, InferencePredictor
from pipelinex_mlflow.tracking import TrackingError
from pipelinex_mlflow.tracking.flavors import PYFUNC, get_flavor
from pipelinex_mlflow.tracking.models import (
    LOGGED_MODEL_ARGS,
    check_registry_names,
    link_run_metrics,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from kedro.io import CatalogProtocol

    from pipelinex_mlflow.pipeline_ml.spec import InferenceSpec
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
    _check_save_args(spec)
    try:
        check_registry_names(spec.options.registered_model_name, spec.options.alias)
    except TrackingError as exc:
        raise PipelineModelError(
            f"pipeline_ml_factory model {spec.options.name!r}: {exc}"
        ) from None
    in_memory = [name for name in spec.artifacts if _in_memory(catalog, name)]
    if in_memory:
        raise PipelineModelError(
            f"pipeline_ml_factory model {spec.options.name!r} needs "
            f"{', '.join(in_memory)}, which the catalog keeps in memory only, so the "
            "model could not carry it after the run. Declare each in catalog.yml as "
            "a persisted dataset (for example type: pickle.PickleDataset, or "
            "pipelinex_mlflow.MLflowDataSet with dataset: pkl)."
        )


def _check_save_args(spec: InferenceSpec) -> None:
    """Refuse a ``log_model_kwargs`` key ``mlflow.pyfunc.save_model`` does not take.

    Checked when the run starts (MLflow is imported then anyway), not after the
    training.
    """
    extra = {
        k: v for k, v in spec.options.save_args.items() if k not in LOGGED_MODEL_ARGS
    }
    try:
        get_flavor(PYFUNC).check_save_args(extra)
    except TrackingError as exc:
        raise PipelineModelError(
            f"pipeline_ml_factory model {spec.options.name!r}: {exc}"
        ) from None


def _in_memory(catalog: CatalogProtocol[Any, Any], name: str) -> bool:
    return keeps_in_memory(catalog.get(name, fallback_to_runtime_pattern=True))


@dataclass
class PreparedModel:
    """A pipeline model ready to log: everything read from the catalog is in it.

    Attributes:
        spec: The declaration.
        predictor: The inference pipeline with the values it reads.
        save_args: ``mlflow.pyfunc.save_model``'s arguments (but the files).
    """

    spec: InferenceSpec
    predictor: InferencePredictor
    save_args: dict[str, Any]


def prepare_pipeline_model(
    spec: InferenceSpec, catalog: CatalogProtocol[Any, Any]
) -> PreparedModel:
    """Load the model's inputs, run the example through it, infer its signature.

    Raises:
        PipelineModelError: When an input cannot be loaded or the pipeline fails
            on the input example.
    """
    from pipelinex_mlflow.tracking.pyfunc_adapter import infer_signature

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
    else:
        # MLflow hands predict no params without a signature that lists them.
        logger.warning(
            "Model %r has no signature, so MLflow will drop the params of predict "
            "calls (runner%s). Give pipeline_ml_factory an input_example to have one.",
            options.name,
            "".join(f", {name}" for name in sorted(predictor.parameter_defaults())),
        )
    return PreparedModel(spec, predictor, save_args)


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
    return log_prepared_model(
        prepare_pipeline_model(spec, catalog), run_logger, linked_metrics
    )


def log_prepared_model(
    prepared: PreparedModel,
    run_logger: RunLogger,
    linked_metrics: Sequence[str] = (),
) -> LoggedModelRef:
    """Log a prepared pipeline model into the run of ``run_logger``.

    Raises:
        PipelineModelError: When a value does not pickle or MLflow refuses the
            model (a registration failure keeps the logged model, and says so).
    """
    from pipelinex_mlflow.tracking.pyfunc_adapter import (
        MODEL_CODE_FILE,
        PREDICTOR_ARTIFACT,
        write_predictor,
    )

    options = prepared.spec.options
    save_args = dict(prepared.save_args)
    with tempfile.TemporaryDirectory(prefix="pipelinex_mlflow-model-") as tmp:
        pickled = Path(tmp) / "predictor.pkl"
        try:
            write_predictor(prepared.predictor, pickled)
        except TrackingError as exc:
            raise PipelineModelError(f"Model {options.name!r}: {exc}") from exc
        if save_args.get("conda_env") is None:
            # A conda_env (kedro-mlflow's way) replaces the pinned requirements.
            save_args["pip_requirements"] = options.pip_requirements or [
                *pinned_requirements(prepared.spec, pickled),
                *options.extra_pip_requirements,
            ]
        code = Path(tmp, "code")
        code.mkdir()
        save_args["code_paths"] = [
            *_code_paths(code, with_project=options.include_code),
            *options.code_paths,
        ]
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
        try:
            # The model's code file makes a KedroPipelineModel (models-from-code).
            logged = backend.save(str(MODEL_CODE_FILE), options.name, run_logger)
        except DatasetError as exc:
            raise PipelineModelError(str(exc)) from exc
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


def _code_paths(into: Path, *, with_project: bool) -> list[str]:
    """Copies of pipelinex_mlflow and the project's package: what the model imports.

    pipelinex_mlflow always travels (the model's code file and its predictor
    import it); the project's package unless ``with_project`` is off. Copied
    without ``__pycache__`` (MLflow would copy the bytecode too), and without
    pipelinex_mlflow's vendored JavaScript (1.2 MB the model never runs).
    """
    from kedro.framework.project import PACKAGE_NAME

    this_package = Path(__file__).resolve().parents[1]
    packages = [this_package]
    package_name: str | None = PACKAGE_NAME  # None outside a project
    if with_project and package_name:
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


def pinned_requirements(spec: InferenceSpec, pickled: Path) -> list[str]:
    """``name==version`` of each distribution the model needs to load and predict.

    The modules named come from the pickled predictor (the class of every
    carried value, nested ones too, and the functions pickled by reference) and
    from what the inference nodes' modules import, following the project's own
    modules; the package index names their distributions. pipelinex_mlflow's own
    requirements come too; the project's package and pipelinex_mlflow travel as
    code.
    """
    from kedro.framework.project import PACKAGE_NAME

    from pipelinex_mlflow.tracking.pyfunc_adapter import pickled_modules

    project = PACKAGE_NAME or "__main__"
    modules = set(pickled_modules(pickled)) | set(_node_modules(spec))
    packages = {name.split(".")[0] for name in _imports_of(modules, project)}
    packages -= {"pipelinex_mlflow", project, "builtins", "__main__"}
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


def _node_modules(spec: InferenceSpec) -> Iterable[str]:
    for node in spec.inference.nodes:
        func = getattr(node.func, "func", node.func)  # functools.partial
        module = getattr(func, "__module__", None)
        if isinstance(module, str):
            yield module


def _imports_of(modules: Iterable[str], project: str) -> set[str]:
    """``modules``, plus what each imports; the project's modules are followed."""
    found: set[str] = set()
    pending = list(modules)
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found.add(name)
        module = sys.modules.get(name)
        if module is None or name.split(".")[0] not in (project, "__main__"):
            continue
        for value in vars(module).values():
            imported = (
                value.__name__
                if inspect.ismodule(value)
                else getattr(value, "__module__", None)
            )
            if isinstance(imported, str) and imported not in found:
                pending.append(imported)
    return found


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
