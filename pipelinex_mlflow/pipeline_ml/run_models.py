"""Which pipeline models a run logs at its end, found by the training nodes it runs.

Kedro hands the hooks the pipeline it runs as a plain ``Pipeline`` (it sums and
filters the registered ones), so the model declarations are matched by node:
a run that runs the training logs the model; a filtered run that produces some
of the model's inputs logs it too, saying which inputs come from earlier runs; a
run that produces none of them, or a namespaced copy, says why it logs nothing.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from pipelinex_mlflow.io import MLflowDataSet
from pipelinex_mlflow.masking import get_logger
from pipelinex_mlflow.pipeline_ml.model_options import PipelineModelError
from pipelinex_mlflow.pipeline_ml.packaging import check_catalog, log_pipeline_model
from pipelinex_mlflow.pipeline_ml.spec import SpecMatch, matches

if TYPE_CHECKING:
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline

    from pipelinex_mlflow.pipeline_ml.spec import InferenceSpec
    from pipelinex_mlflow.tracking import RunLogger

logger = get_logger(__name__)


class RunModels:
    """The pipeline models one run logs when it ends.

    Args:
        specs: The model declarations to log.
    """

    def __init__(
        self,
        specs: list[InferenceSpec],
        metrics: dict[str, list[str]] | None = None,
    ) -> None:
        self.specs = specs
        # By model name: the metric entries computed downstream of its inputs.
        self.metrics = metrics or {}

    @classmethod
    def plan(cls, pipeline: Pipeline, catalog: CatalogProtocol[Any, Any]) -> RunModels:
        """The models ``pipeline``'s run logs; checked before any node runs.

        Raises:
            PipelineModelError: When the catalog keeps a model input in memory
                only, or two models would share a name.
        """
        specs, metrics = [], {}
        for match in matches(pipeline):
            if _should_log(match, catalog):
                check_catalog(match.spec, catalog)
                specs.append(match.spec)
                metrics[match.spec.options.name] = _metrics_describing(
                    match.spec, pipeline, catalog
                )
        clashes = [
            name for name, n in Counter(s.options.name for s in specs).items() if n > 1
        ]
        if clashes:
            raise PipelineModelError(
                f"This run would log several pipeline_ml_factory models named "
                f"{', '.join(map(repr, clashes))}. Give each a model_name of its own."
            )
        return cls(specs, metrics)

    def log(
        self,
        catalog: CatalogProtocol[Any, Any],
        run_logger: RunLogger,
        relog_command: str,
    ) -> None:
        """Log each model into the run; a failure is reported, never raised.

        The training succeeded, so nothing is marked FAILED: the error says
        which ``relog_command`` logs the model from the run's outputs again.
        """
        for spec in self.specs:
            try:
                log_pipeline_model(
                    spec,
                    catalog,
                    run_logger,
                    linked_metrics=self.metrics.get(spec.options.name, ()),
                )
            except Exception as exc:
                logger.error(
                    "The run succeeded, but logging its pipeline model %r failed: "
                    "%s: %s. To log it from this run's outputs: %s --model-name %s",
                    spec.options.name,
                    type(exc).__name__,
                    exc,
                    relog_command,
                    spec.options.name,
                )


def _metrics_describing(
    spec: InferenceSpec, pipeline: Pipeline, catalog: CatalogProtocol[Any, Any]
) -> list[str]:
    """The metric entries of nodes downstream of the model's inputs: they describe it.

    Examples are an evaluation node reading the fitted estimator, as for a
    ``dataset: model`` entry.
    """
    artifacts = set(spec.artifacts)
    described = []
    for node in pipeline.nodes:
        for output in node.outputs:
            dataset = catalog.get(output)
            if not isinstance(dataset, MLflowDataSet) or not dataset.logs_metrics:
                continue
            upstream = pipeline.to_nodes(node.name).all_outputs() - set(node.outputs)
            if artifacts & upstream:
                described.append(dataset.name or output)
    return sorted(described)


def _should_log(match: SpecMatch, catalog: CatalogProtocol[Any, Any]) -> bool:
    spec, name = match.spec, match.spec.options.name
    if not match.ran:
        logger.warning(
            "pipeline_ml_factory model %r is not logged: this run holds its training "
            "nodes only under namespace %s, which renames their datasets. Call "
            "pipeline_ml_factory with the namespaced training and inference "
            "pipelines (and the namespaced input_name) instead.",
            name,
            ", ".join(sorted(match.namespaces)),
        )
        return False
    if not match.missing:
        return True
    if spec.producers() and not match.produced_here:
        logger.warning(
            "pipeline_ml_factory model %r is not logged: this run leaves out the "
            "training nodes that produce its inputs (%s). Run them too, or log the "
            "model afterwards with `kedro mlflow modelify`.",
            name,
            ", ".join(sorted(set(spec.producers().values()))),
        )
        return False
    in_runs = [
        artifact
        for artifact in match.produced_before
        if isinstance(catalog.get(artifact), MLflowDataSet)
    ]
    if in_runs:
        logger.warning(
            "pipeline_ml_factory model %r is not logged: this run leaves out the "
            "nodes producing %s, an MLflowDataSet whose value lives in the run that "
            "produced it, not in this one. Run those nodes too, or log the model "
            "into that run: `kedro mlflow modelify --pipeline <pipeline> --model-name "
            "%s --run-id <that run>`.",
            name,
            ", ".join(in_runs),
            name,
        )
        return False
    if match.produced_before:
        logger.warning(
            "pipeline_ml_factory model %r is logged with %s from the catalog as "
            "earlier runs left them: this run leaves out the nodes producing them "
            "(%s).",
            name,
            ", ".join(match.produced_before),
            ", ".join(sorted(match.missing)),
        )
    return True
