"""The Gantt chart: bars in start order, colored by worker, failures outlined."""

from __future__ import annotations

import pytest

from pipelinex_mlflow.gantt import (
    DEFAULT_TITLE,
    FAILED_COLOR,
    TimelineEntry,
    build_gantt,
    gantt_html,
    validate_gantt_params,
)

ENTRIES = [
    TimelineEntry("train", 10.0, 14.0, worker="process 2", duration=3.9),
    TimelineEntry("load", 0.0, 10.0, worker="process 1"),
    TimelineEntry("report", 10.0, 11.0, worker="process 1", failed=True),
]


def test_one_trace_per_worker_in_start_order() -> None:
    figure = build_gantt(ENTRIES)
    assert [trace.name for trace in figure.data] == ["process 1", "process 2"]
    assert list(figure.layout.yaxis.categoryarray) == ["load", "report", "train"]
    assert figure.layout.xaxis.type == "date"
    assert figure.layout.title.text == DEFAULT_TITLE
    first = figure.data[0]
    assert list(first.y) == ["load", "report"]
    assert list(first.x) == [10_000.0, 1_000.0]  # milliseconds on a date axis
    assert list(first.marker.line.color) == [first.marker.color, FAILED_COLOR]
    assert figure.data[1].customdata[0][0] == "3.900"  # the measured duration
    assert first.customdata[1][3] == "failed"


def test_an_interrupted_bar_says_so() -> None:
    entry = TimelineEntry("fit", 0.0, 2.0, failed=True, status="interrupted")
    (trace,) = build_gantt([entry]).data
    assert trace.customdata[0][3] == "interrupted"


def test_styling_params() -> None:
    figure = build_gantt(
        ENTRIES,
        {
            "title": "Run 7",
            "height": 321,
            "width": 654,
            "colors": ["#111111"],
            "layout": {"font": {"size": 9}},
        },
    )
    assert figure.layout.title.text == "Run 7"
    assert (figure.layout.height, figure.layout.width) == (321, 654)
    assert {trace.marker.color for trace in figure.data} == {"#111111"}
    assert figure.layout.font.size == 9


def test_height_grows_with_the_number_of_tasks() -> None:
    many = [TimelineEntry(f"t{i}", i, i + 1) for i in range(40)]
    assert build_gantt(many).layout.height > build_gantt(ENTRIES).layout.height


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"width": 0}, r"gantt_params\['width'\] must be a positive number"),
        ({"height": True}, r"gantt_params\['height'\] must be a positive number"),
        ({"colors": []}, r"gantt_params\['colors'\] must be a non-empty list"),
        ({"layout": "dark"}, r"gantt_params\['layout'\] must be a dict"),
        ({"title": 3}, r"gantt_params\['title'\] must be a string"),
    ],
)
def test_bad_params(params: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        validate_gantt_params(params)


PAGE_ENTRIES = (TimelineEntry("load", 0.0, 1.0), TimelineEntry("fit", 1.0, 3.0))


class TestPlotlyJs:
    def test_basic_inlines_the_partial_bundle(self) -> None:
        page = gantt_html(PAGE_ENTRIES)
        assert "plotly.js (basic - minified) v" in page
        assert page.index("plotly.js (basic") < page.index("Plotly.newPlot")
        assert '<script src="https://cdn.plot.ly' not in page
        assert len(page) < 1_500_000

    def test_full_and_cdn(self) -> None:
        assert len(gantt_html(PAGE_ENTRIES, plotlyjs="full")) > 4_000_000
        cdn = gantt_html(PAGE_ENTRIES, plotlyjs="cdn")
        assert 'src="https://cdn.plot.ly' in cdn
        assert len(cdn) < 50_000

    def test_unknown_mode(self) -> None:
        with pytest.raises(
            ValueError, match=r"Invalid plotlyjs 'tiny'\. Must be one of"
        ):
            gantt_html(PAGE_ENTRIES, plotlyjs="tiny")  # type: ignore[arg-type]
