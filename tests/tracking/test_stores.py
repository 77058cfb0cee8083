"""Tracking stores: URIs made usable, unreachable servers, where to see a run."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from pipelinex_mlflow.tracking import (
    TrackingError,
    check_reachable,
    default_tracking_uri,
    normalize_tracking_uri,
    run_view_hint,
)


class TestTrackingUris:
    def test_relative_sqlite_paths_are_taken_from_the_project(
        self, tmp_path: Path
    ) -> None:
        uri = normalize_tracking_uri("sqlite:///mlruns/sqlite.db", tmp_path)
        assert uri == f"sqlite:///{(tmp_path / 'mlruns' / 'sqlite.db').as_posix()}"
        assert (tmp_path / "mlruns").is_dir()

    @pytest.mark.parametrize("uri", ["./mlruns", "file:///tmp/mlruns", "mlruns"])
    def test_legacy_file_store_is_refused(self, uri: str) -> None:
        with pytest.raises(TrackingError, match="legacy file store"):
            normalize_tracking_uri(uri, Path.cwd())

    def test_unreachable_server_fails_in_seconds(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(
            TrackingError, match="Cannot reach the MLflow tracking server"
        ):
            check_reachable(f"http://127.0.0.1:{port}")
        assert time.monotonic() - started < 10

    def test_view_hint(self) -> None:
        assert (
            run_view_hint("http://h:5000/", "1", "r")
            == "http://h:5000/#/experiments/1/runs/r"
        )
        assert "mlflow ui --backend-store-uri sqlite:///x.db" in run_view_hint(
            "sqlite:///x.db", "1", "r"
        )

    def test_default_store_is_the_projects_sqlite_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("MLFLOW_TRACKING_URI")
        assert default_tracking_uri(tmp_path) == f"sqlite:///{tmp_path / 'mlflow.db'}"
        monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
        assert default_tracking_uri(tmp_path) == "http://127.0.0.1:5000"
