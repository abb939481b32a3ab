"""VideoIngest: a TFX component that turns videos into an `Examples` artifact.

A plain custom Beam component (not FileBasedExampleGen, whose Kubeflow V2 driver
open-source KFP may not run). Usage:

    from components.ingest.component import VideoIngest
    from components.ingest.config import IngestConfig

    ingest = VideoIngest(config=IngestConfig(
        source="https://storage.googleapis.com/thumos14_files/UCF101_videos.zip",
        split_lists="https://www.crcv.ucf.edu/data/UCF101/"
                    "UCF101TrainTestSplits-RecognitionTask.zip",
        selection=SelectionSpec(classes=10, clips_per_class=30, split=1),
    ))
    statistics_gen = StatisticsGen(examples=ingest.outputs["examples"])

The output holds `Split-train/` and `Split-eval/` TFRecord shards of
tf.train.Example (see `records.py`), `labels.txt` (class names in label order)
and `ingest_report.json`; the label names are also the artifact's
`label_names` custom property.
"""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.ingest import executor
from components.ingest.config import IngestConfig


class VideoIngestSpec(types.ComponentSpec):
    """Parameters: the IngestConfig as JSON and the data span. Output: Examples."""

    PARAMETERS = {
        "config": ExecutionParameter(type=str),
        "span": ExecutionParameter(type=int, optional=True),
        # Part of the cache key: see fingerprint.py.
        "source_fingerprint": ExecutionParameter(type=str, optional=True),
    }
    # Optional: Examples whose classes (label_names, in label order) this ingest
    # keeps, so its labels mean what a model trained on those Examples predicts.
    INPUTS = {"label_examples": ChannelParameter(type=standard_artifacts.Examples, optional=True)}
    OUTPUTS = {"examples": ChannelParameter(type=standard_artifacts.Examples)}


class VideoIngest(base_beam_component.BaseBeamComponent):
    """Reads, selects, decodes and samples videos; writes train/eval TFRecords."""

    SPEC_CLASS = VideoIngestSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(
        self,
        config: IngestConfig,
        span=0,
        source_fingerprint: str = "",
        label_examples: types.BaseChannel | None = None,
    ):
        """Args:
        config: what to read and how (validated when built).
        span: the data span this run ingests (an int, -1 for the newest, or a TFX
          RuntimeParameter of type int), resolved when the executor runs against a
          `{SPAN}` placeholder in config.source (see spans.py) and recorded on the
          Examples artifact.
        source_fingerprint: what the source held when the pipeline was built
          (`fingerprint.source_fingerprint`); it keys the cache, so changed data
          re-ingests and re-runs everything downstream. '' leaves it out.
        label_examples: another ingest's Examples; when given, the classes are its
          `label_names` in their order (config.selection.classes is ignored), and a
          class this source lacks fails the ingest. The pipeline's reference set
          (`evaluation.reference_source`) is ingested so, with the span's Examples.
        """
        spec = VideoIngestSpec(
            config=config.to_json(),
            span=span,
            source_fingerprint=source_fingerprint,
            label_examples=label_examples,
            examples=types.Channel(type=standard_artifacts.Examples),
        )
        super().__init__(spec=spec)
