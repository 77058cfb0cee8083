"""Contract tests: every private Kedro and MLflow name the package relies on.

Each private name is reached through one wrapper of ``pipelinex_mlflow.compat``,
and each has a test here named after it, run on real objects, so a Kedro,
kedro-datasets or MLflow release that moves or renames one fails a test that
names it. The last tests keep the rule true: no module outside ``compat/``
imports a private Kedro or MLflow name or reads one of the wrapped ones.
"""

from __future__ import annotations

import ast
import inspect
import sqlite3
import time
import types
from pathlib import Path

import pytest
from kedro.io import MemoryDataset, Version
from kedro_datasets.json import JSONDataset
from kedro_datasets.partitions import PartitionedDataset

from pipelinex_mlflow.compat import kedro_private, mlflow_private

PACKAGE = Path(__file__).resolve().parents[1] / "pipelinex_mlflow"
COMPAT = PACKAGE / "compat"
PRIVATE_ROOTS = {"kedro", "kedro_datasets", "mlflow"}


# --------------------------------------------------------------------------------------
# MLflow
# --------------------------------------------------------------------------------------
def test_mlflow_tracking_service_utils_get_sqlalchemy_store_exists(
    tmp_path: Path,
) -> None:
    """``_get_sqlalchemy_store(store_uri, artifact_uri)`` builds a whole store."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    from mlflow.tracking._tracking_service.utils import _get_sqlalchemy_store

    assert list(inspect.signature(_get_sqlalchemy_store).parameters) == [
        "store_uri",
        "artifact_uri",
    ]
    db = tmp_path / "store.db"
    uri = f"sqlite:///{db.as_posix()}"
    mlflow_private.create_sqlalchemy_store(uri)
    # Its engine is cached in _engine_map, and popped from there.
    assert uri in SqlAlchemyStore._engine_map
    engines = mlflow_private.pop_cached_engines(uri)
    assert engines
    assert uri not in SqlAlchemyStore._engine_map
    for engine in engines:
        engine.dispose()
    assert mlflow_private.pop_cached_engines(uri) == []
    with sqlite3.connect(db) as connection:
        names = [row[0] for row in connection.execute("SELECT name FROM experiments")]
    assert names == ["Default"]


@pytest.mark.parametrize("module", mlflow_private.SQLALCHEMY_STORE_MODULES)
def test_mlflow_sqlalchemy_store_engine_map_exists(module: str) -> None:
    """Each ``SqlAlchemyStore`` caches its engines in a class-level dict."""
    import importlib

    store_class = importlib.import_module(module).SqlAlchemyStore
    assert isinstance(store_class._engine_map, dict)


@pytest.mark.parametrize("module", mlflow_private.SQLALCHEMY_STORE_MODULES)
def test_mlflow_sqlalchemy_store_engine_map_lock_exists(module: str) -> None:
    """Each ``SqlAlchemyStore`` guards that dict with a lock."""
    import importlib

    lock = importlib.import_module(module).SqlAlchemyStore._engine_map_lock
    with lock:
        pass


def test_mlflow_ml_package_versions_exists() -> None:
    """``_ML_PACKAGE_VERSIONS`` lists each flavor's library and whether it saves models."""
    table = mlflow_private.ml_package_versions()
    sklearn = table["sklearn"]
    assert "models" in sklearn
    assert sklearn["package_info"]["pip_release"] == "scikit-learn"
    # module_name is given only where it differs from the flavor's name.
    assert table["llama_index"]["package_info"]["module_name"] == "llama_index.core"


def test_mlflow_sklearn_get_default_serialization_format_exists() -> None:
    """``mlflow.sklearn._get_default_serialization_format()`` names a format."""
    import mlflow.sklearn

    assert callable(mlflow.sklearn._get_default_serialization_format)
    fmt = mlflow_private.default_serialization_format(mlflow.sklearn)
    assert fmt in mlflow.sklearn.SUPPORTED_SERIALIZATION_FORMATS
    assert mlflow_private.default_serialization_format(types.ModuleType("x")) is None


