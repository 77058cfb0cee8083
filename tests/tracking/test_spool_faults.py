"""A spool that cannot be written is a loss, counted and named; never a crash.

The spool is written whole under a temporary name, synced and renamed: a full
disk (here a file size limit, ``RLIMIT_FSIZE``, in a real process) leaves the
spool as it was, never a truncated file that no replay can read. A spool folder
that is a file, with the server gone, costs the run's unsent values and its end,
each counted in a warning, and ``kedro run`` still exits 0.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pipelinex_mlflow.tracking import RunEnd, RunRef, TrackingError, replay
from pipelinex_mlflow.tracking.metric_point import MetricPoint
from pipelinex_mlflow.tracking.sender import RunSender
from pipelinex_mlflow.tracking.spool import (
    SPOOL_DIR_ENV_VAR,
    Spooled,
    read_spool,
    write_spool,
)
from tests.conftest import ServerProcess
from tests.reliability_project import (
    PLAIN_LOGGING,
    generate,
    kedro,
    kedro_env,
    output_of,
)

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient


def _refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_a_spool_folder_that_is_a_file_raises_a_tracking_error(
    tmp_path: Path, run: RunRef
) -> None:
    not_a_folder = tmp_path / "mlflow_spool"
    not_a_folder.write_text("a file where the spool folder should be")
    with pytest.raises(TrackingError, match="could not be written"):
        write_spool(run, Spooled(params={"lr": "0.5"}), not_a_folder)


def test_an_unwritable_spool_is_counted_as_lost_with_the_runs_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_a_folder = tmp_path / "mlflow_spool"
    not_a_folder.write_text("")
    monkeypatch.setenv(SPOOL_DIR_ENV_VAR, str(not_a_folder))
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    report_file = tmp_path / "report.txt"
    report_file.write_text("done")
    sender = RunSender(RunRef(_refused_url(), "0123456789abcdef"))
    sender.submit(
        params={"lr": "0.5"}, metrics=[MetricPoint("loss", 1.0, 0, 1)], tags={}
    )
    sender.upload(str(report_file), None)
    report = sender.close(time.monotonic() + 60, RunEnd("FINISHED", 2))
    assert (report.lost_values, report.lost_files) == (2, ["report.txt"])
    assert report.end_lost == "FINISHED"
    assert report.end_unrecorded
    assert report.spool is None
    summary = report.summary()
    assert "2 value(s) and 1 file(s)" in summary
    assert "could not be written" in summary
    assert "the run's end (FINISHED) could not be recorded" in summary


def test_what_the_spool_leaves_out_is_counted_in_the_senders_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Left out of a spool is lost: in the report, so in the warning and the tag."""
    monkeypatch.setenv(SPOOL_DIR_ENV_VAR, str(tmp_path / "spool"))
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / os.fsdecode(b"caf\xe9.txt")).write_text("one")
    (folder / os.fsdecode(b"caf\xe8.txt")).write_text("two")
    sender = RunSender(RunRef(_refused_url(), "0123456789abcdef"))
    sender.submit(params={"lr": "0.5"}, metrics=[], tags={})
    sender.upload(str(folder), "model")
    report = sender.close(time.monotonic() + 60, RunEnd("FINISHED", 2))
    assert report.spool is not None
    assert report.spooled_values == 1
    assert report.lost_files == ["model/caf\ufffd.txt"]
    assert "model/caf\ufffd.txt" in report.summary()


_FULL_DISK = """
import os, resource, signal, sys
from pathlib import Path
from pipelinex_mlflow.tracking import RunRef, TrackingError
from pipelinex_mlflow.tracking.spool import Spooled, read_spool, write_spool

folder, big = Path(sys.argv[1]), Path(sys.argv[2])
run = RunRef("http://127.0.0.1:1", "0123456789abcdef")
path = write_spool(run, Spooled(params={"lr": "0.5"}), folder)
# A full disk: no file of this process may grow past a few kB more than the
# spool. Writing past it fails with EFBIG (SIGXFSZ ignored, as a disk's ENOSPC).
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
limit = path.stat().st_size + 4096
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
try:
    write_spool(run, Spooled(tags={"t": "x"}, files=[(str(big), None)]), folder)
except TrackingError as exc:
    print("REFUSED", exc)
print("BATCHES", len(read_spool(path).batches))
print("FILES", sorted(p.name for p in folder.iterdir()))
"""


