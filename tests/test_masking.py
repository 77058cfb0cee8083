"""The masking rule for environment variable values."""

from __future__ import annotations

import pytest

from pipelinex_mlflow.masking import MASK, is_secret_name, mask_value


@pytest.mark.parametrize(
    "name",
    [
        "MY_API_TOKEN",
        "aws_secret_access_key",
        "DB_PASSWORD",
        "FTP_PASSWD",
        "OLDPWD",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "HTTP_AUTHORIZATION",
        "SSH_PRIVATE",
        "SESSION_ID",
        "Cookie_Jar",
        "URL_SIGNATURE",
        "SSL_CERT_FILE",
        "apikey",
    ],
)
def test_secret_looking_names_are_masked(name: str) -> None:
    assert is_secret_name(name)
    assert mask_value(name, "anything at all") == MASK


@pytest.mark.parametrize("name", ["HOME", "HOSTNAME", "CUDA_VISIBLE_DEVICES", "LANG"])
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
