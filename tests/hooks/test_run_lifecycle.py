"""MLflowBasicLoggerHook: one run per Kedro run, tagged, timed, and always ended."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog, DatasetError, MemoryDataset
from kedro.pipeline import Pipeline, node

from pipelinex_mlflow import MLflowBasicLoggerHook
from pipelinex_mlflow.tracking import TrackingError, current_run
from tests._kedro import run_with_hooks

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient


def _double(x: int) -> int:
    return x * 2


def _add(a: int, b: int) -> int:
    return a + b


def _boom(x: int) -> int:
    raise ValueError("node exploded")


def _pipeline() -> Pipeline:
    return Pipeline(
        [
            node(_double, "params:model.depth", "doubled", name="double"),
            node(_add, ["doubled", "params:lr"], "total", name="add"),
        ]
    )


def _catalog(depth: int = 3, lr: float = 0.1) -> DataCatalog:
    return DataCatalog(
        {
            "params:model.depth": MemoryDataset(depth),
            "params:lr": MemoryDataset(lr),
            "params:unused": MemoryDataset("never read"),
        }
    )


def _runs(client: MlflowClient, experiment: str = "exp") -> list[Run]:
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"experiment {experiment!r} was not created"
    return client.search_runs([found.experiment_id], order_by=["attributes.start_time"])


class TestSuccessfulRun:
    def test_one_finished_run_with_params_tags_and_times(
        self, client: MlflowClient, tracking_uri: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        hook = MLflowBasicLoggerHook(
            uri=tracking_uri,
            experiment_name="exp",
            run_name="first",
            tags={"team": "vision"},
            offset_hours=9,
            logging_kedro_run_params=["env", "runtime_params"],
        )
        run_with_hooks(
            _pipeline(), _catalog(), (hook,), env="staging", runtime_params={"lr": 0.1}
        )
        (run,) = _runs(client)
        assert run.info.status == "FINISHED"
        assert run.info.run_name == "first"
        params = run.data.params
        assert params["model.depth"] == "3"
        assert params["lr"] == "0.1"
        assert "unused" not in params
        assert params["___env"] == "staging"
        assert params["___runtime_params.lr"] == "0.1"
        assert params["__time_begin"] <= params["__time_end"]
        metrics = run.data.metrics
        assert {"__time_begin", "__time_end", "__time"} <= set(metrics)
        assert 0 < metrics["__time"] < 60
        assert str(int(metrics["__time_begin"]))[:8] == params["__time_begin"][
            :10
        ].replace("-", "")
        tags = run.data.tags
        assert tags["team"] == "vision"
        assert tags["kedro.env"] == "staging"
        assert tags["kedro.runner"] == "SequentialRunner"
        assert tags["kedro.pipelines"] == "__default__"
        assert tags["kedro.session_id"] == "2026-11-25T10.00.00.000Z"
        assert tags["kedro.command"] == "kedro run --env=staging --params=lr=0.1"
        assert tags["mlflow.user"]
        assert tags["host"]
        assert f"Tracking this Kedro run as MLflow run {run.info.run_id}" in caplog.text
        assert "mlflow ui --backend-store-uri" in caplog.text
        assert current_run() is None

    def test_declared_secret_names_are_masked_in_params_tags_and_run_params(
        self,
        client: MlflowClient,
        tracking_uri: str,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        hook = MLflowBasicLoggerHook(
            uri=tracking_uri,
            experiment_name="exp",
            logging_kedro_run_params="runtime_params",
            secret_names="lr",  # noqa: S106 - a name, not a password
        )
        run_with_hooks(
            _pipeline(), _catalog(), (hook,), runtime_params={"lr": 0.123456}
        )
        (run,) = _runs(client)
        assert run.data.params["lr"] == "*****"
        assert run.data.params["___runtime_params.lr"] == "*****"
        assert run.data.tags["kedro.command"] == "kedro run '--params=lr=*****'"
        assert "0.123456" not in caplog.text
        assert "MLflow param 'lr' looks secret" in caplog.text
        assert run.data.params["model.depth"] == "3"

    def test_offset_hours_shifts_the_logged_times(
        self, client: MlflowClient, tracking_uri: str
    ) -> None:
        from datetime import datetime, timedelta

        for offset in (0, 12):
            hook = MLflowBasicLoggerHook(
                uri=tracking_uri, experiment_name="exp", offset_hours=offset
            )
            run_with_hooks(_pipeline(), _catalog(), (hook,))
        utc, shifted = (
            datetime.strptime(r.data.params["__time_begin"], "%Y-%m-%dT%H:%M:%S")
            for r in _runs(client)
        )
        assert timedelta(hours=12) <= shifted - utc < timedelta(hours=12, minutes=1)

    def test_disabled_times_are_not_logged(
        self, client: MlflowClient, tracking_uri: str
    ) -> None:
        hook = MLflowBasicLoggerHook(
            uri=tracking_uri,
            experiment_name="exp",
            enable_logging_time_begin=False,
            enable_logging_time_end=False,
            enable_logging_time=False,
            log_parameters=False,
            log_system_metrics=False,
        )
        run_with_hooks(_pipeline(), _catalog(), (hook,))
        (run,) = _runs(client)
        assert run.data.metrics == {}
        assert run.data.params == {}

    def test_all_run_params(self, client: MlflowClient, tracking_uri: str) -> None:
        hook = MLflowBasicLoggerHook(
            uri=tracking_uri, experiment_name="exp", logging_kedro_run_params="__ALL__"
        )
        run_with_hooks(_pipeline(), _catalog(), (hook,))
        (run,) = _runs(client)
        assert {"___run_id", "___kedro_version", "___pipeline_names"} <= set(
            run.data.params
        )
        # What Kedro ran, as the kedro.* tags say, not its "not given" markers.
        params, tags = run.data.params, run.data.tags
        assert (params["___env"], tags["kedro.env"]) == ("local", "local")
        assert params["___pipeline_names"] == "['__default__']"
        assert tags["kedro.pipelines"] == "__default__"
        assert params["___runner"] == tags["kedro.runner"] == "SequentialRunner"

    def test_enable_mlflow_false_touches_nothing(
        self, client: MlflowClient, tracking_uri: str
    ) -> None:
        hook = MLflowBasicLoggerHook(
            uri=tracking_uri, experiment_name="exp", enable_mlflow=False
        )
        run_with_hooks(_pipeline(), _catalog(), (hook,))
        assert client.get_experiment_by_name("exp") is None

    def test_same_hook_twice_gives_two_runs(
        self, client: MlflowClient, tracking_uri: str
    ) -> None:
        hook = MLflowBasicLoggerHook(uri=tracking_uri, experiment_name="exp")
        run_with_hooks(_pipeline(), _catalog(depth=1), (hook,))
        run_with_hooks(_pipeline(), _catalog(depth=2), (hook,))
        runs = _runs(client)
        assert [r.info.status for r in runs] == ["FINISHED", "FINISHED"]
        assert [r.data.params["model.depth"] for r in runs] == ["1", "2"]

    def test_whole_parameters_dict_is_flattened(
        self, client: MlflowClient, tracking_uri: str
    ) -> None:
        pipeline = Pipeline([node(lambda p: p, "parameters", "out", name="all")])
        catalog = DataCatalog(
            {
                "parameters": MemoryDataset({"a": {"b": 1}, "c": [1, 2]}),
                "out": MemoryDataset(),
            }
        )
        hook = MLflowBasicLoggerHook(
            uri=tracking_uri, experiment_name="exp", flatten_separator="/"
        )
        run_with_hooks(pipeline, catalog, (hook,))
        (run,) = _runs(client)
        assert run.data.params["a/b"] == "1"
        assert run.data.params["c"] == "[1, 2]"


class TestFailures:
    def test_failing_node_leaves_the_run_failed_with_the_error(
        self, client: MlflowClient, tracking_uri: str
    ) -> None:
        import mlflow

        pipeline = Pipeline([node(_boom, "params:lr", "x", name="boom")])
        hook = MLflowBasicLoggerHook(uri=tracking_uri, experiment_name="exp")
        with pytest.raises(ValueError, match="node exploded"):
            run_with_hooks(pipeline, _catalog(), (hook,))
        (run,) = _runs(client)
        assert run.info.status == "FAILED"
        assert run.data.tags["kedro.error"] == "ValueError: node exploded"
        assert "__time" in run.data.metrics
        assert mlflow.active_run() is None
        assert current_run() is None

    def test_another_hook_failing_before_the_run_marks_it_failed(
        self, client: MlflowClient, tracking_uri: str
    ) -> None:
        class Broken:
            @hook_impl
            def before_pipeline_run(self) -> None:
                raise RuntimeError("user hook broke")

        hook = MLflowBasicLoggerHook(uri=tracking_uri, experiment_name="exp")
        # Registered last, so pluggy would call it first without our wrapper.
        with pytest.raises(RuntimeError, match="user hook broke"):
            run_with_hooks(_pipeline(), _catalog(), (hook, Broken()))
        (run,) = _runs(client)
        assert run.info.status == "FAILED"

    def test_another_hook_failing_after_the_run_marks_it_failed(
        self, client: MlflowClient, tracking_uri: str
    ) -> None:
        class Broken:
            @hook_impl(trylast=True)
            def after_pipeline_run(self) -> None:
                raise RuntimeError("late failure")

        hook = MLflowBasicLoggerHook(uri=tracking_uri, experiment_name="exp")
        with pytest.raises(RuntimeError, match="late failure"):
            run_with_hooks(_pipeline(), _catalog(), (Broken(), hook))
        (run,) = _runs(client)
        assert run.info.status == "FAILED"

    def test_unreachable_server_fails_fast_and_creates_nothing(
        self,
        client: MlflowClient,
        tmp_path: Path,
        connection_attempts: list[tuple[str, int]],
    ) -> None:
        before = sorted(p.name for p in tmp_path.iterdir())
        hook = MLflowBasicLoggerHook(uri="http://127.0.0.1:9", experiment_name="exp")
        with pytest.raises(
            TrackingError, match="Cannot reach the MLflow tracking server"
        ):
            run_with_hooks(_pipeline(), _catalog(), (hook,))
        # Fast: one try, not MLflow's retries (minutes of back-off).
        assert connection_attempts == [("127.0.0.1", 9)]
        assert current_run() is None
        # No fallback to another store: nothing in MLFLOW_TRACKING_URI's, no
        # ./mlruns or new database in the working folder.
        assert client.get_experiment_by_name("exp") is None
        assert (
            client.search_runs([e.experiment_id for e in client.search_experiments()])
            == []
        )
        assert sorted(p.name for p in tmp_path.iterdir()) == before

    def test_broken_catalog_entry_leaves_no_run(
        self, client: MlflowClient, tracking_uri: str
    ) -> None:
        catalog = DataCatalog.from_config(
            {"total": {"type": "pipelinex_mlflow.MLflowDataSet", "dataset": "xml"}}
        )
        catalog["params:model.depth"] = MemoryDataset(3)
        catalog["params:lr"] = MemoryDataset(0.1)
        hook = MLflowBasicLoggerHook(uri=tracking_uri, experiment_name="exp")
        with pytest.raises(DatasetError, match="Unknown MLflowDataSet dataset code"):
            run_with_hooks(_pipeline(), catalog, (hook,))
        assert client.get_experiment_by_name("exp") is None
        assert current_run() is None

    def test_fail_policy_fails_the_run_but_keeps_its_tags(
        self, client: MlflowClient, tracking_uri: str
    ) -> None:
        hook = MLflowBasicLoggerHook(
            uri=tracking_uri,
            experiment_name="exp",
            tags={"team": "a"},
            max_param_length=2,
            long_param_policy="fail",
        )
        with pytest.raises(TrackingError, match="more than max_param_length=2"):
            run_with_hooks(_pipeline(), _catalog(lr=0.125), (hook,))
        (run,) = _runs(client)
        assert run.info.status == "FAILED"
        assert run.data.tags["team"] == "a"
        assert run.data.tags["kedro.runner"] == "SequentialRunner"
        assert {"__time_begin", "__time_end", "__time"} <= set(run.data.metrics)
        assert current_run() is None

    def test_param_rejected_by_the_server_keeps_tags_and_metrics(
        self, client: MlflowClient, tracking_uri: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        # Another client gives `lr` a value first, so the store refuses ours (as an
        # old server refuses a long value): the rest of the batch must land, and
        # the run's end must say what was lost.
        class LogsLrFirst:
            @hook_impl(tryfirst=True)
            def before_pipeline_run(self) -> None:
                run = current_run()
                assert run is not None
                client.log_param(run.run_id, "lr", "0.5")

        hook = MLflowBasicLoggerHook(uri=tracking_uri, experiment_name="exp")
        run_with_hooks(_pipeline(), _catalog(), (LogsLrFirst(), hook))
        (run,) = _runs(client)
        assert run.info.status == "FINISHED"
        assert run.data.params["lr"] == "0.5"
        assert run.data.params["model.depth"] == "3"
        assert {"__time_begin", "__time_end", "__time"} <= set(run.data.metrics)
        assert run.data.tags["kedro.runner"] == "SequentialRunner"
        assert "MLflow rejected" in run.data.tags["pipelinex_mlflow.unlogged"]
        (warning,) = [
            r.message for r in caplog.records if "ends FINISHED, but" in r.message
        ]
        assert "1 value(s) could not be logged: MLflow rejected 1 params" in warning
        assert "already holds with other values (lr)" in warning

    def test_a_single_run_param_name_as_a_string(
        self, client: MlflowClient, tracking_uri: str
    ) -> None:
        hook = MLflowBasicLoggerHook(
            uri=tracking_uri, experiment_name="exp", logging_kedro_run_params="env"
        )
        run_with_hooks(_pipeline(), _catalog(), (hook,), env="prod")
        (run,) = _runs(client)
        assert run.data.params["___env"] == "prod"

    def test_legacy_file_store_is_refused(self, tmp_path: Path) -> None:
        hook = MLflowBasicLoggerHook(uri=str(tmp_path / "mlruns"))
        with pytest.raises(TrackingError, match="legacy file store"):
            run_with_hooks(_pipeline(), _catalog(), (hook,))

    def test_unknown_run_id_to_resume(self, tracking_uri: str) -> None:
        hook = MLflowBasicLoggerHook(uri=tracking_uri, run_id="0" * 32)
        with pytest.raises(TrackingError, match=r"Cannot resume MLflow run '0+'"):
            run_with_hooks(_pipeline(), _catalog(), (hook,))

    def test_run_never_ended_by_kedro_is_failed_at_the_next_start(
        self, client: MlflowClient, tracking_uri: str
    ) -> None:
        from tests._kedro import run_params

        hook = MLflowBasicLoggerHook(uri=tracking_uri, experiment_name="exp")
        # A bare generator call: what pluggy does for the wrapper, minus the end.
        starting = hook.before_pipeline_run(run_params(), _pipeline(), _catalog())
        next(starting)
        run_with_hooks(_pipeline(), _catalog(), (hook,))
        assert [r.info.status for r in _runs(client)] == ["FAILED", "FINISHED"]

    @pytest.mark.parametrize(
        ("ending", "expected"),
        [
            ("raise KeyboardInterrupt", "KILLED"),
            ("os.kill(os.getpid(), signal.SIGTERM)", "KILLED"),
        ],
    )
    def test_interrupted_process_marks_the_run_killed(
        self, client: MlflowClient, tracking_uri: str, ending: str, expected: str
    ) -> None:
        script = textwrap.dedent(
            f"""
            import os, signal, time
            from kedro.io import DataCatalog, DatasetError, MemoryDataset
            from kedro.pipeline import Pipeline, node
            from pipelinex_mlflow import MLflowBasicLoggerHook
            from tests._kedro import run_with_hooks

            def stop(x):
                {ending}
                time.sleep(5)

            run_with_hooks(
                Pipeline([node(stop, "params:x", "y")]),
                DataCatalog({{"params:x": MemoryDataset(1)}}),
                (MLflowBasicLoggerHook(uri={tracking_uri!r}, experiment_name="exp"),),
            )
            """
        )
        done = subprocess.run(
            [sys.executable, "-c", script],
            cwd=Path(__file__).parents[2],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode != 0, done.stderr
        (run,) = _runs(client)
        assert run.info.status == expected, done.stderr[-2000:]


class TestRunSelection:
    def test_resumes_an_existing_run(
        self, client: MlflowClient, tracking_uri: str
    ) -> None:
        experiment_id = client.create_experiment("exp")
        existing = client.create_run(experiment_id)
        client.log_param(existing.info.run_id, "model.depth", "99")
        client.set_terminated(existing.info.run_id)
        hook = MLflowBasicLoggerHook(uri=tracking_uri, run_id=existing.info.run_id)
        run_with_hooks(_pipeline(), _catalog(), (hook,))
        (run,) = _runs(client)
        assert run.info.run_id == existing.info.run_id
        assert run.info.status == "FINISHED"
        assert run.data.params["model.depth"] == "99"
        assert run.data.tags["pipelinex_mlflow.changed_param.model.depth"] == "3"
        assert run.data.params["lr"] == "0.1"

    def test_nests_under_the_callers_run(
        self, client: MlflowClient, tracking_uri: str
    ) -> None:
        import mlflow

        mlflow.set_tracking_uri(tracking_uri)
        try:
            with mlflow.start_run(
                experiment_id=client.create_experiment("outer")
            ) as outer:
                hook = MLflowBasicLoggerHook(
                    uri=tracking_uri, experiment_name="exp", nested=True
                )
                run_with_hooks(_pipeline(), _catalog(), (hook,))
        finally:
            mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
        (child,) = _runs(client)
        assert child.data.tags["mlflow.parentRunId"] == outer.info.run_id
        assert child.info.status == "FINISHED"

    def test_default_store_is_sqlite_in_the_project(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from mlflow.tracking import MlflowClient

        monkeypatch.delenv("MLFLOW_TRACKING_URI")
        project = tmp_path / "project"
        project.mkdir()
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        monkeypatch.chdir(elsewhere)
        pipeline = Pipeline([node(lambda x: x, "params:x", "artifact", name="n")])
        from pipelinex_mlflow import MLflowDataSet

        catalog = DataCatalog(
            {
                "params:x": MemoryDataset({"a": 1}),
                "artifact": MLflowDataSet(dataset="json"),
            }
        )
        hook = MLflowBasicLoggerHook(experiment_name="exp")
        run_with_hooks(pipeline, catalog, (hook,), project_path=str(project))
        client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
        (run,) = _runs(client)
        assert run.info.status == "FINISHED"
        assert (project / "mlartifacts").is_dir()
        assert not any(elsewhere.iterdir()), "nothing may land in the current folder"


def test_two_sessions_in_one_process_give_two_runs(
    example_project: Path, client: MlflowClient
) -> None:
    import mlflow
    from kedro.framework.session import KedroSession

    for alpha in (0.01, 0.5):
        with KedroSession.create(
            project_path=example_project,
            runtime_params={"model": {"ridge_alpha": alpha}},
        ) as session:
            session.run()
    runs = _runs(client, "demo_project")
    assert [r.info.status for r in runs] == ["FINISHED", "FINISHED"]
    assert [r.data.params["model.ridge_alpha"] for r in runs] == ["0.01", "0.5"]
    assert (
        runs[1].data.tags["kedro.command"] == "kedro run --params=model.ridge_alpha=0.5"
    )
    assert mlflow.active_run() is None


def test_import_does_not_import_mlflow() -> None:
    code = (
        "import sys, pipelinex_mlflow; "
        "bad = [m for m in ('mlflow', 'pandas', 'kedro_datasets.pandas') if m in sys.modules]; "
        "sys.exit(f'imported {bad}' if bad else 0)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert done.returncode == 0, done.stderr or done.stdout


def test_git_state_of_the_project_is_tagged(
    client: MlflowClient, tracking_uri: str, tmp_path: Path
) -> None:
    project = tmp_path / "repo"
    project.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "feature"], cwd=project, check=True)
    (project / "a.txt").write_text("a")
    subprocess.run([*git, "add", "a.txt"], cwd=project, check=True)
    subprocess.run([*git, "commit", "-qm", "one"], cwd=project, check=True)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (project / "a.txt").write_text("changed")
    hook = MLflowBasicLoggerHook(uri=tracking_uri, experiment_name="exp")
    run_with_hooks(_pipeline(), _catalog(), (hook,), project_path=str(project))
    (run,) = _runs(client)
    assert run.data.tags["mlflow.source.git.commit"] == commit
    assert run.data.tags["mlflow.source.git.branch"] == "feature"
    assert run.data.tags["git.dirty"] == "true"
    assert run.data.tags["mlflow.source.name"] == "repo"


def test_a_run_left_open_is_ended_failed_when_the_next_kedro_run_is_untracked(
    client: MlflowClient,
) -> None:
    """Kedro's service mode: one hook, a Kedro run that never ended, then an untracked one."""
    from tests.hooks._pipeline import EXPERIMENT, inputs, only_run, pipeline, run

    hook = MLflowBasicLoggerHook(experiment_name=EXPERIMENT)
    # A Kedro run that started and was never ended (no after_pipeline_run).
    hook._tracking.start(hook.run_features, {}, pipeline(), DataCatalog(inputs()))
    left_open = hook.run
    assert left_open is not None
    hook.enable_mlflow = False
    run((hook,))
    assert hook.run is None
    assert only_run(client).info.status == "FAILED"
