"""Pusher: TFX's Pusher that does not push again the model already served, and that
also needs the reference set's blessing when the pipeline has one.

Usage (as `tfx.components.Pusher`):

    pusher = Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(filesystem=...),
        reference_blessing=reference_evaluator.outputs["blessing"],  # optional
    )

ServedModel runs on every run, so the Evaluator and the Pusher do too, even when
the Trainer's model came from the cache. A blessed model whose files equal the
newest served version's (the same model, pushed by an earlier run) is not
pushed again as a new version: the `PushedModel` artifact says `pushed: 0` and
`already_served: <that version's path>`.

`reference_blessing` is the second Evaluator's (on evaluation.reference_source, a
fixed set): the model is pushed only when both blessings say blessed. TFX's Pusher
takes one `model_blessing`, so the spec adds this input; everything else is
TFX's PusherSpec.
"""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter
from tfx.utils import json_utils

from components.pusher import executor


class PusherSpec(standard_component_specs.PusherSpec):
    """TFX's PusherSpec with an optional `reference_blessing` (ModelBlessing) input."""

    INPUTS = {
        **standard_component_specs.PusherSpec.INPUTS,
        executor.REFERENCE_BLESSING_KEY: ChannelParameter(
            type=standard_artifacts.ModelBlessing, optional=True
        ),
    }


class Pusher(base_component.BaseComponent):
    """TFX's Pusher; a model already served is not pushed again, and one not blessed
    on the reference set is not pushed."""

    SPEC_CLASS = PusherSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, model, model_blessing, push_destination, reference_blessing=None):
        """Args as TFX's Pusher (model, model_blessing, push_destination: a
        PushDestination proto); `reference_blessing`: the reference Evaluator's."""
        spec = PusherSpec(
            model=model,
            model_blessing=model_blessing,
            reference_blessing=reference_blessing,
            push_destination=push_destination,
            custom_config=json_utils.dumps(None),
            pushed_model=types.Channel(type=standard_artifacts.PushedModel),
        )
        super().__init__(spec=spec)
