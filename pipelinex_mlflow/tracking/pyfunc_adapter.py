"""The MLflow side of a Kedro inference pipeline logged as one pyfunc model.

MLflow saves a ``PythonModel`` by pickling it; this one holds a *predictor*, the
Kedro side (``pipelinex_mlflow.pipeline_ml.predictor``), and hands it every
``predict`` call. The split keeps MLflow out of the Kedro code and Kedro out of
this package, and keeps ``predict`` type-hinted, so MLflow 3 validates the input
and does not warn.

This module imports MLflow when it is imported: only model logging and loading
import it.

Examples:
    >>> class Doubler:
    ...     def predict(self, model_input, params):
    ...         return model_input * 2
    >>> import pandas as pd
    >>> model = KedroPipelineModel(Doubler())
    >>> model.predict(None, pd.DataFrame({"x": [1, 2]}))["x"].tolist()
    [2, 4]
"""

from __future__ import annotations

import pickle
import pickletools
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

# At run time: MLflow reads predict's type hints to validate its input.
import pandas as pd  # noqa: TC002

from pipelinex_mlflow.tracking.errors import TrackingError
from pipelinex_mlflow.tracking.flavors import import_quietly

if TYPE_CHECKING:
    from collections.abc import Mapping

_PythonModel: Any = import_quietly("mlflow.pyfunc.model").PythonModel


class Predictor(Protocol):
    """What runs the inference pipeline: the Kedro side of the model."""

    def predict(self, model_input: Any, params: Mapping[str, Any] | None) -> Any:
        """The inference pipeline's output for ``model_input``."""


_STACK_GLOBAL_ARGS = 2  # module and name, pushed in that order
#: The model's artifact holding the pickled predictor.
PREDICTOR_ARTIFACT = "predictor"
#: The model's code (MLflow's models-from-code): it makes a ``KedroPipelineModel``.
MODEL_CODE_FILE = Path(__file__).with_name("pipeline_model_code.py")


class KedroPipelineModel(_PythonModel):  # type: ignore[misc]
    """An MLflow ``PythonModel`` that runs a Kedro inference pipeline per call.

    Logged from code (``pipeline_model_code.py``), so MLflow pickles no class of
    ours; the predictor is the model's ``predictor`` artifact, unpickled by
    ``load_context``. Its code must be importable where the model is loaded:
    the model's ``code_paths`` carry the project's package and pipelinex_mlflow.

    Args:
        predictor: The object that runs the pipeline; ``None`` until
            ``load_context`` reads it.
    """

    def __init__(self, predictor: Predictor | None = None) -> None:
        self.predictor = predictor

    def load_context(self, context: Any) -> None:
        """Unpickle the predictor from the model's artifact."""
        with open(context.artifacts[PREDICTOR_ARTIFACT], "rb") as file:
            self.predictor = pickle.load(file)  # noqa: S301 - the model's own file

    def predict(
        self,
        context: Any,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """Run the inference pipeline on ``model_input``.

        Args:
            context: MLflow's model context (unused: the pipeline's inputs travel
                inside the predictor).
            model_input: The value of the pipeline's ``input_name`` dataset.
            params: Overrides of the pipeline's ``params:`` values, by their
                dotted names, and ``runner``.

        Returns:
            The output dataset's data, or a dict of them by name when the
            pipeline has several outputs.
        """
        if self.predictor is None:
            raise TrackingError(
                "KedroPipelineModel has no predictor: load it with "
                "mlflow.pyfunc.load_model(<model uri>)."
            )
        return self.predictor.predict(model_input, params)


def write_predictor(predictor: Predictor, path: Path) -> None:
    """Pickle ``predictor`` (with cloudpickle: nodes may be lambdas or partials).

    Raises:
        TrackingError: Naming the carried value that does not pickle.
    """
    import cloudpickle

    try:
        with open(path, "wb") as file:
            cloudpickle.dump(predictor, file)
    except Exception as exc:
        values = {
            **getattr(predictor, "artifacts", {}),
            **getattr(predictor, "parameters", {}),
        }
        culprits = [name for name, value in values.items() if not _pickles(value)]
        raise TrackingError(
            "The inference pipeline cannot be pickled into the model "
            f"({type(exc).__name__}: {exc})"
            + (f": {', '.join(culprits)} does not pickle." if culprits else ".")
        ) from exc


def _pickles(value: Any) -> bool:
    import cloudpickle

    try:
        cloudpickle.dumps(value)
    except Exception:
        return False
    return True


def pickled_modules(path: Path) -> set[str]:
    """The modules a pickle file imports when it loads (its ``GLOBAL`` opcodes).

    The classes of every pickled value, nested ones too, and the functions
    pickled by reference: what loading the model needs installed.

    Examples:
        >>> import pickle, tempfile, datetime
        >>> with tempfile.NamedTemporaryFile(suffix=".pkl", delete=False) as file:
        ...     pickle.dump({"when": datetime.date(2026, 1, 1)}, file)
        >>> "datetime" in pickled_modules(Path(file.name))
        True
    """
    modules: set[str] = set()
    # Values pushed, as far as names go (strings, memo reads); others are None.
    pushed: list[str | None] = []
    memo: dict[int, str | None] = {}
    with open(path, "rb") as file:
        for opcode, argument, _ in pickletools.genops(file):
            name = opcode.name
            if name == "GLOBAL":
                modules.add(str(argument).split(" ")[0])
            elif name == "STACK_GLOBAL":
                module = pushed[-_STACK_GLOBAL_ARGS] if len(pushed) > 1 else None
                if module:
                    modules.add(module)
                pushed.append(None)
            elif name == "MEMOIZE":
                memo[len(memo)] = pushed[-1] if pushed else None
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[int(str(argument))] = pushed[-1] if pushed else None
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                pushed.append(memo.get(int(str(argument))))
            elif isinstance(argument, str) and "UNICODE" in name:
                pushed.append(argument)
            elif opcode.stack_after:
                pushed.append(None)
    return modules


def infer_signature(
    model_input: Any, model_output: Any, params: Mapping[str, Any]
) -> Any:
    """MLflow's signature for the input example, its output and the ``params``.

    An output MLflow cannot describe (a dict of tables, for one) leaves the
    output schema out rather than failing.

    Raises:
        TrackingError: When the input or the params cannot be described.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.models import infer_signature as mlflow_infer_signature

    if not isinstance(model_output, dict):
        try:
            return mlflow_infer_signature(
                model_input, model_output, dict(params) or None
            )
        except (MlflowException, TypeError, ValueError):
            pass
    try:
        return mlflow_infer_signature(model_input, None, dict(params) or None)
    except (MlflowException, TypeError, ValueError) as exc:
        raise TrackingError(
            f"MLflow cannot infer a signature from the input example "
            f"({type(model_input).__name__}) and params {sorted(params)}: {exc}"
        ) from None
