"""Run features: one package each, holding its Kedro half and its MLflow half.

A run feature is a class with the :class:`~pipelinex_mlflow.core.run_features.RunFeature`
interface (or :class:`~pipelinex_mlflow.core.run_features.TimelineFeature` for the
timing hook's), in ``<feature>/run_feature.py``; what it sends to MLflow beyond
``RunLogger`` lives beside it in ``<feature>/mlflow_side.py`` (the only modules
here that may import MLflow, and they import no Kedro). Features never import
each other. A hook lists the ones it runs (``MLflowBasicLoggerHook.run_features``,
``MLflowTimeLoggerHook.timeline_features``), each switched by its option in
:mod:`pipelinex_mlflow.options`.

To add one: a package here, one line in the hook's list, and its option (one
field in the hook's options model and its constructor parameter).
"""
