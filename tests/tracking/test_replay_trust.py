"""A replay trusts nothing in a spool file: it may have been copied or crafted.

Each crafted spool is refused in one line, sends nothing, uploads no file from
outside it, and is set aside as ``<name>.rejected.zip``, while a good spool after
it is still replayed (with the real ``kedro mlflow replay`` too).
"""

from __future__ import annotations

import json
import os
import stat
import time
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pipelinex_mlflow.tracking import RunEnd, RunRef, TrackingError, replay_all
from pipelinex_mlflow.tracking.spool import Spooled, pending_spools, write_spool
from tests.reliability_project import generate, kedro, kedro_env, output_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from mlflow.tracking import MlflowClient

OUTSIDE_TEXT = "a file outside every spool"


def _good_spool(run: RunRef, folder: Path, tmp_path: Path) -> Path:
    report = tmp_path / "good_report.txt"
    report.write_text("good")
    return write_spool(
        run,
        Spooled(
            params={"lr": "0.5"},
            metrics=[("loss", 0.5, 0, 1_700_000_000_000)],
            files=[(str(report), None)],
            end=RunEnd("FINISHED", 1_700_000_001_000),
        ),
        folder,
    )


def _record(**changes: object) -> dict[str, object]:
    record: dict[str, object] = {
        "params": {"lr": "0.1"},
        "checked_params": {},
        "tags": {},
        "metrics": [["loss", 0.25, 0, 1_700_000_000_000]],
        "files": [],
        "texts": [],
        "end": None,
    }
    record.update(changes)
    return record


def _crafted(
    path: Path,
    run: RunRef,
    record: dict[str, object] | None = None,
    extra: Callable[[zipfile.ZipFile], None] | None = None,
    header: dict[str, object] | None = None,
) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(
            "run.json",
            json.dumps(
                header
                or {"format": 1, "tracking_uri": run.tracking_uri, "run_id": run.run_id}
            ),
        )
        archive.writestr("batches/0.json", json.dumps(record or _record()))
        if extra is not None:
            extra(archive)
    return path


