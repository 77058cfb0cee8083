"""Every deadline and retry count the package keeps when it talks to a store.

:data:`POLICY` is the one place these numbers are stated; the modules that wait
or retry read them from it (the sender, the per-process senders, the start-up
check, the SQLite store's creation). :func:`apply_mlflow_http_settings` hands
MLflow's own HTTP client its part, explicitly, so that a new MLflow release
changing its defaults does not change ours.

The effective policy, per store kind (the defaults; the README's Reliability
section has the same table, checked by a test):

- **HTTP server.** Start: one ``GET /health`` within ``server_timeout`` (10 s).
  A request in the background: MLflow's client tries it ``1 + 7`` times, each
  bounded by 120 s, with pauses doubling from 4 s up to 120 s (plus up to 1 s of
  jitter): about 4 minutes against a server that refuses connections, about
  20 against one that accepts and never answers. The sender tries such a
  request 3 times in a row (pauses 0.5 s, 1 s), then keeps its values and
  tries again after pauses doubling up to 30 s, as long as the run lives:
  nodes never wait for it. A direct call (a trace, the datasets) is made only
  after the server answered a probe within 3 s, and given up after 20 s.
- **PostgreSQL, MySQL, SQL Server.** Start: one TCP connect and one real
  connection within ``server_timeout`` (10 s), instead of MLflow's ten
  attempts (about 100 s).
- **SQLite.** Start: file checks only; a process waits at most 120 s for
  another one creating the store. A locked database is retried like an away
  server.
- **Every store.** The end of a run waits ``flush_timeout`` (60 s) in total,
  and 5 s once a server refuses connections, then spools what is left.

Examples:
    >>> POLICY.send_tries, POLICY.server_timeout_s, POLICY.flush_timeout_s
    (3, 10.0, 60.0)
    >>> POLICY.http_request_worst_case_s(answers=False)
    249.0
"""

from __future__ import annotations

import os
from dataclasses import dataclass

#: urllib3's cap on one pause between two HTTP retries (``Retry.DEFAULT_BACKOFF_MAX``);
#: MLflow has no variable for it.
URLLIB3_BACKOFF_MAX_S = 120.0


