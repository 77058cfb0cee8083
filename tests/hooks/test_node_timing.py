"""MLflowTimeLoggerHook: a metric per node, the time log and the Gantt chart."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from kedro.io import DataCatalog, SharedMemoryDataCatalog
from kedro.pipeline import Pipeline
from kedro.runner import ParallelRunner

from pipelinex_mlflow import MLflowTimeLoggerHook
from pipelinex_mlflow.features.gantt_chart import run_feature as gantt_feature
from pipelinex_mlflow.gantt import gantt_html
from pipelinex_mlflow.hooks.node_timing import GANTT_ARTIFACT, TIME_LOG_ARTIFACT
from tests._kedro import run_with_hooks
from tests.hooks._pipeline import (
    NODE_NAMES,
    TASK_NAMES,
    failing_pipeline,
    inputs,
    only_run,
    pipeline,
    project_hooks,
    run,
)

if TYPE_CHECKING:
    from kedro.pipeline.node import Node
    from mlflow.tracking import MlflowClient

    from pipelinex_mlflow import MLflowBasicLoggerHook

CDN_SCRIPT = re.compile(r"<script[^>]*src=[\"']https?://cdn\.plot\.ly")


def _download(client: MlflowClient, run_id: str, path: str, dst: Path) -> str:
    dst.mkdir(exist_ok=True)
    return Path(client.download_artifacts(run_id, path, str(dst))).read_text("utf-8")


def _timing_metrics(
    metrics: dict[str, float], prefix: str = "_time_to_run "
) -> dict[str, float]:
    return {
        k.removeprefix(prefix): v for k, v in metrics.items() if k.startswith(prefix)
    }


def _same_name(node: Node) -> str:
    return "step|1"


class TestLogged:
    def test_gantt_is_self_contained_and_names_every_node(
        self, basic_hook: MLflowBasicLoggerHook, client: MlflowClient, tmp_path: Path
    ) -> None:
        """The chart inlines plotly.js, loads nothing from a CDN, and shows each node."""
        hook = MLflowTimeLoggerHook(
            gantt_params={"title": "Nightly training", "height": 400}
        )
        run((basic_hook, hook))
        logged = only_run(client)
        html = _download(client, logged.info.run_id, GANTT_ARTIFACT, tmp_path)
        assert html.lstrip().lower().startswith("<!doctype html>")
        assert html.rstrip().endswith("</html>")
        assert len(html) > 1_000_000  # plotly.js is inlined
        assert not CDN_SCRIPT.search(html)
        assert "Nightly training" in html
        for name in NODE_NAMES:
            assert f'"{TASK_NAMES[name]}"' in html

    def test_time_log_lists_each_node_in_start_order(
        self, basic_hook: MLflowBasicLoggerHook, client: MlflowClient, tmp_path: Path
    ) -> None:
        run((basic_hook, MLflowTimeLoggerHook()))
        logged = only_run(client)
        entries = json.loads(
            _download(client, logged.info.run_id, TIME_LOG_ARTIFACT, tmp_path)
        )["nodes"]
        assert [e["node"] for e in entries] == list(NODE_NAMES)
        assert [e["start"] for e in entries] == sorted(e["start"] for e in entries)
        for entry in entries:
            assert entry["start"].endswith("+00:00")
            assert entry["end"] >= entry["start"]
            assert entry["task"] == TASK_NAMES[entry["node"]]
            assert entry["status"] == "completed"
            assert entry["duration_s"] == pytest.approx(
                logged.data.metrics[f"_time_to_run {entry['task']}"]
            )

    def test_failed_run_still_logs_what_ran(
        self, basic_hook: MLflowBasicLoggerHook, client: MlflowClient, tmp_path: Path
    ) -> None:
        """The failed node is timed too, and marked failed in the log."""
        with pytest.raises(ValueError, match="node exploded"):
            run((basic_hook, MLflowTimeLoggerHook()), pipe=failing_pipeline())
        logged = only_run(client)
        assert logged.info.status == "FAILED"
        assert set(_timing_metrics(logged.data.metrics)) == {
            TASK_NAMES["make"],
            TASK_NAMES["double"],
            TASK_NAMES["boom"],
        }
        entries = json.loads(
            _download(client, logged.info.run_id, TIME_LOG_ARTIFACT, tmp_path)
        )["nodes"]
        assert {e["node"]: e["status"] for e in entries}["boom"] == "failed"
        paths = {a.path for a in client.list_artifacts(logged.info.run_id)}
        assert GANTT_ARTIFACT in paths

    def test_a_ctrl_c_while_it_logs_leaves_the_rest_to_the_end_at_exit(
        self,
        basic_hook: MLflowBasicLoggerHook,
        client: MlflowClient,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Ctrl-C while the chart is drawn: the run ends KILLED with it all, once."""
        drawn: list[str] = []

        def ctrl_c_the_first_time(*args: Any, **kwargs: Any) -> str:
            drawn.append("chart")
            if len(drawn) == 1:
                raise KeyboardInterrupt("Ctrl-C")
            return gantt_html(*args, **kwargs)

        monkeypatch.setattr(gantt_feature, "gantt_html", ctrl_c_the_first_time)
        with pytest.raises(KeyboardInterrupt, match="Ctrl-C"):
            run((basic_hook, MLflowTimeLoggerHook()))
        logged = only_run(client)
        assert logged.info.status == "KILLED"
        assert set(_timing_metrics(logged.data.metrics)) == set(TASK_NAMES.values()) - {
            TASK_NAMES["boom"]
        }
        for task in _timing_metrics(logged.data.metrics):
            history = client.get_metric_history(
                logged.info.run_id, f"_time_to_run {task}"
            )
            assert len(history) == 1, task
        paths = {a.path for a in client.list_artifacts(logged.info.run_id)}
        assert {GANTT_ARTIFACT, TIME_LOG_ARTIFACT} <= paths
        assert drawn == ["chart", "chart"]

    def test_custom_prefix_and_clashing_task_names(
        self, basic_hook: MLflowBasicLoggerHook, client: MlflowClient
    ) -> None:
        """Task names become valid keys, and clashing ones get a suffix."""
        hook = MLflowTimeLoggerHook(
            metric_name_prefix="time/", task_name_func=_same_name
        )
        run((basic_hook, hook))
        timings = _timing_metrics(only_run(client).data.metrics, "time/")
        assert set(timings) == {"step_1", "step_1_2", "step_1_3", "step_1_4"}

    def test_each_run_starts_afresh(
        self, basic_hook: MLflowBasicLoggerHook, client: MlflowClient, tmp_path: Path
    ) -> None:
        """A second Kedro run with the same hook instance logs only its own nodes."""
        hook = MLflowTimeLoggerHook()
        run((basic_hook, hook))
        run((basic_hook, hook))
        experiment = client.get_experiment_by_name("hooks")
        assert experiment is not None
        runs = client.search_runs([experiment.experiment_id])
        assert len(runs) == 2
        for logged in runs:
            entries = json.loads(
                _download(
                    client,
                    logged.info.run_id,
                    TIME_LOG_ARTIFACT,
                    tmp_path / logged.info.run_id,
                )
            )["nodes"]
            assert len(entries) == len(NODE_NAMES)


