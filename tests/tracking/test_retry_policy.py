"""The retry policy is the one place every deadline is stated, and says so."""

from __future__ import annotations

import dataclasses
import importlib
import os
from pathlib import Path
from unittest import mock

import mlflow.environment_variables as mlflow_variables
import pytest

from pipelinex_mlflow.tracking import (
    liveness,
    sender,
    senders,
    server_probe,
    spool,
    store_creation,
    stores,
)
from pipelinex_mlflow.tracking.retry_policy import (
    POLICY,
    RetryPolicy,
    apply_mlflow_http_settings,
)

README = Path(__file__).parents[2] / "README.md"


def test_the_readme_table_is_the_policys() -> None:
    """The README's Reliability section shows the policy as it is."""
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- retry-policy table")
    end = text.index("<!-- end of the retry-policy table -->")
    table = text[start:end].split("\n", 1)[1].strip()
    assert table == POLICY.table()


def test_every_mlflow_variable_exists_and_is_read_back() -> None:
    """MLflow knows each variable the policy sets, and reads the policy's value."""
    with mock.patch.dict(os.environ, {}, clear=True):
        applied = apply_mlflow_http_settings()
        assert applied == POLICY.mlflow_http_settings()
        for name in applied:
            variable = getattr(mlflow_variables, name)
            assert variable.get() == variable.type(applied[name]) or (
                variable.type is bool
                and variable.get() is POLICY.http_respect_retry_after
            )
        assert mlflow_variables.MLFLOW_HTTP_REQUEST_MAX_RETRIES.get() == 7


def test_a_variable_the_user_set_is_kept() -> None:
    """The environment wins over the policy, variable by variable."""
    user = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    with mock.patch.dict(os.environ, user, clear=True):
        applied = apply_mlflow_http_settings()
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "0"
        assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in applied
        assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "120"


def test_opening_a_client_applies_the_policy(tmp_path: Path) -> None:
    """get_client sets MLflow's HTTP variables before any request."""
    with mock.patch.dict(os.environ, {}, clear=True):
        stores.get_client("http://127.0.0.1:9")
        assert os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] == "2"


def test_the_modules_read_their_bounds_from_the_policy() -> None:
    """No module keeps a deadline of its own that the policy does not state."""
    assert POLICY.send_tries == sender.SEND_TRIES
    assert POLICY.flush_timeout_s == senders.DEFAULT_FLUSH_TIMEOUT_S
    assert POLICY.direct_call_timeout_s == senders.DIRECT_CALL_TIMEOUT_S
    assert POLICY.direct_call_probe_s == senders.DIRECT_CALL_PROBE_S
    assert POLICY.server_timeout_s == stores.SERVER_TIMEOUT_S
    assert POLICY.creation_lock_timeout_s == store_creation.CREATION_LOCK_TIMEOUT_S
    assert POLICY.probe_report_grace_s == server_probe._REPORT_GRACE_S
    # Modules of other owners keep their constants; the policy states them too.
    assert POLICY.heartbeat_every_s == liveness.HEARTBEAT_EVERY_S
    assert POLICY.stale_after_s == liveness.STALE_AFTER_S
    assert POLICY.spool_lock_timeout_s == spool.SPOOL_LOCK_TIMEOUT_S
    # The package exports a function named replay: the module by its full name.
    replay = importlib.import_module("pipelinex_mlflow.tracking.replay")
    assert POLICY.replay_timeout_s == replay.REPLAY_TIMEOUT_S


@pytest.mark.parametrize(
    ("answers", "expected"),
    [(False, 249.0), (True, 8 * 120 + 249.0)],
)
def test_the_worst_case_of_one_request(answers: bool, expected: float) -> None:
    """Refused: only urllib3's pauses; silent: every try's timeout on top."""
    assert POLICY.http_request_worst_case_s(answers=answers) == expected


def test_the_policy_cannot_change_under_a_run() -> None:
    """A frozen value: a module cannot loosen a bound for the others."""
    with pytest.raises(dataclasses.FrozenInstanceError, match="send_tries"):
        POLICY.send_tries = 5  # type: ignore[misc]
    assert RetryPolicy(send_tries=5).sender_pauses_s() == [0.5, 1.0, 1.5, 2.0]
