"""The one exception type of the tracking layer."""


class TrackingError(Exception):
    """Raised when pipelinex_mlflow cannot track to MLflow as configured."""
