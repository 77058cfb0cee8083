"""The current run: one slot per process, mirrored into the environment."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pipelinex_mlflow.tracking import (
    RUN_ID_ENV_VAR,
    TRACKING_URI_ENV_VAR,
    RunRef,
    current_run,
    set_current_run,
)


class TestCurrentRun:
    def test_set_and_clear_mirror_into_the_environment(self) -> None:
        run = RunRef("sqlite:///x.db", "abc")
        set_current_run(run)
        assert current_run() == run
        assert os.environ[RUN_ID_ENV_VAR] == "abc"
        assert os.environ[TRACKING_URI_ENV_VAR] == "sqlite:///x.db"
        set_current_run(None)
        assert current_run() is None
        assert RUN_ID_ENV_VAR not in os.environ
        assert TRACKING_URI_ENV_VAR not in os.environ

    def test_a_new_process_finds_the_run_through_the_environment(self) -> None:
        set_current_run(RunRef("sqlite:///x.db", "abc"))
        code = (
            "from pipelinex_mlflow.tracking import current_run; "
            "run = current_run(); print(run.run_id, run.tracking_uri)"
        )
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        assert done.stdout.split() == ["abc", "sqlite:///x.db"]

    def test_an_incomplete_environment_is_no_run(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        set_current_run(None)
        monkeypatch.setenv(RUN_ID_ENV_VAR, "abc")
        assert current_run() is None
