"""Property-based: any Kedro parameters, read any way, and any saved value land whole.

Random nested parameters (keys holding dots, characters MLflow refuses, values of
every plain type) read through a random set of ``params:`` inputs never make
tracking raise, and every leaf a node read lands once, with its value, in a real
SQLite store. Random nested values saved with codes ``p`` and ``a`` load back
as they were.
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kedro.framework.context import KedroContext
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline, node

from pipelinex_mlflow import MLflowDataSet
from pipelinex_mlflow.kedro_helpers import used_parameters
from pipelinex_mlflow.tracking import (
    RunLogger,
    RunRef,
    drain_run,
    param_text,
    sanitize_key,
    set_current_run,
)

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

# Keys people write, and the ones that collide: dotted, MLflow-refused characters.
KEYS = st.sampled_from(["a", "b", "a.b", "b.a", "a|b", "a_b", "x y", "ü", "0"])
SCALARS = (
    st.integers(-5, 5)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | st.booleans()
    | st.none()
    | st.text("ab. |", max_size=4)
)
LEAVES = SCALARS | st.lists(SCALARS, max_size=3)
PARAMETERS = st.recursive(
    st.dictionaries(KEYS, LEAVES, min_size=1, max_size=4),
    lambda inner: st.dictionaries(KEYS, inner | LEAVES, min_size=1, max_size=4),
    max_leaves=12,
)
EXAMPLES = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _kedro_catalog(parameters: dict[str, Any]) -> DataCatalog:
    """The parameter entries Kedro's own context adds to a run's catalog."""
    catalog = DataCatalog()
    feed = KedroContext._get_parameters(SimpleNamespace(params=parameters))  # type: ignore[arg-type]
    for name, value in feed.items():
        catalog[name] = value
    return catalog


def _leaves(value: Any, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], Any]]:
    if isinstance(value, dict) and value:
        return [
            leaf for key, item in value.items() for leaf in _leaves(item, (*path, key))
        ]
    return [(path, value)]


def _landed_as(key: str, text: str, params: dict[str, str]) -> list[str]:
    """The logged params holding ``text`` under ``key`` or a key made distinct from it."""
    distinct = re.compile(re.escape(key[:241]) + r"-[0-9a-f]{8}")
    return [
        k
        for k, v in params.items()
        if v == text and (k == key or distinct.fullmatch(k))
    ]


@given(parameters=PARAMETERS, data=st.data())
@EXAMPLES
def test_any_parameters_read_any_way_land_once_with_their_values(
    client: MlflowClient, tracking_uri: str, parameters: dict[str, Any], data: Any
) -> None:
    catalog = _kedro_catalog(parameters)
    names = sorted(n for n in catalog if n.startswith("params:"))
    read = data.draw(
        st.lists(st.sampled_from([*names, "parameters"]), min_size=1, unique=True)
    )
    pipeline = Pipeline(
        [node(lambda *_: None, name, None, name=f"n{i}") for i, name in enumerate(read)]
    )
    experiment_id = client.create_experiment(f"e{len(client.search_experiments())}")
    run = RunRef(tracking_uri, client.create_run(experiment_id).info.run_id)
    logger = RunLogger(run)
    logger.log_params(used_parameters(pipeline, catalog))
    logger.flush(wait=True)
    logged = client.get_run(run.run_id).data.params

    expected: set[tuple[str, str, str]] = set()
    for name in read:
        value = catalog.load(name)
        head = () if name == "parameters" else (name.removeprefix("params:"),)
        if name == "parameters":
            value = dict(value)
        for path, leaf in _leaves(value, head):
            if not path:
                continue
            key = sanitize_key(".".join(path))
            text = param_text(leaf)
            # The same value reached two ways is one param; 1 and True are two.
            expected.add((".".join(path), text, type(leaf).__name__))
            assert _landed_as(key, text, logged), (path, leaf, logged)
    assert len(logged) == len(expected), (expected, logged)


@given(value=PARAMETERS, code=st.sampled_from(["p", "a"]))
@EXAMPLES
def test_any_nested_value_saved_loads_back(
    client: MlflowClient, tracking_uri: str, value: dict[str, Any], code: str
) -> None:
    experiment_id = client.create_experiment(f"v{len(client.search_experiments())}")
    run = RunRef(tracking_uri, client.create_run(experiment_id).info.run_id)
    set_current_run(run)
    try:
        MLflowDataSet(dataset=code, dataset_name="cfg").save(value)
        drain_run(run)
        loaded = MLflowDataSet(
            dataset=code,
            dataset_name="cfg",
            loading_run_id=run.run_id,
            loading_tracking_uri=tracking_uri,
        ).load()
    finally:
        set_current_run(None)
    if code == "a":
        assert loaded == _as_logged(value)
    else:
        assert loaded == _texts(value)


def _texts(value: Any) -> Any:
    """What code ``p`` gives back: every leaf as its text (empty dicts stay leaves)."""
    if isinstance(value, dict) and value:
        return {key: _texts(item) for key, item in value.items()}
    return param_text(value)


def _as_logged(value: Any) -> Any:
    """What code ``a`` gives back: numbers as floats, the rest rebuilt as it was."""
    if isinstance(value, dict) and value:
        return {key: _as_logged(item) for key, item in value.items()}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return value
