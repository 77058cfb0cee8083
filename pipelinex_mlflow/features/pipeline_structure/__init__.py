"""``pipeline.json`` (nodes, functions, datasets) and ``pipeline.svg`` (the DAG).

Option: ``MLflowBasicLoggerHook(log_pipeline_structure=)``,
``tracking.pipeline_structure.enabled``.
"""
