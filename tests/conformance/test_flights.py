"""A spaceflights-like project using most of what Kedro 1.x offers, under every runner.

Three pipelines found by ``find_pipelines()``: ``data_processing`` (transcoding,
a versioned dataset, a SQL table whose connection comes from ``credentials.yml``),
``data_science`` (one modular pipeline instantiated under the namespaces
``east`` and ``west``, with ``{namespace}.{name}`` and ``{name}_score`` dataset
factories) and ``reporting`` (the whole ``parameters`` dict, ``params:model``
and ``params:model.alpha`` side by side, a key holding a dot, a
``PartitionedDataset``, an ``IncrementalDataset``, and ``MLflowDataset`` entries
of codes p, m, a, csv, json and nested datasets, one of them versioned).
Parameters use ``globals.yml``, ``oc.select``, a custom resolver registered in
``settings.py`` and ``runtime_params``; ``--params`` overrides one key and adds
two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from tests.conformance.projects import (
    FIND_PIPELINES_REGISTRY,
    RUNNERS,
    TIMING_PREFIX,
    Tracked,
    copy_store,
    pipeline_package,
    runner_args,
    track,
    warnings_in,
    write_project,
)

if TYPE_CHECKING:
    from pathlib import Path

PACKAGE = "flights"

SETTINGS = """
    from pipelinex_mlflow import MLflowBasicLoggerHook, MLflowTimeLoggerHook

    HOOKS = (MLflowBasicLoggerHook(), MLflowTimeLoggerHook())

    CONFIG_LOADER_ARGS = {
        "base_env": "base",
        "default_run_env": "local",
        "custom_resolvers": {"times": lambda a, b: a * b},
    }
"""

GLOBALS = """
    team: flights-team
    base_rate: 0.25
"""

PARAMETERS = """
    model:
      alpha: 0.5
      features: [engines, crew]
      options:
        fit_intercept: true
        max_iter: 100
    "threshold.v2": 0.75
    team: ${globals:team}
    rate: ${globals:base_rate}
    fallback: ${oc.select:not_configured,plain}
    area: ${times:3,4}
    label: ${runtime_params:label,unlabelled}
"""

PARAMETERS_DATA_SCIENCE = """
    east:
      alpha: 0.1
    west:
      alpha: 0.2
"""

CATALOG = """
    companies:
      type: pandas.CSVDataset
      filepath: data/01_raw/companies.csv

    shuttles:
      type: pandas.CSVDataset
      filepath: data/01_raw/shuttles.csv

    # Two pandas datasets on one file: saved through one, loaded through the other.
    preprocessed_companies@pandas:
      type: pandas.CSVDataset
      filepath: data/02_intermediate/preprocessed_companies.csv
    preprocessed_companies@pandas2:
      type: pandas.CSVDataset
      filepath: data/02_intermediate/preprocessed_companies.csv
      load_args:
        usecols: [id, total]

    shuttles_table:
      type: pandas.SQLTableDataset
      table_name: shuttles
      credentials: shuttles_db
      save_args:
        if_exists: replace

    model_input_table:
      type: pandas.CSVDataset
      filepath: data/03_primary/model_input_table.csv
      versioned: true

    "{namespace}.regressor":
      type: pickle.PickleDataset
      filepath: data/06_models/{namespace}/regressor.pkl

    "{namespace}.report":
      type: pipelinex_mlflow.MLflowDataset
      dataset: json
      artifact_path: reports/{namespace}

    "{name}_score":
      type: pipelinex_mlflow.MLflowDataset
      dataset: m

    sensor_readings:
      type: partitions.PartitionedDataset
      path: data/01_raw/sensors
      dataset: pandas.CSVDataset
      filename_suffix: .csv

    daily_logs:
      type: partitions.IncrementalDataset
      path: data/01_raw/daily_logs
      dataset: pandas.CSVDataset
      filename_suffix: .csv

    log_rows:
      type: pipelinex_mlflow.MLflowDataset
      dataset: m

    model_description:
      type: pipelinex_mlflow.MLflowDataset
      dataset: p

    scaled_alpha:
      type: pipelinex_mlflow.MLflowDataset
      dataset: m

    parameter_summary:
      type: pipelinex_mlflow.MLflowDataset
      dataset: a

    score_table:
      type: pipelinex_mlflow.MLflowDataset
      dataset: csv

    run_report:
      type: pipelinex_mlflow.MLflowDataset
      dataset: json

    sensor_summary:
      type: pipelinex_mlflow.MLflowDataset
      dataset:
        type: partitions.PartitionedDataset
        path: data/07_model_output/sensor_summary
        dataset: pandas.CSVDataset
        filename_suffix: .csv

    nested_table:
      type: pipelinex_mlflow.MLflowDataset
      artifact_path: tables
      dataset:
        type: pandas.CSVDataset
        filepath: data/08_reporting/nested_table.csv

    nested_versioned:
      type: pipelinex_mlflow.MLflowDataset
      artifact_path: tables
      dataset:
        type: pandas.CSVDataset
        filepath: data/08_reporting/nested_versioned.csv
        versioned: true