def test_mlflow_tracing_client_upload_trace_data_exists(tracking_uri: str) -> None:
    """``TracingClient._upload_trace_data(trace_info, trace_data)`` stores the spans."""
    from mlflow.entities import TraceData, TraceInfo, TraceLocation, TraceState
    from mlflow.tracing.client import TracingClient

    assert list(inspect.signature(TracingClient._upload_trace_data).parameters) == [
        "self",
        "trace_info",
        "trace_data",
    ]
    client = TracingClient(tracking_uri)
    info = TraceInfo(
        trace_id="tr-" + "1" * 32,
        trace_location=TraceLocation.from_experiment_id("0"),
        request_time=int(time.time() * 1000),
        state=TraceState.OK,
        execution_duration=1,
    )
    started = client.start_trace(info)
    mlflow_private.upload_trace_data(client, started, TraceData(spans=[]))
    assert client.get_trace(started.trace_id).data.spans == []


def test_mlflow_run_data_metric_objs_exists() -> None:
    """``RunData._metric_objs`` keeps each metric's timestamp and step."""
    from mlflow.entities import Metric, RunData

    metric = Metric("loss", 0.5, 1700000000000, 3)
    (kept,) = mlflow_private.run_metric_objects(RunData(metrics=[metric]))
    assert (kept.key, kept.value, kept.timestamp, kept.step) == (
        "loss",
        0.5,
        1700000000000,
        3,
    )


@pytest.mark.parametrize(
    ("name", "what", "refused", "reason"),
    [
        ("_validate_model_name", "registered_model_name", "a/b", "Invalid model"),
        ("_validate_model_alias_name", "alias", "a b", "Invalid alias"),
        ("_validate_model_alias_name_reserved", "alias", "latest", "reserved"),
    ],
)
def test_mlflow_utils_validation_model_registry_validators_exist(
    name: str, what: str, refused: str, reason: str
) -> None:
    """``mlflow.utils.validation._validate_model_name`` and the alias checks refuse."""
    from mlflow.exceptions import MlflowException
    from mlflow.utils import validation

    check = getattr(validation, name)
    assert (what, check) in mlflow_private.registry_name_validators()
    with pytest.raises(MlflowException, match=reason):
        check(refused)
    check("fine_name")


# --------------------------------------------------------------------------------------
# Kedro and kedro-datasets
# --------------------------------------------------------------------------------------
def test_kedro_cli_utils_split_params_exists() -> None:
    """``kedro.framework.cli.utils._split_params`` parses ``--params`` as ``kedro run``."""
    parsed = kedro_private.split_runtime_params(None, None, "a=1,b.c=x")  # type: ignore[arg-type]
    assert parsed == {"a": 1, "b": {"c": "x"}}


def test_kedro_dataset_filepath_attribute_exists(tmp_path: Path) -> None:
    """A file dataset keeps its path, without protocol, in ``_filepath``."""
    path = tmp_path / "data.json"
    assert JSONDataset(filepath=str(path))._filepath is not None
    assert kedro_private.dataset_path(JSONDataset(filepath=str(path))) == str(path)
    remote = JSONDataset(filepath="memory:///folder/data.json")
    assert kedro_private.dataset_path(remote) == "/folder/data.json"


def test_kedro_dataset_path_attribute_exists(tmp_path: Path) -> None:
    """``PartitionedDataset`` keeps its folder in ``_path``."""
    dataset = PartitionedDataset(path=str(tmp_path), dataset="json.JSONDataset")
    assert dataset._path == str(tmp_path)
    assert kedro_private.dataset_path(dataset) == str(tmp_path)
    assert kedro_private.dataset_path(MemoryDataset()) is None


def test_kedro_dataset_protocol_attribute_exists(tmp_path: Path) -> None:
    """A file dataset keeps its fsspec protocol in ``_protocol``."""
    local = JSONDataset(filepath=str(tmp_path / "data.json"))
    remote = JSONDataset(filepath="memory:///folder/data.json")
    assert local._protocol == "file"
    assert kedro_private.dataset_protocol(remote) == "memory"
    assert kedro_private.dataset_protocol(MemoryDataset()) is None


def test_kedro_dataset_version_attribute_exists(tmp_path: Path) -> None:
    """A versioned dataset keeps its ``Version`` in ``_version``; others ``None``."""
    path = str(tmp_path / "data.json")
    versioned = JSONDataset(filepath=path, version=Version(None, None))
    assert isinstance(versioned._version, Version)
    assert kedro_private.is_versioned(versioned)
    assert not kedro_private.is_versioned(JSONDataset(filepath=path))


def test_kedro_versioned_dataset_get_versioned_path_exists(tmp_path: Path) -> None:
    """``_get_versioned_path(version)`` is ``<path>/<version>/<name>``."""
    path = tmp_path / "data.json"
    dataset = JSONDataset(filepath=str(path), version=Version(None, "v1"))
    found = kedro_private.versioned_path(dataset, "v1")
    assert Path(found) == path / "v1" / "data.json"


