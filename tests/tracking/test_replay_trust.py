"""A replay trusts nothing in a spool file: it may have been copied or crafted.

Each crafted spool is refused in one line, sends nothing, uploads no file from
outside it, and is set aside as ``<name>.rejected.zip``, while a good spool after
it is still replayed (with the real ``kedro mlflow replay`` too). A spool naming
another store than the project's is refused and kept until ``--uri`` says where.
"""

from __future__ import annotations

import json
import os
import select
import socket
import stat
import time
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pipelinex_mlflow.tracking import RunEnd, RunRef, TrackingError, replay_all
from pipelinex_mlflow.tracking.metric_point import MetricPoint
from pipelinex_mlflow.tracking.spool import Spooled, pending_spools, write_spool
from tests.reliability_project import generate, kedro, kedro_env, output_of

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

OUTSIDE_TEXT = "a file outside every spool"


def _good_spool(run: RunRef, folder: Path, tmp_path: Path) -> Path:
    report = tmp_path / "good_report.txt"
    report.write_text("good")
    return write_spool(
        run,
        Spooled(
            params={"lr": "0.5"},
            metrics=[MetricPoint("loss", 0.5, 0, 1_700_000_000_000)],
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


def _member(name: str, data: str = "x") -> Callable[[zipfile.ZipFile], None]:
    return lambda archive: archive.writestr(name, data)


def _members(*names: str) -> Callable[[zipfile.ZipFile], None]:
    def add(archive: zipfile.ZipFile) -> None:
        with warnings.catch_warnings():  # zipfile warns of a duplicate name
            warnings.simplefilter("ignore")
            for name in names:
                archive.writestr(name, "x")

    return add


def _file_at(artifact_path: str) -> Callable[[Path, RunRef, Path], Path]:
    return lambda p, r, _: _crafted(
        p,
        r,
        _record(files=[{"member": "files/b/0/f.txt", "artifact_path": artifact_path}]),
        extra=_member("files/b/0/f.txt"),
    )


Craft = Callable[[Path, RunRef, Path], Path]


def _crafts(outside: Path) -> dict[str, tuple[Craft, str]]:
    """Each crafted spool, and the reason its one-line refusal must give."""
    up = "../" * 12 + str(outside).lstrip("/")
    return {
        "traversal in a record's file": (
            lambda p, r, _: _crafted(
                p, r, _record(files=[{"member": up, "artifact_path": None}])
            ),
            "which the spool does not hold",
        ),
        "absolute path in a record's file": (
            lambda p, r, _: _crafted(
                p, r, _record(files=[{"member": str(outside), "artifact_path": None}])
            ),
            "which the spool does not hold",
        ),
        "traversal in a text's member": (
            lambda p, r, _: _crafted(
                p, r, _record(texts=[{"member": up, "artifact_file": "t.txt"}])
            ),
            "which the spool does not hold",
        ),
        "traversal in a member name": (
            lambda p, r, _: _crafted(p, r, extra=_member("../../escaped.txt")),
            "points outside the spool: it holds a '..' part",
        ),
        "absolute member name": (
            lambda p, r, _: _crafted(p, r, extra=_member("/tmp/escaped.txt")),
            "points outside the spool: it is an absolute path",
        ),
        "backslash member name": (
            lambda p, r, _: _crafted(p, r, extra=_member("..\\..\\escaped.txt")),
            "points outside the spool: it holds a backslash",
        ),
        "drive-letter member name": (
            lambda p, r, _: _crafted(p, r, extra=_member("C:/escaped.txt")),
            "points outside the spool: it is an absolute path",
        ),
        "duplicate member names": (
            lambda p, r, _: _crafted(
                p,
                r,
                _record(texts=[{"member": "texts/0", "artifact_file": "t.txt"}]),
                extra=_members("texts/0", "texts/0"),
            ),
            "member 'texts/0' appears twice",
        ),
        "a member that is a file and a folder": (
            lambda p, r, _: _crafted(
                p,
                r,
                _record(files=[{"member": "files/b/0", "artifact_path": None}]),
                extra=_members("files/b/0", "files/b/0/inner.txt"),
            ),
            "member 'files/b/0' is both a file and a folder",
        ),
        "a text that is a folder": (
            lambda p, r, _: _crafted(
                p,
                r,
                _record(texts=[{"member": "texts/0", "artifact_file": "t.txt"}]),
                extra=_members("texts/0/", "texts/0/inner.txt"),
            ),
            "a text names 'texts/0', which is not a file of the spool",
        ),
        "symbolic link member": (
            lambda p, r, _: _crafted(p, r, extra=_symlink_member),
            "is a symbolic link",
        ),
        "artifact path out of the run": (
            lambda p, r, _: _crafted(
                p,
                r,
                _record(texts=[{"member": "texts/0", "artifact_file": "../../x.txt"}]),
                extra=_member("texts/0"),
            ),
            "leaves the run's artifacts: it holds a '..' part",
        ),
        "absolute artifact path": (
            _file_at("/etc"),
            "leaves the run's artifacts: it is an absolute path",
        ),
        "backslash artifact path": (
            _file_at("a\\..\\..\\b"),
            "leaves the run's artifacts: it holds a backslash",
        ),
        "missing key": (
            lambda p, r, _: _crafted(
                p, r, {k: v for k, v in _record().items() if k != "params"}
            ),
            "params Field required",
        ),
        "missing run id": (
            lambda p, r, _: _crafted(
                p, r, header={"format": 1, "tracking_uri": r.tracking_uri}
            ),
            "run_id Field required",
        ),
        "metric that is not a number": (
            lambda p, r, _: _crafted(p, r, _record(metrics=[["loss", "lots", 0, 1]])),
            "should be a valid number",
        ),
        "unknown end status": (
            lambda p, r, _: _crafted(
                p, r, _record(end={"status": "WON", "end_time": 1})
            ),
            "end.status Input should be 'FINISHED', 'FAILED' or 'KILLED'",
        ),
        "truncated zip": (_truncated, "BadZipFile"),
        "text that is not UTF-8": (
            lambda p, r, _: _crafted(
                p,
                r,
                _record(texts=[{"member": "texts/0", "artifact_file": "t.txt"}]),
                extra=lambda a: a.writestr("texts/0", b"\xff\xfe"),
            ),
            "UnicodeDecodeError",
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
    make, reason = _crafts(outside_file)[craft]
    bad = make(folder / f"{other.run_id}.zip", other, tmp_path)
    os.utime(bad, (time.time() - 60, time.time() - 60))  # replayed first
    good = _good_spool(run, folder, tmp_path)
    with pytest.raises(
        TrackingError, match="not a readable pipelinex_mlflow spool file"
    ) as raised:
        replay_all(folder)
    message = str(raised.value)
    assert "\n" not in message
    assert reason in message, message
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


def test_a_spool_naming_another_store_is_refused_kept_and_sent_with_uri(
    tmp_path: Path, run: RunRef, client: MlflowClient
) -> None:
    """Replay would hand the project's MLflow credentials to the host a spool names."""
    project = generate(tmp_path / "project", steps=1)
    folder = project / "mlflow_spool"
    with socket.socket() as foreign:
        foreign.bind(("127.0.0.1", 0))
        foreign.listen()
        foreign.setblocking(False)
        host, port = foreign.getsockname()
        crafted_uri = f"http://alice:s3cret@{host}:{port}"
        spool = write_spool(
            RunRef(crafted_uri, run.run_id),
            Spooled(params={"lr": "0.5"}, end=RunEnd("FINISHED", 1_700_000_001_000)),
            folder,
        )
        env = kedro_env(
            run.tracking_uri,
            MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
            MLFLOW_HTTP_REQUEST_TIMEOUT="3",
        )
        result = kedro(project, "mlflow", "replay", env=env, timeout=120)
        assert result.returncode == 1, output_of(result)
        # Nothing reached the host the spool names: no connection was even made.
        assert select.select([foreign], [], [], 0)[0] == []
    (error,) = [line for line in result.stderr.splitlines() if "Error" in line]
    assert f"http://alice:*****@{host}:{port}" in error
    assert run.tracking_uri in error
    assert f"--uri {run.tracking_uri}" in error
    assert "s3cret" not in output_of(result)
    # Kept pending, not set aside: it is a good spool for another store.
    assert pending_spools(folder) == [spool]
    assert client.get_run(run.run_id).data.params == {}

    sent = kedro(project, "mlflow", "replay", "--uri", run.tracking_uri, env=env)
    assert sent.returncode == 0, output_of(sent)
    assert client.get_run(run.run_id).data.params == {"lr": "0.5"}
    assert client.get_run(run.run_id).info.status == "FINISHED"
    assert pending_spools(folder) == []
