"""create_pipeline: the one pipeline definition every runner uses.

    [SourceFingerprint, Kubeflow only: the data's fingerprint taken in the run]
    VideoIngest -> StatisticsGen -> DataGate (our schema, TFDV's anomalies and drift
                   against the last accepted span; refuses a bad span, failing the run)
                -> Trainer (trainer.run.run_fn; its schema is the gate's, so it runs
                   only on an accepted span; warm-started from the served model when
                   trainer.warm_start)
    ServedModel (the model in serving_dir now) -> Evaluator (TFMA, baseline)
                -> ModelReport, Pusher (never pushes the served model again)
    With evaluation.reference_source, also: [ReferenceFingerprint, Kubeflow only]
    ReferenceIngest (after the DataGate; the fixed set, all eval, the span's classes)
                -> ReferenceEvaluator
    (the same TFMA config, same baseline); the Pusher pushes only a model both
    Evaluators blessed, and the report shows both.

It builds the DAG and nothing else: paths, Beam arguments and metadata come from
the config and the runner, so the local runner and Kubeflow share it. Every node
is a plain container step on Kubeflow (no resolver node: open-source KFP cannot
run one, see components/served_model/component.py).
"""

from __future__ import annotations

import dataclasses
import json

# TFX's modules, not `tfx.v1`: that one imports every extension, Google Cloud's
# among them (~4 s of a local run's start on 2 cores).
from tfx.components import StatisticsGen, Trainer
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import pusher_pb2

from components.data_gate.component import DataGate
from components.data_gate.reference import reference_dir
from components.evaluator.component import Evaluator
from components.ingest.component import VideoIngest
from components.ingest.config import IngestConfig
from components.pusher.component import Pusher
from components.report.component import ModelReport
from components.served_model.component import ServedModel
from components.source_fingerprint.component import SourceFingerprint
from pipeline import evaluation
from pipeline.config import PipelineConfig

SERVED_MODEL_ID = "ServedModel"
FINGERPRINT_ID = "SourceFingerprint"
DATA_GATE_ID = "DataGate"
REFERENCE_FINGERPRINT_ID = "ReferenceFingerprint"
REFERENCE_INGEST_ID = "ReferenceIngest"
REFERENCE_EVALUATOR_ID = "ReferenceEvaluator"
# Components every runner must execute on each run, caching or not: what they
# read (the serving directory, the source's listing) changes between runs while
# their inputs do not.
ALWAYS_RUN = (SERVED_MODEL_ID, FINGERPRINT_ID, REFERENCE_FINGERPRINT_ID)


def planned_class_count(config: PipelineConfig) -> int | None:
    """The number of classes the ingest will select, when the config fixes it."""
    classes = config.ingest.selection.classes
    if isinstance(classes, int):
        return classes or None
    return len(classes)


def reference_ingest_config(config: PipelineConfig) -> IngestConfig | None:
    """How the reference set (evaluation.reference_source) is ingested; None without one.

    The span's ingest config with another source, no split lists and every video
    in eval (`SelectionSpec.eval_only`), so frames, sampling and JPEG quality match
    what the model was trained on; the classes come from the span's Examples when
    it runs (VideoIngest's `label_examples`).
    """
    source = config.evaluation.reference_source
    if not source:
        return None
    selection = dataclasses.replace(
        config.ingest.selection, classes=0, clips_per_class=0, split=0, eval_only=True
    )
    return dataclasses.replace(config.ingest, source=source, split_lists="", selection=selection)


