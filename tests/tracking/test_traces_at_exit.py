"""A trace logged while the process exits lands: no future, no thread needed.

A run ended at exit (Ctrl-C, SIGTERM) logs its trace from an exit handler, after
``concurrent.futures`` has refused new futures and, on Python 3.12.0 and 3.12.1,
after threads can no longer start.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from typing import TYPE_CHECKING, Any

from pipelinex_mlflow.tracking.senders import call_directly

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from pipelinex_mlflow.tracking import RunRef

_LOG_AT_EXIT = """
import atexit
# Its exit hook (threading._register_atexit) runs before atexit's handlers and
# refuses every new future from then on.
import concurrent.futures.thread

from pipelinex_mlflow.features.trace.mlflow_side import SpanRecord, log_trace
from pipelinex_mlflow.tracking import RunRef

run = RunRef({uri!r}, {run_id!r})
spans = [
    SpanRecord("kedro run", 1.0, 3.0, span_type="WORKFLOW", error="interrupted"),
    SpanRecord("first", 1.0, 2.0, parent=0, span_type="TASK"),
]
atexit.register(lambda: print("logged", log_trace(run, spans)))
"""


def test_a_trace_logged_in_an_exit_handler_lands(
    run: RunRef, client: MlflowClient
) -> None:
    script = textwrap.dedent(
        _LOG_AT_EXIT.format(uri=run.tracking_uri, run_id=run.run_id)
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "logged tr-" in done.stdout, done.stderr
    experiment_id = client.get_run(run.run_id).info.experiment_id
    (found,) = client.search_traces(locations=[experiment_id], run_id=run.run_id)
    trace = client.get_trace(found.info.trace_id)
    assert trace.info.state == "ERROR"
    assert [span.name for span in trace.data.spans] == ["kedro run", "first"]


class _NoThreadStarts(threading.Thread):
    """A thread as Python 3.12.0 and 3.12.1 make them in exit handlers."""

    def start(self) -> None:
        raise RuntimeError("can't create new thread at interpreter shutdown")


def test_a_direct_call_where_no_thread_can_start_is_made_in_the_callers_thread(
    run: RunRef, monkeypatch: Any
) -> None:
    monkeypatch.setattr(threading, "Thread", _NoThreadStarts)
    callers = []

    def call() -> int:
        callers.append(threading.current_thread())
        return 42

    assert call_directly(run, "The answer", call) == 42
    assert callers == [threading.current_thread()]
