"""Outside a Kedro run a save has landed when it returns; inside one it never waits.

"Outside" is a plain Python process (a notebook, a script) with no Kedro run tracked
by ``MLflowBasicLoggerHook``: ``saving_run_id``, PipelineX's ``mlflow_start_run``,
the caller's own ``mlflow.start_run()``. Each script here reads the run back with an
``MlflowClient`` of its own right after ``save()`` returns, then ends with
``os._exit``: no exit handler sends what a background thread still held.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from kedro.io import DatasetError

from pipelinex_mlflow import MLflowDataset
from tests.kedro_project import write_skeleton
from tests.reliability_project import kedro, kedro_env, output_of

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mlflow.tracking import MlflowClient

REPO = Path(__file__).parents[2]
#: The flush timeout of the scripts and runs that face a store that never answers.
FLUSH_TIMEOUT_S = 3.0

_READ_BACK = """
import json
import os
import sys

from mlflow.tracking import MlflowClient

URI = os.environ["MLFLOW_TRACKING_URI"]
# A client of its own: it shares nothing with the package's sender.
reader = MlflowClient(tracking_uri=URI)
seen = {}


def look(label, run_id):
    run = reader.get_run(run_id)
    seen[label] = {
        "params": run.data.params,
        "metrics": run.data.metrics,
        "tags": sorted(run.data.tags),
        "artifacts": sorted(a.path for a in reader.list_artifacts(run_id)),
    }


def leave():
    print("SEEN " + json.dumps(seen))
    sys.stdout.flush()
    os._exit(0)  # abruptly: exit handlers would send what is still queued
