"""What codes ``m`` and ``a`` save comes back exactly, or the change is said (real SQLite).

Found by an adversarial try: ``2**80`` saved with ``a`` or ``m`` became the float
``1.2089258196146292e+24`` without a word, and a list holding NaN or infinity
saved with ``a`` loaded back as its text.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kedro.io import DatasetError

from pipelinex_mlflow import MLflowDataSet
from pipelinex_mlflow.tracking import (
    AUTO,
    STRICT,
    RunRef,
    classify,
    drain_run,
    set_current_run,
    split_by_kind,
)
from tests.kedro_project import write_skeleton
from tests.reliability_project import kedro, kedro_env, output_of

if TYPE_CHECKING:
    from pathlib import Path

    from mlflow.tracking import MlflowClient

BIG = 2**80  # float(BIG) == BIG + 0, but float(BIG + 1) == float(BIG)


@pytest.fixture
def run(client: MlflowClient, tracking_uri: str) -> RunRef:
    """A run made current, as MLflowBasicLoggerHook does."""
    experiment_id = client.create_experiment("exact")
    current = RunRef(tracking_uri, client.create_run(experiment_id).info.run_id)
    set_current_run(current)
    return current


def _reload(name: str, run: RunRef, code: str) -> Any:
    """Load ``name`` back from MLflow, not from any in-memory copy."""
    return MLflowDataSet(
        dataset=code,
        dataset_name=name,
        loading_run_id=run.run_id,
        loading_tracking_uri=run.tracking_uri,
    ).load()


def _same(first: Any, second: Any) -> bool:
    """Equal, NaN equal to NaN, and of the same types all the way down."""
    if type(first) is not type(second):
        return False
    if isinstance(first, float):
        return (math.isnan(first) and math.isnan(second)) or (
            first == second and math.copysign(1, first) == math.copysign(1, second)
        )
    if isinstance(first, (list, tuple)):
        return len(first) == len(second) and all(map(_same, first, second))
    if isinstance(first, dict):
        return first.keys() == second.keys() and all(
            _same(first[k], second[k]) for k in first
        )
    if isinstance(first, (set, frozenset)):
        # NaN members: compare their texts, sorted (a set has no order).
        return sorted(map(repr, first)) == sorted(map(repr, second))
    return bool(first == second)


class TestIntegersBeyondFloatPrecision:
    @pytest.mark.parametrize("number", [BIG + 1, -(BIG + 1), 10**400, 2**53 + 1])
    def test_code_a_logs_them_as_exact_params_and_loads_the_int(
        self, run: RunRef, client: MlflowClient, number: int
    ) -> None:
        MLflowDataSet(dataset="a", dataset_name="count").save(number)
        drain_run(run)
        data = client.get_run(run.run_id).data
        assert data.metrics == {}
        assert data.params == {"count": str(number)}
        loaded = _reload("count", run, "a")
        assert type(loaded) is int
        assert loaded == number

    def test_code_a_in_a_dict_keeps_them_exact_beside_ordinary_metrics(
        self, run: RunRef, client: MlflowClient
    ) -> None:
        value = {"seen": BIG + 1, "np": np.int64(2**62 + 1), "small": 3, "f": 0.5}
        MLflowDataSet(dataset="a", dataset_name="stats").save(value)
        drain_run(run)
        data = client.get_run(run.run_id).data
        assert data.params == {"stats.seen": str(BIG + 1), "stats.np": str(2**62 + 1)}
        assert data.metrics == {"stats.small": 3.0, "stats.f": 0.5}
        assert _reload("stats", run, "a") == {
            "seen": BIG + 1,
            "np": 2**62 + 1,
            "small": 3.0,
            "f": 0.5,
        }

    def test_code_m_logs_the_float_and_warns_once_naming_the_key(
        self, run: RunRef, client: MlflowClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.WARNING):
            MLflowDataSet(dataset="m", dataset_name="rows").save(BIG + 1)
            MLflowDataSet(dataset="m", dataset_name="steps").save([BIG + 1, BIG + 3])
            MLflowDataSet(dataset="m", dataset_name="fine").save(
                {"a": 2**53, "b": [1, 2]}
            )
        drain_run(run)
        assert client.get_run(run.run_id).data.metrics["rows"] == float(BIG)
        assert _reload("steps", run, "m") == [float(BIG), float(BIG + 3)]
        warned = [r.getMessage() for r in caplog.records if "rounded" in r.getMessage()]
        assert len(warned) == 2, warned
        assert "'rows'" in warned[0]
        assert str(BIG + 1) in warned[0]
        assert repr(float(BIG)) in warned[0]
        assert "'steps'" in warned[1]

    def test_code_m_refuses_an_int_no_float_can_hold(
        self, outside_kedro: RunRef
    ) -> None:
        with pytest.raises(DatasetError, match=r"'huge' .*too large"):
            MLflowDataSet(dataset="m", dataset_name="huge").save(10**400)

    def test_code_a_refuses_an_int_too_long_for_text(
        self, outside_kedro: RunRef
    ) -> None:
        with pytest.raises(
            DatasetError, match=r"'long' is an int of about 5000 digits"
        ):
            MLflowDataSet(dataset="a", dataset_name="long").save(10**5000)

    def test_each_run_is_warned_of_its_own_rounding(
        self,
        client: MlflowClient,
        tracking_uri: str,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        experiment_id = client.create_experiment("twice")
        for _ in range(2):
            run_id = client.create_run(experiment_id).info.run_id
            set_current_run(RunRef(tracking_uri, run_id))
            with caplog.at_level(logging.WARNING):
                MLflowDataSet(dataset="m", dataset_name="again").save(BIG + 1)
            drain_run(RunRef(tracking_uri, run_id))
        warned = [r for r in caplog.records if "'again' is rounded" in r.getMessage()]
        assert len(warned) == 2

    def test_auto_logging_keeps_them_as_params(self) -> None:
        assert classify(BIG + 1) == ("param", BIG + 1)
        assert classify(np.uint64(2**64 - 1), AUTO) == ("param", 2**64 - 1)
        assert classify(2**53) == ("metric", float(2**53))
        split = split_by_kind("node", {"n": BIG + 1, "m": 10**400, "k": 4}, AUTO)
        assert split.params == {"node.n": BIG + 1, "node.m": 10**400}
        assert split.metrics == {"node.k": 4.0}
        assert split.skipped == {}
        assert split_by_kind("x", BIG + 1, STRICT).params == {"x": BIG + 1}


_RUN_NODES = """
def count():
    big = 2**80 + 1
    return big, {"rows": big, "k": 3}, big, [1.0, float("nan"), float("inf")]
