"""Secrets planted everywhere a careless user would put them never leave the machine.

Each test runs ``kedro run`` on the careless project (``tests/security_project.py``)
against a real `mlflow server` on 127.0.0.1 reached through a URI with a password,
then searches every param, tag, metric, artifact and line of output for the
planted secrets (``tests/secret_scan.py``).
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import pytest

from tests.reliability_project import kedro, kedro_env, output_of
from tests.secret_scan import leaks, run_texts
from tests.security_project import EXPERIMENT, SECRET_ENV, SECRETS, generate

if TYPE_CHECKING:
    from pathlib import Path

    from mlflow.tracking import MlflowClient

MASK = "*****"


def _with_password(url: str) -> str:
    return url.replace("http://", "http://alice:uri-pw-9@", 1)


@pytest.fixture
def client_of_server(mlflow_server: str) -> MlflowClient:
    """A client of the real server, without the password."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=mlflow_server)


def _only_run(client: MlflowClient) -> str:
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    return runs[0].info.run_id


def test_no_planted_secret_reaches_mlflow_or_the_terminal(
    tmp_path: Path, mlflow_server: str, client_of_server: MlflowClient
) -> None:
    """Params, tags, artifacts and output hold none of the secrets; the rest landed."""
    project = generate(tmp_path / "careless")
    env = kedro_env(_with_password(mlflow_server), **SECRET_ENV)
    result = kedro(project, "run", "--params", "db_password=hunter2-runtime", env=env)
    assert result.returncode == 0, output_of(result)

    run_id = _only_run(client_of_server)
    texts = run_texts(client_of_server, run_id)
    texts["stdout"], texts["stderr"] = result.stdout, result.stderr
    found = leaks(texts, SECRETS)
    assert found == [], "\n".join(found)

    run = client_of_server.get_run(run_id)
    params, tags = run.data.params, run.data.tags
    # Masked where the secret was, everything else as it was.
    assert params["db_password"] == MASK
    assert params["___runtime_params.db_password"] == MASK
    assert "db_password=*****" in tags["kedro.command"]
    for name in ("DB_PASS", "PGPASS", "GITHUB_PAT", "SENTRY_DSN"):
        assert params[f"env..{name}"] == MASK, name
    assert params["env..CONN"] == "host=db.internal port=5432 password=***** dbname=app"
    assert params["env..NOTIFY_CHANNEL"] == MASK
    assert params["lr"] == "0.1"
    assert run.data.metrics["score"] == 0.2
    # The credentials files were left out, named in a warning; the rest went up.
    texts_paths = {where.removeprefix("artifact ") for where in texts}
    assert "conf/base/parameters.yml" in texts_paths
    assert "conf/local/credentials.yml" not in texts_paths
    assert ".env" not in texts_paths
    output = output_of(result)
    assert "conf/local/credentials.yml" in output
    assert "allow_credentials_files argument to True" in output


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_server_is_reported_without_its_password(
    tmp_path: Path,
) -> None:
    """The fail-fast error names the server, masked."""
    project = generate(tmp_path / "careless")
    uri = f"http://alice:uri-pw-9@127.0.0.1:{_closed_port()}"
    env = kedro_env(uri, **SECRET_ENV)
    result = kedro(project, "run", "--params", "db_password=hunter2-runtime", env=env)
    assert result.returncode != 0
    output = output_of(result)
    assert "alice:*****@127.0.0.1" in output
    assert leaks({"output": output}, SECRETS) == []
