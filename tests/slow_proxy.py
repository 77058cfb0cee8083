"""A slow loopback proxy in front of a real `mlflow server`: each request waits first.

It makes a remote server out of a local one: every request is held for ``delay``
seconds, then forwarded as it is. Requests are counted.
"""

from __future__ import annotations

import http.client
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import urlparse

if TYPE_CHECKING:
    from collections.abc import Iterator

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class SlowProxy:
    """Forwards to ``upstream`` after ``delay`` seconds per request."""

    def __init__(self, upstream: str, delay: float) -> None:
        target = urlparse(upstream)
        self.delay = delay
        self.requests: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return

            def _forward(self) -> None:
                proxy.requests.append(f"{self.command} {self.path.split('?')[0]}")
                time.sleep(proxy.delay)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
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
                try:
                    self.send_response(answer.status)
                    for key, value in answer.getheaders():
                        if key.lower() not in _HOP_BY_HOP:
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    # The client is gone (a test killed it): nothing to answer.
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> SlowProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def slow_proxy(upstream: str, delay: float) -> Iterator[SlowProxy]:
    """Yield a running proxy (for fixtures)."""
    with SlowProxy(upstream, delay) as proxy:
        yield proxy
