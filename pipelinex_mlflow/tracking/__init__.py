"""The transport: every MLflow call of the run core, always with an explicit run id.

Outside this package, only the features' ``mlflow_side`` modules (and
``compat.mlflow_private``) import MLflow, and nothing here imports Kedro
(import-linter contracts check both). MLflow itself is imported lazily, inside the
functions that need it, because ``import mlflow`` costs more than a second and
``pipelinex_mlflow`` is imported by every ``kedro`` command through ``settings.py``.

The modules, one job each:

- :mod:`~pipelinex_mlflow.tracking.keys`: MLflow's limits, and names made keys;
- :mod:`~pipelinex_mlflow.tracking.values`: the ``a`` rules (metric, param or
  neither);
- :mod:`~pipelinex_mlflow.tracking.flattening`: nested dicts made one level of
  keys, two values never merged;
- :mod:`~pipelinex_mlflow.tracking.value_text`: a value's text;
- :mod:`~pipelinex_mlflow.tracking.run_ref`: the run datasets and hooks log to;
- :mod:`~pipelinex_mlflow.tracking.stores`: tracking URIs and clients;
- :mod:`~pipelinex_mlflow.tracking.store_creation`: a new SQLite store made whole
  aside and published at once, one process at a time; half-made ones set aside;
- :mod:`~pipelinex_mlflow.tracking.server_probe`: a server's or a database's first
  answer, bounded;
- :mod:`~pipelinex_mlflow.tracking.runs`: starting, resuming and ending runs;
- :mod:`~pipelinex_mlflow.tracking.reads`: reading a run back;
- :mod:`~pipelinex_mlflow.tracking.run_logger`: ``RunLogger``, the buffered writer;
- :mod:`~pipelinex_mlflow.tracking.param_checks`,
  :mod:`~pipelinex_mlflow.tracking.metric_checks`: a param's text and a metric's
  value checked before ``RunLogger`` queues them;
- :mod:`~pipelinex_mlflow.tracking.sender`: the background sender behind it;
- :mod:`~pipelinex_mlflow.tracking.senders`: one sender per process and run.

Examples:
    >>> flatten_dict({"model": {"depth": 3, "name": "rf"}})
    {'model.depth': 3, 'model.name': 'rf'}
    >>> sanitize_key("params:model|depth")
    'params:model_depth'
"""

from pipelinex_mlflow.tracking.errors import LongParamError, TrackingError
from pipelinex_mlflow.tracking.flattening import (
    flat_leaves,
    flatten_dict,
    iter_leaves,
)
from pipelinex_mlflow.tracking.json_tags import read_json_tags
from pipelinex_mlflow.tracking.keys import (
    MAX_TAG_LENGTH,
    MLFLOW_MAX_PARAM_LENGTH,
    distinct_keys,
    sanitize_key,
    sanitize_keys,
)
from pipelinex_mlflow.tracking.liveness import (
    HEARTBEAT_EVERY_S,
    PROCESS_TAG,
    end_dead_runs,
    process_tag,
)
from pipelinex_mlflow.tracking.param_checks import (
    LONG_PARAM_POLICIES,
    LONG_PARAM_TAG_PREFIX,
    LongParamPolicy,
    validate_long_param_policy,
)
from pipelinex_mlflow.tracking.reads import (
    RunData,
    artifact_exists,
    download_artifact,
    get_experiment_id,
    get_metric_history,
    get_run_data,
    get_start_time,
    has_whole_name_artifacts,
    list_artifact_files,
)
from pipelinex_mlflow.tracking.replay import replay, replay_all
from pipelinex_mlflow.tracking.run_logger import RunLogger
from pipelinex_mlflow.tracking.run_ref import (
    DISABLE_ENV_VAR,
    RUN_ID_ENV_VAR,
    TRACKING_URI_ENV_VAR,
    RunRef,
    callers_active_run,
    current_run,
    disabled_by_environment,
    run_set_in_this_process,
    set_current_run,
    set_tracking_off,
    tracking_is_off,
)
from pipelinex_mlflow.tracking.runs import (
    RUN_KEY_ENV_VAR,
    SHARED_RUN_KEY_TAG,
    RunStatus,
    check_run_key,
    disable_autologging,
    end_callers_active_run,
    end_run,
    ensure_experiment,
    find_shared_run,
    open_run,
    open_shared_run,
    start_run,
)
from pipelinex_mlflow.tracking.sender import (
    CHANGED_PARAM_TAG_PREFIX,
    HEARTBEAT_TAG,
    UNLOGGED_TAG,
    SendReport,
)
from pipelinex_mlflow.tracking.senders import (
    DEFAULT_FLUSH_TIMEOUT_S,
    FLUSH_TIMEOUT_ENV_VAR,
    close_all,
    close_run,
    drain_run,
    flush_timeout,
    sender_for,
    set_flush_timeout,
    settle_before_fork,
    wait_for_uploads_of,
)
from pipelinex_mlflow.tracking.spool import (
    SPOOL_DIR_ENV_VAR,
    RunEnd,
    pending_spools,
    set_spool_dir,
    spool_dir,
)
from pipelinex_mlflow.tracking.stores import (
    SERVER_TIMEOUT_S,
    check_reachable,
    default_tracking_uri,
    get_client,
    normalize_tracking_uri,
    run_view_hint,
    run_view_lines,
)
from pipelinex_mlflow.tracking.value_text import param_text, short_repr
from pipelinex_mlflow.tracking.values import (
    AUTO,
    STRICT,
    LoggableValues,
    UnloggableValueError,
    classify,
    fits_a_float,
    is_number,
    split_by_kind,
)