def create_components(
    config: PipelineConfig,
    span=None,
    source_fingerprint: str = "",
    fingerprint_in_run: bool = False,
    reference_fingerprint: str = "",
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
        The reference set gets a ReferenceFingerprint step the same way.
      reference_fingerprint: what evaluation.reference_source holds now (local runner),
        keying the reference ingest's cache as source_fingerprint keys the span's.
    """
    span = config.span if span is None else span
    reference_config = reference_ingest_config(config)
    head = []
    if fingerprint_in_run:
        if source_fingerprint or reference_fingerprint:
            raise ValueError("give the fingerprints or fingerprint_in_run, not both")
        fingerprint = SourceFingerprint(config=config.ingest, span=span).with_id(FINGERPRINT_ID)
        source_fingerprint = fingerprint.outputs["fingerprint"].future()[0].value
        head = [fingerprint]
        if reference_config is not None:
            reference_step = SourceFingerprint(config=reference_config, span=0).with_id(
                REFERENCE_FINGERPRINT_ID
            )
            reference_fingerprint = reference_step.outputs["fingerprint"].future()[0].value
            head.append(reference_step)
    ingest = VideoIngest(config=config.ingest, span=span, source_fingerprint=source_fingerprint)
    statistics_gen = StatisticsGen(examples=ingest.outputs["examples"])
    data_gate = DataGate(
        examples=ingest.outputs["examples"],
        statistics=statistics_gen.outputs["statistics"],
        config=config.data,
        reference_dir=reference_dir(config.pipeline_root, config.name),
    ).with_id(DATA_GATE_ID)
    served = ServedModel(serving_dir=config.serving_dir).with_id(SERVED_MODEL_ID)
    trainer = Trainer(
        run_fn="trainer.run.run_fn",
        examples=ingest.outputs["examples"],
        # The gate's output: the Trainer waits for it, and never runs on a refused span.
        schema=data_gate.outputs["schema"],
        custom_config={"trainer": json.loads(config.trainer.to_json())},
        # Only when asked: a base model in the inputs changes the Trainer's cache key
        # on every run (ServedModel always runs).
        base_model=served.outputs["model"] if config.trainer.warm_start else None,
    )
    eval_config = evaluation.eval_config(config.evaluation, planned_class_count(config))
    evaluator = Evaluator(
        examples=ingest.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=served.outputs["model"],
        eval_config=eval_config,
    )
    reference = []
    if reference_config is not None:
        reference_ingest = VideoIngest(
            config=reference_config,
            source_fingerprint=reference_fingerprint,
            label_examples=ingest.outputs["examples"],
        ).with_id(REFERENCE_INGEST_ID)
        # Read only for a span the gate accepted: a refused span evaluates nothing.
        reference_ingest.add_upstream_node(data_gate)
        reference_evaluator = Evaluator(
            examples=reference_ingest.outputs["examples"],
            model=trainer.outputs["model"],
            baseline_model=served.outputs["model"],
            eval_config=eval_config,
        ).with_id(REFERENCE_EVALUATOR_ID)
        reference = [reference_ingest, reference_evaluator]
    report = ModelReport(
        evaluation=evaluator.outputs["evaluation"],
        blessing=evaluator.outputs["blessing"],
        model_run=trainer.outputs["model_run"],
        examples=ingest.outputs["examples"],
        model=trainer.outputs["model"],
        data_gate=data_gate.outputs["anomalies"],
        metric_names=evaluation.report_metric_names(config.evaluation.accuracy_top_k),
        accuracy_top_k=config.evaluation.accuracy_top_k,
        gallery_size=config.evaluation.gallery_size,
        reference_evaluation=reference[1].outputs["evaluation"] if reference else None,
        reference_blessing=reference[1].outputs["blessing"] if reference else None,
    )
    pusher = Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        reference_blessing=reference[1].outputs["blessing"] if reference else None,
        push_destination=pusher_pb2.PushDestination(
            filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=config.serving_dir)
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
        *reference,
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
    reference_fingerprint: str = "",
) -> tfx_pipeline.Pipeline:
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
      reference_fingerprint: keys the reference set's ingest the same way.
    """
    return tfx_pipeline.Pipeline(
        pipeline_name=config.name,
        pipeline_root=config.pipeline_root,
        components=create_components(
            config, span, source_fingerprint, fingerprint_in_run, reference_fingerprint
        ),
        enable_cache=config.cache_enabled,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(
            config.beam_args if beam_pipeline_args is None else beam_pipeline_args
        ),
    )
