"""MLflow's ``system/`` metrics (CPU, memory, disk, network, GPU), sampled during the run.

Option: ``MLflowBasicLoggerHook(log_system_metrics=, system_metrics_interval=)``,
``tracking.system_metrics``.
"""