def _symlink_member(archive: zipfile.ZipFile) -> None:
    info = zipfile.ZipInfo("files/b/0/link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive.writestr(info, "/etc/hostname")


def _truncated(path: Path, run: RunRef, tmp_path: Path) -> Path:
    whole = _good_spool(run, tmp_path / "whole", tmp_path)
    data = whole.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture
def outside_file(tmp_path: Path) -> Path:
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text(OUTSIDE_TEXT)
    return secret


def _crafts(outside: Path) -> dict[str, Callable[[Path, RunRef, Path], Path]]:
    up = "../" * 12 + str(outside).lstrip("/")
    return {
        "traversal in a record's file": lambda p, r, _: _crafted(
            p, r, _record(files=[{"member": up, "artifact_path": None}])
        ),
        "absolute path in a record's file": lambda p, r, _: _crafted(
            p, r, _record(files=[{"member": str(outside), "artifact_path": None}])
        ),
        "traversal in a text's member": lambda p, r, _: _crafted(
            p, r, _record(texts=[{"member": up, "artifact_file": "t.txt"}])
        ),
        "traversal in a member name": lambda p, r, _: _crafted(
            p, r, extra=lambda a: a.writestr("../../escaped.txt", "x")
        ),
        "absolute member name": lambda p, r, _: _crafted(
            p, r, extra=lambda a: a.writestr("/tmp/escaped.txt", "x")
        ),
        "symbolic link member": lambda p, r, _: _crafted(p, r, extra=_symlink_member),
        "artifact path out of the run": lambda p, r, _: _crafted(
            p,
            r,
            _record(texts=[{"member": "texts/0", "artifact_file": "../../x.txt"}]),
            extra=lambda a: a.writestr("texts/0", "x"),
        ),
        "missing key": lambda p, r, _: _crafted(
            p, r, {k: v for k, v in _record().items() if k != "params"}
        ),
        "missing run id": lambda p, r, _: _crafted(
            p, r, header={"format": 1, "tracking_uri": r.tracking_uri}
        ),
        "metric that is not a number": lambda p, r, _: _crafted(
            p, r, _record(metrics=[["loss", "lots", 0, 1]])
        ),
        "unknown end status": lambda p, r, _: _crafted(
            p, r, _record(end={"status": "WON", "end_time": 1})
        ),
        "truncated zip": _truncated,
        "text that is not UTF-8": lambda p, r, _: _crafted(
            p,
            r,
            _record(texts=[{"member": "texts/0", "artifact_file": "t.txt"}]),
            extra=lambda a: a.writestr("texts/0", b"\xff\xfe"),
        ),
    }


CRAFTS = list(_crafts(Path("/unused")))


def _artifact_texts(client: MlflowClient, run_id: str) -> list[str]:
    """The run's artifacts that hold the outside file's text."""
    if not client.list_artifacts(run_id):
        return []
    folder = client.download_artifacts(run_id, "")
    return [
        name
        for root, _, names in os.walk(folder)
        for name in names
        if OUTSIDE_TEXT in open(os.path.join(root, name)).read()
    ]


@pytest.mark.parametrize("craft", CRAFTS)
def test_a_crafted_spool_is_rejected_alone_and_the_next_is_replayed(
    craft: str,
    tmp_path: Path,
    run: RunRef,
    client: MlflowClient,
    outside_file: Path,
) -> None:
    folder = tmp_path / "spool"
    folder.mkdir()
    other = RunRef(
        run.tracking_uri,
        client.create_run(client.get_run(run.run_id).info.experiment_id).info.run_id,
    )
    bad = _crafts(outside_file)[craft](folder / f"{other.run_id}.zip", other, tmp_path)
    os.utime(bad, (time.time() - 60, time.time() - 60))  # replayed first
    good = _good_spool(run, folder, tmp_path)
    with pytest.raises(
        TrackingError, match="not a readable pipelinex_mlflow spool file"
    ) as raised:
        replay_all(folder)
    message = str(raised.value)
    assert "\n" not in message
    assert f"{bad} is not a readable pipelinex_mlflow spool file" in message, message
    assert f"kept aside as {other.run_id}.rejected.zip" in message
    assert (folder / f"{other.run_id}.rejected.zip").exists()
    assert not bad.exists()
    assert pending_spools(folder) == []
    # The good one landed; the bad one sent nothing, and nothing from outside.
    assert client.get_run(run.run_id).info.status == "FINISHED"
    assert client.get_run(run.run_id).data.params == {"lr": "0.5"}
    assert (folder / f"{good.stem}.replayed.zip").exists()
    crafted_run = client.get_run(other.run_id)
    assert crafted_run.data.params == {}
    assert crafted_run.info.status == "RUNNING"
    assert _artifact_texts(client, other.run_id) == []
    assert not list(tmp_path.rglob("escaped.txt"))
    assert not (tmp_path.parent / "x.txt").exists()


def test_kedro_mlflow_replay_rejects_a_crafted_spool_and_replays_the_next(
    tmp_path: Path, run: RunRef, client: MlflowClient, outside_file: Path
) -> None:
    project = generate(tmp_path / "project", steps=1)
    folder = project / "mlflow_spool"
    folder.mkdir()
    other = RunRef(
        run.tracking_uri,
        client.create_run(client.get_run(run.run_id).info.experiment_id).info.run_id,
    )
    up = "../" * 12 + str(outside_file).lstrip("/")
    bad = _crafted(
        folder / f"{other.run_id}.zip",
        other,
        _record(files=[{"member": up, "artifact_path": None}]),
    )
    os.utime(bad, (time.time() - 60, time.time() - 60))
    _good_spool(run, folder, tmp_path)
    result = kedro(project, "mlflow", "replay", env=kedro_env(run.tracking_uri))
    assert result.returncode == 1, output_of(result)
    assert "Traceback" not in output_of(result)
    (error,) = [line for line in result.stderr.splitlines() if "Error" in line]
    assert f"{other.run_id}.zip is not a readable pipelinex_mlflow spool file" in error
    assert "does not hold" in error
    assert f"Replayed {run.run_id}.zip" in result.stdout
    assert client.get_run(run.run_id).info.status == "FINISHED"
    assert _artifact_texts(client, other.run_id) == []
    assert (folder / f"{other.run_id}.rejected.zip").exists()
    # Nothing left to replay: the rejected file is passed by from now on.
    again = kedro(project, "mlflow", "replay", env=kedro_env(run.tracking_uri))
    assert again.returncode == 0, output_of(again)
    assert "Nothing to replay" in again.stdout
