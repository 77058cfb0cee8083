"""Sessions opened the other ways people open them.

- Two ``KedroSession.create()`` in one Python process, notebook style: two
  MLflow runs, each with its own values.
- A session whose ``project_path`` is given while the current folder is
  elsewhere (a scheduler, a script in another repository).
- ``kedro run`` from a subfolder of the project (``<project>/src``): Kedro 1.x
  finds the project upwards from the current folder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.conformance.projects import (
    FIND_PIPELINES_REGISTRY,
    assert_no_run_running,
    copy_store,
    output_of,
    pipeline_package,
    run_ids,
    run_python,
    store_runs,
    track,
    tracked_run,
    warnings_in,
    write_project,
)

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conformance.projects import Tracked

PACKAGE = "logbook"

SETTINGS = """
    from pipelinex_mlflow import MLflowBasicLoggerHook, MLflowTimeLoggerHook

    HOOKS = (MLflowBasicLoggerHook(), MLflowTimeLoggerHook())
"""

ENTRIES = pipeline_package(
    "entries",
    """
    def write_entry(rate: float, model: dict):
        score = rate * model["alpha"]
        return score, {"rate": rate, "alpha": model["alpha"]}, f"rate={rate}"
    """,
    """
    from kedro.pipeline import Pipeline, node

    from .nodes import write_entry


    def create_pipeline(**kwargs) -> Pipeline:
        return Pipeline(
            [
                node(
                    write_entry,
                    ["params:rate", "params:model"],
                    ["score", "summary", "label"],
                    name="write_entry",
                )
            ]
        )
    """,
)

CATALOG = """
    score:
      type: pipelinex_mlflow.MLflowDataset
      dataset: m
    summary:
      type: pipelinex_mlflow.MLflowDataset
      dataset: json
    label:
      type: pipelinex_mlflow.MLflowDataset
      dataset: p
"""


def write_logbook(folder: Path, migrated_db: Path) -> Path:
    project = write_project(
        folder,
        PACKAGE,
        {
            "src/{package}/settings.py": SETTINGS,
            "src/{package}/pipeline_registry.py": FIND_PIPELINES_REGISTRY,
            "src/{package}/pipelines/__init__.py": "",
            **ENTRIES,
            "conf/base/catalog.yml": CATALOG,
            "conf/base/parameters.yml": "rate: 0.1\nmodel:\n  alpha: 2.0\n",
        },
    )
    copy_store(migrated_db, project)
    return project


def _check_entry(tracked: Tracked, rate: float) -> None:
    """The run holds this session's values, each once, and nothing of another's."""
    assert tracked.params == {
        "rate": str(rate),
        "model.alpha": "2.0",
        "label": f"rate={rate}",
    }, tracked.output
    assert set(tracked.metrics) == {"score"}, tracked.output
    assert tracked.metric_once("score") == rate * 2.0
    tracked.metric_once("_time_to_run write_entry -- score - summary - label")
    assert tracked.artifact_json("summary.json") == {"rate": rate, "alpha": 2.0}


def test_two_sessions_in_one_process_make_two_runs(
    tmp_path: Path, migrated_db: Path
) -> None:
    project = write_logbook(tmp_path / "logbook", migrated_db)
    result = run_python(
        """
        from pathlib import Path

        import mlflow
        from kedro.framework.session import KedroSession
        from kedro.framework.startup import bootstrap_project
        from kedro.runner import ParallelRunner, SequentialRunner

        bootstrap_project(Path.cwd())
        for rate, runner in ((0.1, SequentialRunner()), (0.25, ParallelRunner())):
            with KedroSession.create(runtime_params={"rate": rate}) as session:
                session.run(runner=runner)
            assert mlflow.active_run() is None
        """,
        cwd=project,
    )
    assert result.returncode == 0, output_of(result)
    runs = store_runs(project)
    assert len(runs) == 2, output_of(result)
    assert_no_run_running(project, result)
    for run, rate, runner in zip(
        runs, (0.1, 0.25), ("SequentialRunner", "ParallelRunner"), strict=True
    ):
        tracked = tracked_run(project, result, run_ids(project) - {run.info.run_id})
        assert tracked.run_id == run.info.run_id
        _check_entry(tracked, rate)
        assert tracked.tags["kedro.runner"] == runner
    first, second = runs
    assert first.data.tags["kedro.session_id"] != second.data.tags["kedro.session_id"]
    assert warnings_in(result) == [], output_of(result)


def test_a_session_opened_from_another_folder(
    tmp_path: Path, migrated_db: Path
) -> None:
    project = write_logbook(tmp_path / "logbook", migrated_db)
    elsewhere = tmp_path / "scheduler"
    elsewhere.mkdir()
    before = run_ids(project)
    result = run_python(
        f"""
        from kedro.framework.session import KedroSession
        from kedro.framework.startup import bootstrap_project
        from kedro.runner import ParallelRunner

        project = {str(project)!r}
        bootstrap_project(project)
        with KedroSession.create(
            project_path=project, runtime_params={{"rate": 0.5}}
        ) as session:
            session.run(runner=ParallelRunner())
        """,
        cwd=elsewhere,
        # Spawned workers start in the current folder, outside the project.
        env={"KEDRO_MP_CONTEXT": "spawn"},
    )
    # The run is in the project's store, not one made in the current folder.
    tracked = tracked_run(project, result, before)
    _check_entry(tracked, 0.5)
    assert tracked.tags["kedro.runner"] == "ParallelRunner"
    assert sorted(p.name for p in elsewhere.iterdir()) == []
    assert warnings_in(result) == [], output_of(result)


def test_kedro_run_from_a_subfolder_of_the_project(
    tmp_path: Path, migrated_db: Path
) -> None:
    project = write_logbook(tmp_path / "logbook", migrated_db)
    tracked = track(
        project,
        "--params",
        "rate=0.75",
        "--runner",
        "ThreadRunner",
        cwd=project / "src",
    )
    _check_entry(tracked, 0.75)
    assert not (project / "src" / "mlflow.db").exists()
    assert warnings_in(tracked.result) == [], tracked.output
