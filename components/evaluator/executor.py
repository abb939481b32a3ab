"""The Evaluator's executor: TFX's, after dropping a baseline that holds no model."""

from __future__ import annotations

from typing import Any

from absl import logging
from tfx import types
from tfx.components.evaluator import executor as tfx_evaluator
from tfx.types import standard_component_specs

from components.served_model import versions

BASELINE_KEY = standard_component_specs.BASELINE_MODEL_KEY


def without_empty_baseline(
    input_dict: dict[str, list[types.Artifact]],
) -> dict[str, list[types.Artifact]]:
    """`input_dict` without baseline Model artifacts that hold no SavedModel."""
    inputs = dict(input_dict)
    baselines = [a for a in inputs.pop(BASELINE_KEY, None) or [] if _holds_model(a)]
    if baselines:
        inputs[BASELINE_KEY] = baselines
    return inputs


def _holds_model(artifact: types.Artifact) -> bool:
    return versions.artifact_holds_model(artifact.uri)


class Executor(tfx_evaluator.Executor):
    """TFX's Evaluator executor; an empty baseline (nothing served yet) is no baseline."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        inputs = without_empty_baseline(input_dict)
        if input_dict.get(BASELINE_KEY) and BASELINE_KEY not in inputs:
            logging.info("Evaluator: no model served yet, evaluating without a baseline")
        super().Do(inputs, output_dict, exec_properties)
