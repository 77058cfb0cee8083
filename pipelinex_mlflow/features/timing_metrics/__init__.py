"""PipelineX's ``_time_to_run <task>`` metrics, one per node.

Option: ``MLflowTimeLoggerHook(metric_name_prefix=)``,
``tracking.nodes.metric_name_prefix``.
"""
