"""The backends of ``MLflowDataSet``: one module per kind of ``dataset`` code.

:mod:`pipelinex_mlflow.io.registry` maps each code to its backend, and says how
to add one.
"""