def test_a_full_disk_leaves_the_spool_as_it_was(tmp_path: Path) -> None:
    big = tmp_path / "model.bin"
    big.write_bytes(bytes(range(256)) * 64 + os.urandom(200_000))
    result = subprocess.run(
        [sys.executable, "-c", _FULL_DISK, str(tmp_path / "spool"), str(big)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "REFUSED the spool" in out
    assert "could not be written" in out
    # The first batch is intact, and no partial file is left behind.
    assert "BATCHES 1" in out
    assert "FILES ['0123456789abcdef.zip']" in out


def test_a_spool_written_by_turns_keeps_every_batch(
    tmp_path: Path, run: RunRef
) -> None:
    for i in range(5):
        write_spool(run, Spooled(params={f"p{i}": str(i)}), tmp_path)
    batches = read_spool(tmp_path / f"{run.run_id}.zip").batches
    assert [b.params for b in batches] == [{f"p{i}": str(i)} for i in range(5)]


# ----------------------------------------------------------------------------------
# A real `kedro run` whose server dies at its first node
# ----------------------------------------------------------------------------------
#: A full disk for ``kedro run``: no file may grow past 100 kB (the spool of the
#: 3-step project is about 400 kB); writing past it fails with EFBIG, as a full
#: disk fails with ENOSPC.
_FULL_DISK_SITECUSTOMIZE = """
import resource, signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
"""


def _run_with_the_server_killed(
    tmp_path: Path, server: ServerProcess, fault: str
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    project = generate(tmp_path / "project", steps=3)
    extra = {}
    if fault == "spool folder is a file":
        (project / "mlflow_spool").write_text("a file where the folder should be")
    else:
        site = tmp_path / "full_disk"
        site.mkdir()
        (site / "sitecustomize.py").write_text(_FULL_DISK_SITECUSTOMIZE)
        extra["PYTHONPATH"] = os.pathsep.join(
            [str(site), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
    # Plain log lines, one per record, however long: the test reads whole lines.
    logging_config = project / "logging.yml"
    logging_config.write_text(PLAIN_LOGGING)
    assert server.process is not None
    env = kedro_env(
        server.url,
        RELIABILITY_ACTIONS=f"step_0=killpg:{server.process.pid}",
        MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
        KEDRO_LOGGING_CONFIG=str(logging_config),
        **extra,
    )
    return project, kedro(project, "run", env=env)


FAULTS = ["spool folder is a file", "full disk"]


def _client(url: str) -> MlflowClient:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=url)


@pytest.mark.server
@pytest.mark.parametrize("fault", FAULTS)
def test_kedro_run_with_an_unwritable_spool_warns_what_was_lost_and_exits_0(
    tmp_path: Path, server: ServerProcess, fault: str
) -> None:
    project, result = _run_with_the_server_killed(tmp_path, server, fault)
    out = output_of(result)
    assert result.returncode == 0, out
    assert "Traceback" not in out, out
    (warning,) = [line for line in out.splitlines() if "ends FINISHED, but" in line]
    assert "value(s)" in warning
    assert "could not be logged" in warning
    assert "could not be written" in warning
    assert "the run's end (FINISHED) could not be recorded" in warning
    # The log matches the store: it never says the run ended.
    assert "ended FINISHED" not in out
    # No spool, whole or truncated, and no partial file left behind.
    spool = project / "mlflow_spool"
    assert not spool.is_dir() or not list(spool.iterdir()), list(spool.iterdir())
    server.start()
    client = _client(server.url)
    (run,) = client.search_runs(
        [client.get_experiment_by_name("reliability").experiment_id]
    )
    assert run.info.status == "RUNNING"  # as the warning says


_WRITER = """
import sys
from pathlib import Path
from pipelinex_mlflow.tracking import RunRef
from pipelinex_mlflow.tracking.spool import Spooled, write_spool

folder, worker = Path(sys.argv[1]), sys.argv[2]
run = RunRef("http://127.0.0.1:1", "0123456789abcdef")
for i in range(10):
    write_spool(run, Spooled(params={f"w{worker}_{i}": "x"}), folder)
"""


def test_processes_writing_one_spool_at_once_keep_every_batch(tmp_path: Path) -> None:
    # As ParallelRunner workers do: each write rewrites the whole file, in turns.
    folder = tmp_path / "spool"
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(folder), str(n)])
        for n in range(4)
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0, 0]
    batches = read_spool(folder / "0123456789abcdef.zip").batches
    keys = sorted(k for b in batches for k in b.params)
    assert keys == sorted(f"w{n}_{i}" for n in range(4) for i in range(10))
    assert [p.name for p in folder.iterdir()] == ["0123456789abcdef.zip"]


def test_a_file_name_that_is_not_utf8_is_spooled_and_replayed(
    tmp_path: Path, run: RunRef, client: MlflowClient
) -> None:
    """A name the file system holds but UTF-8 cannot: the spool is still written."""
    name = os.fsdecode(b"caf\xe9.txt")
    single = tmp_path / name
    single.write_text("one")
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / name).write_text("two")
    path = write_spool(
        run,
        Spooled(
            params={"lr": "0.5"},
            files=[(str(single), None), (str(folder), "model")],
            end=RunEnd("FINISHED", 1_700_000_001_000),
        ),
        tmp_path / "spool",
    )
    replay(path)
    logged = client.get_run(run.run_id)
    assert logged.info.status == "FINISHED"
    assert logged.data.params == {"lr": "0.5"}
    root = Path(client.download_artifacts(run.run_id, "", str(tmp_path / "back")))
    assert (root / "caf\ufffd.txt").read_text() == "one"
    assert (root / "model" / "caf\ufffd.txt").read_text() == "two"


