"""MLflow models: logging one into a run, registering it, finding and loading it back.

This module is the one the dataset and ``pipeline_ml_factory`` import; each job
lives in its own module:

- ``model_refs``: what a model is called and where it is;
- ``model_saving``: an object saved into a folder by its flavor;
- ``model_logging``: that folder logged into a run as an MLflow 3 logged model;
- ``logged_models``: the models a run logged, found by name;
- ``model_metric_links``: a run's metrics linked to its models;
- ``model_registry``: a logged model registered as a version, and aliased;
- ``model_uris``: a model URI resolved to the folder that holds the model;
- ``model_loading``: that folder downloaded and loaded with its flavor.

Every call names its store: MLflow's own ``<flavor>.log_model`` and
``load_model("models:/...")`` read the process-wide tracking and registry URIs,
so these modules take the parts they are made of instead.

Examples:
    >>> logged_model_name("namespace.regressor")
    'namespace_regressor'
    >>> parse_model_uri("models:/spaceflights/3")
    ('version', 'spaceflights', '3')
"""

from __future__ import annotations

from pipelinex_mlflow.tracking.logged_models import (
    find_logged_model,
    logged_model_names,
)
from pipelinex_mlflow.tracking.model_loading import download_model, load_model
from pipelinex_mlflow.tracking.model_logging import LOGGED_MODEL_ARGS, log_model
from pipelinex_mlflow.tracking.model_metric_links import (
    link_run_metrics,
    linked_model_ids,
)
from pipelinex_mlflow.tracking.model_refs import (
    LoggedModelRef,
    ModelSource,
    ModelVersionRef,
    logged_model_name,
)
from pipelinex_mlflow.tracking.model_registry import (
    RegistrationError,
    check_registry_names,
    register_model,
)
from pipelinex_mlflow.tracking.model_saving import (
    INFER_REQUIREMENTS_ARG,
    PYFUNC_WORKFLOWS,
    PyfuncWorkflow,
)
from pipelinex_mlflow.tracking.model_uris import (
    ModelNotFoundError,
    parse_model_uri,
    resolve_model_uri,
)

__all__ = [
    "INFER_REQUIREMENTS_ARG",
    "LOGGED_MODEL_ARGS",
    "PYFUNC_WORKFLOWS",
    "LoggedModelRef",
    "ModelNotFoundError",
    "ModelSource",
    "ModelVersionRef",
    "PyfuncWorkflow",
    "RegistrationError",
    "check_registry_names",
    "download_model",
    "find_logged_model",
    "link_run_metrics",
    "linked_model_ids",
    "load_model",
    "log_model",
    "logged_model_name",
    "logged_model_names",
    "parse_model_uri",
    "register_model",
    "resolve_model_uri",
]
