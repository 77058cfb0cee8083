"""Keys: any name becomes a key MLflow accepts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pipelinex_mlflow.tracking import RunLogger, RunRef, TrackingError, sanitize_key

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient


class TestKeys:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("params:model.depth", "params:model.depth"),
            ("a|b@c", "a_b_c"),
            ("/abs//x/../y", "abs/x/y"),
            ("héllo wörld", "héllo wörld"),
            # Long keys keep 241 characters and a hash of the whole key.
            ("x" * 300, "x" * 241 + "-0d4e2ca9"),
        ],
    )
    def test_sanitize_key(self, raw: str, expected: str) -> None:
        assert sanitize_key(raw) == expected

    def test_sanitized_keys_are_accepted_by_mlflow(
        self, client: MlflowClient, run: RunRef
    ) -> None:
        keys = ["a|b", "[x]", "a=b+c", "../up", "#tag", "é" * 260, "é" * 270]
        logger = RunLogger(run)
        logger.log_metrics(dict.fromkeys(keys, 1))
        logger.flush(wait=True)
        assert set(client.get_run(run.run_id).data.metrics) == {
            sanitize_key(k) for k in keys
        }

    def test_empty_key_is_rejected(self) -> None:
        with pytest.raises(TrackingError, match="cannot be used as an MLflow key"):
            sanitize_key("//")
