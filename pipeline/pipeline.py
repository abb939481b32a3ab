"""create_pipeline: the one pipeline definition every runner uses.

    [SourceFingerprint, Kubeflow only: the data's fingerprint taken in the run]
    VideoIngest -> StatisticsGen -> DataGate (our schema, TFDV's anomalies and drift
                   against the last accepted span; refuses a bad span, failing the run)
                -> Trainer (trainer.run.run_fn; its schema is the gate's, so it runs
                   only on an accepted span; warm-started from the served model when
                   trainer.warm_start)
    ServedModel (the model in serving_dir now) -> Evaluator (TFMA, baseline)
                -> ModelReport, Pusher (never pushes the served model again)

It builds the DAG and nothing else: paths, Beam arguments and metadata come from
the config and the runner, so the local runner and Kubeflow share it. Every node
is a plain container step on Kubeflow (no resolver node: open-source KFP cannot
run one, see components/served_model/component.py).
"""

from __future__ import annotations

import json

from tfx import v1 as tfx

from components.data_gate.component import DataGate
from components.data_gate.reference import reference_dir
from components.evaluator.component import Evaluator
from components.ingest.component import VideoIngest
from components.pusher.component import Pusher
from components.report.component import ModelReport
from components.served_model.component import ServedModel
from components.source_fingerprint.component import SourceFingerprint
from pipeline import evaluation
from pipeline.config import PipelineConfig

SERVED_MODEL_ID = "ServedModel"
FINGERPRINT_ID = "SourceFingerprint"
DATA_GATE_ID = "DataGate"
# Components every runner must execute on each run, caching or not: what they
# read (the serving directory, the source's listing) changes between runs while
# their inputs do not.
ALWAYS_RUN = (SERVED_MODEL_ID, FINGERPRINT_ID)


def planned_class_count(config: PipelineConfig) -> int | None:
    """The number of classes the ingest will select, when the config fixes it."""
    classes = config.ingest.selection.classes
    if isinstance(classes, int):
        return classes or None
    return len(classes)


def create_components(
    config: PipelineConfig,
    span=None,
    source_fingerprint: str = "",
    fingerprint_in_run: bool = False,
) -> list:
    """The pipeline's components, in order.

    Args:
      config: the pipeline's configuration.
      span: the span to ingest, default config.span; the Kubeflow compiler passes a
        RuntimeParameter so each run may choose it.
      source_fingerprint: what the data holds now (components/ingest/fingerprint.py),
        which the local runner computes before the run; it keys the ingest's cache
        ('' : none).
      fingerprint_in_run: take the fingerprint in the run instead, with a
        SourceFingerprint step whose output feeds the ingest's `source_fingerprint`
        (what a compiled Kubeflow pipeline needs: its spec is fixed, its data not).
    """
    span = config.span if span is None else span
    head = []
    if fingerprint_in_run:
        if source_fingerprint:
            raise ValueError("give source_fingerprint or fingerprint_in_run, not both")
        fingerprint = SourceFingerprint(config=config.ingest, span=span).with_id(FINGERPRINT_ID)
        source_fingerprint = fingerprint.outputs["fingerprint"].future()[0].value
        head = [fingerprint]
    ingest = VideoIngest(config=config.ingest, span=span, source_fingerprint=source_fingerprint)
    statistics_gen = tfx.components.StatisticsGen(examples=ingest.outputs["examples"])
    data_gate = DataGate(
        examples=ingest.outputs["examples"],
        statistics=statistics_gen.outputs["statistics"],
        config=config.data,
        reference_dir=reference_dir(config.pipeline_root, config.name),
    ).with_id(DATA_GATE_ID)
    served = ServedModel(serving_dir=config.serving_dir).with_id(SERVED_MODEL_ID)
    trainer = tfx.components.Trainer(
        run_fn="trainer.run.run_fn",
        examples=ingest.outputs["examples"],
        # The gate's output: the Trainer waits for it, and never runs on a refused span.
        schema=data_gate.outputs["schema"],
        custom_config={"trainer": json.loads(config.trainer.to_json())},
        # Only when asked: a base model in the inputs changes the Trainer's cache key
        # on every run (ServedModel always runs).
        base_model=served.outputs["model"] if config.trainer.warm_start else None,
    )
    evaluator = Evaluator(
        examples=ingest.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=served.outputs["model"],
        eval_config=evaluation.eval_config(config.evaluation, planned_class_count(config)),
    )
    report = ModelReport(
        evaluation=evaluator.outputs["evaluation"],
        blessing=evaluator.outputs["blessing"],
        model_run=trainer.outputs["model_run"],
        examples=ingest.outputs["examples"],
        model=trainer.outputs["model"],
        data_gate=data_gate.outputs["anomalies"],
        top_k=config.evaluation.top_k,
        gallery_size=config.evaluation.gallery_size,
    )
    pusher = Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=config.serving_dir)
        ),
    )
    return [
        *head,
        ingest,
        statistics_gen,
        data_gate,
        served,
        trainer,
        evaluator,
        report,
        pusher,
    ]


def create_pipeline(
    config: PipelineConfig,
    beam_pipeline_args: list[str] | None = None,
    metadata_connection_config=None,
    span=None,
    source_fingerprint: str = "",
    fingerprint_in_run: bool = False,
) -> tfx.dsl.Pipeline:
    """The TFX pipeline for `config`.

    Args:
      config: the pipeline's configuration.
      beam_pipeline_args: Beam arguments for every Beam component (default:
        config.beam_args).
      metadata_connection_config: ML Metadata connection (local runs); None lets the
        orchestrator provide it (Kubeflow).
      span: the span to ingest (default config.span), e.g. a RuntimeParameter.
      source_fingerprint: keys the ingest's cache on the data (see create_components).
      fingerprint_in_run: take that fingerprint in a step of the run (Kubeflow).
    """
    return tfx.dsl.Pipeline(
        pipeline_name=config.name,
        pipeline_root=config.pipeline_root,
        components=create_components(config, span, source_fingerprint, fingerprint_in_run),
        enable_cache=config.cache_enabled,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(
            config.beam_args if beam_pipeline_args is None else beam_pipeline_args
        ),
    )
