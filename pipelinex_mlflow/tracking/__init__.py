"""Every MLflow call that pipelinex_mlflow makes, always with an explicit run id.

Nothing outside this package imports MLflow, and nothing inside imports Kedro (an
import-linter contract checks both). MLflow itself is imported lazily, inside the
functions that need it, because ``import mlflow`` costs more than a second and
``pipelinex_mlflow`` is imported by every ``kedro`` command through ``settings.py``.

The modules, one job each:

- :mod:`~pipelinex_mlflow.tracking.keys`: MLflow's limits, and names made keys;
- :mod:`~pipelinex_mlflow.tracking.values`: the ``a`` rules (metric, param or
  neither), dict flattening, a value's text;
- :mod:`~pipelinex_mlflow.tracking.run_ref`: the run datasets and hooks log to;
- :mod:`~pipelinex_mlflow.tracking.stores`: tracking URIs and clients;
- :mod:`~pipelinex_mlflow.tracking.store_creation`: a new SQLite store created by
  one process at a time;
- :mod:`~pipelinex_mlflow.tracking.server_probe`: a server's first answer, bounded;
- :mod:`~pipelinex_mlflow.tracking.runs`: starting, resuming and ending runs;
- :mod:`~pipelinex_mlflow.tracking.reads`: reading a run back;
- :mod:`~pipelinex_mlflow.tracking.run_logger`: ``RunLogger``, the buffered writer;
- :mod:`~pipelinex_mlflow.tracking.sender`: the background sender behind it;
- :mod:`~pipelinex_mlflow.tracking.senders`: one sender per process and run.

Examples:
    >>> flatten_dict({"model": {"depth": 3, "name": "rf"}})
    {'model.depth': 3, 'model.name': 'rf'}
    >>> sanitize_key("params:model|depth")
    'params:model_depth'
"""

from pipelinex_mlflow.tracking.errors import TrackingError
from pipelinex_mlflow.tracking.keys import (
    MAX_KEY_LENGTH,
    MAX_TAG_LENGTH,
    MLFLOW_MAX_PARAM_LENGTH,
    sanitize_key,
)
from pipelinex_mlflow.tracking.reads import (
    RunData,
    artifact_exists,
    download_artifact,
    get_metric_history,
    get_run_data,
)
from pipelinex_mlflow.tracking.run_logger import (
    LONG_PARAM_POLICIES,
    LONG_PARAM_TAG_PREFIX,
    LongParamPolicy,
    RunLogger,
    validate_long_param_policy,
)
from pipelinex_mlflow.tracking.run_ref import (
    RUN_ID_ENV_VAR,
    TRACKING_URI_ENV_VAR,
    RunRef,
    current_run,
    set_current_run,
)
from pipelinex_mlflow.tracking.runs import (
    RunStatus,
    end_run,
    ensure_experiment,
    find_active_fluent_run_id,
    open_run,
    resume_run,
    start_run,
    tag_unlogged,
)
from pipelinex_mlflow.tracking.sender import CHANGED_PARAM_TAG_PREFIX, SendReport
from pipelinex_mlflow.tracking.senders import close_all, drain_run, wait_for_uploads_of
from pipelinex_mlflow.tracking.stores import (
    DEFAULT_ARTIFACTS_DIR,
    DEFAULT_DB_NAME,
    SERVER_TIMEOUT_S,
    check_reachable,
    default_tracking_uri,
    get_client,
    normalize_tracking_uri,
    run_view_hint,
    warm_up,
)
from pipelinex_mlflow.tracking.values import (
    AUTO,
    STRICT,
    LoggableValues,
    UnloggableValueError,
    ValueKind,
    ValueRules,
    classify,
    flatten_dict,
    is_bool,
    is_number,
    iter_leaves,
    param_text,
    short_repr,
    split_by_kind,
)

__all__ = [
    "AUTO",
    "CHANGED_PARAM_TAG_PREFIX",
    "DEFAULT_ARTIFACTS_DIR",
    "DEFAULT_DB_NAME",
    "LONG_PARAM_POLICIES",
    "LONG_PARAM_TAG_PREFIX",
    "MAX_KEY_LENGTH",
    "MAX_TAG_LENGTH",
    "MLFLOW_MAX_PARAM_LENGTH",
    "RUN_ID_ENV_VAR",
    "SERVER_TIMEOUT_S",
    "STRICT",
    "TRACKING_URI_ENV_VAR",
    "LoggableValues",
    "LongParamPolicy",
    "RunData",
    "RunLogger",
    "RunRef",
    "RunStatus",
    "SendReport",
    "TrackingError",
    "UnloggableValueError",
    "ValueKind",
    "ValueRules",
    "artifact_exists",
    "check_reachable",
    "classify",
    "close_all",
    "current_run",
    "default_tracking_uri",
    "download_artifact",
    "drain_run",
    "end_run",
    "ensure_experiment",
    "find_active_fluent_run_id",
    "flatten_dict",
    "get_client",
    "get_metric_history",
    "get_run_data",
    "is_bool",
    "is_number",
    "iter_leaves",
    "normalize_tracking_uri",
    "open_run",
    "param_text",
    "resume_run",
    "run_view_hint",
    "sanitize_key",
    "set_current_run",
    "short_repr",
    "split_by_kind",
    "start_run",
    "tag_unlogged",
    "validate_long_param_policy",
    "wait_for_uploads_of",
    "warm_up",
]