class TestOptions:
    def test_local_copies_without_mlflow(
        self, basic_hook: MLflowBasicLoggerHook, client: MlflowClient, tmp_path: Path
    ) -> None:
        """Relative local paths are taken from the project root; MLflow gets nothing."""
        hook = MLflowTimeLoggerHook(
            gantt_filepath="reports/gantt.html",
            time_log_filepath="reports/time_log.json",
            enable_mlflow=False,
        )
        run((basic_hook, hook), project_path=str(tmp_path))
        logged = only_run(client)
        assert not _timing_metrics(logged.data.metrics)
        assert not client.list_artifacts(logged.info.run_id)
        html = (tmp_path / "reports" / "gantt.html").read_text("utf-8")
        assert not CDN_SCRIPT.search(html)
        entries = json.loads((tmp_path / "reports" / "time_log.json").read_text())[
            "nodes"
        ]
        assert len(entries) == len(NODE_NAMES)

    def test_no_chart_without_plotly(
        self, basic_hook: MLflowBasicLoggerHook, client: MlflowClient
    ) -> None:
        run((basic_hook, MLflowTimeLoggerHook(enable_plotly=False)))
        logged = only_run(client)
        assert {a.path for a in client.list_artifacts(logged.info.run_id)} == {
            TIME_LOG_ARTIFACT
        }
        assert len(_timing_metrics(logged.data.metrics)) == len(NODE_NAMES)

    @pytest.mark.parametrize(
        ("params", "match"),
        [
            ({"nope": 1}, r"Unknown gantt_params key\(s\) \['nope'\]"),
            ({"height": "tall"}, r"gantt_params\['height'\] must be a positive number"),
            ({"colors": []}, r"gantt_params\['colors'\] must be a non-empty list"),
            ({"bar_width": 2}, r"gantt_params\['bar_width'\] must be half"),
        ],
    )
    def test_bad_gantt_params_fail_at_construction(
        self, params: dict[str, object], match: str
    ) -> None:
        with pytest.raises(ValueError, match=match):
            MLflowTimeLoggerHook(gantt_params=params)


