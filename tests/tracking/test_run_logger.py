"""RunLogger: buffering, batching, the long-param policies and file uploads."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pipelinex_mlflow.tracking import (
    CHANGED_PARAM_TAG_PREFIX,
    LONG_PARAM_TAG_PREFIX,
    RunLogger,
    RunRef,
    TrackingError,
)

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient


class TestRunLogger:
    def test_buffers_until_flush_then_lands_in_one_run(
        self, client: MlflowClient, run: RunRef
    ) -> None:
        logger = RunLogger(run)
        logger.log_params({"model": {"depth": 3, "name": "rf"}})
        logger.log_metrics({"acc": 0.5})
        logger.log_metric_history("loss", [3, 2, 1])
        logger.set_tags({"team": "a"})
        assert client.get_run(run.run_id).data.params == {}
        logger.flush(wait=True)
        data = client.get_run(run.run_id).data
        assert data.params == {"model.depth": "3", "model.name": "rf"}
        assert data.metrics == {"acc": 0.5, "loss": 1.0}
        assert data.tags["team"] == "a"
        history = client.get_metric_history(run.run_id, "loss")
        assert [(m.step, m.value) for m in history] == [(0, 3.0), (1, 2.0), (2, 1.0)]
        assert logger.pending == {
            "params": 0,
            "metrics": 0,
            "tags": 0,
            "texts": 0,
            "artifacts": 0,
        }

    def test_truncate_policy_cuts_and_warns(
        self, client: MlflowClient, run: RunRef, caplog: pytest.LogCaptureFixture
    ) -> None:
        logger = RunLogger(run, max_param_length=10)
        logger.log_params({"long": "x" * 50})
        logger.flush(wait=True)
        assert client.get_run(run.run_id).data.params["long"] == "x" * 10
        assert "Truncated MLflow param 'long' from 50 to 10" in caplog.text

    def test_tag_policy_keeps_the_full_value(
        self, client: MlflowClient, run: RunRef
    ) -> None:
        logger = RunLogger(run, max_param_length=10, long_param_policy="tag")
        logger.log_params({"long": "y" * 50, "huge": "z" * 9000})
        logger.flush(wait=True)
        data = client.get_run(run.run_id).data
        assert data.params["long"] == "y" * 10
        assert data.tags[LONG_PARAM_TAG_PREFIX + "long"] == "y" * 50
        assert "long_params/huge.txt" in data.tags[LONG_PARAM_TAG_PREFIX + "huge"]
        text = client.download_artifacts(run.run_id, "long_params/huge.txt")
        assert Path(text).read_text() == "z" * 9000

    def test_fail_policy_raises_before_sending(
        self, client: MlflowClient, run: RunRef
    ) -> None:
        logger = RunLogger(run, max_param_length=10, long_param_policy="fail")
        with pytest.raises(TrackingError, match="more than max_param_length=10"):
            logger.log_params({"long": "x" * 11})
        logger.flush(wait=True)
        assert client.get_run(run.run_id).data.params == {}

    @pytest.mark.parametrize(
        ("policy", "length", "match"),
        [("drop", 10, "Must be one of: fail, tag, truncate"), ("tag", 0, "positive")],
    )
    def test_bad_policy_settings(
        self, run: RunRef, policy: str, length: int, match: str
    ) -> None:
        with pytest.raises(ValueError, match=match):
            RunLogger(run, max_param_length=length, long_param_policy=policy)  # type: ignore[arg-type]

    def test_non_numeric_metric_says_what_to_do(self, run: RunRef) -> None:
        with pytest.raises(TrackingError, match="must be a number, got str 'high'"):
            RunLogger(run).log_metrics({"level": "high"})

    def test_a_param_given_two_values_keeps_both_with_a_warning(
        self, client: MlflowClient, run: RunRef, caplog: pytest.LogCaptureFixture
    ) -> None:
        logger = RunLogger(run)
        assert logger.log_params({"p": 1}) == {"p": "p"}
        queued = logger.log_params({"p": 2})
        second = queued["p"]
        assert second.startswith("p-")
        assert logger.log_params({"p": 2}) == {"p": second}  # the same value: one key
        logger.flush(wait=True)
        assert client.get_run(run.run_id).data.params == {"p": "1", second: "2"}
        warned = [
            r.getMessage() for r in caplog.records if "cannot change" in r.getMessage()
        ]
        assert len(warned) == 1
        assert f"logged as param {second!r}" in warned[0]

    def test_changed_params_of_a_resumed_run_become_tags(
        self, client: MlflowClient, run: RunRef
    ) -> None:
        first = RunLogger(run)
        first.log_params({"alpha": 1, "beta": 2})
        first.flush(wait=True)
        resumed = RunLogger(run, check_existing_params=True)
        resumed.log_params({"alpha": 1, "beta": 3, "gamma": 4})
        resumed.flush(wait=True)
        data = client.get_run(run.run_id).data
        assert data.params == {"alpha": "1", "beta": "2", "gamma": "4"}
        assert data.tags[CHANGED_PARAM_TAG_PREFIX + "beta"] == "3"

    def test_mlflow_rejection_is_a_clear_error(
        self, client: MlflowClient, run: RunRef
    ) -> None:
        client.delete_run(run.run_id)
        logger = RunLogger(run)
        logger.log_metrics({"m": 1})
        with pytest.raises(
            TrackingError,
            match=rf"For MLflow run {run.run_id}, 1 value\(s\) could not be logged",
        ):
            logger.flush(wait=True)

    def test_uploads_a_folder_in_one_call_keeping_its_name(
        self, client: MlflowClient, run: RunRef, tmp_path: Path
    ) -> None:
        folder = tmp_path / "reports"
        folder.mkdir()
        (folder / "a.txt").write_text("a")
        (folder / "b.txt").write_text("b")
        logger = RunLogger(run)
        logger.log_artifact(folder, "reports")
        assert client.list_artifacts(run.run_id) == []
        logger.flush(wait=True)
        listed = [a.path for a in client.list_artifacts(run.run_id, "reports")]
        assert listed == ["reports/a.txt", "reports/b.txt"]

    def test_a_failed_upload_does_not_stop_the_others(
        self, client: MlflowClient, run: RunRef, tmp_path: Path
    ) -> None:
        good = tmp_path / "good.txt"
        good.write_text("ok")
        logger = RunLogger(run)
        logger.log_artifact(tmp_path / "missing.txt")
        logger.log_artifact(good)
        logger.log_metrics({"m": 1})
        with pytest.raises(
            TrackingError, match=r"1 file\(s\) \(.*missing.txt\) could not be logged"
        ):
            logger.flush(wait=True)
        assert [a.path for a in client.list_artifacts(run.run_id)] == ["good.txt"]
        assert client.get_run(run.run_id).data.metrics == {"m": 1.0}

    def test_rejected_values_still_upload_the_files(
        self, client: MlflowClient, run: RunRef, tmp_path: Path
    ) -> None:
        report = tmp_path / "report.txt"
        report.write_text("ok")
        # Another process gave the param its value: only the server can refuse.
        client.log_param(run.run_id, "p", "1")
        logger = RunLogger(run)
        logger.log_params({"p": 2})
        logger.log_metrics({"m": 1})
        logger.log_artifact(report)
        with pytest.raises(TrackingError, match=r"MLflow rejected 1 params .*\(p\)"):
            logger.flush(wait=True)
        assert [a.path for a in client.list_artifacts(run.run_id)] == ["report.txt"]
        data = client.get_run(run.run_id).data
        assert (data.params, data.metrics) == ({"p": "1"}, {"m": 1.0})

    def test_a_param_changed_by_a_later_flush_keeps_both(
        self, client: MlflowClient, run: RunRef, tmp_path: Path
    ) -> None:
        """Another save of the run (a dataset after the hook's params) loses nothing."""
        report = tmp_path / "report.txt"
        report.write_text("ok")
        first = RunLogger(run)
        first.log_params({"p": 1})
        first.flush()
        second = RunLogger(run)
        key = second.log_params({"p": 2})["p"]
        second.log_artifact(report)
        second.flush(wait=True)
        assert client.get_run(run.run_id).data.params == {"p": "1", key: "2"}
        assert [a.path for a in client.list_artifacts(run.run_id)] == ["report.txt"]


def test_values_still_queued_at_exit_are_sent_first(
    client: MlflowClient, run: RunRef, tmp_path: Path
) -> None:
    """A process that exits right after a save (a notebook, a script) loses nothing."""
    import subprocess
    import sys

    report = tmp_path / "report.txt"
    report.write_text("ok")
    code = (
        "import pipelinex_mlflow.tracking.send_queue as send_queue\n"
        # Nothing would go out before the process ends, but for the exit drain.
        "send_queue.SEND_DELAY_S = 600\n"
        "from pipelinex_mlflow.tracking import RunLogger, RunRef\n"
        f"logger = RunLogger(RunRef({run.tracking_uri!r}, {run.run_id!r}))\n"
        "logger.log_metrics({'late': 1})\n"
        f"logger.log_artifact({str(report)!r})\n"
        "logger.flush()\n"  # returns at once; the process exits right away
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert client.get_run(run.run_id).data.metrics == {"late": 1.0}
    assert [a.path for a in client.list_artifacts(run.run_id)] == ["report.txt"]


def test_two_values_under_one_key_are_both_kept_with_one_warning(
    client: MlflowClient, run: RunRef, caplog: pytest.LogCaptureFixture
) -> None:
    logger = RunLogger(run)
    params = logger.log_params({"a": {"b": 1}, "a.b": 2})
    metrics = {"a|b": 1, "a_b": 2}
    logger.log_metrics(metrics)
    logger.flush(wait=True)
    data = client.get_run(run.run_id).data
    assert sorted(data.params.values()) == ["1", "2"]
    assert set(data.params) == set(params.values())
    assert "a.b" in data.params
    assert sorted(data.metrics.values()) == [1.0, 2.0]
    assert "a_b" in data.metrics
    flattened = [r for r in caplog.records if "flatten to one key" in r.getMessage()]
    merged = [r for r in caplog.records if "under one key" in r.getMessage()]
    assert len(flattened) == 1
    assert len(merged) == 1
    assert "['a']['b'] = 1 and ['a.b'] = 2" in flattened[0].getMessage()
    assert "'a|b' and 'a_b'" in merged[0].getMessage()


def test_the_same_value_reached_two_ways_is_one_param(
    client: MlflowClient, run: RunRef, caplog: pytest.LogCaptureFixture
) -> None:
    """``params:model`` in one node and ``params:model.alpha`` in another."""
    logger = RunLogger(run)
    logger.log_params({"model": {"alpha": 0.5, "depth": 3}, "model.alpha": 0.5})
    logger.flush(wait=True)
    params = client.get_run(run.run_id).data.params
    assert params == {"model.alpha": "0.5", "model.depth": "3"}
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


class TestUploadsThatFinishAtOnce:
    def test_an_upload_done_before_its_callback_is_added_does_not_hang(
        self, client: MlflowClient, run: RunRef, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """At exit no pool thread can start, so an upload runs in the caller's thread.

        Its future is done before the sender adds its callback, which then runs at
        once in the thread that holds the sender's lock: it hung there once.
        """
        from concurrent.futures import Future

        from pipelinex_mlflow.tracking import daemon_pool

        def run_here(
            self: daemon_pool.DaemonPool, call: Any, *args: Any
        ) -> Future[Any]:
            future: Future[Any] = Future()
            future.set_running_or_notify_cancel()
            daemon_pool._run(future, call, args)
            return future

        monkeypatch.setattr(daemon_pool.DaemonPool, "submit", run_here)
        logger = RunLogger(run)
        logger.log_text("hello", "notes/hello.txt")
        logger.log_params({"depth": 3})
        flushing = threading.Thread(target=logger.flush, kwargs={"wait": True})
        flushing.start()
        flushing.join(60)
        assert not flushing.is_alive(), "the flush hung"
        assert client.get_run(run.run_id).data.params == {"depth": "3"}
        local = client.download_artifacts(run.run_id, "notes/hello.txt")
        assert Path(local).read_text() == "hello"
