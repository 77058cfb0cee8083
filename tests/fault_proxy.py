"""A loopback proxy in front of a real `mlflow server` that answers chosen faults.

Each request is checked against the faults given (a method, a part of the path,
how many times): the first that matches answers its status itself; any other
request is forwarded as it is. Every answer is recorded, so a test can tell how
often a request was tried.
"""

from __future__ import annotations

import http.client
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import urlparse

if TYPE_CHECKING:
    from collections.abc import Iterator

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


@dataclass
class Fault:
    """Answer ``status`` to requests of ``method`` whose path holds ``path_part``.

    Attributes:
        status: The HTTP status to answer.
        method: The request method, or ``None`` for any.
        path_part: A part of the path the request must hold.
        times: How many requests it answers; ``None``: every one.
        body: The answer's body (MLflow's JSON error, or plain text).
        body_part: A part the request's body must hold.
        body_lacks: A part the request's body must not hold.
    """

    status: int
    method: str | None = None
    path_part: str = ""
    times: int | None = None
    body: str = ""
    body_part: str = ""
    body_lacks: str = ""

    def matches(self, method: str, path: str, request_body: str = "") -> bool:
        return (
            (self.times is None or self.times > 0)
            and self.method in (None, method)
            and self.path_part in path
            and self.body_part in request_body
            and not (self.body_lacks and self.body_lacks in request_body)
        )


class FaultProxy:
    """Forwards to ``upstream``, answering the faults added with :meth:`fail`."""

    def __init__(self, upstream: str) -> None:
        target = urlparse(upstream)
        self.faults: list[Fault] = []
        #: ``(status, "METHOD /path")`` of every answer, forwarded ones too.
        self.answers: list[tuple[int, str]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return

            def _answer(
                self, status: int, headers: list[tuple[str, str]], data: bytes
            ) -> None:
                try:
                    self.send_response(status)
                    for key, value in headers:
                        if key.lower() not in _HOP_BY_HOP:
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    self.close_connection = True

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                path = self.path.split("?")[0]
                text = body.decode(errors="replace") if body else ""
                fault = proxy._fault_for(self.command, path, text)
                if fault is not None:
                    kind = (
                        "application/json"
                        if fault.body.startswith("{")
                        else "text/plain"
                    )
                    proxy._record(fault.status, f"{self.command} {path}")
                    self._answer(
                        fault.status, [("Content-Type", kind)], fault.body.encode()
                    )
                    return
                upstream_conn = http.client.HTTPConnection(
                    target.hostname, target.port, timeout=60
                )
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                try:
                    upstream_conn.request(self.command, self.path, body, headers)
                    answer = upstream_conn.getresponse()
                    data = answer.read()
                finally:
                    upstream_conn.close()
                proxy._record(answer.status, f"{self.command} {path}")
                self._answer(answer.status, answer.getheaders(), data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def fail(self, fault: Fault) -> Fault:
        """Answer ``fault`` from now on (faults added first match first)."""
        with self._lock:
            self.faults.append(fault)
        return fault

    def heal(self) -> None:
        """Forward every request from now on."""
        with self._lock:
            self.faults.clear()

    def answered(self, status: int | None, path_part: str = "") -> list[str]:
        """The requests answered ``status`` (any: ``None``) whose path holds ``path_part``."""
        with self._lock:
            return [
                r for s, r in self.answers if status in (None, s) and path_part in r
            ]

    def _fault_for(self, method: str, path: str, body: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path, body):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    def _record(self, status: int, request: str) -> None:
        with self._lock:
            self.answers.append((status, request))

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def mlflow_error(code: str, message: str) -> str:
    """The body MLflow's server answers an error with."""
    return json.dumps({"error_code": code, "message": message})


def fault_proxy(upstream: str) -> Iterator[FaultProxy]:
    """Yield a running proxy (for fixtures)."""
    with FaultProxy(upstream) as proxy:
        yield proxy