__all__ = [
    "AUTO",
    "CHANGED_PARAM_TAG_PREFIX",
    "DEFAULT_FLUSH_TIMEOUT_S",
    "DISABLE_ENV_VAR",
    "FLUSH_TIMEOUT_ENV_VAR",
    "HEARTBEAT_EVERY_S",
    "HEARTBEAT_TAG",
    "LONG_PARAM_POLICIES",
    "LONG_PARAM_TAG_PREFIX",
    "MAX_TAG_LENGTH",
    "MLFLOW_MAX_PARAM_LENGTH",
    "PROCESS_TAG",
    "RUN_ID_ENV_VAR",
    "RUN_KEY_ENV_VAR",
    "SERVER_TIMEOUT_S",
    "SHARED_RUN_KEY_TAG",
    "SPOOL_DIR_ENV_VAR",
    "STRICT",
    "TRACKING_URI_ENV_VAR",
    "UNLOGGED_TAG",
    "LoggableValues",
    "LongParamError",
    "LongParamPolicy",
    "RunData",
    "RunEnd",
    "RunLogger",
    "RunRef",
    "RunStatus",
    "SendReport",
    "TrackingError",
    "UnloggableValueError",
    "artifact_exists",
    "callers_active_run",
    "check_reachable",
    "check_run_key",
    "classify",
    "close_all",
    "close_run",
    "current_run",
    "default_tracking_uri",
    "disable_autologging",
    "disabled_by_environment",
    "distinct_keys",
    "download_artifact",
    "drain_run",
    "end_callers_active_run",
    "end_dead_runs",
    "end_run",
    "ensure_experiment",
    "find_shared_run",
    "fits_a_float",
    "flat_leaves",
    "flatten_dict",
    "flush_timeout",
    "get_client",
    "get_experiment_id",
    "get_metric_history",
    "get_run_data",
    "get_start_time",
    "has_whole_name_artifacts",
    "is_number",
    "iter_leaves",
    "list_artifact_files",
    "normalize_tracking_uri",
    "open_run",
    "open_shared_run",
    "param_text",
    "pending_spools",
    "process_tag",
    "read_json_tags",
    "replay",
    "replay_all",
    "run_set_in_this_process",
    "run_view_hint",
    "run_view_lines",
    "sanitize_key",
    "sanitize_keys",
    "sender_for",
    "set_current_run",
    "set_flush_timeout",
    "set_spool_dir",
    "set_tracking_off",
    "settle_before_fork",
    "short_repr",
    "split_by_kind",
    "spool_dir",
    "start_run",
    "tracking_is_off",
    "validate_long_param_policy",
    "wait_for_uploads_of",
]
