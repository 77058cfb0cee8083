"""A run whose process died is found and marked FAILED by the next run.

Always on. The heartbeat and the process tag it reads are the transport's
(:mod:`pipelinex_mlflow.tracking.liveness`).
"""
