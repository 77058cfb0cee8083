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


# ------------------------------------------------------------------------------------
# A second project: secrets in the files the package writes and in files of conf/.
# ------------------------------------------------------------------------------------
FILES_PACKAGE = "leaky"
FILES_EXPERIMENT = "secrets-in-files"

#: Where each secret of the node's error text comes from.
ERROR_SECRETS = {
    "hunter2": "a database URL's password in the node's error",
    "pw-in-error-4": "password=... in the node's error",
    "AwsSecretInError0123": "aws_secret_access_key=... in the node's error",
}
#: Secrets of the catalog's dataset locations.
URL_SECRETS = {
    "catalogpw-7": "a database URL's password in a catalog path",
    "SasSig0123": "an Azure SAS URL's sig",
    "AKIDPRESIGN0123": "an S3 presigned URL's X-Amz-Credential",
    "amzsig0123abcd": "an S3 presigned URL's X-Amz-Signature",
    "googsig0123": "a GCS signed URL's X-Goog-Signature",
}
#: Secrets inside credentials files with innocent names (none may be uploaded).
FILE_SECRETS = {
    "gcpkeymaterial": "conf/local/gcp.json, a GCP service-account key",
    "gcpkeyid0123": "conf/local/gcp.json's private_key_id",
    "opensshkeymaterial": "conf/base/deploy_id, an OpenSSH private key",
    "pemkeymaterial": "conf/base/deploy.pem",
    "awsfilesecret0123": "conf/local/aws_profile.ini, AWS credentials",
    "netrcpw-6": "conf/local/machines, a .netrc",
    "kubetoken-3": "conf/local/cluster.yaml, a kube config",
    "opaque-service-key-5": "conf/base/service.bin, named by SERVICE_KEY_FILE",
}
#: The files that must not be uploaded, relative to the project.
CREDENTIAL_FILES = (
    "conf/local/gcp.json",
    "conf/base/deploy_id",
    "conf/base/deploy.pem",
    "conf/local/aws_profile.ini",
    "conf/local/machines",
    "conf/local/cluster.yaml",
    "conf/base/service.bin",
)
#: The environment of a run of the project (relative to the project folder).
FILES_ENV = {
    "GOOGLE_APPLICATION_CREDENTIALS": "conf/local/gcp.json",
    "SERVICE_KEY_FILE": "conf/base/service.bin",
}

_SAS_URL = (
    "https://acct.blob.core.windows.net/c/sales.csv"
    "?sv=2022-11-02&se=2030-01-01T00%3A00%3A00Z&sp=r&sig=SasSig0123%3D"
)
_PRESIGNED_URL = (
    "https://bucket.s3.amazonaws.com/prices.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIDPRESIGN0123%2F20300101%2Fus-east-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20300101T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=amzsig0123abcd"
)
_GCS_URL = (
    "https://storage.googleapis.com/b/stock.csv?X-Goog-Algorithm=GOOG4-RSA-SHA256"
    "&X-Goog-Expires=900&X-Goog-Signature=googsig0123"
)

_FILES_NODES = """
from kedro.io import AbstractDataset


class RemoteTable(AbstractDataset):
    # A dataset whose location is a URL (as fsspec datasets keep it), read without
    # the network: the test is about where the URL's secrets end up.
    def __init__(self, filepath):
        self._filepath = filepath
        self._protocol = filepath.split("://", 1)[0]

    def load(self):
        return [1, 2, 3]

    def save(self, data):
        pass

    def _describe(self):
        return {"filepath": self._filepath}


def combine(sales, prices, stock, warehouse):
    return len(sales) + len(prices) + len(stock) + len(warehouse)


def publish(total):
    raise ConnectionError(
        "could not reach postgresql://u:hunter2@h/db (host=h password=pw-in-error-4 "
        "aws_secret_access_key=AwsSecretInError0123)"
    )
"""

_FILES_REGISTRY = """
from kedro.pipeline import Pipeline, node

from {package}.nodes import combine, publish


def register_pipelines():
    return {{
        "__default__": Pipeline(
            [
                node(combine, ["sales", "prices", "stock", "warehouse"], "total"),
                node(publish, "total", "published"),
            ]
        )
    }}
"""

_FILES_SETTINGS = """
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
        filepaths_before_pipeline_run=["conf"],
        filepaths_after_pipeline_run=["conf/**/*"],
    ),
)
"""

_GCP_KEY = """{
  "type": "service_account",
  "project_id": "p",
  "private_key_id": "gcpkeyid0123",
  "private_key": "-----BEGIN PRIVATE KEY-----\\ngcpkeymaterial\\n-----END PRIVATE KEY-----\\n",
  "client_email": "sa@p.iam.gserviceaccount.com"
}
"""


def generate_secrets_in_files(folder: Path) -> Path:
    """Write the second project into ``folder`` (created) and return it.

    Its first node reads datasets at signed URLs and a database URL with a
    password; its second raises an error quoting a password, a ``password=`` and
    an AWS secret. ``conf`` holds credentials files under innocent names; every
    hook that writes a file is registered.
    """
    package = write_skeleton(folder, FILES_PACKAGE)
    (package / "nodes.py").write_text(_FILES_NODES)
    (package / "pipeline_registry.py").write_text(
        _FILES_REGISTRY.format(package=FILES_PACKAGE)
    )
    (package / "settings.py").write_text(
        _FILES_SETTINGS.format(experiment=FILES_EXPERIMENT)
    )
    base, local = folder / "conf" / "base", folder / "conf" / "local"
    (base / "parameters.yml").write_text("lr: 0.1\n")
    table = f"{FILES_PACKAGE}.nodes.RemoteTable"
    (base / "catalog.yml").write_text(
        f"sales:\n  type: {table}\n  filepath: '{_SAS_URL}'\n"
        f"prices:\n  type: {table}\n  filepath: '{_PRESIGNED_URL}'\n"
        f"stock:\n  type: {table}\n  filepath: '{_GCS_URL}'\n"
        f"warehouse:\n  type: {table}\n"
        "  filepath: 'postgresql://etl:catalogpw-7@db.internal/warehouse'\n"
    )
    (local / "gcp.json").write_text(_GCP_KEY)
    (base / "deploy_id").write_text(
        "-----BEGIN OPENSSH PRIVATE KEY-----\nopensshkeymaterial\n"
        "-----END OPENSSH PRIVATE KEY-----\n"
    )
    (base / "deploy.pem").write_text(
        "-----BEGIN EC PRIVATE KEY-----\npemkeymaterial\n-----END EC PRIVATE KEY-----\n"
    )
    (local / "aws_profile.ini").write_text(
        "[default]\naws_access_key_id = AKIAEXAMPLEEXAMPLE\n"
        "aws_secret_access_key = awsfilesecret0123\n"
    )
    (local / "machines").write_text(
        "machine api.example.com\n  login bob\n  password netrcpw-6\n"
    )
    (local / "cluster.yaml").write_text(
        "apiVersion: v1\nkind: Config\nusers:\n- name: ci\n  user:\n"
        "    token: kubetoken-3\n"
    )
    (base / "service.bin").write_text("opaque-service-key-5\n")
    return folder
