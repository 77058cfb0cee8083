"""Draws a Gantt chart of timed tasks as a self-contained plotly HTML page.

Pure and independent of Kedro and MLflow: it turns ``TimelineEntry`` rows into a
plotly figure. plotly is imported only when a chart is built.

Examples:
    >>> entries = [
    ...     TimelineEntry("load", 0.0, 1.5),
    ...     TimelineEntry("train", 1.5, 4.0, worker="process 42"),
    ... ]
    >>> html = gantt_html(entries, {"title": "My run"})
    >>> "train" in html and '<script src="https://cdn.plot.ly' not in html
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import cycle
from pathlib import Path
from typing import Any, Literal, get_args

#: How a page gets plotly.js: inlined partial bundle, inlined whole, or from a CDN.
PlotlyJs = Literal["basic", "full", "cdn"]
PLOTLYJS_MODES: tuple[str, ...] = get_args(PlotlyJs)
_VENDOR = Path(__file__).parent / "_vendor"

#: The keys ``gantt_params`` may hold.
GANTT_PARAM_KEYS: tuple[str, ...] = (
    "bar_width",
    "colors",
    "height",
    "layout",
    "title",
    "width",
)
#: PipelineX's ``plotly.figure_factory.create_gantt`` options with a meaning here.
PIPELINEX_GANTT_KEYS: tuple[str, ...] = ("show_colorbar", "showgrid_x", "showgrid_y")
#: PipelineX's options without one (bars are one row per task, colored by worker).
IGNORED_PIPELINEX_GANTT_KEYS: tuple[str, ...] = (
    "data",
    "group_tasks",
    "index_col",
    "reverse_colors",
    "show_hover_fill",
    "task_names",
    "tasks",
)
DEFAULT_TITLE = "Kedro node timeline"
FAILED_COLOR = "crimson"
_ROW_HEIGHT_PX = 28
_MIN_HEIGHT_PX = 250
_MARGIN_PX = 150


@dataclass(frozen=True)
class TimelineEntry:
    """One bar of the chart.

    Attributes:
        task: The row label.
        start: Wall-clock start, seconds since the epoch.
        end: Wall-clock end, seconds since the epoch.
        worker: Who ran it (a thread or process); bars are colored by worker.
        failed: Draw the bar with a red outline and say so on hover.
        duration: The measured duration in seconds; ``end - start`` if ``None``.
        status: What the hover says of a red bar (``failed``, ``interrupted``).
    """

    task: str
    start: float
    end: float
    worker: str = "main"
    failed: bool = False
    duration: float | None = None
    status: str = "failed"

    @property
    def seconds(self) -> float:
        """The duration to show: the measured one, else ``end - start``."""
        return self.duration if self.duration is not None else self.end - self.start


def from_pipelinex(
    params: Mapping[str, Any] | None,
) -> tuple[dict[str, Any], list[str]]:
    """Translate PipelineX's ``create_gantt`` options into this chart's ``gantt_params``.

    ``showgrid_x``/``showgrid_y`` become the axes' ``showgrid`` and
    ``show_colorbar`` the legend of workers (in ``layout``); ``title``,
    ``height``, ``width`` and ``bar_width`` (half a bar's thickness, in rows)
    keep their meaning, and ``colors`` too when it is a list. The others
    (:data:`IGNORED_PIPELINEX_GANTT_KEYS`, and ``colors`` as a scale name or a
    dict) have no meaning here and are dropped.

    Returns:
        The translated params, and the names of the options dropped.

    Examples:
        >>> from_pipelinex({"showgrid_x": True, "index_col": "Resource"})
        ({'layout': {'xaxis': {'showgrid': True}}}, ['index_col'])
    """
    translated = {
        key: value
        for key, value in (params or {}).items()
        if key not in PIPELINEX_GANTT_KEYS + IGNORED_PIPELINEX_GANTT_KEYS
    }
    dropped = sorted(set(params or {}) & set(IGNORED_PIPELINEX_GANTT_KEYS))
    colors = translated.get("colors")
    if isinstance(colors, (str, Mapping)):
        del translated["colors"]
        dropped.append("colors (a scale name or a dict)")
    layout = dict(translated.get("layout") or {})
    for key, axis in (("showgrid_x", "xaxis"), ("showgrid_y", "yaxis")):
        if key in (params or {}):
            layout[axis] = {**layout.get(axis, {}), "showgrid": bool(params[key])}  # type: ignore[index]
    if "show_colorbar" in (params or {}):
        layout["showlegend"] = bool(params["show_colorbar"])  # type: ignore[index]
    if layout:
        translated["layout"] = layout
    return translated, dropped


def validate_gantt_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check ``gantt_params`` and return a copy.

    Args:
        params: ``title`` (str), ``height``/``width`` (pixels), ``colors`` (a
            list of CSS colors, cycled over the workers), ``bar_width`` (half a
            bar's thickness in rows, as in PipelineX) and ``layout`` (a dict of
            further plotly layout properties, applied last).

    Returns:
        A new dict with the same items.

    Raises:
        ValueError: For an unknown key or a value of the wrong type.

    Examples:
        >>> validate_gantt_params({"index_col": "Resource"})
        Traceback (most recent call last):
        ...
        ValueError: Unknown gantt_params key(s) ['index_col']. ...
    """
    checked = dict(params or {})
    unknown = sorted(set(checked) - set(GANTT_PARAM_KEYS))
    if unknown:
        raise ValueError(
            f"Unknown gantt_params key(s) {unknown}. Must be among: "
            f"{', '.join(GANTT_PARAM_KEYS)}. Other plotly layout properties go in "
            "gantt_params['layout'], for example {'layout': {'font': {'size': 10}}}."
        )
    for key in ("height", "width"):
        value = checked.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ValueError(
                f"gantt_params[{key!r}] must be a positive number of pixels, "
                f"not {value!r}."
            )
    colors = checked.get("colors")
    if colors is not None and (
        isinstance(colors, str)
        or not isinstance(colors, Sequence)
        or not colors
        or not all(isinstance(color, str) for color in colors)
    ):
        raise ValueError(
            "gantt_params['colors'] must be a non-empty list of CSS colors, for "
            f"example ['#1f77b4', 'orange'], not {colors!r}."
        )
    if not isinstance(checked.get("layout", {}), Mapping):
        raise ValueError(
            "gantt_params['layout'] must be a dict of plotly layout properties."
        )
    if not isinstance(checked.get("title", ""), str):
        raise ValueError("gantt_params['title'] must be a string.")
    bar_width = checked.get("bar_width")
    if bar_width is not None and (
        isinstance(bar_width, bool)
        or not isinstance(bar_width, (int, float))
        or not 0 < bar_width <= 0.5  # noqa: PLR2004 - half of one row
    ):
        raise ValueError(
            "gantt_params['bar_width'] must be half a bar's thickness in rows, "
            f"more than 0 and at most 0.5 (PipelineX's default was 0.2), not {bar_width!r}."
        )
    return checked


def build_gantt(
    entries: Sequence[TimelineEntry], params: Mapping[str, Any] | None = None
) -> Any:
    """Return a plotly figure with one horizontal bar per entry, in start order.

    Bars sit on a date axis (local time) and are colored by worker, so bars that
    ran in parallel are easy to tell apart; failed tasks have a red outline.

    Args:
        entries: The bars.
        params: Styling, see :func:`validate_gantt_params`.

    Returns:
        A ``plotly.graph_objects.Figure``.
    """
    import plotly.graph_objects as go
    from plotly.colors import qualitative

    options = validate_gantt_params(params)
    ordered = sorted(entries, key=lambda entry: (entry.start, entry.task))
    palette = cycle(options.get("colors") or qualitative.Plotly)
    workers = list(dict.fromkeys(entry.worker for entry in ordered))
    figure = go.Figure()
    for worker, color in zip(workers, palette, strict=False):
        rows = [entry for entry in ordered if entry.worker == worker]
        figure.add_trace(
            go.Bar(
                name=worker,
                orientation="h",
                y=[entry.task for entry in rows],
                base=[_local_time(entry.start) for entry in rows],
                # On a date axis the bar length is in milliseconds.
                x=[max(entry.end - entry.start, 0.0) * 1000 for entry in rows],
                customdata=[
                    [
                        f"{entry.seconds:.3f}",
                        _local_time(entry.start),
                        _local_time(entry.end),
                        entry.status if entry.failed else "completed",
                    ]
                    for entry in rows
                ],
                hovertemplate=(
                    "<b>%{y}</b><br>%{customdata[0]} s (%{customdata[3]})<br>"
                    "%{customdata[1]} to %{customdata[2]}<extra>"
                    f"{worker}</extra>"
                ),
                width=2 * options["bar_width"] if "bar_width" in options else None,
                marker={
                    "color": color,
                    "line": {
                        "color": [FAILED_COLOR if e.failed else color for e in rows],
                        "width": [3 if e.failed else 0 for e in rows],
                    },
                },
            )
        )
    tasks = list(dict.fromkeys(entry.task for entry in ordered))
    figure.update_layout(
        title=options.get("title", DEFAULT_TITLE),
        barmode="overlay",
        height=options.get("height")
        or max(_MIN_HEIGHT_PX, _MARGIN_PX + _ROW_HEIGHT_PX * len(tasks)),
        width=options.get("width"),
        xaxis={"type": "date", "title": "time"},
        yaxis={
            "categoryorder": "array",
            "categoryarray": tasks,
            "autorange": "reversed",
        },
        legend={"title": {"text": "worker"}},
    )
    figure.update_layout(**dict(options.get("layout", {})))
    return figure


def figure_html(figure: Any, plotlyjs: PlotlyJs = "basic") -> str:
    """Return a full HTML page for ``figure``.

    Args:
        figure: The plotly figure.
        plotlyjs: ``basic`` inlines plotly.js's partial bundle of scatter, bar and
            pie traces (1.2 MB, renders offline); ``full`` inlines the whole of
            plotly.js (4.8 MB, offline); ``cdn`` loads it from the internet when
            the page opens (about 10 KB).

    Raises:
        ValueError: For another ``plotlyjs``.
    """
    if plotlyjs not in PLOTLYJS_MODES:
        raise ValueError(
            f"Invalid plotlyjs {plotlyjs!r}. Must be one of: "
            f"{', '.join(sorted(PLOTLYJS_MODES))}."
        )
    if plotlyjs != "basic":
        include: bool | str = True if plotlyjs == "full" else "cdn"
        return str(figure.to_html(include_plotlyjs=include, full_html=True))
    page = str(figure.to_html(include_plotlyjs=False, full_html=True))
    script = f'<script type="text/javascript">{_basic_bundle()}</script>'
    return page.replace("<head>", f"<head>{script}", 1)


def _basic_bundle() -> str:
    return (_VENDOR / "plotly-basic.min.js").read_text(encoding="utf-8")


def gantt_html(
    entries: Sequence[TimelineEntry],
    params: Mapping[str, Any] | None = None,
    plotlyjs: PlotlyJs = "basic",
) -> str:
    """Build the Gantt chart of ``entries`` and return it as a self-contained page.

    ``plotlyjs`` says how the page gets plotly.js: see :func:`figure_html`.
    """
    return figure_html(build_gantt(entries, params), plotlyjs)


def _local_time(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds).strftime("%Y-%m-%d %H:%M:%S.%f")
