"""The local spool: what could not be sent to a run, kept on disk until it can be.

When the tracking store does not take a run's last values, files or final status
in time (the server is down, say), the sender writes them here instead of losing
them: one ZIP file per run, ``<spool folder>/<run id>.zip``, which every process
of the run (ParallelRunner workers too) adds to under a file lock.
:func:`~pipelinex_mlflow.tracking.replay.replay` sends a spool into its run later
(``kedro mlflow replay``).

Inside the file: ``run.json`` (the tracking URI and run id), one
``batches/<n>.json`` per write (params, tags, metrics with their original
timestamps, the files and texts of the batch, and the run's end if the batch
holds it), and the files under ``files/<batch>/<n>`` (named by number: a file's
own name, which need not be valid UTF-8, is kept in its record, made valid). Keeping the original metric
timestamps is what makes a replay idempotent: MLflow ignores a metric it already
holds with the same key, value, step and timestamp.

One module per job: ``content`` (what a spool holds), ``folder`` (where spool
files live and how they are named), ``schema`` (the records' schema, applied by
the reader and the writer, and a metric point's row in them), ``refusals`` (what the schema would refuse, left
out), ``writing`` and ``reading``; import their names from here.

Examples:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from pipelinex_mlflow.tracking.metric_point import MetricPoint
    >>> from pipelinex_mlflow.tracking.run_ref import RunRef
    >>> folder = Path(tempfile.mkdtemp())
    >>> run = RunRef("http://127.0.0.1:5000", "0123abcd")
    >>> path = write_spool(
    ...     run, Spooled(metrics=[MetricPoint("loss", 0.5, 0, 1700000000000)]), folder
    ... )
    >>> path.name
    '0123abcd.zip'
    >>> read_spool(path).batches[0].metrics
    [MetricPoint(key='loss', value=0.5, step=0, timestamp=1700000000000, model_id=None)]
"""

from __future__ import annotations

from pipelinex_mlflow.tracking.spool.content import (
    Refused,
    RunEnd,
    SpoolContent,
    Spooled,
)
from pipelinex_mlflow.tracking.spool.folder import (
    DEFAULT_SPOOL_DIR_NAME,
    REJECTED_SUFFIX,
    REPLAYED_SUFFIX,
    SPOOL_DIR_ENV_VAR,
    SPOOL_SUFFIX,
    mark_rejected,
    mark_replayed,
    pending_spools,
    set_spool_dir,
    spool_dir,
    spool_path,
)
from pipelinex_mlflow.tracking.spool.reading import BadSpoolError, read_spool
from pipelinex_mlflow.tracking.spool.writing import (
    COPY_CHUNK_BYTES,
    SPOOL_LOCK_TIMEOUT_S,
    write_spool,
)

__all__ = [
    "COPY_CHUNK_BYTES",
    "DEFAULT_SPOOL_DIR_NAME",
    "REJECTED_SUFFIX",
    "REPLAYED_SUFFIX",
    "SPOOL_DIR_ENV_VAR",
    "SPOOL_LOCK_TIMEOUT_S",
    "SPOOL_SUFFIX",
    "BadSpoolError",
    "Refused",
    "RunEnd",
    "SpoolContent",
    "Spooled",
    "mark_rejected",
    "mark_replayed",
    "pending_spools",
    "read_spool",
    "set_spool_dir",
    "spool_dir",
    "spool_path",
    "write_spool",
]
