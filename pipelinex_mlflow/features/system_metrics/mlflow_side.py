"""MLflow's system metrics (CPU, memory, disk, network, GPU) sampled during a run.

MLflow's own monitors (``mlflow.system_metrics.metrics``) collect and average the
figures, under MLflow's names (``system/cpu_utilization_percentage``...), so the
MLflow UI shows them in its System metrics tab. MLflow's
``SystemMetricsMonitor`` is not used to send them: it asks the server for the
run's status at every sample and drops the samples of the last, unfinished
period (a run shorter than the interval gets none). Here the averages go through
the run's background sender every ``samples_per_log`` samples, and the rest when
the run ends, so even a short run has one point, and a long one costs a request
a minute.

``MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL`` and
``MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING`` are honoured as in MLflow.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from pipelinex_mlflow.masking import get_logger
from pipelinex_mlflow.tracking.run_logger import RunLogger

if TYPE_CHECKING:
    from pipelinex_mlflow.tracking.run_ref import RunRef

logger = get_logger(__name__)

PREFIX = "system/"
DEFAULT_INTERVAL_S = 10.0
DEFAULT_SAMPLES_PER_LOG = 6
_INTERVAL_ENV_VAR = "MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL"
_SAMPLES_ENV_VAR = "MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING"


def _number_from_env(name: str, default: float) -> float:
    text = os.environ.get(name)
    try:
        return float(text) if text else default
    except ValueError:
        return default


class SystemMetricsSampler:
    """Samples this machine's use while a run runs; stop it before the run ends.

    Args:
        run: The run the metrics go to.
        interval_s: Seconds between samples.
        samples_per_log: Samples averaged into one logged point.
    """

    def __init__(
        self,
        run: RunRef,
        interval_s: float = DEFAULT_INTERVAL_S,
        samples_per_log: int = DEFAULT_SAMPLES_PER_LOG,
    ) -> None:
        self.run = run
        self.interval_s = _number_from_env(_INTERVAL_ENV_VAR, interval_s)
        self.samples_per_log = max(
            1, int(_number_from_env(_SAMPLES_ENV_VAR, samples_per_log))
        )
        self._monitors = _monitors()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._samples = 0
        self._step = 0
        self._thread: threading.Thread | None = None

    @classmethod
    def start_for(
        cls, run: RunRef, interval_s: float = DEFAULT_INTERVAL_S
    ) -> SystemMetricsSampler | None:
        """Start sampling for ``run``; ``None`` (with one log line) without psutil."""
        try:
            sampler = cls(run, interval_s)
        except ImportError as exc:
            logger.info(
                "No system metrics for MLflow run %s: %s (pip install psutil).",
                run.run_id,
                exc,
            )
            return None
        sampler.start()
        return sampler

    def start(self) -> None:
        """Take the first sample now, then one every ``interval_s`` in a daemon thread."""
        self._sample()
        self._thread = threading.Thread(
            target=self._loop, name="pipelinex_mlflow-system-metrics", daemon=True
        )
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self._sample()
                if self._samples >= self.samples_per_log:
                    self._publish()
            except Exception as exc:  # a sampler never stops the run
                logger.debug("System metrics sampling failed: %s", exc)

    def _sample(self) -> None:
        with self._lock:
            for monitor in self._monitors:
                monitor.collect_metrics()
            self._samples += 1

    def _publish(self) -> None:
        with self._lock:
            if not self._samples:
                return
            metrics: dict[str, Any] = {}
            for monitor in self._monitors:
                metrics.update(monitor.aggregate_metrics())
                monitor.clear_metrics()
            self._samples = 0
            step, self._step = self._step, self._step + 1
        run_logger = RunLogger(self.run)
        run_logger.log_metrics({PREFIX + k: v for k, v in metrics.items()}, step=step)
        run_logger.flush()

    def stop(self) -> None:
        """Take a last sample and queue what is not logged yet (before the run ends)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval_s + 5)
        self._sample()
        self._publish()


def _monitors() -> list[Any]:
    """MLflow's monitors, the GPU one where a GPU and its library are there.

    Raises:
        ImportError: Without psutil, which MLflow's monitors need.
    """
    from mlflow.system_metrics.metrics.cpu_monitor import CPUMonitor
    from mlflow.system_metrics.metrics.disk_monitor import DiskMonitor
    from mlflow.system_metrics.metrics.network_monitor import NetworkMonitor

    # MLflow's monitors are untyped.
    monitors: list[Any] = [
        CPUMonitor(),  # type: ignore[no-untyped-call]
        DiskMonitor(),  # type: ignore[no-untyped-call]
        NetworkMonitor(),  # type: ignore[no-untyped-call]
    ]
    try:
        from mlflow.system_metrics.metrics.gpu_monitor import GPUMonitor

        monitors.append(GPUMonitor())  # type: ignore[no-untyped-call]
    except Exception:  # no NVIDIA GPU, or no pynvml: no GPU figures
        logger.debug("No GPU metrics", exc_info=True)
    return monitors