def test_kedro_versioned_dataset_get_load_path_exists(tmp_path: Path) -> None:
    """``_get_load_path()`` is the file of the latest version saved."""
    path = tmp_path / "data.json"
    JSONDataset(filepath=str(path), version=Version(None, "v1")).save({"a": 1})
    dataset = JSONDataset(filepath=str(path), version=Version(None, None))
    assert Path(kedro_private.load_path(dataset)) == path / "v1" / "data.json"


def test_kedro_abstract_dataset_describe_exists(tmp_path: Path) -> None:
    """``AbstractDataset._describe()`` returns the settings shown in the repr."""
    path = tmp_path / "data.json"
    described = kedro_private.describe_dataset(JSONDataset(filepath=str(path)))
    assert Path(described["filepath"]) == path
    assert isinstance(kedro_private.describe_dataset(MemoryDataset()), dict)


# --------------------------------------------------------------------------------------
# The rule: private names only in compat/
# --------------------------------------------------------------------------------------
def _modules_outside_compat() -> list[tuple[str, ast.Module]]:
    return [
        (path.relative_to(PACKAGE.parent).as_posix(), ast.parse(path.read_text()))
        for path in sorted(PACKAGE.rglob("*.py"))
        if COMPAT not in path.parents
    ]


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _private_imports(tree: ast.Module) -> list[str]:
    """``from kedro... import _x``, ``from mlflow._y import x``, ``import mlflow._y``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if node.module.split(".")[0] not in PRIVATE_ROOTS:
                continue
            private_module = any(map(_is_private, node.module.split(".")))
            for alias in node.names:
                if private_module or _is_private(alias.name):
                    found.append(f"line {node.lineno}: {node.module}.{alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] in PRIVATE_ROOTS and any(map(_is_private, parts)):
                    found.append(f"line {node.lineno}: {alias.name}")
    return found


def _wrapped_private_names() -> set[str]:
    """Every private name the compat modules reach: attributes, imports, strings."""
    names: set[str] = set()
    for path in COMPAT.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute):
                names.add(node.attr)
            elif isinstance(node, ast.ImportFrom):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names.add(node.value)
    return {name for name in names if _is_private(name) and name.isidentifier()}


def _uses_of(tree: ast.Module, names: set[str]) -> set[str]:
    """Which of ``names`` a module reads off an object that is not its own."""
    used = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in names:
            if not (
                isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"}
            ):
                used.add(node.attr)
        elif isinstance(node, ast.Constant) and node.value in names:
            used.add(str(node.value))
        elif isinstance(node, ast.ImportFrom):
            used.update(alias.name for alias in node.names if alias.name in names)
    return used


def test_compat_reaches_private_names() -> None:
    """The scan below knows the names it guards (a sanity check of the scan)."""
    wrapped = _wrapped_private_names()
    assert {"_engine_map", "_split_params", "_filepath", "_describe"} <= wrapped
    assert "__init__" not in wrapped


def test_no_private_kedro_or_mlflow_import_outside_compat() -> None:
    """Only ``pipelinex_mlflow.compat`` imports a private Kedro or MLflow name."""
    found = {
        name: imports
        for name, tree in _modules_outside_compat()
        if (imports := _private_imports(tree))
    }
    assert not found, (
        f"private Kedro/MLflow names imported outside pipelinex_mlflow/compat/: "
        f"{found}; add a wrapper (and a test named after it) to compat instead"
    )


def test_no_wrapped_private_name_read_outside_compat() -> None:
    """No module reads a private name compat wraps (``x._describe()``, ``"_path"``)."""
    wrapped = _wrapped_private_names()
    found = {}
    for name, tree in _modules_outside_compat():
        used = _uses_of(tree, wrapped)
        if used:
            found[name] = sorted(used)
    assert not found, (
        f"private Kedro/MLflow names read outside pipelinex_mlflow/compat/: "
        f"{found}; call the compat wrapper instead"
    )


def test_import_private_scan_finds_each_form() -> None:
    """The scan catches each way of importing a private name."""
    source = (
        "from kedro.framework.cli.utils import _split_params\n"
        "from mlflow.tracking._tracking_service.utils import get\n"
        "import mlflow.tracking._tracking_service\n"
        "from mlflow import MlflowClient\n"
        "from pipelinex_mlflow._vendor import _x\n"
    )
    assert len(_private_imports(ast.parse(source))) == 3