"""
_RUN_REGISTRY = """
from kedro.pipeline import Pipeline, node

from exact.nodes import count


def register_pipelines():
    outputs = ["in_memory", "by_type", "as_metric", "curve"]
    return {"__default__": Pipeline([node(count, None, outputs, name="count")])}
"""
_RUN_SETTINGS = """
from pipelinex_mlflow import MLflowBasicLoggerHook, MLflowCatalogLoggerHook

HOOKS = (
    MLflowBasicLoggerHook(experiment_name="exact"),
    MLflowCatalogLoggerHook(auto=True),
)
"""
_RUN_CATALOG = "".join(
    f"{name}:\n  type: pipelinex_mlflow.MLflowDataset\n  dataset: {code}\n"
    for name, code in (("by_type", "a"), ("as_metric", "m"), ("curve", "a"))
)


def test_a_kedro_run_keeps_big_ints_exact_or_says_it_rounded_them(
    tmp_path: Path, tracking_uri: str, client: MlflowClient
) -> None:
    """Auto-logged, ``a`` and ``m`` outputs of one real ``kedro run``."""
    project = tmp_path / "project"
    package = write_skeleton(project, "exact")
    (package / "nodes.py").write_text(_RUN_NODES)
    (package / "pipeline_registry.py").write_text(_RUN_REGISTRY)
    (package / "settings.py").write_text(_RUN_SETTINGS)
    (project / "conf" / "base" / "catalog.yml").write_text(_RUN_CATALOG)
    result = kedro(project, "run", env=kedro_env(tracking_uri))
    output = output_of(result)
    assert result.returncode == 0, output

    experiment = client.get_experiment_by_name("exact")
    assert experiment is not None
    (logged,) = client.search_runs([experiment.experiment_id])
    exact = str(BIG + 1)
    assert logged.data.params["in_memory"] == exact  # MLflowCatalogLoggerHook
    assert logged.data.params["by_type.rows"] == exact
    assert logged.data.metrics["by_type.k"] == 3.0
    assert logged.data.metrics["as_metric"] == float(BIG)
    assert "'as_metric' is rounded" in output
    assert exact in output
    run = RunRef(tracking_uri, logged.info.run_id)
    assert _reload("by_type", run, "a") == {"rows": BIG + 1, "k": 3.0}
    assert _same(_reload("curve", run, "a"), [1.0, math.nan, math.inf])


NON_FINITE = [
    [1.0, math.nan, math.inf, -math.inf],
    [[math.nan], (math.inf, -math.inf), None],
    (math.nan, "nan", "inf", -0.0),
    {math.inf, -math.inf},
    {"x": [math.nan], "y": {"z": (1.0, -math.inf)}, "w": "nan"},
]


class TestNonFiniteFloatsInContainers:
    @pytest.mark.parametrize("value", NON_FINITE, ids=repr)
    def test_code_a_loads_back_what_was_saved(self, run: RunRef, value: Any) -> None:
        MLflowDataSet(dataset="a", dataset_name="curve").save(value)
        drain_run(run)
        loaded = _reload("curve", run, "a")
        assert _same(loaded, value), (loaded, value)

    def test_text_that_only_looks_like_a_list_stays_text(self, run: RunRef) -> None:
        MLflowDataSet(dataset="a", dataset_name="words").save("[nan, inf]")
        drain_run(run)
        assert _reload("words", run, "a") == "[nan, inf]"


SCALARS = (
    st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(-(2**90), 2**90)
    | st.booleans()
    | st.none()
    | st.text("nai f[]()'\"", max_size=5)
)
# Lists and tuples of plain values, nested: code ``a`` logs each as one param.
CONTAINERS = st.recursive(
    st.lists(SCALARS, max_size=3),
    lambda inner: st.lists(inner | SCALARS, max_size=3) | st.tuples(inner, SCALARS),
    max_leaves=8,
)


@given(value=CONTAINERS)
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_any_container_of_plain_values_saved_with_a_loads_back(
    client: MlflowClient, tracking_uri: str, value: Any
) -> None:
    experiment_id = client.create_experiment(f"p{len(client.search_experiments())}")
    run = RunRef(tracking_uri, client.create_run(experiment_id).info.run_id)
    set_current_run(run)
    saved = {"top": value, "deep": {"er": [value]}}
    try:
        MLflowDataSet(dataset="a", dataset_name="v").save(value)
        MLflowDataSet(dataset="a", dataset_name="d").save(saved)
        drain_run(run)
        loaded = _reload("v", run, "a")
        loaded_dict = _reload("d", run, "a")
    finally:
        set_current_run(None)
    assert _same(loaded, value), (loaded, value)
    assert _same(loaded_dict, saved), (loaded_dict, saved)
