"""The one place that names private Kedro and MLflow APIs.

Some things the package needs have no public API: the local file a Kedro dataset
wrote, MLflow's table of model flavors, the engines MLflow caches for a SQLite
store. Each private name the package relies on is reached through one small,
typed wrapper here, documented with what it reaches into and the release it is
known to work with, and checked by a test named after it (``tests/test_compat.py``).
A Kedro or MLflow release that moves or renames one fails that named test,
instead of breaking a run somewhere far from the cause.

- :mod:`pipelinex_mlflow.compat.kedro_private`: Kedro and kedro-datasets; imports no
  MLflow.
- :mod:`pipelinex_mlflow.compat.mlflow_private`: MLflow, imported lazily inside each
  wrapper (``import pipelinex_mlflow`` imports no MLflow); imports no Kedro.

No other module of the package imports a private Kedro or MLflow name or reads a
private attribute of their objects; a test of ``tests/test_compat.py`` keeps it so.
This package re-exports nothing, so importing one half never imports the other.
"""
