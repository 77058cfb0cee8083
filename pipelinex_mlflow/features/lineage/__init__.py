"""Lineage: the catalog datasets a run reads and writes, as its MLflow dataset inputs.

Option: ``MLflowBasicLoggerHook(log_datasets=)``, ``tracking.lineage.enabled``.
"""
