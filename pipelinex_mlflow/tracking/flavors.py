"""MLflow's model flavors: which exist, which are installed, what each one saves.

The list comes from MLflow itself (``mlflow.ml_package_versions``, the table its
own ``flavors update`` tool writes), so a flavor that a new MLflow adds is known
here without a change. Reading it imports MLflow, which only a model dataset
needs.

Examples:
    >>> flavor = get_flavor("mlflow.sklearn")
    >>> flavor.name, flavor.pip_package, flavor.module_name
    ('sklearn', 'scikit-learn', 'mlflow.sklearn')
    >>> get_flavor("sklearnn")
    Traceback (most recent call last):
    ...
    pipelinex_mlflow.tracking.errors.TrackingError: Unknown MLflow model flavor ...
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipelinex_mlflow.compat.mlflow_private import (
    default_serialization_format,
    ml_package_versions,
)
from pipelinex_mlflow.masking import get_logger
from pipelinex_mlflow.tracking.errors import TrackingError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path
    from types import ModuleType

PYFUNC = "pyfunc"

logger = get_logger(__name__)

# What a flavor's save_model takes, by the top-level packages of the classes it
# saves. A flavor not listed here is left to say itself what it cannot save
# (transformers, for example, also takes a dict of pipeline parts).
_MODEL_PACKAGES: dict[str, tuple[str, ...]] = {
    "xgboost": ("xgboost",),
    "lightgbm": ("lightgbm",),
    "catboost": ("catboost",),
    "pytorch": ("torch", "lightning", "pytorch_lightning"),
    "statsmodels": ("statsmodels",),
    "prophet": ("prophet",),
    "pmdarima": ("pmdarima",),
    "spacy": ("spacy",),
    "h2o": ("h2o",),
    "spark": ("pyspark",),
}
_WANTS: dict[str, str] = {
    "sklearn": "a scikit-learn estimator or Pipeline (an object with fit or predict)",
    PYFUNC: (
        "an mlflow.pyfunc.PythonModel instance or a function (the python_model "
        "workflow), or the name of a loader module with data_path in save_args "
        "(the loader_module workflow)"
    ),
    "xgboost": "an xgboost Booster or an XGBModel such as XGBRegressor",
    "lightgbm": "a lightgbm Booster or an LGBMModel such as LGBMRegressor",
    "catboost": "a CatBoost model such as CatBoostRegressor",
    "pytorch": "a torch.nn.Module",
    "keras": "a Keras model",
    "tensorflow": "a TensorFlow or Keras model",
    "statsmodels": "a fitted statsmodels results object",
    "prophet": "a fitted prophet.Prophet model",
}


@dataclass(frozen=True)
class Flavor:
    """One MLflow model flavor, such as ``sklearn``.

    Attributes:
        name: The flavor's name, the ``X`` of ``mlflow.X``.
        pip_package: What ``pip install`` installs its library (``None`` for pyfunc).
        library: The module its library is imported as (``None`` for pyfunc).
    """

    name: str
    pip_package: str | None
    library: str | None

    @property
    def module_name(self) -> str:
        """The MLflow module of the flavor, for example ``mlflow.sklearn``."""
        return f"mlflow.{self.name}"

    @property
    def is_installed(self) -> bool:
        """Whether the flavor's library can be imported."""
        return self.library is None or _importable(self.library)

    @property
    def wants(self) -> str:
        """What the flavor saves, in words, for error messages."""
        return _WANTS.get(self.name, f"a {self.pip_package or self.name} model")

    def module(self) -> ModuleType:
        """Import and return the flavor's MLflow module."""
        return import_quietly(self.module_name)

    def check_installed(self) -> None:
        """Fail with the exact ``pip install`` when the flavor's library is missing.

        Raises:
            TrackingError: Naming the package to install.
        """
        if not self.is_installed:
            raise TrackingError(
                f"MLflow model flavor {self.name!r} needs the {self.pip_package!r} "
                f"package, which is not installed. Install it with: pip install "
                f"{self.pip_package}"
            )

    def default_pip_requirements(
        self, save_args: Mapping[str, Any]
    ) -> list[str] | None:
        """The flavor's pinned requirements, or ``None`` to let MLflow infer them.

        Passing them to ``save_model`` saves MLflow's requirement inference, which
        loads the model in a subprocess and takes seconds. The serialization
        library the save will use is included (scikit-learn's ``skops`` by
        default). ``pyfunc`` returns ``None``: a ``PythonModel`` imports what
        only the inference can tell.
        """
        if self.name == PYFUNC:
            return None
        module = self.module()
        defaults = getattr(module, "get_default_pip_requirements", None)
        if not callable(defaults):
            return None
        fmt = save_args.get("serialization_format") or default_serialization_format(
            module
        )
        wanted = {
            name: name == f"include_{fmt}"
            for name in inspect.signature(defaults).parameters
            if name.startswith("include_")
        }
        return list(defaults(**wanted))

    def check_save_args(self, save_args: Mapping[str, Any]) -> None:
        """Refuse ``save_args`` that the flavor's ``save_model`` does not take.

        Raises:
            TrackingError: Naming them and what it takes.
        """
        parameters = inspect.signature(self.module().save_model).parameters
        if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
            return
        unknown = sorted(set(save_args) - set(parameters))
        if unknown:
            taken = sorted(set(parameters) - {"path", "mlflow_model"})
            raise TrackingError(
                f"{self.module_name}.save_model does not take save_args "
                f"{', '.join(unknown)}. It takes: {', '.join(taken)}."
            )

    def refuse_unsaveable(self, model: Any) -> None:
        """Fail when ``model`` is plainly not something this flavor saves.

        Raises:
            TrackingError: Naming the type given and the type the flavor wants.
        """
        packages = _MODEL_PACKAGES.get(self.name)
        if self.name == "sklearn":
            # A DataFrame has transform too; an estimator has fit or predict.
            fits = hasattr(model, "fit") or hasattr(model, "predict")
        elif packages is not None:
            fits = any(
                cls.__module__.split(".")[0] in packages for cls in type(model).__mro__
            )
        else:
            return
        if not fits:
            raise TrackingError(
                f"MLflow model flavor {self.name!r} cannot save a "
                f"{type(model).__module__}.{type(model).__qualname__}: it wants "
                f"{self.wants}. Return such an object from the node, or pick the "
                "flavor that matches the object."
            )


