"""SourceFingerprint: what the ingest's source holds now, as a String for the ingest's cache key.

Usage (what `kubeflow_runner/compile.py` builds through `pipeline.create_pipeline`):

    fingerprint = SourceFingerprint(config=config.ingest, span=span)
    ingest = VideoIngest(
        config=config.ingest,
        span=span,
        source_fingerprint=fingerprint.outputs["fingerprint"].future()[0].value,
    )

The local runner takes the fingerprint itself before each run; a compiled
Kubeflow pipeline is fixed, so this step takes it inside the cluster on every
run, recurring runs included. TFX's Kubeflow V2 compiler turns the `.future()`
exec property into a KFP output parameter of this step that feeds VideoIngest's
`source_fingerprint` input parameter (tfx/orchestration/kubeflow/v2/step_builder.py,
`task_output_parameter`); KFP's cache key hashes a task's resolved input
parameters (kubeflow/pipelines backend/src/v2/cacheutils/cache.go
`GenerateCacheKey`), so the ingest is reused exactly when the data is unchanged.
The step itself must run every time: the compiler turns its cache off.
"""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.ingest.config import IngestConfig
from components.source_fingerprint import executor


class SourceFingerprintSpec(types.ComponentSpec):
    """Parameters: the ingest's config (JSON) and span. Output: the fingerprint (String)."""

    PARAMETERS = {
        "config": ExecutionParameter(type=str),
        "span": ExecutionParameter(type=int, optional=True),
    }
    INPUTS = {}
    OUTPUTS = {executor.FINGERPRINT_KEY: ChannelParameter(type=standard_artifacts.String)}


class SourceFingerprint(base_component.BaseComponent):
    """`components.ingest.fingerprint.source_fingerprint` of the ingest's source and lists."""

    SPEC_CLASS = SourceFingerprintSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, config: IngestConfig, span=0):
        """Args:
        config: the ingest's config (its source and split lists are fingerprinted).
        span: the span the ingest reads (an int, -1 for the newest, or a TFX
          RuntimeParameter), resolved here the way the ingest resolves it.
        """
        spec = SourceFingerprintSpec(
            config=config.to_json(),
            span=span,
            **{executor.FINGERPRINT_KEY: types.Channel(type=standard_artifacts.String)},
        )
        super().__init__(spec=spec)
