"""The one masking rule: secret names, secrets inside text, log lines, errors."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from pipelinex_mlflow.core.run_context import kedro_command
from pipelinex_mlflow.masking import (
    MASK,
    SECRET_NAMES_ENV_VAR,
    declare_secret_names,
    get_logger,
    is_secret_name,
    mask_secrets,
    mask_value,
    scrubbed,
)
from pipelinex_mlflow.tracking.errors import TrackingError


@pytest.mark.parametrize(
    "name",
    [
        "MY_API_TOKEN",
        "aws_secret_access_key",
        "DB_PASSWORD",
        "FTP_PASSWD",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "HTTP_AUTHORIZATION",
        "Cookie_Jar",
        "apikey",
        # Found by the security review: once logged in clear text.
        "DB_PASS",
        "PGPASS",
        "PGPASSWORD",
        "GITHUB_PAT",
        "SENTRY_DSN",
        "OPENAI_KEY",
        "AWS_ACCESS_KEY_ID",
        "slack_webhook_url",
        "db_password",
        "accessToken",
        "AccountKey",
        # Found by the review of the word rule.
        "API_TOKENS",
        "GITHUB_TOKENS",
        "DB_PW",
        "SMTP_PW",
        "hmac_key",
        "fernet_key",
        "BASIC_AUTH",
        "MyAPIKey",
        "x-api-key",
        "client_secret",
        "passwords",
        "API_KEYS",
        "refresh_token",
        "PWD",
        "session_cookie",
    ],
)
def test_secret_looking_names_are_masked(name: str) -> None:
    assert is_secret_name(name)
    assert mask_value(name, "anything at all") == MASK


@pytest.mark.parametrize(
    "name",
    [
        "HOME",
        "HOSTNAME",
        "CUDA_VISIBLE_DEVICES",
        "LANG",
        "PATH",
        "PYTHONPATH",
        "max_tokens",
        "tokenizer_name",
        "author",
        "primary_key",
        "join_key",
        "learning_rate",
        # Common machine-learning names that masking would change on load.
        "eos_token",
        "pad_token",
        "bos_token",
        "pad_token_id",
        "token_type_ids",
        "max_token_length",
        "token_limit",
        "token_count",
        "num_tokens",
        "passes",
        "n_passes",
        "passthrough",
        "bypass_cache",
        "compass",
        "uncertainty",
        "session_id",
        "n_sessions",
        "signature",
        "private_test",
        "auth_method",
        "webhook_timeout",
        "OLDPWD",  # the previous folder, not a password
        "SSL_CERT_FILE",  # a certificate is public
        "sort_key",
        "patience",
        "pattern",
        "patch_size",
        "kedro.session_id",
        "mlflow.user",
    ],
)
def test_other_names_keep_their_value(name: str) -> None:
    assert not is_secret_name(name)
    assert mask_value(name, "/home/me") == "/home/me"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("postgresql://bob:hunter2@db:5432/app", "postgresql://bob:*****@db:5432/app"),
        ("redis://:pw@cache:6379/0", "redis://:*****@cache:6379/0"),
        (
            "http://a:1@x.org,https://b:2@y.org",
            "http://a:*****@x.org,https://b:*****@y.org",
        ),
        ("mysql://root:a/b?c@db/x", "mysql://root:*****@db/x"),
        # A token travels as the user part, so a lone user part is masked whole.
        ("https://ghp_token@host/path", "https://*****@host/path"),
        ("http://host:8080/path", "http://host:8080/path"),
        ("me@example.com", "me@example.com"),
    ],
)
def test_url_passwords_are_masked(value: str, expected: str) -> None:
    assert mask_value("DATABASE_URL", value) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "host=db.internal port=5432 password=connpw dbname=app",
            "host=db.internal port=5432 password=***** dbname=app",
        ),
        (
            "kedro run --params=db_password=hunter2,lr=0.1",
            "kedro run --params=db_password=*****,lr=0.1",
        ),
        (
            "kedro run --params db_password:hunter2",
            "kedro run --params db_password:*****",
        ),
        (
            "https://api.example.com/v1?api_key=abc123&page=2",
            "https://api.example.com/v1?api_key=*****&page=2",
        ),
        ('{"password": "pw", "user": "bob"}', '{"password": *****, "user": "bob"}'),
        (
            "Server=db;Database=app;Password=pw1;",
            "Server=db;Database=app;Password=*****;",
        ),
        ("token ghp_0123456789abcdefghijABCDEFGHIJ012345 set", "token ***** set"),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "*****"),
        ("xoxb-1234567890-abcdefghij", "*****"),
        ("AKIAIOSFODNN7EXAMPLE", "*****"),
        ("sk-proj-abcdefghijklmnopqrstuvwxyz012345", "*****"),
        ("hf_abcdefghijklmnopqrstuvwxyzABCDEFGH", "*****"),
        ("dapi0123456789abcdef0123456789abcdef", "*****"),
        ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz", "*****"),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
            "*****",
        ),
        (
            "https://sentrykey77@o1.ingest.sentry.io/42",
            "https://*****@o1.ingest.sentry.io/42",
        ),
        # Left alone: what only looks like a pair or a token.
        ("lr=0.1 depth=3 params:model_depth", "lr=0.1 depth=3 params:model_depth"),
        ("the token limit was reached", "the token limit was reached"),
        ("6f1d2c3b4a5e6f7a8b9c0d1e2f3a4b5c", "6f1d2c3b4a5e6f7a8b9c0d1e2f3a4b5c"),
    ],
)
def test_secrets_inside_text_are_masked(text: str, expected: str) -> None:
    assert mask_secrets(text) == expected
    assert mask_secrets(expected) == expected  # masking twice changes nothing


def test_declared_names_are_secret_here_and_in_child_processes() -> None:
    assert not is_secret_name("vault_pin")
    declare_secret_names(["*_PIN"])
    assert is_secret_name("vault_pin")
    assert mask_secrets("vault_pin=1234 user=bob") == "vault_pin=***** user=bob"
    assert "*_pin" in os.environ[SECRET_NAMES_ENV_VAR].split(",")
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "from pipelinex_mlflow.masking import is_secret_name as f; print(f('card_pin'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert child.stdout.strip() == "True"


def test_a_bad_declared_pattern_says_what_to_give() -> None:
    with pytest.raises(ValueError, match="glob pattern without commas"):
        declare_secret_names(["a,b"])


def test_the_package_log_lines_and_errors_are_masked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = get_logger("pipelinex_mlflow.tests_masking")
    with caplog.at_level(logging.INFO, logger="pipelinex_mlflow.tests_masking"):
        logger.info("store %s", "http://alice:pw-log@host")
        # Built at run time: the traceback shows this file's source lines.
        message = "GET http://alice:" + "pw-exc" + "@host failed"
        try:
            raise RuntimeError(message)
        except RuntimeError:
            logger.exception("failed")
    text = caplog.text
    assert "pw-log" not in text
    assert "pw-exc" not in text
    assert "alice:*****@host" in text
    assert "pw-err" not in str(TrackingError("at http://bob:pw-err@host"))
    assert "pw-cause" not in str(scrubbed(ValueError("http://a:pw-cause@h")))


def test_the_kedro_command_tag_masks_runtime_params() -> None:
    argv = ["/venv/bin/kedro", "run", "--params", "db_password=hunter2,lr=0.1"]
    assert (
        kedro_command({}, argv=argv) == "kedro run --params 'db_password=*****,lr=0.1'"
    )
    rebuilt = kedro_command(
        {"runtime_params": {"db": {"password": "hunter2"}, "lr": 0.1}}, argv=["python"]
    )
    assert rebuilt == "kedro run '--params=db.password=*****,lr=0.1'"


_SAS = "https://acct.blob.core.windows.net/c/data.csv?sv=2022-11-02&se=2030-01-01&sp=r&sig=AzSig%2Fsecret123%3D"
_PRESIGNED = (
    "https://b.s3.amazonaws.com/k.parquet?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIDEXAMPLE%2F20300101%2Fus-east-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20300101T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host"
    "&X-Amz-Security-Token=FwoGZXIvYXdzEXAMPLE"
    "&X-Amz-Signature=0123456789abcdef0123456789abcdef"
)


@pytest.mark.parametrize(
    ("url", "secrets", "kept"),
    [
        (_SAS, ["AzSig%2Fsecret123%3D"], ["se=2030-01-01", "sp=r", "sv=2022-11-02"]),
        (
            _PRESIGNED,
            ["AKIDEXAMPLE", "FwoGZXIvYXdzEXAMPLE", "0123456789abcdef0123456789abcdef"],
            ["X-Amz-Expires=3600", "X-Amz-Date=20300101T000000Z"],
        ),
        (
            "https://storage.googleapis.com/b/o?X-Goog-Algorithm=GOOG4-RSA-SHA256"
            "&X-Goog-Credential=sa%40p.iam.gserviceaccount.com%2F20300101"
            "&X-Goog-Signature=deadbeefcafe&X-Goog-Expires=900",
            ["sa%40p.iam", "deadbeefcafe"],
            ["X-Goog-Expires=900"],
        ),
        (
            "https://d111.cloudfront.net/a.png?Expires=1900000000"
            "&Signature=Cf-Sig~abc_&Key-Pair-Id=K2JCJMDEHXQW5F",
            ["Cf-Sig~abc_"],
            ["Expires=1900000000", "Key-Pair-Id=K2JCJMDEHXQW5F"],
        ),
        # In an HTML page, '&' is written '&amp;'.
        ("<a href='https://h/x?a=1&amp;sig=htmlsig9'>", ["htmlsig9"], ["a=1"]),
    ],
)
def test_signed_url_signatures_are_masked(
    url: str, secrets: list[str], kept: list[str]
) -> None:
    masked = mask_secrets(url)
    assert [s for s in secrets if s in masked] == []
    assert [k for k in kept if k not in masked] == []
    assert mask_secrets(masked) == masked
    assert mask_value("DATA_URL", url) == masked


def test_signature_is_a_secret_only_as_a_query_parameter() -> None:
    """A model's ``signature`` param keeps its value; a URL's ``Signature=`` does not."""
    assert mask_value("signature", "inputs: [x]") == "inputs: [x]"
    assert mask_secrets("signature=infer") == "signature=infer"
    assert mask_secrets("https://h/p?Signature=abc") == f"https://h/p?Signature={MASK}"


def test_mask_json_masks_texts_and_secret_keys_and_stays_json() -> None:
    """The data of a file the package writes, masked field by field."""
    import json

    from pipelinex_mlflow.masking import mask_json

    data = {
        "nodes": [
            {
                "error": "OperationalError: postgresql://u:hunter2@h/db password=pw9",
                "inputs": ("params:db_password", "raw"),
                "duration": 1.5,
                "ok": True,
            }
        ],
        "credentials": {"password": "pw8", "aws_secret_access_key": 123},
        "passwords": ["pw7", ("pw6", None)],
        "source": _SAS,
        "http://a:keypw@h": None,
        "signature": "inputs: [x]",
    }
    masked = mask_json(data)
    text = json.dumps(masked)
    assert json.loads(text) == masked
    for secret in ("hunter2", "pw9", "pw8", "pw7", "pw6", "123", "AzSig", "keypw"):
        assert secret not in text, secret
    node = masked["nodes"][0]
    assert node["inputs"] == ["params:db_password", "raw"]
    assert (node["duration"], node["ok"]) == (1.5, True)
    assert masked["credentials"] == {"password": MASK, "aws_secret_access_key": MASK}
    assert masked["signature"] == "inputs: [x]"
    assert masked["passwords"] == [MASK, [MASK, None]]


def test_json_tags_are_masked_as_data_and_stay_json() -> None:
    """A layout entry quoting a URL password is masked; the tag still parses."""
    import json

    from pipelinex_mlflow.tracking.json_tags import JsonTagPages, read_json_tags

    pages = JsonTagPages("app.layouts", "p1")
    tags = pages.merge(
        {
            "db_password": {"code": "p", "key": "db_password"},
            "source": {"code": "a", "url": "postgresql://u:pw-tag@h/db?sig=s9"},
        }
    )
    (text,) = tags.values()
    assert "pw-tag" not in text
    assert "s9" not in text
    entries = read_json_tags(tags, "app.layouts")
    assert entries["db_password"] == {"code": "p", "key": "db_password"}
    assert entries["source"]["url"] == f"postgresql://u:{MASK}@h/db?sig={MASK}"
    assert json.loads(text) == entries
