"""The run as one MLflow trace: a span per node, its loads and saves.

Option: ``MLflowTimeLoggerHook(enable_trace=)``, ``tracking.nodes.trace``.
"""
