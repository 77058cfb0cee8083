"""The run core: the small part every run feature stands on.

- :mod:`.run_opening`: the MLflow run of a Kedro run opened, in its mode (own,
  resumed, shared, adopted), as one :class:`~.run_opening.OpenedRun`;
- :mod:`.run_features`: the interface of a run feature (``prepare``,
  ``start``, ``before_workers``, ``finish``) and of a timeline feature, and the
  :class:`~.run_features.RunScope` each is handed;
- :mod:`.run_tracking`: the Kedro run in progress, started with its features
  or switched off, ended once; :mod:`.run_ending`: the end sent, truly told;
- :mod:`.workers`: what ParallelRunner's workers are handed;
  :mod:`.exit_guard`: the run ended KILLED when the process exits mid-run;
  :mod:`.guard`: a failure in a hook turned into a warning (the first rule);
  :mod:`.run_context`: the tags that describe a run.

The transport (batching, retries, the spool) is :mod:`pipelinex_mlflow.tracking`.
"""
