"""The one rule that hides secrets in any text before it leaves the process.

Everything the package sends to MLflow, writes to its logs or puts in an error goes
through this rule (SECURITY.md lists where). It has three parts:

- **Secret names.** A name (an environment variable, a param key, the key of a
  ``name=value`` pair) looks secret when one of its words (``DB_PASSWORD``:
  ``db``, ``password``; ``accessToken``: ``access``, ``token``) is one of
  :data:`SECRET_WORDS` or ends in one of :data:`SECRET_WORD_ENDINGS`
  (``PGPASSWORD``), when ``key`` follows a word of :data:`KEY_QUALIFIERS`
  (``API_KEY``), when ``token`` is not a language model's count or special token
  (``max_tokens``, ``pad_token_id``), or when it matches a pattern declared with
  :func:`declare_secret_names` or ``PIPELINEX_MLFLOW_SECRET_NAMES``. Its whole
  value is masked.
- **Secrets inside text.** In any text, the password of a URL
  (``scheme://user:password@host``), the value of a ``name=value`` or
  ``name: value`` pair whose name looks secret (``password=...`` in a libpq
  connection string, ``token=`` in a query, ``--params db_password=...``), and
  tokens of a known shape (:data:`TOKEN_PATTERNS`: GitHub ``ghp_``, Slack
  ``xoxb-``, AWS ``AKIA``, OpenAI ``sk-``, JWTs, private key blocks, ...) are
  replaced by :data:`MASK`; so is the signature of a signed URL (the query
  parameters of :data:`SIGNED_URL_PARAMETERS`: Azure SAS ``sig``, S3's
  ``X-Amz-Signature``...), which grants access on its own.
- **Secrets inside data.** :func:`mask_json` masks a JSON-able value (the files
  the package writes: ``time_log.json``, ``pipeline.json``...) and keeps it
  valid: every text through the rule above, and whatever a secret-looking key
  holds (``{"password": "..."}``) masked whole.
- **Log lines.** :func:`get_logger` gives the package's modules loggers whose
  records pass through the rule.

Each part is one module: ``names`` (the name rule), ``text`` (secrets inside
text), ``data`` (:func:`mask_json`), ``errors`` (:func:`scrubbed`) and ``logs``
(:func:`get_logger`); import their names from here.

Masking too much is the safe side, but masking changes what a param reads back:
common names of machine-learning parameters (``max_tokens``, ``pad_token``,
``n_passes``, ``session_id``, ``signature``, ``primary_key``) are left alone.

Examples:
    >>> mask_value("MY_API_TOKEN", "abc123")
    '*****'
    >>> mask_value("DATABASE_URL", "postgresql://bob:hunter2@db:5432/app")
    'postgresql://bob:*****@db:5432/app'
    >>> mask_value("HOSTNAME", "worker-1")
    'worker-1'
    >>> mask_secrets("kedro run --params=db_password=hunter2,lr=0.1")
    'kedro run --params=db_password=*****,lr=0.1'
    >>> mask_secrets("host=db user=app password=s3cret")
    'host=db user=app password=*****'
"""

from __future__ import annotations

from pipelinex_mlflow.masking.data import mask_json
from pipelinex_mlflow.masking.errors import scrubbed
from pipelinex_mlflow.masking.logs import MaskingFilter, get_logger
from pipelinex_mlflow.masking.names import (
    KEY_QUALIFIERS,
    SECRET_NAMES_ENV_VAR,
    SECRET_WORD_ENDINGS,
    SECRET_WORDS,
    declare_secret_names,
    is_secret_name,
    reset_declared_secret_names,
)
from pipelinex_mlflow.masking.text import (
    MASK,
    SIGNED_URL_PARAMETERS,
    TOKEN_PATTERNS,
    has_url_credentials,
    mask_secrets,
    mask_url_passwords,
    mask_value,
)

__all__ = [
    "KEY_QUALIFIERS",
    "MASK",
    "SECRET_NAMES_ENV_VAR",
    "SECRET_WORDS",
    "SECRET_WORD_ENDINGS",
    "SIGNED_URL_PARAMETERS",
    "TOKEN_PATTERNS",
    "MaskingFilter",
    "declare_secret_names",
    "get_logger",
    "has_url_credentials",
    "is_secret_name",
    "mask_json",
    "mask_secrets",
    "mask_url_passwords",
    "mask_value",
    "reset_declared_secret_names",
    "scrubbed",
]