@functools.cache
def known_flavors() -> dict[str, Flavor]:
    """Every model flavor this MLflow ships, by name, ``pyfunc`` included."""
    flavors = {PYFUNC: Flavor(PYFUNC, None, None)}
    for name, info in ml_package_versions().items():
        package = info.get("package_info", {})
        if "models" not in info or not _importable(f"mlflow.{name}"):
            continue
        flavors[name] = Flavor(
            name,
            package.get("pip_release", name),
            package.get("module_name", name),
        )
    return dict(sorted(flavors.items()))


def installed_flavors() -> list[str]:
    """The names of the flavors whose library is installed, sorted."""
    return [name for name, flavor in known_flavors().items() if flavor.is_installed]


def get_flavor(name: str) -> Flavor:
    """The flavor called ``name`` (``sklearn`` or kedro-mlflow's ``mlflow.sklearn``).

    Raises:
        TrackingError: For a flavor MLflow does not have, listing the installed ones.
    """
    short = name.strip().removeprefix("mlflow.")
    flavor = known_flavors().get(short)
    if flavor is None:
        raise TrackingError(
            f"Unknown MLflow model flavor {name!r}. Installed flavors: "
            f"{', '.join(installed_flavors())}. Other flavors MLflow has (install "
            f"their library first): "
            f"{', '.join(sorted(set(known_flavors()) - set(installed_flavors())))}."
        )
    return flavor


def import_quietly(module: str) -> ModuleType:
    """Import an MLflow module without the warning MLflow gives about its own code.

    The first import of ``mlflow.pyfunc`` (every flavor imports it) warns "Any type
    hint is inferred as AnyType" about MLflow's own response types: nothing a
    user can act on.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=".*Any type hint is inferred", category=UserWarning
        )
        return importlib.import_module(module)


def flavor_of(model: Any) -> Flavor:
    """The installed flavor that saves ``model``, told by the packages of its classes.

    The classes are tried from the object's own class to its bases, so a class of
    yours derived from ``torch.nn.Module`` or scikit-learn's ``BaseEstimator`` is
    saved by that library's flavor. A ``PythonModel`` or a plain function is
    ``pyfunc``.

    Raises:
        TrackingError: When no installed flavor saves such an object.

    Examples:
        >>> from sklearn.linear_model import LinearRegression
        >>> flavor_of(LinearRegression()).name
        'sklearn'
        >>> flavor_of(len).name
        'pyfunc'
    """
    python_model = import_quietly("mlflow.pyfunc.model").PythonModel
    if isinstance(model, python_model):
        return known_flavors()[PYFUNC]
    by_package = {
        flavor.library.split(".")[0]: flavor
        for flavor in known_flavors().values()
        if flavor.library is not None
    }
    for cls in type(model).__mro__:
        flavor = by_package.get(cls.__module__.split(".")[0])
        if flavor is not None and flavor.is_installed:
            return flavor
    if callable(model):
        return known_flavors()[PYFUNC]
    raise TrackingError(
        f"Cannot tell which MLflow model flavor saves a "
        f"{type(model).__module__}.{type(model).__qualname__}. Set flavor: in the "
        f"catalog entry; installed flavors: {', '.join(installed_flavors())}."
    )


def flavor_in(model_folder: Path) -> Flavor:
    """The flavor to load the MLflow model in ``model_folder`` with.

    It is the first flavor its ``MLmodel`` file lists that is installed, else
    ``pyfunc``.
    """
    from mlflow.models import Model

    listed = Model.load(str(model_folder / "MLmodel")).flavors
    missing = []
    for name in listed:
        flavor = known_flavors().get(name)
        if flavor is None or flavor.name == PYFUNC:
            continue
        if flavor.is_installed:
            return flavor
        missing.append(flavor)
    if missing:
        logger.warning(
            "The model in %s was saved with flavor %r, whose library is not "
            "installed: loading it as pyfunc (pip install %s to load it natively).",
            model_folder,
            missing[0].name,
            missing[0].pip_package,
        )
    return known_flavors()[PYFUNC]


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        # A parent package that is missing or broken: not importable either.
        return False