"""


def _run_script(
    body: str, cwd: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    script = cwd / "script.py"
    script.write_text(_READ_BACK + textwrap.dedent(body))
    environment = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "KEDRO_DISABLE_TELEMETRY": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        **env,
    }
    for name in ("PIPELINEX_MLFLOW_RUN_ID", "PIPELINEX_MLFLOW_TRACKING_URI"):
        environment.pop(name, None)
    return subprocess.run(
        [sys.executable, str(script), *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _seen(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, output_of(done)[-4000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("SEEN "))
    seen: dict[str, Any] = json.loads(line.removeprefix("SEEN "))
    return seen


def _new_run(client: MlflowClient, experiment: str = "target") -> str:
    found = client.get_experiment_by_name(experiment)
    experiment_id = (
        found.experiment_id if found else client.create_experiment(experiment)
    )
    return str(client.create_run(experiment_id).info.run_id)


def test_every_code_has_landed_when_save_returns(
    client: MlflowClient, tracking_uri: str, tmp_path: Path
) -> None:
    """saving_run_id from a plain process: each save is in the store at once."""
    run_id = _new_run(client)
    done = _run_script(
        """
        from sklearn.linear_model import LinearRegression
        import pandas as pd

        from pipelinex_mlflow import MLflowDataset

        run_id, folder = sys.argv[1:3]


        def save(name, data, **kwargs):
            MLflowDataset(
                dataset_name=name,
                saving_run_id=run_id,
                saving_tracking_uri=URI,
                **kwargs,
            ).save(data)
            look(name, run_id)


        save("lr", "0.1", dataset="p")
        save("score", 0.5, dataset="m")
        save("losses", [3.0, 2.0, 1.0], dataset="m")
        save("config", {"depth": 3, "kind": "tree"}, dataset="a")
        save("report", {"ok": True}, dataset="json")
        save("table", pd.DataFrame({"y": [1, 2]}), dataset="csv")
        save(
            "nested",
            pd.DataFrame({"y": [3]}),
            dataset={"type": "pandas.CSVDataset", "filepath": f"{folder}/nested.csv"},
            artifact_path="frames",
        )
        save(
            "parts",
            {"a": "A", "b": "B"},
            dataset={
                "type": "partitions.PartitionedDataset",
                "path": f"{folder}/parts",
                "dataset": "text.TextDataset",
                "filename_suffix": ".txt",
            },
            artifact_path="raw",
        )
        save(
            "regressor",
            LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]),
            dataset="model",
            flavor="sklearn",
        )
        leave()
        """,
        tmp_path,
        run_id,
        str(tmp_path / "data"),
    )
    seen = _seen(done)

    assert seen["lr"]["params"]["lr"] == "0.1"
    assert seen["score"]["metrics"]["score"] == 0.5
    assert seen["losses"]["metrics"]["losses"] == 1.0
    assert seen["config"]["metrics"]["config.depth"] == 3.0
    assert seen["config"]["params"]["config.kind"] == "tree"
    # The shapes that loading needs landed with the values.
    assert any(
        t.startswith("pipelinex_mlflow.layouts.") for t in seen["config"]["tags"]
    )
    assert "report.json" in seen["report"]["artifacts"]
    assert "table.csv" in seen["table"]["artifacts"]
    assert "frames" in seen["nested"]["artifacts"]
    assert "raw" in seen["parts"]["artifacts"]
    assert "pipelinex_mlflow.model.regressor" in seen["regressor"]["tags"]

    # Read back here too, after the script's abrupt end: nothing was left behind.
    def load(name: str, **kwargs: Any) -> Any:
        return MLflowDataset(
            dataset_name=name,
            loading_run_id=run_id,
            loading_tracking_uri=tracking_uri,
            **kwargs,
        ).load()

    assert load("losses", dataset="m") == [3.0, 2.0, 1.0]
    assert load("config", dataset="a") == {"depth": 3, "kind": "tree"}
    assert load("report", dataset="json") == {"ok": True}
    assert list(load("table", dataset="csv")["y"]) == [1, 2]
    history = client.get_metric_history(run_id, "losses")
    assert sorted((m.step, m.value) for m in history) == [(0, 3.0), (1, 2.0), (2, 1.0)]
    assert [a.path for a in client.list_artifacts(run_id, "frames")] == [
        "frames/nested.csv"
    ]
    assert [a.path for a in client.list_artifacts(run_id, "raw/parts")] == [
        "raw/parts/a.txt",
        "raw/parts/b.txt",
    ]
    assert client.get_run(run_id).info.status == "RUNNING"  # left as it was


def test_a_run_of_mlflow_start_run_is_outside_kedro_before_and_after_one(
    client: MlflowClient, tmp_path: Path
) -> None:
    """A notebook's run (PipelineX's mlflow_start_run): its saves wait, also after
    a Kedro run in the same process has made and ended its own run."""
    done = _run_script(
        """
        from kedro.io import DataCatalog, MemoryDataset
        from kedro.pipeline import Pipeline, node

        from pipelinex_mlflow import (
            MLflowBasicLoggerHook,
            MLflowDataset,
            mlflow_start_run,
        )
        from pipelinex_mlflow.tracking import current_run
        from tests._kedro import run_with_hooks

        mlflow_start_run(experiment_name="notebook", uri=URI)
        notebook = current_run()
        MLflowDataset(dataset="m", dataset_name="before").save(0.5)
        look("before", notebook.run_id)

        hook = MLflowBasicLoggerHook(
            uri=URI,
            experiment_name="pipeline",
            log_pipeline_structure=False,
            log_system_metrics=False,
        )
        catalog = DataCatalog(
            {
                "params:x": MemoryDataset(2.0),
                "inner": MLflowDataset(dataset="m"),
            }
        )
        run_with_hooks(Pipeline([node(float, "params:x", "inner")]), catalog, (hook,))
        assert current_run() == notebook, current_run()

        MLflowDataset(dataset="m", dataset_name="after").save(0.25)
        look("after", notebook.run_id)
        leave()
        """,
        tmp_path,
    )
    seen = _seen(done)
    assert seen["before"]["metrics"] == {"before": 0.5}
    assert seen["after"]["metrics"] == {"before": 0.5, "after": 0.25}
    pipeline = client.get_experiment_by_name("pipeline")
    assert pipeline is not None
    (kedro_run,) = client.search_runs([pipeline.experiment_id])
    assert kedro_run.data.metrics["inner"] == 2.0


def test_the_callers_mlflow_start_run_is_outside_kedro(tmp_path: Path) -> None:
    """``with mlflow.start_run():`` in a script: the save waits, as log_metric does."""
    done = _run_script(
        """
        import mlflow

        from pipelinex_mlflow import MLflowDataset

        mlflow.set_tracking_uri(URI)
        with mlflow.start_run() as run:
            MLflowDataset(dataset="m", dataset_name="score").save(0.5)
            MLflowDataset(dataset="json", dataset_name="report").save({"ok": 1})
            look("score", run.info.run_id)
            leave()
        """,
        tmp_path,
    )
    seen = _seen(done)
    assert seen["score"]["metrics"] == {"score": 0.5}
    assert seen["score"]["artifacts"] == ["report.json"]


def test_a_store_that_refuses_the_save_is_an_error_naming_it(
    client: MlflowClient, tracking_uri: str
) -> None:
    """A deleted run refuses values: the save says so instead of returning."""
    run_id = _new_run(client)
    client.delete_run(run_id)
    dataset = MLflowDataset(
        dataset="m",
        dataset_name="late",
        saving_run_id=run_id,
        saving_tracking_uri=tracking_uri,
    )
    with pytest.raises(
        DatasetError,
        match=rf"MLflowDataSet 'late' did not land in MLflow run {run_id}: .*"
        r"could not be logged: .*must be in the 'active' state",
    ):
        dataset.save(1.0)


def test_saving_experiment_name_says_when_its_values_were_only_spooled(
    client: MlflowClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its run is closed at once (flush timeout 0): what went to the spool is named,
    with the replay that sends it, and the replay lands it."""
    from pipelinex_mlflow.tracking import replay

    monkeypatch.setenv("PIPELINEX_MLFLOW_FLUSH_TIMEOUT", "0")
    monkeypatch.setenv("PIPELINEX_MLFLOW_SPOOL_DIR", str(tmp_path / "spool"))
    dataset = MLflowDataset(
        dataset="m", dataset_name="side", saving_experiment_name="side_exp"
    )
    with pytest.raises(
        DatasetError,
        match=r"MLflowDataSet 'side' did not land in MLflow run \w+: the tracking "
        r"store did not take .* send them with `kedro mlflow replay .*\.zip`",
    ):
        dataset.save(0.5)
    (spool,) = (tmp_path / "spool").iterdir()
    replay(spool)
    experiment = client.get_experiment_by_name("side_exp")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.metrics == {"side": 0.5}
    assert run.info.status == "FINISHED"