"""

CREDENTIALS = """
    shuttles_db:
      con: sqlite:///data/02_intermediate/shuttles.db
"""

DATA_PROCESSING_NODES = """
    import pandas as pd


    def preprocess_companies(companies: pd.DataFrame, features: list) -> pd.DataFrame:
        out = companies.copy()
        out["total"] = out[features].sum(axis=1)
        return out


    def store_shuttles(shuttles: pd.DataFrame) -> pd.DataFrame:
        return shuttles


    def create_model_input_table(
        companies: pd.DataFrame, shuttles: pd.DataFrame, options: dict
    ) -> pd.DataFrame:
        assert list(companies.columns) == ["id", "total"], companies.columns
        table = companies.merge(shuttles, on="id").sort_values("id")
        if options["fit_intercept"]:
            table["intercept"] = 1
        return table.reset_index(drop=True)
"""

DATA_PROCESSING_PIPELINE = """
    from kedro.pipeline import Pipeline, node

    from .nodes import create_model_input_table, preprocess_companies, store_shuttles


    def create_pipeline(**kwargs) -> Pipeline:
        return Pipeline(
            [
                node(
                    preprocess_companies,
                    ["companies", "params:model.features"],
                    "preprocessed_companies@pandas",
                    name="preprocess_companies",
                ),
                node(store_shuttles, "shuttles", "shuttles_table", name="store_shuttles"),
                node(
                    create_model_input_table,
                    [
                        "preprocessed_companies@pandas2",
                        "shuttles_table",
                        "params:model.options",
                    ],
                    "model_input_table",
                    name="create_model_input_table",
                ),
            ]
        )
"""

DATA_SCIENCE_NODES = """
    import pandas as pd


    def train_model(table: pd.DataFrame, alpha: float) -> dict:
        return {"alpha": alpha, "weight": alpha * table["price"].sum() / table["total"].sum()}


    def evaluate_model(regressor: dict, table: pd.DataFrame):
        score = regressor["weight"] / 100
        report = {"alpha": regressor["alpha"], "rows": len(table), "score": score}
        return score, report
"""

DATA_SCIENCE_PIPELINE = """
    from kedro.pipeline import Pipeline, node

    from .nodes import evaluate_model, train_model


    def create_pipeline(**kwargs) -> Pipeline:
        base = Pipeline(
            [
                node(
                    train_model,
                    ["model_input_table", "params:alpha"],
                    "regressor",
                    name="train_model",
                ),
                node(
                    evaluate_model,
                    ["regressor", "model_input_table"],
                    ["r2_score", "report"],
                    name="evaluate_model",
                ),
            ]
        )
        return Pipeline(base, namespace="east", inputs={"model_input_table"}) + Pipeline(
            base, namespace="west", inputs={"model_input_table"}
        )
"""

REPORTING_NODES = """
    import pandas as pd


    def summarize_parameters(parameters: dict) -> dict:
        return {
            "n_keys": len(parameters),
            "new_key_type": type(parameters["new_key"]).__name__,
            "label": parameters["label"],
            "area": parameters["area"],
        }


    def describe_model(model: dict) -> str:
        return f"alpha={model['alpha']} features={'+'.join(model['features'])}"


    def scale_alpha(alpha: float, threshold: float) -> float:
        return alpha * threshold


    def tabulate_scores(east: dict, west: dict) -> pd.DataFrame:
        scores = [east["weight"] / 100, west["weight"] / 100]
        return pd.DataFrame({"namespace": ["east", "west"], "score": scores})


    def write_report(table: pd.DataFrame, team: str, rate: float, fallback: str) -> dict:
        return {
            "team": team,
            "rate": rate,
            "fallback": fallback,
            "rows": len(table),
            "price_sum": int(table["price"].sum()),
        }


    def summarize_sensors(partitions: dict) -> dict:
        return {
            name: pd.DataFrame({"total": [int(load()["reading"].sum())]})
            for name, load in sorted(partitions.items())
        }


    def count_log_rows(logs: dict) -> int:
        return sum(len(frame) for frame in logs.values())


    def copy_tables(table: pd.DataFrame):
        return table, table[["id", "price"]]
