"""ParallelRunner with spawned workers (``spawn``, ``forkserver``): nothing goes missing.

The hooks come from a real Kedro project's ``settings.py``, configured in this
process as ``kedro run`` does; the workers are real spawned processes, which import
Kedro and MLflow afresh (a few seconds each).
"""

from __future__ import annotations

import json
import multiprocessing.util
import os
import sys
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from kedro.framework import project as kedro_project
from kedro.io import DataCatalog, MemoryDataset, SharedMemoryDataCatalog
from kedro.runner import ParallelRunner

from pipelinex_mlflow import (
    MLflowCatalogLoggerHook,
    MLflowDataSet,
    MLflowTimeLoggerHook,
)
from pipelinex_mlflow.core.workers import (
    WORKER_HOOKS_TAG,
    WORKER_SETUP_ENTRY,
    WorkerSetup,
    start_method,
)
from pipelinex_mlflow.hooks.node_timing import GANTT_ARTIFACT, TIME_LOG_ARTIFACT
from tests._kedro import run_with_hooks
from tests.hooks._pipeline import (
    EXPERIMENT,
    NODE_NAMES,
    TASK_NAMES,
    inputs,
    make_runner,
    only_run,
    pipeline,
    run,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

    from pipelinex_mlflow import MLflowBasicLoggerHook

SETTINGS = f"""
from pipelinex_mlflow import (
    MLflowBasicLoggerHook,
    MLflowCatalogLoggerHook,
    MLflowTimeLoggerHook,
)

HOOKS = (
    MLflowBasicLoggerHook(experiment_name={EXPERIMENT!r}),
    MLflowTimeLoggerHook(),
    MLflowCatalogLoggerHook(),
)
"""
AUTO_PARAMS = {"stats.kind": "rf", "stats.ids": "[1, 2, 3]", "model.kind": "rf"}
NO_PROJECT_WARNING = "no Kedro project is configured"


@pytest.fixture
def project_hooks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, ...]]:
    """A project whose settings.py registers the hooks; its HOOKS, as Kedro loads them."""
    package = f"spawned_{uuid.uuid4().hex[:8]}"
    source = tmp_path / "src" / package
    source.mkdir(parents=True)
    (source / "__init__.py").write_text("")
    (source / "settings.py").write_text(SETTINGS)
    monkeypatch.syspath_prepend(str(source.parent))
    monkeypatch.setattr(kedro_project, "PACKAGE_NAME", None)
    settings, pipelines = kedro_project.settings, kedro_project.pipelines
    previous_settings, previous_pipelines = settings._wrapped, vars(pipelines).copy()
    kedro_project.configure_project(package)
    try:
        yield tuple(settings.HOOKS)
    finally:
        settings._wrapped = previous_settings
        vars(pipelines).update(previous_pipelines)
        for module in [m for m in sys.modules if m.split(".")[0] == package]:
            del sys.modules[module]


