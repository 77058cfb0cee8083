"""Benchmarks, run by hand: import cost, the start-up check, logging, a dataset save.

Usage (from the repository root, in the project's virtualenv):

    python benchmarks/bench_tracking.py [--server http://127.0.0.1:5000] [--database URI]

Prints a Markdown table of median milliseconds over ``--repeat`` fresh runs; the
README quotes its results.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

N_PARAMS = 100
N_METRICS = 1000


def _import_ms(module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    out = subprocess.run(  # noqa: S603 - our own interpreter, fixed code
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return float(out.strip().splitlines()[-1]) * 1000


def _median_ms(action: Callable[[], None], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _store_rows(label: str, uri: str, repeat: int) -> list[tuple[str, float, str]]:
    from mlflow.tracking import MlflowClient

    from pipelinex_mlflow import MLflowDataSet
    from pipelinex_mlflow.tracking import (
        RunLogger,
        RunRef,
        check_reachable,
        drain_run,
        set_current_run,
    )

    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.create_experiment(f"bench-{time.time()}")

    def new_run() -> RunRef:
        return RunRef(uri, client.create_run(experiment_id).info.run_id)

    def batched() -> None:
        logger = RunLogger(new_run())
        logger.log_params({f"p{i}": i for i in range(N_PARAMS)})
        logger.log_metrics({f"m{i}": i for i in range(N_METRICS)})
        logger.flush(wait=True)

    def per_call() -> None:
        run = new_run()
        for i in range(N_PARAMS):
            client.log_param(run.run_id, f"p{i}", i)
        for i in range(N_METRICS):
            client.log_metric(run.run_id, f"m{i}", i)

    def dataset_saves(*, wait: bool = False) -> None:
        run = new_run()
        set_current_run(run)
        datasets = [
            MLflowDataSet(dataset="m", dataset_name="score"),
            MLflowDataSet(dataset="a", dataset_name="cfg"),
            MLflowDataSet(dataset="json", dataset_name="js"),
        ]
        datasets[0].save(0.5)
        datasets[1].save({"a": 1, "c": {"d": 2.0}})
        datasets[2].save({"k": list(range(100))})
        if wait:
            drain_run(run)
        set_current_run(None)

    values = f"{N_PARAMS} params + {N_METRICS} metrics"
    check_reachable(uri)  # the first check imports the drivers and opens the paths
    return [
        (
            f"the start-up check, `check_reachable` ({label}): one `GET /health` "
            "or one database connection",
            _median_ms(lambda: check_reachable(uri, timeout_s=5), max(repeat, 10)),
            "",
        ),
        (
            f"{values}, one `RunLogger.flush(wait=True)` ({label})",
            _median_ms(batched, repeat),
            "",
        ),
        (
            f"{values}, one `MlflowClient` call per value ({label}), as kedro-mlflow logs",
            _median_ms(per_call, 1),
            "1 run",
        ),
        (
            f"`MLflowDataSet.save` of an `m`, an `a` dict and a `json` file ({label}): "
            "the saves return",
            _median_ms(dataset_saves, repeat),
            "",
        ),
        (
            f"the same, until everything has landed ({label})",
            _median_ms(lambda: dataset_saves(wait=True), repeat),
            "",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", help="also measure against this MLflow server URL")
    parser.add_argument(
        "--database", help="also measure against this database store URI (PostgreSQL)"
    )
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    rows = [
        (
            "`import pipelinex_mlflow` (fresh process)",
            statistics.median(
                _import_ms("pipelinex_mlflow") for _ in range(args.repeat)
            ),
            "",
        ),
        (
            "`import mlflow` (fresh process), for scale",
            statistics.median(_import_ms("mlflow") for _ in range(args.repeat)),
            "",
        ),
    ]

    uris = {"sqlite": f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"}
    if args.server:
        uris["HTTP"] = args.server
    if args.database:
        uris["database"] = args.database
    for label, uri in uris.items():
        rows.extend(_store_rows(label, uri, args.repeat))

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("| operation | median ms | note |\n|---|---|---|")
    for name, ms, note in rows:
        print(f"| {name} | {ms:,.0f} | {note} |")
    print(f"\nPeak RSS of the benchmark process: {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
