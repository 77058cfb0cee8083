"""Secrets in the files the package writes and uploads never leave the machine.

A real ``kedro run`` of ``tests/security_project.py``'s second project, on a real
SQLite store: its datasets live at signed URLs and a database URL with a
password, a node fails with an error quoting secrets, and ``conf/`` holds
credentials files under innocent names. Then everything the store holds for the
run (params, tags, every artifact downloaded, dataset inputs, the trace) and
the command's output are searched for the planted secrets.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.reliability_project import kedro, kedro_env, output_of
from tests.secret_scan import leaks, run_texts
from tests.security_project import (
    CREDENTIAL_FILES,
    ERROR_SECRETS,
    FILE_SECRETS,
    FILES_ENV,
    FILES_EXPERIMENT,
    URL_SECRETS,
    generate_secrets_in_files,
)

if TYPE_CHECKING:
    import subprocess

    from mlflow.tracking import MlflowClient

MASK = "*****"


@pytest.fixture(scope="module")
def failed_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[MlflowClient, str, dict[str, str], subprocess.CompletedProcess[str]]:
    """The project's run (its second node fails), and every text the store holds."""
    from mlflow.tracking import MlflowClient

    folder = tmp_path_factory.mktemp("secrets_in_files")
    project = generate_secrets_in_files(folder / "leaky")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    env = kedro_env(uri, **{k: str(project / v) for k, v in FILES_ENV.items()})
    result = kedro(project, "run", env=env)
    assert result.returncode != 0, output_of(result)
    assert "ConnectionError" in output_of(result)
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(FILES_EXPERIMENT)
    assert experiment is not None, output_of(result)
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    run_id = runs[0].info.run_id
    return client, run_id, run_texts(client, run_id), result


def test_no_secret_of_the_error_urls_or_files_lands_in_the_store(
    failed_run: tuple[
        MlflowClient, str, dict[str, str], subprocess.CompletedProcess[str]
    ],
) -> None:
    """Params, tags, artifacts, dataset inputs and the trace hold none of them."""
    _, _, texts, result = failed_run
    found = leaks(texts, {**ERROR_SECRETS, **URL_SECRETS, **FILE_SECRETS})
    assert found == [], "\n".join(found)
    # Nor what the command printed.
    printed = {"stdout": result.stdout, "stderr": result.stderr}
    assert leaks(printed, {**URL_SECRETS, **FILE_SECRETS}) == []


def test_the_files_we_write_keep_what_is_not_secret(
    failed_run: tuple[
        MlflowClient, str, dict[str, str], subprocess.CompletedProcess[str]
    ],
) -> None:
    """Masked in place: the time log, pipeline.json and the sources still say the rest."""
    client, run_id, texts, _ = failed_run
    time_log = json.loads(texts["artifact time_log.json"].split("\n", 1)[1])
    failed = [n for n in time_log["nodes"] if n["status"] == "failed"]
    assert len(failed) == 1
    assert failed[0]["error"] == (
        f"ConnectionError: could not reach postgresql://u:{MASK}@h/db (host=h "
        f"password={MASK} aws_secret_access_key={MASK})"
    )
    structure = json.loads(texts["artifact pipeline.json"].split("\n", 1)[1])
    sales = structure["datasets"]["sales"]["filepath"]
    assert sales.startswith("https://acct.blob.core.windows.net/c/sales.csv?sv=")
    assert f"&sig={MASK}" in sales
    assert "se=2030-01-01" in sales
    inputs = client.get_run(run_id).inputs
    assert inputs is not None
    sources = {
        dataset_input.dataset.name: json.loads(dataset_input.dataset.source)["uri"]
        for dataset_input in inputs.dataset_inputs
    }
    assert f"X-Amz-Signature={MASK}" in sources["prices"]
    assert f"X-Amz-Credential={MASK}" in sources["prices"]
    assert "X-Amz-Expires=3600" in sources["prices"]
    assert f"X-Goog-Signature={MASK}" in sources["stock"]
    assert sources["warehouse"] == f"postgresql://etl:{MASK}@db.internal/warehouse"
    assert "artifact gantt.html" in texts


def test_credentials_files_with_innocent_names_stay_home(
    failed_run: tuple[
        MlflowClient, str, dict[str, str], subprocess.CompletedProcess[str]
    ],
) -> None:
    """Recognised by content or named by an environment variable: left out, named."""
    _, _, texts, result = failed_run
    uploaded = {
        where.removeprefix("artifact ")
        for where in texts
        if where.startswith("artifact ")
    }
    assert {"conf/base/parameters.yml", "conf/base/catalog.yml"} <= uploaded
    assert [path for path in CREDENTIAL_FILES if path in uploaded] == []
    # The catalog went up masked, its secrets replaced.
    catalog = texts["artifact conf/base/catalog.yml"]
    assert f"sig={MASK}" in catalog
    assert f"etl:{MASK}@db.internal" in catalog
    output = output_of(result)
    for path in CREDENTIAL_FILES:
        assert Path(path).as_posix() in output, path
    assert "a GCP service-account key" in output or "GOOGLE_APPLICATION" in output
    assert "$SERVICE_KEY_FILE names it" in output
