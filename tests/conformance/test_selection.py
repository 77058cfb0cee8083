"""What ``kedro run`` selects: pipelines, namespaces, tags, nodes, ranges, versions.

One project, ``fleet``, registered explicitly (no ``find_pipelines``):
``ingest`` (a versioned raw input with two versions on disk), ``features``, and
``train``, one modular pipeline under the namespaces ``north`` and ``south``.
Files an earlier run would have left (``clean_readings``, ``features``) are on
disk, so each case runs only what its options select. Each case checks which
nodes ran (their timings), that exactly the parameters they read were logged,
the metrics they saved, and Kedro's own outputs; ``--env prod`` and
``--conf-source`` change parameters; the runners vary across the cases.
"""

from __future__ import annotations

import pickle
import shutil
from typing import TYPE_CHECKING

import pytest

from tests.conformance.projects import (
    copy_store,
    pipeline_package,
    runner_args,
    track,
    warnings_in,
    write_files,
    write_project,
)

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conformance.projects import Tracked

PACKAGE = "fleet"
OLD, NEW = "2024-01-01T00.00.00.000Z", "2024-06-01T00.00.00.000Z"

SETTINGS = """
    from pipelinex_mlflow import MLflowBasicLoggerHook, MLflowTimeLoggerHook

    HOOKS = (MLflowBasicLoggerHook(), MLflowTimeLoggerHook())
"""

REGISTRY = """
    from kedro.pipeline import Pipeline

    from fleet.pipelines import features, ingest, train


    def register_pipelines() -> dict[str, Pipeline]:
        ingest_pipeline = ingest.create_pipeline()
        features_pipeline = features.create_pipeline()
        train_pipeline = train.create_pipeline()
        return {
            "ingest": ingest_pipeline,
            "features": features_pipeline,
            "train": train_pipeline,
            "__default__": ingest_pipeline + features_pipeline + train_pipeline,
        }
"""

INGEST = pipeline_package(
    "ingest",
    """
    def clean_readings(readings, scale):
        out = readings.copy()
        out["value"] = out["value"] * scale
        return out
    """,
    """
    from kedro.pipeline import Pipeline, node

    from .nodes import clean_readings


    def create_pipeline(**kwargs) -> Pipeline:
        return Pipeline(
            [
                node(
                    clean_readings,
                    ["readings", "params:ingest.scale"],
                    "clean_readings",
                    name="clean",
                )
            ],
            tags="ingest",
        )
    """,
)

FEATURES = pipeline_package(
    "features",
    """
    def build_features(clean, window):
        out = clean.copy()
        out["feature"] = out["value"] * window
        return out
    """,
    """
    from kedro.pipeline import Pipeline, node

    from .nodes import build_features


    def create_pipeline(**kwargs) -> Pipeline:
        return Pipeline(
            [
                node(
                    build_features,
                    ["clean_readings", "params:features.window"],
                    "features",
                    name="featurize",
                )
            ],
            tags="features",
        )
    """,
)

TRAIN = pipeline_package(
    "train",
    """
    def fit(features, alpha):
        return {"alpha": alpha, "coef": alpha * features["feature"].mean()}


    def score(model, features):
        return model["coef"] / 100
    """,
    """
    from kedro.pipeline import Pipeline, node

    from .nodes import fit, score


    def create_pipeline(**kwargs) -> Pipeline:
        base = Pipeline(
            [
                node(fit, ["features", "params:alpha"], "model", name="fit"),
                node(
                    score,
                    ["model", "features"],
                    "accuracy",
                    name="score",
                    tags="scoring",
                ),
            ],
            tags="train",
        )
        return Pipeline(
            [
                Pipeline(base, namespace=name, inputs={"features"})
                for name in ("north", "south")
            ]
        )
    """,
)

CATALOG = """
    readings:
      type: pandas.CSVDataset
      filepath: data/01_raw/readings.csv
      versioned: true

    clean_readings:
      type: pandas.CSVDataset
      filepath: data/02_intermediate/clean_readings.csv

    features:
      type: pandas.CSVDataset
      filepath: data/04_feature/features.csv

    "{namespace}.model":
      type: pickle.PickleDataset
      filepath: data/06_models/{namespace}.pkl

    "{namespace}.accuracy":
      type: pipelinex_mlflow.MLflowDataset
      dataset: m
"""

