"""The run's own records: its tags, the Kedro parameters it used, its times.

Options: ``MLflowBasicLoggerHook(tags=, log_parameters=, flatten_separator=,
logging_kedro_run_params=, offset_hours=, enable_logging_time*=)``.
"""