"""

REPORTING_PIPELINE = """
    from kedro.pipeline import Pipeline, node

    from .nodes import (
        copy_tables,
        count_log_rows,
        describe_model,
        scale_alpha,
        summarize_parameters,
        summarize_sensors,
        tabulate_scores,
        write_report,
    )


    def create_pipeline(**kwargs) -> Pipeline:
        return Pipeline(
            [
                node(summarize_parameters, "parameters", "parameter_summary"),
                node(describe_model, "params:model", "model_description"),
                node(
                    scale_alpha,
                    ["params:model.alpha", "params:threshold.v2"],
                    "scaled_alpha",
                ),
                node(
                    tabulate_scores, ["east.regressor", "west.regressor"], "score_table"
                ),
                node(
                    write_report,
                    ["model_input_table", "params:team", "params:rate", "params:fallback"],
                    "run_report",
                ),
                node(summarize_sensors, "sensor_readings", "sensor_summary"),
                node(count_log_rows, "daily_logs", "log_rows", confirms="daily_logs"),
                node(
                    copy_tables,
                    "model_input_table",
                    ["nested_table", "nested_versioned"],
                ),
            ],
            tags=["reporting"],
        )
"""

COMPANIES = "id,engines,crew\n1,2,4\n2,4,6\n3,1,2\n"
SHUTTLES = "id,price\n1,100\n2,250\n3,80\n"
RUNTIME_PARAMS = "model.alpha=0.9,new_key=3,label=nightly"

#: What the project's nodes compute from the files above.
TOTALS = {1: 6, 2: 10, 3: 3}
PRICES = {1: 100, 2: 250, 3: 80}
ALPHAS = {"east": 0.1, "west": 0.2}


def _score(alpha: float) -> float:
    return alpha * sum(PRICES.values()) / sum(TOTALS.values()) / 100


def write_flights(folder: Path) -> Path:
    return write_project(
        folder,
        PACKAGE,
        {
            "src/{package}/settings.py": SETTINGS,
            "src/{package}/pipeline_registry.py": FIND_PIPELINES_REGISTRY,
            "src/{package}/pipelines/__init__.py": "",
            **pipeline_package(
                "data_processing", DATA_PROCESSING_NODES, DATA_PROCESSING_PIPELINE
            ),
            **pipeline_package(
                "data_science", DATA_SCIENCE_NODES, DATA_SCIENCE_PIPELINE
            ),
            **pipeline_package("reporting", REPORTING_NODES, REPORTING_PIPELINE),
            "conf/base/globals.yml": GLOBALS,
            "conf/base/parameters.yml": PARAMETERS,
            "conf/base/parameters_data_science.yml": PARAMETERS_DATA_SCIENCE,
            "conf/base/catalog.yml": CATALOG,
            "conf/local/credentials.yml": CREDENTIALS,
            "data/01_raw/companies.csv": COMPANIES,
            "data/01_raw/shuttles.csv": SHUTTLES,
            "data/01_raw/sensors/east.csv": "reading\n1\n2\n3\n",
            "data/01_raw/sensors/west.csv": "reading\n10\n20\n",
            "data/01_raw/daily_logs/2024-01-01.csv": "event\na\nb\n",
            "data/01_raw/daily_logs/2024-01-02.csv": "event\nc\nd\ne\n",
            "data/02_intermediate/.gitkeep": "",
        },
    )


@dataclass(frozen=True)
class FlightsRun:
    project: Path
    runner: str
    tracked: Tracked


@pytest.fixture(scope="module", params=RUNNERS)
def flights(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    migrated_db: Path,
) -> FlightsRun:
    """The project, run once per runner with ``--params``."""
    runner = request.param
    project = write_flights(tmp_path_factory.mktemp(runner) / "flights")
    copy_store(migrated_db, project)
    args, env = runner_args(runner)
    return FlightsRun(
        project, runner, track(project, "--params", RUNTIME_PARAMS, *args, env=env)
    )


def test_params_land_once_with_their_values(flights: FlightsRun) -> None:
    """Every parameter (a node reads all of ``parameters``), flattened with ".",
    ``--params`` merged in, resolvers resolved; each once, with its value."""
    tracked = flights.tracked
    assert tracked.params == {
        "model.alpha": "0.9",
        "model.features": "['engines', 'crew']",
        "model.options.fit_intercept": "True",
        "model.options.max_iter": "100",
        "threshold.v2": "0.75",
        "team": "flights-team",
        "rate": "0.25",
        "fallback": "plain",
        "area": "12",
        "label": "nightly",
        "new_key": "3",
        "east.alpha": "0.1",
        "west.alpha": "0.2",
        # MLflowDataset p and a entries.
        "model_description": "alpha=0.9 features=engines+crew",
        "parameter_summary.new_key_type": "int",
        "parameter_summary.label": "nightly",
    }, tracked.output
    assert tracked.tags["kedro.runner"] == (
        "ParallelRunner" if flights.runner == "spawn" else flights.runner
    )


def test_metrics_land_once_with_their_values(flights: FlightsRun) -> None:
    """m entries (a factory's too) and the numbers of an a entry, once each."""
    tracked = flights.tracked
    assert set(tracked.metrics) == {
        "east.r2_score",
        "west.r2_score",
        "scaled_alpha",
        "log_rows",
        "parameter_summary.n_keys",
        "parameter_summary.area",
    }, tracked.output
    for namespace, alpha in ALPHAS.items():
        assert tracked.metric_once(f"{namespace}.r2_score") == pytest.approx(
            _score(alpha)
        )
    assert tracked.metric_once("scaled_alpha") == pytest.approx(0.9 * 0.75)
    assert tracked.metric_once("log_rows") == 5
    assert tracked.metric_once("parameter_summary.n_keys") == 10
    assert tracked.metric_once("parameter_summary.area") == 12
    # Every node was timed, once.
    assert len(tracked.timed_nodes) == 15, sorted(tracked.timed_nodes)
    for task in tracked.timed_nodes:
        tracked.metric_once(TIMING_PREFIX + task)


def test_artifacts_land_once_with_their_content(flights: FlightsRun) -> None:
    """Each file once, where the catalog says, holding what the node made."""
    tracked = flights.tracked
    files = tracked.artifact_files()
    mine = {f for f in files if not f.startswith(("gantt", "time_log", "pipeline."))}
    assert mine == {
        "score_table.csv",
        "run_report.json",
        "reports/east/east.report.json",
        "reports/west/west.report.json",
        "sensor_summary/east.csv",
        "sensor_summary/west.csv",
        "tables/nested_table.csv",
        "tables/nested_versioned.csv",
    }, tracked.output
    east = tracked.artifact_json("reports/east/east.report.json")
    assert east == {"alpha": 0.1, "rows": 3, "score": pytest.approx(_score(0.1))}
    assert tracked.artifact_json("run_report.json") == {
        "team": "flights-team",
        "rate": 0.25,
        "fallback": "plain",
        "rows": 3,
        "price_sum": 430,
    }
    score_table = tracked.artifact_text("score_table.csv").splitlines()
    assert score_table[0] == "namespace,score"
    assert [row.split(",")[0] for row in score_table[1:]] == ["east", "west"]
    assert float(score_table[2].split(",")[1]) == pytest.approx(_score(0.2))
    assert tracked.artifact_text("sensor_summary/west.csv") == "total\n30\n"
    assert tracked.artifact_text("tables/nested_table.csv").splitlines() == [
        "id,total,price,intercept",
        "1,6,100,1",
        "2,10,250,1",
        "3,3,80,1",
    ]
    assert tracked.artifact_text("tables/nested_versioned.csv").splitlines() == [
        "id,price",
        "1,100",
        "2,250",
        "3,80",
    ]


def test_kedro_datasets_write_their_files(flights: FlightsRun) -> None:
    """Transcoding, SQL through credentials, partitions and increments, untouched."""
    data = flights.project / "data"
    assert (data / "02_intermediate" / "preprocessed_companies.csv").read_text() == (
        "id,engines,crew,total\n1,2,4,6\n2,4,6,10\n3,1,2,3\n"
    )
    assert (data / "02_intermediate" / "shuttles.db").is_file()
    assert (data / "07_model_output" / "sensor_summary" / "east.csv").read_text() == (
        "total\n6\n"
    )
    assert (data / "01_raw" / "daily_logs" / "CHECKPOINT").read_text() == "2024-01-02"


def test_versioned_datasets_share_the_sessions_save_version(
    flights: FlightsRun,
) -> None:
    """Every versioned dataset of one run saves under the session's save version,
    nested ones (inside MLflowDataset) included."""
    data = flights.project / "data"
    (version,) = (data / "03_primary" / "model_input_table.csv").iterdir()
    assert flights.tracked.tags["kedro.session_id"] == version.name
    (nested_version,) = (data / "08_reporting" / "nested_versioned.csv").iterdir()
    assert nested_version.name == version.name, flights.tracked.output


def test_a_clean_run_warns_about_nothing(flights: FlightsRun) -> None:
    assert warnings_in(flights.tracked.result) == [], flights.tracked.output