@dataclass(frozen=True)
class RetryPolicy:
    """The deadlines and retry counts used when talking to a tracking store.

    Attributes:
        http_max_retries: MLflow's HTTP client: retries of one request
            (``MLFLOW_HTTP_REQUEST_MAX_RETRIES``).
        http_backoff_factor: Its first pause, doubled at each retry
            (``MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR``).
        http_backoff_jitter: Up to this many seconds added to each pause
            (``MLFLOW_HTTP_REQUEST_BACKOFF_JITTER``).
        http_request_timeout_s: The bound on one attempt
            (``MLFLOW_HTTP_REQUEST_TIMEOUT``).
        http_respect_retry_after: Whether a ``Retry-After`` answer sets the pause
            (``MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER``).
        send_tries: The sender's tries of one request or upload in a row.
        retry_pause_s: The pause after the first of them (then twice as long).
        max_retry_pause_s: The longest pause before values the store did not
            take are tried again.
        probe_timeout_s: A TCP connect checking that a server is still there.
        probe_every_s: How often a waiting close checks it.
        gone_after_s: How long a server must refuse connections before a
            waiting close gives up on it (a restarting server is back sooner).
        direct_call_probe_s: The probe of the server before a direct call.
        direct_call_timeout_s: The longest a direct call (a trace, the
            datasets) may take.
        server_timeout_s: The start-up check of any store (``server_timeout``).
        creation_lock_timeout_s: How long a process waits for another one
            creating a SQLite store (creating one takes 1.5-3 s).
        flush_timeout_s: How long the end of a run waits, in total, before it
            spools (``flush_timeout``).
        probe_report_grace_s: Beyond a start-up check's bound, how long its
            thread is given to say which phase ran out.
        heartbeat_every_s: How often a run's owner refreshes its heartbeat tag
            (:mod:`~pipelinex_mlflow.tracking.liveness`, checked by a test).
        stale_after_s: Silence after which a run of another machine is taken
            for dead (:mod:`~pipelinex_mlflow.tracking.liveness`).
        spool_lock_timeout_s: How long a process waits for another one writing
            the same spool file (:mod:`~pipelinex_mlflow.tracking.spool`).
        replay_timeout_s: How long a replay may take in total
            (:mod:`~pipelinex_mlflow.tracking.replay`).
    """

    http_max_retries: int = 7
    http_backoff_factor: float = 2.0
    http_backoff_jitter: float = 1.0
    http_request_timeout_s: float = 120.0
    http_respect_retry_after: bool = True
    send_tries: int = 3
    retry_pause_s: float = 0.5
    max_retry_pause_s: float = 30.0
    probe_timeout_s: float = 1.0
    probe_every_s: float = 1.0
    gone_after_s: float = 5.0
    direct_call_probe_s: float = 3.0
    direct_call_timeout_s: float = 20.0
    server_timeout_s: float = 10.0
    creation_lock_timeout_s: float = 120.0
    flush_timeout_s: float = 60.0
    probe_report_grace_s: float = 0.25
    heartbeat_every_s: float = 30.0
    stale_after_s: float = 600.0
    spool_lock_timeout_s: float = 120.0
    replay_timeout_s: float = 600.0

    def http_pauses_s(self) -> list[float]:
        """The longest pauses between the tries of one MLflow HTTP request.

        As urllib3 pauses: none before the first retry, then the factor doubled
        at each retry plus the jitter, at most :data:`URLLIB3_BACKOFF_MAX_S`.

        Examples:
            >>> RetryPolicy(http_max_retries=3).http_pauses_s()
            [0.0, 5.0, 9.0]
        """
        return [
            0.0
            if retry == 1
            else min(
                URLLIB3_BACKOFF_MAX_S,
                self.http_backoff_factor * 2 ** (retry - 1) + self.http_backoff_jitter,
            )
            for retry in range(1, self.http_max_retries + 1)
        ]

    def http_request_worst_case_s(self, *, answers: bool) -> float:
        """The longest one MLflow HTTP request can take before it fails.

        Args:
            answers: ``False`` for a server that refuses connections (each try
                fails at once), ``True`` for one that accepts and never answers
                (each try waits ``http_request_timeout_s``).
        """
        tries = self.http_max_retries + 1
        waits = tries * self.http_request_timeout_s if answers else 0.0
        return waits + sum(self.http_pauses_s())

    def sender_pauses_s(self) -> list[float]:
        """The sender's pauses between its tries of one request, in a row.

        Examples:
            >>> POLICY.sender_pauses_s()
            [0.5, 1.0]
        """
        return [self.retry_pause_s * attempt for attempt in range(1, self.send_tries)]

    def away_pause_s(self, failures: int) -> float:
        """The pause before values are tried again after ``failures`` in a row.

        Examples:
            >>> [POLICY.away_pause_s(n) for n in (1, 2, 5, 6, 9)]
            [1.0, 2.0, 16.0, 30.0, 30.0]
        """
        return min(self.max_retry_pause_s, self.retry_pause_s * 2.0**failures)

    def mlflow_http_settings(self) -> dict[str, str]:
        """MLflow's HTTP variables and the values this policy gives them.

        Examples:
            >>> POLICY.mlflow_http_settings()["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]
            '7'
        """
        return {
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(self.http_max_retries),
            "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": f"{self.http_backoff_factor:g}",
            "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": f"{self.http_backoff_jitter:g}",
            "MLFLOW_HTTP_REQUEST_TIMEOUT": f"{self.http_request_timeout_s:g}",
            "MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER": str(
                self.http_respect_retry_after
            ).lower(),
        }

    def table(self) -> str:
        """The effective policy per store kind, as the README's Markdown table."""
        refused = self.http_request_worst_case_s(answers=False) / 60
        silent = self.http_request_worst_case_s(answers=True) / 60
        sender = (
            f"the sender: {self.send_tries} tries in a row, then pauses up to "
            f"{self.max_retry_pause_s:g} s, while the run lives"
        )
        end = f"{self.flush_timeout_s:g} s in total, then the spool"
        rows = [
            ("Store", "At start", "A request in the background", "End of a run"),
            ("---", "---", "---", "---"),
            (
                "HTTP server",
                f"one `GET /health`, {self.server_timeout_s:g} s",
                f"MLflow: {self.http_max_retries + 1} tries of at most "
                f"{self.http_request_timeout_s:g} s, pauses up to "
                f"{URLLIB3_BACKOFF_MAX_S:g} s (~{refused:.0f} min refused, "
                f"~{silent:.0f} min silent); {sender}",
                f"{end} ({self.gone_after_s:g} s once connections are refused)",
            ),
            (
                "PostgreSQL, MySQL, SQL Server",
                f"a TCP connect and one connection, {self.server_timeout_s:g} s",
                sender,
                end,
            ),
            (
                "SQLite",
                f"file checks; {self.creation_lock_timeout_s:g} s for another "
                "process creating the store",
                f"{sender} (a locked database)",
                end,
            ),
        ]
        return "\n".join(f"| {' | '.join(row)} |" for row in rows)


#: The policy the package uses.
POLICY = RetryPolicy()


def apply_mlflow_http_settings(policy: RetryPolicy = POLICY) -> dict[str, str]:
    """Give MLflow's HTTP client the policy's retries and timeouts, for this process.

    MLflow reads them from the environment on each request; a variable the user
    set already is left as it is. Worker processes inherit them.

    Returns:
        The variables set here (none of those the user set).

    Examples:
        >>> import os
        >>> from unittest import mock
        >>> user_set = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
        >>> with mock.patch.dict(os.environ, user_set, clear=True):
        ...     applied = apply_mlflow_http_settings()
        ...     os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"]
        '5'
        >>> sorted(applied)  # doctest: +NORMALIZE_WHITESPACE
        ['MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR', 'MLFLOW_HTTP_REQUEST_BACKOFF_JITTER',
         'MLFLOW_HTTP_REQUEST_MAX_RETRIES', 'MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER']
    """
    applied = {}
    for name, value in policy.mlflow_http_settings().items():
        if name not in os.environ:
            os.environ[name] = applied[name] = value
    return applied