@pytest.fixture
def scratch(short_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary folder of this process and of the workers it starts."""
    # multiprocessing's own folder (the fork server's socket) lives as long as this
    # process: made first, it stays out of the test's folder.
    multiprocessing.util.get_temp_dir()
    folder = short_tmp
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.setenv("TMPDIR", str(folder))
    return folder


def _run_parallel(
    hooks: tuple[Any, ...], tmp_path: Path, x: int = 2, **datasets: Any
) -> None:
    catalog = SharedMemoryDataCatalog(inputs(x=MemoryDataset(x), **datasets))
    run_with_hooks(
        pipeline(),
        catalog,
        hooks,
        ParallelRunner(max_workers=2),
        project_path=str(tmp_path),
    )


def _runs(client: MlflowClient) -> list[Run]:
    experiments = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(experiments, order_by=["attributes.start_time ASC"])


def _artifact(client: MlflowClient, run_id: str, path: str, dst: Path) -> str:
    dst.mkdir(exist_ok=True)
    return Path(client.download_artifacts(run_id, path, str(dst))).read_text("utf-8")


def _auto_metrics(x: int) -> dict[str, float]:
    """What the catalog hook logs of the memory datasets, for ``x``.

    Not the parameters: the basic hook logs them (as params), so the catalog
    hook's auto leaves them alone, in the workers too.
    """
    n = x + 1
    return {
        "stats.n": n,
        "doubled": n * 10,
        "squared": n**2,
        "combined": (n * 10 + n**2) / 2,
    }


def _assert_complete(client: MlflowClient, logged: Run, tmp_path: Path, x: int) -> None:
    """Every node timed in a worker, the time log and chart, each value once."""
    assert logged.info.status == "FINISHED"
    run_id = logged.info.run_id
    metrics, params = logged.data.metrics, logged.data.params
    assert {k for k in metrics if k.startswith("_time_to_run ")} == {
        f"_time_to_run {TASK_NAMES[name]}" for name in NODE_NAMES
    }
    time_log = json.loads(_artifact(client, run_id, TIME_LOG_ARTIFACT, tmp_path))
    assert sorted(entry["node"] for entry in time_log["nodes"]) == sorted(NODE_NAMES)
    pids = {entry["pid"] for entry in time_log["nodes"]}
    assert os.getpid() not in pids, "every node ran in a worker"
    gantt = _artifact(client, run_id, GANTT_ARTIFACT, tmp_path)
    for name in NODE_NAMES:
        assert f'"{TASK_NAMES[name]}"' in gantt
    for pid in pids:
        assert f"process {pid}" in gantt
    for key, value in _auto_metrics(x).items():
        assert metrics.get(key) == value, key
        # "stats" feeds three nodes, maybe in both workers: logged once.
        assert len(client.get_metric_history(run_id, key)) == 1, key
    for key, text in AUTO_PARAMS.items():
        assert params.get(key) == text, key
    assert (params["factor"], params["model.depth"]) == ("10", "3")
    assert not {"factor", "model.depth"} & set(metrics)
    assert WORKER_HOOKS_TAG not in logged.data.tags


def test_spawned_workers_log_timings_and_values(
    project_hooks: tuple[Any, ...],
    client: MlflowClient,
    scratch: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Node timings, the Gantt page and auto-logged values are complete."""
    monkeypatch.setenv("KEDRO_MP_CONTEXT", "spawn")
    _run_parallel(project_hooks, tmp_path)

    (logged,) = _runs(client)  # the workers' own MLflowBasicLoggerHook starts none
    _assert_complete(client, logged, tmp_path, x=2)
    assert NO_PROJECT_WARNING not in caplog.text
    assert "timed none" not in caplog.text
    assert list(scratch.iterdir()) == [], "the run's folders are gone"


def test_forkserver_workers_log_each_run_to_its_own(
    project_hooks: tuple[Any, ...],
    client: MlflowClient,
    scratch: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Complete twice, though the fork server kept the environment of the first run.

    In the second run ``combined`` is an MLflow metric that a worker saves to its
    current run (the only worker that imports MLflow).
    """
    monkeypatch.setenv("KEDRO_MP_CONTEXT", "forkserver")
    _run_parallel(project_hooks, tmp_path, x=2)
    _run_parallel(project_hooks, tmp_path, x=5, combined=MLflowDataSet(dataset="m"))

    first, second = (client.get_run(r.info.run_id) for r in _runs(client))
    _assert_complete(client, first, tmp_path / "first", x=2)
    _assert_complete(client, second, tmp_path / "second", x=5)
    assert list(scratch.iterdir()) == [], "the runs' folders are gone"


def test_without_a_project_spawned_workers_are_named_once(
    basic_hook: MLflowBasicLoggerHook,
    client: MlflowClient,
    scratch: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No project to configure in the workers: one warning and a tag, not silence."""
    monkeypatch.setattr(kedro_project, "PACKAGE_NAME", None)
    monkeypatch.setenv("KEDRO_MP_CONTEXT", "spawn")
    hooks = (basic_hook, MLflowTimeLoggerHook(), MLflowCatalogLoggerHook())
    run(hooks, "parallel")

    logged = only_run(client)
    assert logged.info.status == "FINISHED"
    warnings = [r for r in caplog.records if NO_PROJECT_WARNING in r.getMessage()]
    assert len(warnings) == 1, "once per run, for both hooks"
    (warning,) = warnings
    assert warning.levelname == "WARNING"
    message = warning.getMessage()
    assert logged.info.run_id in message
    for missing in ("_time_to_run", "gantt.html", "auto-logged node values"):
        assert missing in message
    assert "KEDRO_MP_CONTEXT=fork" in message
    assert "ThreadRunner" in message
    assert "'spawn'" in logged.data.tags[WORKER_HOOKS_TAG]
    assert "timed none" not in caplog.text, "said once"
    assert not [k for k in logged.data.metrics if k.startswith("_time_to_run ")]
    assert list(scratch.iterdir()) == []


def test_forked_workers_get_no_warning(
    basic_hook: MLflowBasicLoggerHook,
    client: MlflowClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Forked workers inherit the hooks: nothing to warn about, nothing tagged."""
    monkeypatch.setattr(kedro_project, "PACKAGE_NAME", None)
    monkeypatch.setenv("KEDRO_MP_CONTEXT", "fork")
    run((basic_hook, MLflowTimeLoggerHook(), MLflowCatalogLoggerHook()), "parallel")
    logged = only_run(client)
    assert NO_PROJECT_WARNING not in caplog.text
    assert WORKER_HOOKS_TAG not in logged.data.tags
    assert len([k for k in logged.data.metrics if k.startswith("_time_to_run ")]) == 4


@pytest.mark.parametrize("runner", ["sequential", "thread"])
def test_other_runners_catalogs_are_untouched(
    runner: str, basic_hook: MLflowBasicLoggerHook
) -> None:
    """Only a ParallelRunner's catalog gets the worker set-up entry."""
    catalog = DataCatalog(inputs())
    hooks = (basic_hook, MLflowTimeLoggerHook(), MLflowCatalogLoggerHook())
    run_with_hooks(pipeline(), catalog, hooks, make_runner(runner))
    assert WORKER_SETUP_ENTRY not in catalog.keys()  # noqa: SIM118


def test_a_catalog_used_again_keeps_one_entry(
    basic_hook: MLflowBasicLoggerHook,
    client: MlflowClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A second run on the same catalog reuses the entry, with that run's folders."""
    catalog = SharedMemoryDataCatalog(inputs())
    hooks = (basic_hook, MLflowTimeLoggerHook(), MLflowCatalogLoggerHook())
    for _ in range(2):
        run_with_hooks(pipeline(), catalog, hooks, ParallelRunner(max_workers=2))
    assert "Replacing dataset" not in caplog.text
    setup = catalog[WORKER_SETUP_ENTRY]
    assert isinstance(setup, WorkerSetup)
    assert sorted(setup.spools) == ["timing", "values"]
    assert len(_runs(client)) == 2


class TestWorkerSetup:
    def test_is_no_data(self) -> None:
        from kedro.io import DatasetError

        setup = WorkerSetup("my_project")
        with pytest.raises(DatasetError, match="not data: nothing to load"):
            setup.load()
        with pytest.raises(DatasetError, match="not data: nothing to save"):
            setup.save("anything")
        assert "my_project" in repr(setup)

    @pytest.mark.parametrize(
        ("chosen", "expected"),
        [("spawn", "spawn"), ("forkserver", "forkserver"), ("fork", "fork")],
    )
    def test_start_method_follows_kedro_mp_context(
        self, chosen: str, expected: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("KEDRO_MP_CONTEXT", chosen)
        assert start_method() == expected

    def test_start_method_defaults_to_the_platforms(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An unknown KEDRO_MP_CONTEXT is ignored, as ParallelRunner ignores it."""
        import multiprocessing

        monkeypatch.setenv("KEDRO_MP_CONTEXT", "threads")
        default = multiprocessing.get_start_method(allow_none=True)
        assert start_method() == (default or multiprocessing.get_all_start_methods()[0])
