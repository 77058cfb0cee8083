"""Experiments the package creates open on their runs in MLflow 3's UI."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipelinex_mlflow.tracking.runs import (
    EXPERIMENT_KIND,
    EXPERIMENT_KIND_TAG,
    ensure_experiment,
)

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient


def test_a_created_experiment_is_tagged_for_model_development(
    tracking_uri: str, client: MlflowClient
) -> None:
    experiment_id = ensure_experiment(tracking_uri, "made_here")
    tags = client.get_experiment(experiment_id).tags
    assert tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND == "custom_model_development"


def test_an_existing_experiment_keeps_the_kind_its_owner_gave_it(
    tracking_uri: str, client: MlflowClient
) -> None:
    theirs = client.create_experiment(
        "theirs", tags={EXPERIMENT_KIND_TAG: "genai_development"}
    )
    untagged = client.create_experiment("untagged")
    assert ensure_experiment(tracking_uri, "theirs") == theirs
    assert ensure_experiment(tracking_uri, "untagged") == untagged
    assert client.get_experiment(theirs).tags[EXPERIMENT_KIND_TAG] == (
        "genai_development"
    )
    assert EXPERIMENT_KIND_TAG not in client.get_experiment(untagged).tags