# --------------------------------------------------------------------------------------
# A store that never answers: outside a Kedro run the save waits for it (and says
# what did not land); inside one it does not wait at all.
# --------------------------------------------------------------------------------------
@pytest.fixture
def silent_server() -> Iterator[str]:
    """A loopback server that accepts connections and never answers a request."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


_SILENT_ENV = {
    "PIPELINEX_MLFLOW_FLUSH_TIMEOUT": str(FLUSH_TIMEOUT_S),
    # A request that hangs holds only a daemon thread; no retries on top.
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
}

_TIMED_NODES = """
import pandas as pd


def make(x):
    return float(x), {"x": x}
"""

_TIMED_REGISTRY = """
from kedro.pipeline import Pipeline, node

from timed.nodes import make


def register_pipelines():
    return {"__default__": Pipeline([node(make, "params:x", ["far_score", "far_report"])])}
"""

_TIMED_SETTINGS = """
import json
import os
import time

from kedro.framework.hooks import hook_impl

from pipelinex_mlflow import MLflowBasicLoggerHook


class SaveTimer:
    started = {}

    @hook_impl
    def before_dataset_saved(self, dataset_name):
        self.started[dataset_name] = time.perf_counter()

    @hook_impl
    def after_dataset_saved(self, dataset_name):
        seconds = time.perf_counter() - self.started[dataset_name]
        with open("save_times.jsonl", "a") as out:
            out.write(json.dumps({"name": dataset_name, "seconds": seconds}) + "\\n")


