"""One HTTP request to a tracking server, bounded in time: did it answer, and if not why.

MLflow's own client retries for minutes, and a server that accepts connections but
never answers holds it until then (a plain TCP connect succeeds against it). The
probe sends one ``GET /health``, with no retries and no redirects followed, the way
MLflow's client would reach the server: through the environment's proxies, with
``MLFLOW_TRACKING_INSECURE_TLS``, ``MLFLOW_TRACKING_SERVER_CERT_PATH`` and
``MLFLOW_TRACKING_CLIENT_CERT_PATH`` applied. Any HTTP status is an answer.

Connecting and the first answer share one time budget (urllib3's ``total``
timeout), and the request runs in a daemon thread that is waited for only that
long (and a quarter of a second), so even a host name that takes long to resolve or
a server that answers a byte at a time costs no more.

Examples:
    >>> probe_server("http://127.0.0.1:9", timeout_s=2).kind  # nothing listens on 9
    'refused'
"""

from __future__ import annotations

import http.client
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Literal, cast

ProbeKind = Literal[
    "answered",
    "refused",
    "unresolved",
    "no_connection",
    "no_answer",
    "not_http",
    "tls",
    "proxy",
    "failed",
]

_HEALTH_PATH = "/health"
# Beyond the budget, how long the thread is given to report urllib3's own timeout,
# which then names the phase that ran out; after it, the thread is left behind.
_REPORT_GRACE_S = 0.25
_DETAIL_CHARS = 200
_TRUE = ("1", "true")  # as MLflow reads its boolean variables


@dataclass(frozen=True)
class ProbeResult:
    """What the probe found, a short detail, and how long it took.

    The kinds: ``answered`` (any HTTP status); ``refused`` (nothing listens);
    ``unresolved`` (the host name does not resolve); ``no_connection`` (none
    accepted within the budget); ``no_answer`` (connected, no answer within the
    budget); ``not_http`` (connected, then closed, or answered something that is
    not HTTP); ``tls`` (the TLS handshake failed); ``proxy`` (the proxy failed);
    ``failed`` (anything else, said in ``detail``).
    """

    kind: ProbeKind
    detail: str
    elapsed_s: float


def probe_server(url: str, timeout_s: float) -> ProbeResult:
    """Send one ``GET <url>/health`` and wait at most ``timeout_s`` for the answer.

    Args:
        url: An ``http`` or ``https`` tracking URI.
        timeout_s: The budget for connecting and the first answer together.

    Returns:
        The outcome; never raises for a network failure.
    """
    found: list[tuple[ProbeKind, str]] = []
    started = time.monotonic()
    thread = threading.Thread(
        target=lambda: found.append(_request(url, timeout_s)),
        name="pipelinex_mlflow-server-probe",
        daemon=True,
    )
    thread.start()
    thread.join(timeout_s + _REPORT_GRACE_S)
    kind, detail = found[0] if found else ("no_answer", "still waiting")
    return ProbeResult(kind, detail, time.monotonic() - started)


def _request(url: str, timeout_s: float) -> tuple[ProbeKind, str]:
    import requests
    from urllib3.util import Timeout

    verify, cert = _tls_options()
    # requests takes urllib3's Timeout as it is (HTTPAdapter.send); its stubs do not
    # say so. ``total`` leaves the first answer what connecting did not use.
    budget = cast("float", Timeout(total=timeout_s))
    session = requests.Session()
    session.headers["User-Agent"] = "pipelinex_mlflow"
    try:
        with session.get(
            f"{url.rstrip('/')}{_HEALTH_PATH}",
            timeout=budget,
            allow_redirects=False,
            stream=True,  # the status line is the answer; the body is not read
            verify=verify,
            cert=cert,
        ) as response:
            return "answered", f"HTTP {response.status_code}"
    except requests.exceptions.ConnectTimeout as exc:
        return "no_connection", _short(exc)
    except requests.exceptions.ReadTimeout as exc:
        return "no_answer", _short(exc)
    except requests.exceptions.SSLError as exc:
        return "tls", _short(exc)
    except requests.exceptions.ProxyError as exc:
        return "proxy", _short(exc)
    except Exception as exc:  # urllib3 lets some errors through unwrapped
        return _failure(exc)
    finally:
        session.close()


def _failure(exc: BaseException) -> tuple[ProbeKind, str]:
    """Name a connection failure by the first cause that says what happened."""
    for cause in _causes(exc):
        if isinstance(cause, socket.gaierror):
            return "unresolved", "the host name does not resolve"
        if isinstance(cause, ConnectionRefusedError):
            return "refused", "connection refused"
        if isinstance(cause, (ConnectionResetError, ConnectionAbortedError)):
            return "not_http", _short(cause)
        if isinstance(cause, http.client.HTTPException):
            return "not_http", _short(cause)
    return "failed", _short(exc)


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps: its causes and the exceptions among its arguments.

    requests wraps urllib3's error in its arguments, urllib3 keeps the socket's
    error as ``reason`` or ``__cause__``.
    """
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if any(current is known for known in seen):
            continue
        seen.append(current)
        linked = (
            *current.args,
            getattr(current, "reason", None),
            current.__cause__,
            current.__context__,
        )
        todo.extend(link for link in linked if isinstance(link, BaseException))
    return seen


def _short(exc: BaseException) -> str:
    lines = str(exc).splitlines()
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= _DETAIL_CHARS else f"{text[: _DETAIL_CHARS - 3]}..."


def _tls_options() -> tuple[bool | str, str | None]:
    """``verify`` and ``cert`` as MLflow's client sets them from its variables.

    Examples:
        >>> _tls_options()  # none of the variables set
        (True, None)
    """
    verify: bool | str = True
    if os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() in _TRUE:
        verify = False
    elif server_cert := os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH"):
        verify = server_cert
    return verify, os.environ.get("MLFLOW_TRACKING_CLIENT_CERT_PATH") or None
