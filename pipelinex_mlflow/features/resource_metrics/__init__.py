"""Each node's CPU time and peak memory, as ``_cpu_time`` and ``_peak_memory_mb`` metrics.

Option: ``MLflowTimeLoggerHook(enable_resource_metrics=)``,
``tracking.nodes.resource_metrics``.
"""
