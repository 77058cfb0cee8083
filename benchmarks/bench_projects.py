"""Side-by-side benchmark: the same Kedro project, untracked and tracked by each tool.

Usage (from the repository root, in the project's virtualenv):

    python benchmarks/bench_projects.py [--sizes 1 10] [--repeat 3]
        [--stores sqlite http] [--tools untracked pipelinex_mlflow kedro_mlflow]
        [--python kedro_mlflow=/path/to/venv/bin/python]

Each repetition runs the tools one after the other (A B C A B C ...), each with
``kedro run`` in a fresh process, against a pre-created SQLite store (a fresh copy
of a migrated one per run) or a real ``mlflow server`` on 127.0.0.1 (one per size,
fresh database). HTTP requests per run are counted from the server's access log,
and what landed (status, params, metric keys, history points, artifacts) is read
back, so that the comparison is honest. A tool that needs other packages (say
kedro-mlflow) runs with the interpreter given by ``--python``.

Prints a Markdown table: the median wall-clock time, the overhead over the
untracked median, requests per run, and what landed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from project_generator import EXPERIMENT, TOOLS, generate

_ACCESS_LINE = re.compile(r'"(?:GET|POST|PUT|PATCH|DELETE) \S+ HTTP/1\.1"')
ENV = {
    "KEDRO_DISABLE_TELEMETRY": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "KEDRO_MP_CONTEXT": "fork",
}


@dataclass
class Result:
    """One tool at one size on one store."""

    seconds: list[float] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    landed: str = ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A real ``mlflow server`` on 127.0.0.1 with an access log."""

    def __init__(self, root: Path) -> None:
        self.log = root / "server.log"
        self.url = f"http://127.0.0.1:{_free_port()}"
        self._log_file = self.log.open("w")
        self._process = subprocess.Popen(  # noqa: S603 - our interpreter
            [
                sys.executable,
                "-m",
                "mlflow",
                "server",
                "--backend-store-uri",
                f"sqlite:///{root / 'server.db'}",
                "--artifacts-destination",
                str(root / "artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                self.url.rsplit(":", 1)[1],
                "--workers",
                "2",
            ],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **ENV, "MLFLOW_TRACKING_URI": ""},
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2):  # noqa: S310
                    return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"mlflow server did not start:\n{self.log.read_text()}")

    def requests_since(self, offset: int) -> int:
        with self.log.open("rb") as log:
            log.seek(offset)
            return len(_ACCESS_LINE.findall(log.read().decode("utf-8", "replace")))

    def offset(self) -> int:
        return self.log.stat().st_size

    def stop(self) -> None:
        os.killpg(self._process.pid, signal.SIGTERM)
        self._process.wait(timeout=30)
        self._log_file.close()


def _migrated_db(root: Path) -> Path:
    from mlflow.tracking import MlflowClient

    db = root / "migrated.db"
    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


def _landed(tracking_uri: str) -> str:
    """What the newest run of the experiment holds, in one line."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        return "no experiment"
    runs = client.search_runs(
        [experiment.experiment_id], order_by=["attributes.start_time DESC"]
    )
    if not runs:
        return "no run"
    run = runs[0]
    history = client.get_metric_history(run.info.run_id, "loss_history")
    artifacts = _count_artifacts(client, run.info.run_id)
    return (
        f"{run.info.status}, {len(run.data.params)} params, "
        f"{len(run.data.metrics)} metric keys, {len(history)} history points, "
        f"{artifacts} artifacts"
    )


def _count_artifacts(client: object, run_id: str, path: str | None = None) -> int:
    total = 0
    for info in client.list_artifacts(run_id, path):  # type: ignore[attr-defined]
        total += _count_artifacts(client, run_id, info.path) if info.is_dir else 1
    return total


def _run_once(python: str, project: Path, tracking_uri: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - a chosen interpreter, fixed arguments
        [python, "-m", "kedro", "run"],
        cwd=project,
        env={**os.environ, **ENV, "MLFLOW_TRACKING_URI": tracking_uri},
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"kedro run failed in {project}:\n{done.stderr[-3000:]}")
    return seconds


def bench(
    sizes: list[int],
    stores: list[str],
    tools: list[str],
    repeat: int,
    pythons: dict[str, str],
) -> dict[tuple[int, str, str], Result]:
    """Run every tool at every size on every store; return the results."""
    results: dict[tuple[int, str, str], Result] = {}
    with tempfile.TemporaryDirectory(prefix="bench-projects-") as tmp:
        root = Path(tmp)
        migrated = _migrated_db(root)
        for size in sizes:
            for store in stores:
                (root / f"server-{size}").mkdir(exist_ok=True)
                server = Server(root / f"server-{size}") if store == "http" else None
                try:
                    _bench_store(
                        root,
                        migrated=migrated,
                        size=size,
                        store=store,
                        server=server,
                        tools=tools,
                        repeat=repeat,
                        pythons=pythons,
                        results=results,
                    )
                finally:
                    if server is not None:
                        server.stop()
    return results


def _bench_store(
    root: Path,
    *,
    migrated: Path,
    size: int,
    store: str,
    server: Server | None,
    tools: list[str],
    repeat: int,
    pythons: dict[str, str],
    results: dict[tuple[int, str, str], Result],
) -> None:
    for rep in range(repeat):
        for tool in tools:
            # A new folder each time: MLflow caches a store per URI, so a database
            # replaced at the same path would still be read from the old file.
            folder = root / f"{tool}-{size}-{store}-{rep}"
            if store == "sqlite":
                folder.mkdir(parents=True)
                shutil.copy(migrated, folder / "mlflow.db")
                uri = f"sqlite:///{folder / 'mlflow.db'}"
            else:
                assert server is not None
                uri = server.url
            project = generate(folder / "project", tool, size, tracking_uri=uri)
            offset = server.offset() if server else 0
            python = pythons.get(tool, sys.executable)
            seconds = _run_once(python, project, uri)
            result = results.setdefault((size, store, tool), Result())
            result.seconds.append(seconds)
            if server is not None:
                result.requests.append(server.requests_since(offset))
            if tool != "untracked":
                result.landed = _landed(uri)


def table(results: dict[tuple[int, str, str], Result]) -> str:
    """The Markdown table of ``results``."""
    lines = [
        "| size | store | tool | median s | overhead s | requests/run | what landed |",
        "|---|---|---|---|---|---|---|",
    ]
    for (size, store, tool), result in sorted(results.items()):
        base = results.get((size, store, "untracked"))
        median = statistics.median(result.seconds)
        overhead = median - statistics.median(base.seconds) if base else float("nan")
        requests = (
            f"{statistics.median(result.requests):.0f}" if result.requests else ""
        )
        lines.append(
            f"| {size}x | {store} | {tool} | {median:.2f} | "
            f"{'' if tool == 'untracked' else f'{overhead:+.2f}'} | {requests} | "
            f"{result.landed} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--stores", nargs="+", default=["sqlite", "http"])
    parser.add_argument(
        "--tools", nargs="+", default=["untracked", "pipelinex_mlflow"], choices=TOOLS
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--python",
        action="append",
        default=[],
        metavar="TOOL=PATH",
        help="the interpreter for a tool, e.g. kedro_mlflow=/venv/bin/python",
    )
    args = parser.parse_args()
    pythons = dict(item.split("=", 1) for item in args.python)
    results = bench(args.sizes, args.stores, args.tools, args.repeat, pythons)
    print(table(results))


if __name__ == "__main__":
    main()