PARAMETERS = """
    ingest:
      scale: 2
    features:
      window: 3
"""

PARAMETERS_TRAIN = """
    north:
      alpha: 0.1
    south:
      alpha: 0.2
"""

#: The readings of the two versions on disk; the newer is loaded by default.
READINGS = {OLD: [1, 2, 3], NEW: [10, 20, 30]}
#: The defaults: scale 2, window 3, on the newer readings.
FEATURE_MEAN = 2 * 3 * 20

TASKS = {
    "clean": "clean_readings -- clean_readings",
    "featurize": "build_features -- features",
    **{
        f"{ns}.{step}": f"{func} -- {ns}.{out}"
        for ns in ("north", "south")
        for step, func, out in (("fit", "fit", "model"), ("score", "score", "accuracy"))
    },
}


def write_fleet(folder: Path, migrated_db: Path) -> Path:
    project = write_project(
        folder,
        PACKAGE,
        {
            "src/{package}/settings.py": SETTINGS,
            "src/{package}/pipeline_registry.py": REGISTRY,
            "src/{package}/pipelines/__init__.py": "",
            **INGEST,
            **FEATURES,
            **TRAIN,
            "conf/base/catalog.yml": CATALOG,
            "conf/base/parameters.yml": PARAMETERS,
            "conf/base/parameters_train.yml": PARAMETERS_TRAIN,
            "conf/prod/parameters_train.yml": "north:\n  alpha: 0.5\n",
            **{
                f"data/01_raw/readings.csv/{version}/readings.csv": _csv(values)
                for version, values in READINGS.items()
            },
            # What an earlier full run left.
            "data/02_intermediate/clean_readings.csv": _csv([20, 40, 60]),
            "data/04_feature/features.csv": "value,feature\n20,60\n40,120\n60,180\n",
        },
    )
    copy_store(migrated_db, project)
    return project


def _csv(values: list[int]) -> str:
    return "value\n" + "".join(f"{v}\n" for v in values)


def _ran(tracked: Tracked, *nodes: str) -> None:
    """Exactly ``nodes`` ran (and were timed once each)."""
    assert tracked.timed_nodes == {TASKS[n] for n in nodes}, tracked.output
    for node in nodes:
        tracked.metric_once(f"_time_to_run {TASKS[node]}")


def _accuracies(tracked: Tracked) -> dict[str, float]:
    assert set(tracked.metrics) <= {"north.accuracy", "south.accuracy"}
    return {key: tracked.metric_once(key) for key in tracked.metrics}


@pytest.fixture
def fleet(tmp_path: Path, migrated_db: Path) -> Path:
    return write_fleet(tmp_path / "fleet", migrated_db)


def test_pipelines_then_only_missing_outputs_runs_no_node(fleet: Path) -> None:
    """``--pipelines ingest,features``; again with ``--only-missing-outputs``."""
    args, env = runner_args("ThreadRunner")
    first = track(fleet, "--pipelines", "ingest,features", *args, env=env)
    _ran(first, "clean", "featurize")
    assert first.params == {"ingest.scale": "2", "features.window": "3"}
    assert first.metrics == {}
    assert set(first.tags["kedro.pipelines"].split(",")) == {"ingest", "features"}
    features = (fleet / "data" / "04_feature" / "features.csv").read_text()
    assert features == "value,feature\n20,60\n40,120\n60,180\n"

    second = track(fleet, "--pipelines", "ingest,features", "--only-missing-outputs")
    assert second.timed_nodes == set(), second.output
    assert "Skipping all 2 nodes (all persistent outputs exist)" in second.output
    assert second.metrics == {}
    assert warnings_in(second.result) == [], second.output


