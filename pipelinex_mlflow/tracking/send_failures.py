"""What a failed request to a store means: away (try again later) or refused.

A request that fails because the store is away (refused, timed out, a 408, 429
or 5xx answer, judged by its HTTP status even when a gateway answers without
MLflow's JSON, a locked database) may pass later: :func:`is_transient`. A value
the store refuses (a 400 or 413 answer, an invalid value) will not, but a smaller
batch may: :func:`refuses_values`. A refusal of the whole run (deleted) concerns
every value: :func:`refuses_the_run`. :func:`retrying` tries a call a few times
in a row, as :data:`~pipelinex_mlflow.tracking.retry_policy.POLICY` says.

Examples:
    >>> is_transient(ConnectionRefusedError()), is_transient(FileNotFoundError())
    (True, False)
    >>> http_status(Exception("failed with error code 503 != 200"))
    503
"""

from __future__ import annotations

import re
import socket
import time
from typing import TYPE_CHECKING, Any

from pipelinex_mlflow.masking import get_logger, mask_secrets, mask_url_passwords
from pipelinex_mlflow.tracking.retry_policy import POLICY
from pipelinex_mlflow.tracking.server_probe import server_address

if TYPE_CHECKING:
    from collections.abc import Callable

#: HTTP answers that may pass (as MLflow's own retries): a time-out, too many
#: requests, and a server's failure (5xx, but 501 "not implemented" stays so).
HTTP_REQUEST_TIMEOUT = 408
HTTP_TOO_MANY_REQUESTS = 429
HTTP_SERVER_ERROR = 500
HTTP_NOT_IMPLEMENTED = 501
#: HTTP answers that refuse a value of a batch: a smaller batch may pass.
HTTP_BAD_REQUEST = 400
HTTP_PAYLOAD_TOO_LARGE = 413
#: MLflow's error codes of failures that may pass: 5xx, 429, 504, a lost connection.
_TRANSIENT_ERROR_CODES = (
    "INTERNAL_ERROR",
    "TEMPORARILY_UNAVAILABLE",
    "REQUEST_LIMIT_EXCEEDED",
    "RESOURCE_EXHAUSTED",
    "DEADLINE_EXCEEDED",
    "ABORTED",
)
#: How MLflow words an answer without its JSON (a gateway's): the status is only
#: in the text.
_BARE_ANSWER = re.compile(r"failed with error code (\d{3}) != \d{3}")
#: A refusal of every value of the run, not of one (MLflow's words for a deleted run).
_RUN_NOT_ACTIVE = "must be in the 'active' state"
_LOCAL_FILE_ERRORS = (
    FileNotFoundError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
)
_ERROR_CHARS = 300

logger = get_logger(__name__)


def is_transient(exc: BaseException) -> bool:
    """Whether the store may take it later: it was away, overloaded or failed.

    By the answer's HTTP status where it can be found (408, 429 and 5xx but 501
    are); else a refused connection or a time-out (``OSError``, which
    ``requests``' errors are, but not a malformed URL or header), a locked
    database, and MLflow's codes of such failures. Any other 4xx answer (a
    rejected value, a deleted run) is not.
    """
    if isinstance(exc, _LOCAL_FILE_ERRORS):
        return False  # a missing or unreadable local file stays so
    status = http_status(exc)
    if status is not None:
        return status in (HTTP_REQUEST_TIMEOUT, HTTP_TOO_MANY_REQUESTS) or (
            status >= HTTP_SERVER_ERROR and status != HTTP_NOT_IMPLEMENTED
        )
    if isinstance(exc, OSError):
        # ``requests``' InvalidURL, InvalidHeader, MissingSchema are ValueErrors
        # too: the request is wrong, and stays so.
        return not isinstance(exc, ValueError)
    if is_database_busy(exc):
        return True
    code = getattr(exc, "error_code", "")
    return code in _TRANSIENT_ERROR_CODES


def http_status(exc: BaseException) -> int | None:
    """The HTTP status of the answer ``exc`` reports, where it can be found.

    A ``requests.HTTPError`` (an artifact upload) keeps its response; MLflow keeps
    an answer without its JSON (a gateway's) only in its text.
    """
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(status, int):
        return status
    match = _BARE_ANSWER.search(str(getattr(exc, "message", None) or exc))
    return int(match.group(1)) if match else None


