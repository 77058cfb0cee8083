"""The private MLflow names the package relies on, each behind one wrapper.

MLflow is imported inside each wrapper, never at module import, so importing the
package imports no MLflow. Each wrapper says what it reaches into and the MLflow
release it is known to work with; ``tests/test_compat.py`` has a test named after
each private name that fails when an MLflow release moves or renames it.

Known to work with MLflow 3.17.2 (the version the test suite runs), unless a
wrapper says otherwise.

Examples:
    >>> pop_cached_engines("sqlite:////no/such/store.db")  # none cached
    []
"""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from types import ModuleType

    from mlflow.entities import Metric, RunData, TraceData, TraceInfo
    from mlflow.tracing.client import TracingClient

#: The modules whose ``SqlAlchemyStore`` caches one engine per database URI.
SQLALCHEMY_STORE_MODULES = (
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.model_registry.sqlalchemy_store",
)


def create_sqlalchemy_store(uri: str) -> None:
    """Build MLflow's tracking store for the SQL database ``uri``, as MLflow does.

    Building it creates (or migrates) the schema and the ``Default`` experiment.
    MLflow's own factory is used, so the store's class and the ``Default``
    experiment's artifact root are MLflow's, but not its cache of stores, so a
    temporary URI is never cached (its engine is, see :func:`pop_cached_engines`).

    Reaches into: ``mlflow.tracking._tracking_service.utils._get_sqlalchemy_store``
    (``(store_uri, artifact_uri)``); without it, the public ``SqlAlchemyStore`` with
    ``DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH``.
    """
    try:
        from mlflow.tracking._tracking_service.utils import _get_sqlalchemy_store
    except ImportError:  # pragma: no cover - another MLflow layout
        from mlflow.store.tracking import DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        SqlAlchemyStore(uri, DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH)  # type: ignore[no-untyped-call]
    else:
        _get_sqlalchemy_store(uri, None)  # type: ignore[no-untyped-call]


def pop_cached_engines(uri: str) -> list[Any]:
    """Remove the SQLAlchemy engines MLflow keeps for ``uri`` and return them.

    MLflow keeps one engine per URI for the life of the process, in the tracking
    store's and in the model registry store's class; the caller disposes of them.
    Only store modules already imported are looked at: one never imported holds no
    engine, and MLflow is not imported for nothing.

    Reaches into: ``SqlAlchemyStore._engine_map`` (a dict of URI to engine) and
    ``SqlAlchemyStore._engine_map_lock`` (the lock guarding it), class attributes
    of both modules of :data:`SQLALCHEMY_STORE_MODULES`. A store class without a
    dict there is skipped; one without the lock is read without it.
    """
    engines = []
    for module in SQLALCHEMY_STORE_MODULES:
        store_class = getattr(sys.modules.get(module), "SqlAlchemyStore", None)
        cached = getattr(store_class, "_engine_map", None)
        if not isinstance(cached, dict):
            continue
        guard = getattr(store_class, "_engine_map_lock", None)
        with guard if guard is not None else contextlib.nullcontext():
            engine = cached.pop(uri, None)
        if engine is not None:
            engines.append(engine)
    return engines


def ml_package_versions() -> Mapping[str, Mapping[str, Any]]:
    """MLflow's table of the libraries it has a flavor for, keyed by flavor name.

    Each entry has ``package_info`` (``pip_release``, ``module_name``) and, for a
    model flavor, ``models``.

    Reaches into: ``mlflow.ml_package_versions._ML_PACKAGE_VERSIONS``.
    """
    from mlflow.ml_package_versions import _ML_PACKAGE_VERSIONS

    table: Mapping[str, Mapping[str, Any]] = _ML_PACKAGE_VERSIONS
    return table


def default_serialization_format(flavor_module: ModuleType) -> str | None:
    """The format a flavor's ``save_model`` picks when none is given, if it says.

    For example ``skops`` or ``cloudpickle`` for ``mlflow.sklearn``; ``None`` for a
    flavor with no such choice.

    Reaches into: ``<flavor module>._get_default_serialization_format()`` (only
    ``mlflow.sklearn`` has it).
    """
    default = getattr(flavor_module, "_get_default_serialization_format", None)
    return str(default()) if callable(default) else None


def upload_trace_data(
    client: TracingClient, trace_info: TraceInfo, trace_data: TraceData
) -> None:
    """Upload a trace's spans as its data file, for a store that takes no spans.

    Reaches into: ``mlflow.tracing.client.TracingClient._upload_trace_data``
    (``(trace_info, trace_data)``).
    """
    client._upload_trace_data(trace_info, trace_data)


def run_metric_objects(run_data: RunData) -> list[Metric]:
    """The latest value of each metric of a run, as ``Metric`` objects.

    ``RunData.metrics`` keeps only the values; the objects keep their timestamp
    and step too.

    Reaches into: ``mlflow.entities.RunData._metric_objs``.
    """
    return list(run_data._metric_objs)


def registry_name_validators() -> list[tuple[str, Callable[[str], object]]]:
    """MLflow's own checks of a registered model name and an alias, with what each checks.

    Pairs of ``"registered_model_name"`` or ``"alias"`` and the check, which raises
    ``MlflowException`` for a name the model registry would refuse. A check this
    MLflow lacks is left out (the registry still refuses the name, later).

    Reaches into: ``mlflow.utils.validation._validate_model_name``,
    ``_validate_model_alias_name`` and ``_validate_model_alias_name_reserved``.
    """
    from mlflow.utils import validation

    named = [
        ("registered_model_name", "_validate_model_name"),
        ("alias", "_validate_model_alias_name"),
        ("alias", "_validate_model_alias_name_reserved"),
    ]
    checks = [(what, getattr(validation, name, None)) for what, name in named]
    return [(what, check) for what, check in checks if check is not None]
