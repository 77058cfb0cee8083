"""The values ParallelRunner workers hand each other stay private to the user."""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

import pytest

from pipelinex_mlflow.io import shared_values
from pipelinex_mlflow.tracking import RunRef

if TYPE_CHECKING:
    from pathlib import Path

RUN = RunRef("sqlite:///mlflow.db", "feedc0de")


@pytest.fixture(autouse=True)
def private_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(shared_values.tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_a_copy_round_trips_in_a_private_folder_and_is_removed() -> None:
    shared_values.share(RUN, "model/score", {"a": [1, 2]})
    copy = shared_values.shared_copy(RUN, "model/score")
    assert copy is not None
    assert copy.load() == {"a": [1, 2]}
    folder = shared_values._folder(RUN)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert not list(folder.glob("*.part"))
    shared_values.remove_shared(RUN)
    assert not folder.exists()
    assert shared_values.shared_copy(RUN, "model/score") is None


def test_a_folder_others_can_write_is_never_read_nor_written() -> None:
    """Copies are pickles: one planted by another account must not be loaded."""
    shared_values.share(RUN, "score", 0.5)
    folder = shared_values._folder(RUN)
    os.chmod(folder, 0o777)  # noqa: S103 - what another account could have made
    assert shared_values.shared_copy(RUN, "score") is None
    with pytest.raises(OSError, match="not a private folder of this user"):
        shared_values.share(RUN, "score", 0.7)
    shared_values.remove_shared(RUN)
    assert folder.exists()  # not ours to remove either
