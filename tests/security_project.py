"""A real Kedro project that a careless user filled with secrets, for the security tests.

Every place a secret can come from holds one of :data:`SECRETS`: a runtime
``--params`` value, environment variables, the tracking URI's password, Kedro's
``conf/local/credentials.yml`` and a ``.env`` file. Every hook that could leak
them is registered in the way most likely to: all ``run_params`` logged, the whole
environment logged, the whole ``conf`` folder uploaded (as a folder, a glob and by
name).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

from tests.kedro_project import write_skeleton

PACKAGE = "careless"
EXPERIMENT = "security"

#: Secret -> where it is planted.
SECRETS = {
    "hunter2-runtime": "kedro run --params db_password=...",
    "uri-pw-9": "the tracking URI's password",
    "creds-file-pw": "conf/local/credentials.yml",
    "dotenv-pw": ".env",
    "dbpass-env": "DB_PASS",
    "pgpass-env": "PGPASS",
    "ghp_0123456789abcdefghijABCDEFGHIJ012345": "GITHUB_PAT (no secret-looking value)",
    "sentrykey77": "SENTRY_DSN's user part",
    "connpw-5": "CONN's password=",
    "xoxb-1234567890-abcdefghij": "a Slack token in a harmless name",
}

#: The environment variables that hold secrets.
SECRET_ENV = {
    "DB_PASS": "dbpass-env",
    "PGPASS": "pgpass-env",
    "GITHUB_PAT": "ghp_0123456789abcdefghijABCDEFGHIJ012345",
    "SENTRY_DSN": "https://sentrykey77@o1.ingest.sentry.io/42",
    "CONN": "host=db.internal port=5432 password=connpw-5 dbname=app",
    "NOTIFY_CHANNEL": "xoxb-1234567890-abcdefghij",
}

_NODES = """
def train(db_password, lr):
    # A node that reads the secret, as real code would to connect somewhere.
    assert db_password
    return lr * 2, {"lr_used": lr}
"""

_REGISTRY = """
from kedro.pipeline import Pipeline, node

from {package}.nodes import train


def register_pipelines():
    return {{
        "__default__": Pipeline(
            [node(train, ["params:db_password", "params:lr"], ["score", "summary"])]
        )
    }}
"""

_SETTINGS = """
from pipelinex_mlflow import (
    MLflowArtifactsLoggerHook,
    MLflowBasicLoggerHook,
    MLflowCatalogLoggerHook,
    MLflowEnvVarsLoggerHook,
    MLflowTimeLoggerHook,
)

HOOKS = (
    MLflowBasicLoggerHook(
        experiment_name="{experiment}", logging_kedro_run_params="__ALL__"
    ),
    MLflowTimeLoggerHook(),
    MLflowCatalogLoggerHook(auto=True),
    MLflowEnvVarsLoggerHook(param_env_vars="__ALL__"),
    MLflowArtifactsLoggerHook(
        filepaths_before_pipeline_run=[
            "conf",
            "conf/**/*.yml",
            "conf/local/credentials.yml",
            ".env",
        ],
    ),
)
"""


def generate(folder: Path) -> Path:
    """Write the project into ``folder`` (created) and return it."""
    package = write_skeleton(folder, PACKAGE)
    (package / "nodes.py").write_text(_NODES)
    (package / "pipeline_registry.py").write_text(_REGISTRY.format(package=PACKAGE))
    (package / "settings.py").write_text(_SETTINGS.format(experiment=EXPERIMENT))
    (folder / "conf" / "base" / "parameters.yml").write_text(
        "db_password: set-at-run-time\nlr: 0.1\n"
    )
    (folder / "conf" / "base" / "catalog.yml").write_text(
        "score:\n  type: pipelinex_mlflow.MLflowDataset\n  dataset: m\n"
        "summary:\n  type: pipelinex_mlflow.MLflowDataset\n  dataset: json\n"
    )
    (folder / "conf" / "local" / "credentials.yml").write_text(
        "warehouse:\n  con: postgresql://bob:creds-file-pw@db/app\n"
    )
    (folder / ".env").write_text("WAREHOUSE_PASSWORD=dotenv-pw\n")
    return folder
