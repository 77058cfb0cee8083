"""A model object saved into a local folder by its flavor's ``save_model``.

What the flavor is given is settled here: whether it can save the object at
all, the pinned requirements it writes instead of inferring them, and the
errors that name the ``save_args`` it refused. Nothing here talks to a store.

Examples:
    >>> from pipelinex_mlflow.tracking.flavors import get_flavor
    >>> save_args = {"infer_pip_requirements": True}
    >>> complete_save_args(get_flavor("pyfunc"), save_args)
    >>> save_args  # our switch is not one of save_model's arguments
    {}
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pipelinex_mlflow.masking import scrubbed
from pipelinex_mlflow.tracking.errors import TrackingError
from pipelinex_mlflow.tracking.flavors import PYFUNC, import_quietly

if TYPE_CHECKING:
    from pipelinex_mlflow.tracking.flavors import Flavor

#: ``pyfunc`` saves either a Python object or a loader module.
PyfuncWorkflow = Literal["python_model", "loader_module"]
PYFUNC_WORKFLOWS: tuple[str, ...] = ("python_model", "loader_module")
#: A ``save_args`` switch of ours: let MLflow infer the requirements (slow).
INFER_REQUIREMENTS_ARG = "infer_pip_requirements"
_REQUIREMENT_ARGS = ("pip_requirements", "conda_env")


def check_saveable(flavor: Flavor, model: Any, workflow: PyfuncWorkflow) -> None:
    """Refuse a model ``flavor`` cannot save, before anything is created in a store.

    Raises:
        TrackingError: When the flavor's library is missing or it cannot save
            ``model`` (for ``pyfunc``: not what ``workflow`` saves).
    """
    flavor.check_installed()
    if flavor.name == PYFUNC:
        _check_pyfunc_model(model, workflow)
    else:
        flavor.refuse_unsaveable(model)


def complete_save_args(flavor: Flavor, kwargs: dict[str, Any]) -> None:
    """Add the flavor's pinned requirements to ``kwargs`` and check them for it.

    ``kwargs`` are the arguments for ``save_model``, changed in place.

    Raises:
        TrackingError: For an argument the flavor's ``save_model`` does not take.
    """
    _set_requirements(flavor, kwargs)
    flavor.check_save_args(kwargs)


def _set_requirements(flavor: Flavor, kwargs: dict[str, Any]) -> None:
    if kwargs.pop(INFER_REQUIREMENTS_ARG, False) or any(
        kwargs.get(k) is not None for k in _REQUIREMENT_ARGS
    ):
        return
    defaults = flavor.default_pip_requirements(kwargs)
    if defaults is None:
        return  # MLflow infers them
    extra = kwargs.pop("extra_pip_requirements", None) or []
    if isinstance(extra, str):
        extra = [extra]
    kwargs["pip_requirements"] = [*defaults, *extra]


def save_with_flavor(
    flavor: Flavor,
    model: Any,
    *,
    path: str,
    metadata: Any,
    kwargs: dict[str, Any],
    workflow: PyfuncWorkflow,
) -> None:
    """Save ``model`` into the new folder ``path`` with ``flavor``'s ``save_model``.

    Args:
        flavor: The flavor that saves it.
        model: The object (for ``pyfunc``: what ``workflow`` names).
        path: The folder to create.
        metadata: The ``mlflow.models.Model`` that becomes its ``MLmodel`` file.
        kwargs: The rest of ``save_model``'s arguments.
        workflow: For ``pyfunc``, the argument ``model`` is passed as.

    Raises:
        TrackingError: When the flavor cannot save the object, or does not take
            one of ``kwargs``.
    """
    module = flavor.module()
    try:
        if flavor.name == PYFUNC:
            module.save_model(
                path=path, mlflow_model=metadata, **{workflow: model}, **kwargs
            )
        else:
            module.save_model(model, path=path, mlflow_model=metadata, **kwargs)
    except TypeError as exc:
        if "unexpected keyword argument" in str(exc):
            raise TrackingError(
                f"{flavor.module_name}.save_model does not take one of the save_args "
                f"{sorted(kwargs)}: {exc}. Remove it, or see the flavor's "
                "save_model documentation for what it takes."
            ) from None
        raise _cannot_save(flavor, model, exc, kwargs) from exc
    except TrackingError:
        raise
    except Exception as exc:
        raise _cannot_save(flavor, model, exc, kwargs) from scrubbed(exc)


def _cannot_save(
    flavor: Flavor, model: Any, exc: BaseException, kwargs: dict[str, Any]
) -> TrackingError:
    if flavor.name == PYFUNC and (
        isinstance(model, (str, Path)) or callable(model) or _is_python_model(model)
    ):
        # The object is one pyfunc saves: what failed is in the arguments.
        return TrackingError(
            f"{flavor.module_name}.save_model refused its arguments "
            f"({type(exc).__name__}: {exc}). The save_args given: "
            f"{', '.join(sorted(kwargs)) or 'none'}."
        )
    return TrackingError(
        f"{flavor.module_name}.save_model could not save the "
        f"{type(model).__module__}.{type(model).__qualname__} ({type(exc).__name__}: "
        f"{exc}). The flavor wants {flavor.wants}."
    )


def _is_python_model(model: Any) -> bool:
    return isinstance(model, import_quietly("mlflow.pyfunc.model").PythonModel)


def _check_pyfunc_model(model: Any, workflow: PyfuncWorkflow) -> None:
    python_model = import_quietly("mlflow.pyfunc.model").PythonModel
    if workflow == "loader_module":
        if not isinstance(model, str):
            raise TrackingError(
                "MLflow model flavor 'pyfunc' with pyfunc_workflow 'loader_module' "
                f"saves the name of a loader module (a str), not a "
                f"{type(model).__name__}; give its data in save_args data_path."
            )
        return
    if isinstance(model, (str, Path)) and str(model).endswith(".py"):
        return  # MLflow's models-from-code: the file makes the model
    if not (isinstance(model, python_model) or callable(model)):
        raise TrackingError(
            "MLflow model flavor 'pyfunc' cannot save a "
            f"{type(model).__module__}.{type(model).__qualname__}: it wants an "
            "mlflow.pyfunc.PythonModel instance, a function or the path of a "
            "model's code file (pyfunc_workflow 'python_model'), or a loader "
            "module's name (pyfunc_workflow 'loader_module')."
        )
