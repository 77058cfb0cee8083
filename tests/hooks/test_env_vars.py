"""MLflowEnvVarsLoggerHook: env vars as params and metrics, secrets always masked."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from pipelinex_mlflow import MLflowEnvVarsLoggerHook
from pipelinex_mlflow.hooks.env_vars import collect_env_vars
from pipelinex_mlflow.masking import MASK, is_secret_name
from tests.hooks._pipeline import only_run, run

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from pipelinex_mlflow import MLflowBasicLoggerHook


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "RUN_LABEL": "nightly",
        "MY_API_TOKEN": "s3cr3t",
        "DB_URL": "postgresql://bob:hunter2@db:5432/app",
        "N_WORKERS": "4",
        "LEARNING_RATE": " 0.5 ",
        "NOT_A_NUMBER": "four",
        "SECRET_SEED": "42",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("UNSET_PARAM", "UNSET_METRIC"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("environment")
class TestLogged:
    def test_params_metrics_and_one_warning(
        self,
        basic_hook: MLflowBasicLoggerHook,
        client: MlflowClient,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        hook = MLflowEnvVarsLoggerHook(
            param_env_vars=["RUN_LABEL", "MY_API_TOKEN", "DB_URL", "UNSET_PARAM"],
            metric_env_vars=[
                "N_WORKERS",
                "LEARNING_RATE",
                "NOT_A_NUMBER",
                "UNSET_METRIC",
            ],
        )
        run((basic_hook, hook))
        logged = only_run(client)
        assert logged.info.status == "FINISHED"
        params, metrics = logged.data.params, logged.data.metrics
        assert params["env..RUN_LABEL"] == "nightly"
        assert params["env..MY_API_TOKEN"] == MASK
        assert params["env..DB_URL"] == "postgresql://bob:*****@db:5432/app"
        assert "env..UNSET_PARAM" not in params
        assert metrics["env..N_WORKERS"] == 4.0
        assert metrics["env..LEARNING_RATE"] == 0.5
        assert "env..NOT_A_NUMBER" not in metrics
        (warning,) = [
            r for r in caplog.records if "MLflowEnvVarsLoggerHook" in r.message
        ]
        assert "not set: UNSET_METRIC, UNSET_PARAM" in warning.message
        assert "not numbers (no metric logged): NOT_A_NUMBER" in warning.message

    def test_all_variables_with_secrets_masked(
        self, basic_hook: MLflowBasicLoggerHook, client: MlflowClient
    ) -> None:
        run((basic_hook, MLflowEnvVarsLoggerHook(param_env_vars="__ALL__", prefix="")))
        params = only_run(client).data.params
        assert params["RUN_LABEL"] == "nightly"
        assert params["DB_URL"] == "postgresql://bob:*****@db:5432/app"
        secrets = [name for name in os.environ if is_secret_name(name)]
        assert "MY_API_TOKEN" in secrets
        for name in secrets:
            assert params[name] == MASK
        assert not any(
            "s3cr3t" in value or "hunter2" in value for value in params.values()
        )

    def test_a_secret_is_never_a_metric(
        self,
        basic_hook: MLflowBasicLoggerHook,
        client: MlflowClient,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        run((basic_hook, MLflowEnvVarsLoggerHook(metric_env_vars="SECRET_SEED")))
        assert "env..SECRET_SEED" not in only_run(client).data.metrics
        assert "names look secret, so not logged as metrics: SECRET_SEED" in caplog.text

    def test_disabled(
        self, basic_hook: MLflowBasicLoggerHook, client: MlflowClient
    ) -> None:
        run(
            (
                basic_hook,
                MLflowEnvVarsLoggerHook(
                    param_env_vars=["RUN_LABEL"], enable_mlflow=False
                ),
            )
        )
        assert "env..RUN_LABEL" not in only_run(client).data.params


def test_without_a_run_warns(caplog: pytest.LogCaptureFixture) -> None:
    run((MLflowEnvVarsLoggerHook(param_env_vars=["HOME"]),))
    assert "Register MLflowBasicLoggerHook" in caplog.text


def test_collect_lists_each_name_once() -> None:
    values = collect_env_vars({"A": "1"}, ["A", "A", "B"], ["B", "A"], prefix="e_")
    assert values.params == {"e_A": "1"}
    assert values.metrics == {"e_A": 1.0}
    assert values.unset == ["B"]
