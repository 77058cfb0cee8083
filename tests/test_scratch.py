"""Temporary folders of a run: made on use, removed only by the process that made them."""

from __future__ import annotations

import copy
import multiprocessing
import pickle
from typing import TYPE_CHECKING

from pipelinex_mlflow.scratch import ScratchFolder, WorkerSpool

if TYPE_CHECKING:
    from pathlib import Path


def _worker_puts_and_claims(spool: WorkerSpool, name: str) -> None:
    assert spool.in_worker()
    spool.put({"from": "worker"})
    assert spool.claim(name)
    spool.remove()  # a worker never removes the main process's folder


class TestScratchFolder:
    def test_made_on_first_use_and_removed(self) -> None:
        folder = ScratchFolder("pipelinex_mlflow-test-")
        assert not folder.exists
        path = folder.path
        assert path.is_dir()
        folder.remove()
        assert not path.exists()

    def test_removed_when_collected(self) -> None:
        folder = ScratchFolder("pipelinex_mlflow-test-")
        path = folder.path
        del folder
        assert not path.exists()

    def test_a_copy_uses_the_folder_but_never_removes_it(self) -> None:
        folder = ScratchFolder("pipelinex_mlflow-test-")
        path = folder.path
        for duplicate in (copy.copy(folder), pickle.loads(pickle.dumps(folder))):
            assert duplicate.path == path
            duplicate.remove()
            assert path.is_dir()
        folder.remove()
        assert not path.exists()


class TestWorkerSpool:
    def test_records_and_claims_across_processes(self) -> None:
        spool = WorkerSpool("pipelinex_mlflow-test-")
        for method in ("fork", "spawn"):
            worker = multiprocessing.get_context(method).Process(
                target=_worker_puts_and_claims, args=(spool, method)
            )
            worker.start()
            worker.join(timeout=120)
            assert worker.exitcode == 0
            assert spool.exists
            assert not spool.claim(method)
        assert spool.records() == [{"from": "worker"}, {"from": "worker"}]
        assert not spool.in_worker()
        spool.remove()
        assert spool.records() == []

    def test_a_half_written_record_is_never_read(self, tmp_path: Path) -> None:
        spool = WorkerSpool("pipelinex_mlflow-test-")
        (spool.path / "x.part").write_text("{not json")
        (spool.path / "y.json").write_text("{not json")
        assert spool.records() == []
        spool.remove()
