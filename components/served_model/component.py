"""ServedModel: outputs the model production serves now, or an empty Model on the first run.

Usage:

    served = ServedModel(serving_dir=config.serving_dir)
    evaluator = Evaluator(..., baseline_model=served.outputs["model"])

Only blessed models reach the serving directory (the Pusher writes there), so
the newest version in it is the model a new one must not be worse than, and the
one a warm start begins from. This replaces TFX's `Resolver` with
`LatestBlessedModelStrategy`: a resolver compiles to a KFP *resolver* executor,
which only Vertex AI Pipelines runs (the open-source KFP backend refuses it:
kubeflow/pipelines `backend/src/v2/compiler/argocompiler/dag.go`, "resolver
executors not implemented"), while this is a plain container step that every
runner executes the same way.

The output `Model` artifact holds a copy of the served SavedModel in
`Format-Serving/` (the layout of the Trainer's Model), with custom properties
`served_version` and `served_from`; on the first run (nothing served yet) it
holds nothing and `served_version` is ''. The Evaluator of this project
(components/evaluator) then evaluates without a baseline and the trainer's warm
start begins as configured. The step must run every time: the runners turn its
cache off (pipeline.pipeline.ALWAYS_RUN).
"""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.served_model import executor


class ServedModelSpec(types.ComponentSpec):
    """Parameter: the Pusher's base directory. Output: the served model (or none)."""

    PARAMETERS = {"serving_dir": ExecutionParameter(type=str)}
    INPUTS = {}
    OUTPUTS = {"model": ChannelParameter(type=standard_artifacts.Model)}


class ServedModel(base_component.BaseComponent):
    """The newest model under `serving_dir`, as a Model artifact."""

    SPEC_CLASS = ServedModelSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, serving_dir: str):
        spec = ServedModelSpec(
            serving_dir=serving_dir, model=types.Channel(type=standard_artifacts.Model)
        )
        super().__init__(spec=spec)