HOOKS = (
    MLflowBasicLoggerHook(
        experiment_name="timed",
        flush_timeout=float(os.environ["PIPELINEX_MLFLOW_FLUSH_TIMEOUT"]),
        log_pipeline_structure=False,
        log_system_metrics=False,
    ),
    SaveTimer(),
)
"""


def _timed_project(folder: Path, far_uri: str, far_run: str) -> Path:
    package = write_skeleton(folder, "timed")
    (package / "nodes.py").write_text(_TIMED_NODES)
    (package / "pipeline_registry.py").write_text(_TIMED_REGISTRY)
    (package / "settings.py").write_text(_TIMED_SETTINGS)
    (folder / "conf" / "base" / "parameters.yml").write_text("x: 2\n")
    far = f"  saving_run_id: {far_run}\n  saving_tracking_uri: {far_uri}\n"
    (folder / "conf" / "base" / "catalog.yml").write_text(
        "far_score:\n  type: pipelinex_mlflow.MLflowDataset\n  dataset: m\n"
        + far
        + "far_report:\n  type: pipelinex_mlflow.MLflowDataset\n  dataset: json\n"
        + far
    )
    return folder


FAR_RUN = "f" * 32


def test_outside_a_kedro_run_a_save_waits_and_names_what_did_not_land(
    silent_server: str, tmp_path: Path
) -> None:
    """The store never answers: each save fails after the flush timeout, by name."""
    done = _run_script(
        f"""
        import time

        from kedro.io import DatasetError

        from pipelinex_mlflow import MLflowDataset

        for code, data in (("m", 0.5), ("json", {{"ok": 1}})):
            dataset = MLflowDataset(
                dataset=code,
                dataset_name=f"far_{{code}}",
                saving_run_id="{FAR_RUN}",
                saving_tracking_uri="{silent_server}",
            )
            started = time.perf_counter()
            try:
                dataset.save(data)
                seen[code] = {{"error": None}}
            except DatasetError as exc:
                seen[code] = {{"error": str(exc)}}
            seen[code]["seconds"] = time.perf_counter() - started
        leave()
        """,
        tmp_path,
        **_SILENT_ENV,
    )
    seen = _seen(done)
    metric, report = seen["m"], seen["json"]
    assert metric["error"] is not None, metric
    assert metric["error"].startswith(
        f"MLflowDataSet 'far_m' did not land in MLflow run {FAR_RUN}:"
    ), metric["error"]
    assert f"not sent within {FLUSH_TIMEOUT_S:.0f} s" in metric["error"]
    assert metric["seconds"] >= FLUSH_TIMEOUT_S
    assert report["error"] is not None, report
    assert report["error"].startswith(
        f"MLflowDataSet 'far_json' did not land in MLflow run {FAR_RUN}: file "
        "far_json.json was not logged"
    ), report["error"]
    for result in (metric, report):
        assert result["seconds"] < FLUSH_TIMEOUT_S + 30, result


@pytest.mark.parametrize("runner", ["SequentialRunner", "ParallelRunner"])
def test_inside_a_kedro_run_the_same_save_does_not_wait(
    silent_server: str, tmp_path: Path, tracking_uri: str, runner: str
) -> None:
    """The same entries in a real ``kedro run``: the saves return at once, the run
    ends after the flush timeout and says what it could not send."""
    project = _timed_project(tmp_path / "timed", silent_server, FAR_RUN)
    env = kedro_env(tracking_uri, **_SILENT_ENV)
    started = time.perf_counter()
    done = kedro(project, "run", "--runner", runner, env=env)
    total = time.perf_counter() - started
    output = output_of(done)
    assert done.returncode == 0, output[-4000:]
    times = [
        json.loads(line)
        for line in (project / "save_times.jsonl").read_text().splitlines()
    ]
    assert {t["name"] for t in times} == {"far_score", "far_report"}
    # A wait would take the flush timeout at least.
    assert max(t["seconds"] for t in times) < FLUSH_TIMEOUT_S / 3, times
    assert total >= FLUSH_TIMEOUT_S  # the run's end (or the worker's) waited
    # Nothing is lost silently: what the silent store did not take is named.
    assert FAR_RUN in output, output[-4000:]
    assert "kedro mlflow replay" in output, output[-4000:]
