"""The Gantt page renders in a real headless Chromium with no network at all."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from typing import TYPE_CHECKING

import pytest

from pipelinex_mlflow.gantt import FAILED_COLOR, TimelineEntry, gantt_html

if TYPE_CHECKING:
    from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# CI installs Chromium (.ci/run), so there the test must run, never skip.
pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="Chromium is not installed (apt-get install chromium)",
)

PLOTLY_BLUE = (99, 110, 250)  # plotly's first color: the "main" worker's bars
CRIMSON = (220, 20, 60)
assert FAILED_COLOR == "crimson"


def _screenshot(page: Path, png: Path, profile: Path) -> None:
    assert CHROMIUM is not None, "Chromium is missing: apt-get install chromium"
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            # No network: the page must carry its own plotly.js.
            "--proxy-server=127.0.0.1:9",
            f"--user-data-dir={profile}",
            "--window-size=1000,500",
            "--virtual-time-budget=10000",
            f"--screenshot={png}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


def _has_color(png: Path, rgb: tuple[int, int, int], tolerance: int = 12) -> bool:
    from PIL import Image

    with Image.open(png) as image:
        pixels = image.convert("RGB").getdata()
        return any(
            all(abs(a - b) <= tolerance for a, b in zip(pixel, rgb, strict=True))
            for pixel in pixels
        )


@pytest.mark.parametrize("plotlyjs", ["basic", "full"])
def test_the_bars_are_drawn_offline(plotlyjs: str, tmp_path: Path) -> None:
    now = time.time()
    entries = [
        TimelineEntry("load", now, now + 1.5),
        TimelineEntry("fit", now + 1.5, now + 4, worker="process 42"),
        TimelineEntry("report", now + 4, now + 4.5, failed=True),
    ]
    page = tmp_path / "gantt.html"
    page.write_text(gantt_html(entries, plotlyjs=plotlyjs), encoding="utf-8")  # type: ignore[arg-type]
    png = tmp_path / "gantt.png"
    _screenshot(page, png, tmp_path / "profile")
    assert _has_color(png, PLOTLY_BLUE), "no bar of the main worker was drawn"
    assert _has_color(png, CRIMSON), "the failed node's outline was not drawn"


def test_a_page_without_plotlyjs_draws_nothing(tmp_path: Path) -> None:
    """The check above can fail: without plotly.js offline, no bar appears."""
    now = time.time()
    page = tmp_path / "gantt.html"
    page.write_text(
        gantt_html([TimelineEntry("load", now, now + 1)], plotlyjs="cdn"),
        encoding="utf-8",
    )
    png = tmp_path / "gantt.png"
    _screenshot(page, png, tmp_path / "profile")
    assert not _has_color(png, PLOTLY_BLUE)