class TestPipelineXCompatibility:
    def test_pipelinex_create_gantt_options_are_translated_or_named_once(
        self,
        basic_hook: MLflowBasicLoggerHook,
        client: MlflowClient,
        tmp_path: Path,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """PipelineX's gantt_params never fail: mapped where they mean something."""
        hook = MLflowTimeLoggerHook(
            gantt_params={
                "title": "Old config",
                "index_col": "Resource",
                "group_tasks": True,
                "show_colorbar": False,
                "bar_width": 0.3,
                "showgrid_x": True,
                "showgrid_y": False,
                "colors": "Viridis",
            }
        )
        ignored = [
            r.getMessage() for r in caplog.records if "ignores" in r.getMessage()
        ]
        assert len(ignored) == 1
        assert "group_tasks, index_col, colors" in ignored[0]
        run((basic_hook, hook))
        figure = json.loads(
            re.search(  # the figure's JSON as plotly writes it into the page
                r"Plotly\.newPlot\(\s*\"[^\"]+\",\s*(\[.*?\]),\s*(\{.*?\}),\s*\{",
                _download(
                    client, only_run(client).info.run_id, GANTT_ARTIFACT, tmp_path
                ),
                re.DOTALL,
            ).group(2)  # type: ignore[union-attr]
        )
        assert figure["title"]["text"] == "Old config"
        assert figure["xaxis"]["showgrid"] is True
        assert figure["yaxis"]["showgrid"] is False
        assert figure["showlegend"] is False

    def test_default_task_names_are_pipelinex_readable_ones(
        self, basic_hook: MLflowBasicLoggerHook, client: MlflowClient
    ) -> None:
        run((basic_hook, MLflowTimeLoggerHook()))
        timings = _timing_metrics(only_run(client).data.metrics)
        assert set(timings) == {TASK_NAMES[name] for name in NODE_NAMES}


class TestWarnings:
    def test_without_a_run_warns_once_and_logs_nothing(
        self, client: MlflowClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        run((MLflowTimeLoggerHook(),))
        warnings = [
            r for r in caplog.records if "Register MLflowBasicLoggerHook" in r.message
        ]
        assert len(warnings) == 1
        experiments = [e.experiment_id for e in client.search_experiments()]
        assert client.search_runs(experiments) == [], "no run may be created"

    def test_warns_when_no_node_hook_reaches_it(
        self,
        basic_hook: MLflowBasicLoggerHook,
        client: MlflowClient,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """ParallelRunner's workers call only settings.HOOKS: the run goes on, warned."""
        hooks = (basic_hook, MLflowTimeLoggerHook())
        with project_hooks(()):
            run_with_hooks(
                pipeline(),
                SharedMemoryDataCatalog(inputs()),
                hooks,
                ParallelRunner(max_workers=2),
            )
        logged = only_run(client)
        assert logged.info.status == "FINISHED"
        assert not _timing_metrics(logged.data.metrics)
        assert "timed none of the 4 nodes" in caplog.text
        assert "register it there" in caplog.text

    def test_no_warning_for_an_empty_pipeline(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        hook = MLflowTimeLoggerHook()
        hook.before_pipeline_run(
            run_params={}, pipeline=Pipeline([]), catalog=DataCatalog()
        )
        hook.after_pipeline_run(run_params={}, pipeline=Pipeline([]))
        assert "timed none" not in caplog.text
