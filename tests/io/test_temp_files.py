"""A run removes every temporary file it made, in every runner (real ``kedro run``).

Found by an adversarial try: after a successful ``kedro run --runner
ParallelRunner``, one ``pipelinex_mlflow-*`` folder per file a worker saved was
left in the temporary folder, with the artifact inside.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.reliability_project import EXPERIMENT, generate, kedro, kedro_env, output_of

if TYPE_CHECKING:
    from pathlib import Path

    from mlflow.tracking import MlflowClient

STEPS = 3


@pytest.mark.parametrize(
    ("runner", "start_method"),
    [
        ("SequentialRunner", ""),
        ("ThreadRunner", ""),
        ("ParallelRunner", "fork"),
        # macOS, Windows and Python 3.14's Linux default.
        ("ParallelRunner", "spawn"),
    ],
)
def test_a_run_leaves_nothing_in_the_temporary_folder(
    tmp_path: Path,
    short_tmp: Path,
    tracking_uri: str,
    client: MlflowClient,
    runner: str,
    start_method: str,
) -> None:
    project = generate(tmp_path / "project", steps=STEPS)
    temporary = short_tmp
    (temporary / "someone_elses_file").write_text("kept")
    before = sorted(p.name for p in temporary.iterdir())

    env = kedro_env(
        tracking_uri,
        TMPDIR=str(temporary),
        RELIABILITY_PAUSE_S="0",
        KEDRO_MP_CONTEXT=start_method,
    )
    result = kedro(project, "run", "--runner", runner, env=env)
    assert result.returncode == 0, output_of(result)

    # The run did upload its files: the folders held them until they were sent.
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    uploaded = {info.path for info in client.list_artifacts(run.info.run_id)}
    assert {f"report_{i}.json" for i in range(STEPS)} <= uploaded, uploaded
    left = sorted(p.name for p in temporary.iterdir())
    assert left == before, sorted(
        str(p.relative_to(temporary)) for p in temporary.rglob("*")
    )
