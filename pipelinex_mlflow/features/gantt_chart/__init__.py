"""``time_log.json`` and ``gantt.html`` of the node timings, with their local copies.

Options: ``MLflowTimeLoggerHook(enable_plotly=, gantt_filepath=, gantt_params=,
gantt_plotlyjs=, time_log_filepath=)``, ``tracking.nodes.gantt``. The chart itself
is :mod:`pipelinex_mlflow.gantt`.
"""
