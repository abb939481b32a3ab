"""Evaluator: TFX's Evaluator (TFMA), taking ServedModel's output as its baseline.

Usage (as `tfx.components.Evaluator`):

    evaluator = Evaluator(
        examples=ingest.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=served.outputs["model"],
        eval_config=...,
    )

The only change is the executor: a baseline Model artifact that holds no
SavedModel (ServedModel's output before anything was served) is dropped, so the
model is evaluated without a baseline, as TFX's Evaluator does when a resolver
finds none, and the change thresholds are ignored. On Kubeflow an upstream output
artifact always exists, even when empty, hence the check on its contents.
"""

from __future__ import annotations

from tfx import components as tfx_components
from tfx.dsl.components.base import executor_spec

from components.evaluator import executor


class Evaluator(tfx_components.Evaluator):
    """TFX's Evaluator; an empty baseline model means no baseline."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