def test_namespaces_and_env(fleet: Path) -> None:
    """``--namespaces north --env prod``: north's nodes, prod's alpha."""
    args, env = runner_args("ParallelRunner")
    tracked = track(fleet, "--namespaces", "north", "--env", "prod", *args, env=env)
    _ran(tracked, "north.fit", "north.score")
    assert tracked.params == {"north.alpha": "0.5"}
    assert _accuracies(tracked) == {"north.accuracy": pytest.approx(0.5 * 120 / 100)}
    assert tracked.tags["kedro.env"] == "prod"
    assert tracked.tags["kedro.namespaces"] == "north"
    with (fleet / "data" / "06_models" / "north.pkl").open("rb") as model:
        assert pickle.load(model) == {"alpha": 0.5, "coef": 60.0}
    assert not (fleet / "data" / "06_models" / "south.pkl").exists()


def test_tags_with_conf_source_elsewhere(fleet: Path, tmp_path: Path) -> None:
    """``--tags train --conf-source <folder outside the project>``."""
    conf = tmp_path / "shared" / "conf"
    shutil.copytree(fleet / "conf", conf)
    shutil.rmtree(fleet / "conf")  # only the other folder can be read
    write_files(
        conf, {"base/parameters_train.yml": PARAMETERS_TRAIN.replace("0.", "0.3")}
    )
    args, env = runner_args("spawn")
    tracked = track(
        fleet, "--tags", "train", "--conf-source", str(conf), *args, env=env
    )
    _ran(tracked, "north.fit", "north.score", "south.fit", "south.score")
    assert tracked.params == {"north.alpha": "0.31", "south.alpha": "0.32"}
    assert _accuracies(tracked) == {
        "north.accuracy": pytest.approx(0.31 * FEATURE_MEAN / 100),
        "south.accuracy": pytest.approx(0.32 * FEATURE_MEAN / 100),
    }
    assert tracked.tags["kedro.tags"] == "train"
    assert (fleet / "mlflow.db").is_file()
    assert not (conf / "mlflow.db").exists()


def test_nodes_async(fleet: Path) -> None:
    """``--nodes featurize,south.fit,south.score --runner-params is_async=True``.

    (Kedro 1.7's spelling of the deprecated ``--async``.)
    """
    tracked = track(
        fleet,
        "--nodes",
        "featurize,south.fit,south.score",
        "--runner-params",
        "is_async=True",
    )
    _ran(tracked, "featurize", "south.fit", "south.score")
    assert tracked.params == {"features.window": "3", "south.alpha": "0.2"}
    assert _accuracies(tracked) == {
        "south.accuracy": pytest.approx(0.2 * FEATURE_MEAN / 100)
    }
    assert set(tracked.tags["kedro.node_names"].split(",")) == {
        "featurize",
        "south.fit",
        "south.score",
    }
    assert "Asynchronous mode is enabled" in tracked.output


def test_from_to_nodes_with_load_versions(fleet: Path) -> None:
    """``--from-nodes clean --to-nodes featurize --load-versions readings:<old>``."""
    args, env = runner_args("ThreadRunner")
    tracked = track(
        fleet,
        "--from-nodes",
        "clean",
        "--to-nodes",
        "featurize",
        "--load-versions",
        f"readings:{OLD}",
        *args,
        env=env,
    )
    _ran(tracked, "clean", "featurize")
    assert tracked.params == {"ingest.scale": "2", "features.window": "3"}
    # Computed from the old version's readings (1, 2, 3), not the newest.
    features = (fleet / "data" / "04_feature" / "features.csv").read_text()
    assert features == "value,feature\n2,6\n4,12\n6,18\n"


def test_from_inputs(fleet: Path) -> None:
    """``--from-inputs features``: everything downstream of the features."""
    args, env = runner_args("ParallelRunner")
    tracked = track(fleet, "--from-inputs", "features", *args, env=env)
    _ran(tracked, "north.fit", "north.score", "south.fit", "south.score")
    assert tracked.params == {"north.alpha": "0.1", "south.alpha": "0.2"}
    assert _accuracies(tracked) == {
        "north.accuracy": pytest.approx(0.1 * FEATURE_MEAN / 100),
        "south.accuracy": pytest.approx(0.2 * FEATURE_MEAN / 100),
    }