def test_what_the_reader_would_refuse_is_left_out_of_the_spool_and_counted(
    tmp_path: Path, run: RunRef, client: MlflowClient
) -> None:
    """Our own spool must never be rejected whole: only what fails is lost."""
    good = tmp_path / "good.txt"
    good.write_text("good")
    odd = tmp_path / "odd.txt"
    odd.write_text("odd")
    spooled = Spooled(
        params={"lr": "0.5", "caf\udce9": "x"},
        metrics=[MetricPoint("loss", 0.5, 0, 1_700_000_000_000)],
        files=[
            (str(good), "reports"),
            (str(odd), "caf\udce9"),
            (str(odd), "a\\b"),
        ],
        texts=[("t", "notes\\t.txt")],
        end=RunEnd("FINISHED", 1_700_000_001_000),
    )
    path = write_spool(run, spooled, tmp_path / "spool")
    assert spooled.refused.values == 1
    assert spooled.refused.files == [
        "caf\ufffd/odd.txt",
        "a\\b/odd.txt",
        "notes\\t.txt",
    ]
    assert any("holds a backslash" in reason for reason in spooled.refused.reasons)
    (batch,) = read_spool(path).batches
    assert batch.params == {"lr": "0.5"}
    assert batch.end == RunEnd("FINISHED", 1_700_000_001_000)
    replay(path)
    logged = client.get_run(run.run_id)
    assert logged.info.status == "FINISHED"
    assert logged.data.params == {"lr": "0.5"}
    assert logged.data.metrics == {"loss": 0.5}
    assert [a.path for a in client.list_artifacts(run.run_id, "reports")] == [
        "reports/good.txt"
    ]


def test_folder_files_whose_names_collide_once_valid_lose_only_one(
    tmp_path: Path, run: RunRef
) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / os.fsdecode(b"caf\xe9.txt")).write_text("one")
    (folder / os.fsdecode(b"caf\xe8.txt")).write_text("two")
    (folder / "ok.txt").write_text("ok")
    spooled = Spooled(files=[(str(folder), "model")], end=RunEnd("FINISHED", 2))
    path = write_spool(run, spooled, tmp_path / "spool")
    assert spooled.refused.files == ["model/caf\ufffd.txt"]
    (batch,) = read_spool(path).batches
    assert batch.end == RunEnd("FINISHED", 2)