def is_database_busy(exc: BaseException) -> bool:
    """A database's operational failure (locked, gone) outside MLflow's wrapping."""
    # By name: SQLAlchemy is imported only with MLflow's SQL stores.
    return any(
        kind.__name__ == "OperationalError" and kind.__module__.startswith("sqlalchemy")
        for kind in type(exc).__mro__
    )


def refuses_values(exc: BaseException) -> bool:
    """Whether the store refused some value of a batch (not the run, not the store).

    A value MLflow finds invalid (``INVALID_PARAMETER_VALUE``, a bare 400) or
    cannot store (a text the database cannot encode); not a transient failure,
    and not a refusal of the whole run (deleted, not found, not allowed), which
    every part of the batch would meet again.
    """
    if is_transient(exc):
        return False
    if http_status(exc) in (HTTP_BAD_REQUEST, HTTP_PAYLOAD_TOO_LARGE):
        return True  # a smaller batch may pass
    code = getattr(exc, "error_code", None)
    if code is not None:
        return code in ("INVALID_PARAMETER_VALUE", "BAD_REQUEST")
    return isinstance(exc, ValueError)


def refuses_the_run(exc: BaseException) -> bool:
    """Whether a refusal concerns the run (deleted), so every value would meet it."""
    return _RUN_NOT_ACTIVE in str(getattr(exc, "message", None) or exc)


def same_refusal(error: BaseException, other: BaseException) -> bool:
    """Whether two refusals say the same (code and text)."""
    return (getattr(error, "error_code", None), error_text(error)) == (
        getattr(other, "error_code", None),
        error_text(other),
    )


def error_text(exc: BaseException) -> str:
    """The error's message, masked, at most 300 characters.

    Examples:
        >>> error_text(ValueError("password=hunter2 refused"))
        'password=***** refused'
    """
    # Masked before it is cut: a cut could hide a secret's name, not its value.
    return mask_secrets(str(getattr(exc, "message", None) or exc))[:_ERROR_CHARS]


def retrying(call: Callable[[], Any]) -> None:
    """Make ``call``, trying a transient failure again, as the policy says.

    Raises:
        Exception: The last failure, or the first one that is not transient
            (a 4xx answer: a refused value or path, a deleted run will not change).
    """
    from mlflow.exceptions import MlflowException

    pauses = POLICY.sender_pauses_s()
    for attempt in range(POLICY.send_tries):
        try:
            call()
            return
        except (MlflowException, OSError) as exc:
            if attempt == len(pauses) or not is_transient(exc):
                raise
        time.sleep(pauses[attempt])


def server_accepts_connections(tracking_uri: str) -> bool:
    """For a server URI: whether it accepts a connection now (local stores: yes).

    Examples:
        >>> server_accepts_connections("sqlite:///mlflow.db")
        True
    """
    address = server_address(tracking_uri)
    if address is None:
        return True
    try:
        with socket.create_connection(address, POLICY.probe_timeout_s):
            return True
    except OSError:
        return False


class ServerWatch:
    """Whether a server has refused connections long enough to stop waiting for it.

    Checked once a second at most (a TCP connect); a server that restarts is
    back within :attr:`~pipelinex_mlflow.tracking.retry_policy.RetryPolicy.gone_after_s`.
    """

    def __init__(self, tracking_uri: str) -> None:
        self._uri = tracking_uri
        self._probed_at = time.monotonic()
        self._refused_since: float | None = None

    def gone(self) -> bool:
        """Probe if due; ``True`` once it refused connections for too long."""
        now = time.monotonic()
        if now - self._probed_at < POLICY.probe_every_s:
            return False
        self._probed_at = now
        if server_accepts_connections(self._uri):
            self._refused_since = None
            return False
        self._refused_since = self._refused_since or now
        if now - self._refused_since < POLICY.gone_after_s:
            return False
        logger.debug(
            "%s refused connections for %.0f s: not waiting any longer",
            mask_url_passwords(self._uri),
            now - self._refused_since,
        )
        return True
