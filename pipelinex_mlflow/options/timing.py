"""``MLflowTimeLoggerHook``'s options: node timings, the Gantt chart, the trace.

Examples:
    >>> TimingOptions.from_arguments({"gantt_plotlyjs": "cdn"}).gantt_plotlyjs
    'cdn'
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Annotated, ClassVar

from pydantic import Field

from pipelinex_mlflow.gantt import PLOTLYJS_MODES, PlotlyJs
from pipelinex_mlflow.options.base import HookOptions, InYml
from pipelinex_mlflow.options.kinds import (
    Flag,
    Function,
    OptionalPath,
    Table,
    Text,
    choice,
)

if TYPE_CHECKING:
    from kedro.pipeline.node import Node

#: PipelineX's metric name prefix: ``_time_to_run <task>``.
DEFAULT_METRIC_NAME_PREFIX = "_time_to_run "
_NOT_IN_TASK_NAME = re.compile(r"[^A-Za-z0-9_\-. /]")
_TASK_NAME_LENGTH = 50
_FUNC_NAME_LENGTH = 20


def default_task_name(node: Node) -> str:
    """Name a node's timing as PipelineX did: ``<function> -- <outputs>``.

    The function's name (at most 20 characters), `` -- ``, the outputs joined by
    `` - ``; other characters than letters, digits, ``_ - . /`` and space become
    spaces, and the whole is cut to 50 characters. Readable where Kedro 1.x's
    ``node.name`` is ``train_model__40daef8f``; two nodes that would share a name
    get a suffix.

    Examples:
        >>> from kedro.pipeline import node
        >>> def train_model(df): ...
        >>> default_task_name(node(train_model, "train_df", "model"))
        'train_model -- model'
    """
    func = node.func
    while isinstance(func, functools.partial):
        func = func.func  # PipelineX showed "partial"; the function reads better
    func_name = getattr(func, "__name__", None) or type(func).__name__
    task_name = f"{func_name[:_FUNC_NAME_LENGTH]} -- {' - '.join(node.outputs)}"
    return _NOT_IN_TASK_NAME.sub(" ", task_name)[:_TASK_NAME_LENGTH]


class TimingOptions(HookOptions):
    """The options of ``MLflowTimeLoggerHook``, in its constructor's order."""

    hook: ClassVar[str] = "MLflowTimeLoggerHook"

    gantt_filepath: Annotated[OptionalPath, InYml("tracking.nodes.gantt.filepath")] = (
        None
    )
    gantt_params: Annotated[Table, InYml("tracking.nodes.gantt.params")] = Field(
        default_factory=dict
    )
    metric_name_prefix: Annotated[Text, InYml("tracking.nodes.metric_name_prefix")] = (
        DEFAULT_METRIC_NAME_PREFIX
    )
    task_name_func: Function = default_task_name
    time_log_filepath: Annotated[
        OptionalPath, InYml("tracking.nodes.time_log_filepath")
    ] = None
    enable_plotly: Annotated[Flag, InYml("tracking.nodes.gantt.enabled")] = True
    enable_mlflow: Annotated[Flag, InYml("tracking.nodes.enabled")] = True
    gantt_plotlyjs: Annotated[
        PlotlyJs, choice(*PLOTLYJS_MODES), InYml("tracking.nodes.gantt.plotlyjs")
    ] = "basic"
    enable_trace: Annotated[Flag, InYml("tracking.nodes.trace")] = True
    enable_resource_metrics: Annotated[
        Flag, InYml("tracking.nodes.resource_metrics")
    ] = True
