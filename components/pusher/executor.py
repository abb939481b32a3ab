"""The Pusher's executor: TFX's, skipping a model the serving directory already serves."""

from __future__ import annotations

from typing import Any

from absl import logging
from tfx import types
from tfx.components.pusher import executor as tfx_pusher
from tfx.components.util import model_utils
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from components.served_model import versions

ALREADY_SERVED = "already_served"
# The reference Evaluator's blessing (components/pusher/component.py).
REFERENCE_BLESSING_KEY = "reference_blessing"


def serving_base(exec_properties: dict[str, Any]) -> str | None:
    """The filesystem destination's base directory ('' for other destinations)."""
    destination = pusher_pb2.PushDestination()
    proto_utils.json_to_proto(
        exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination
    )
    if destination.WhichOneof("destination") != "filesystem":
        return None
    return destination.filesystem.base_directory


class Executor(tfx_pusher.Executor):
    """TFX's Pusher executor; a blessed model equal to the newest served one is not
    pushed, nor one that the reference set's Evaluator did not bless."""

    def CheckBlessing(self, input_dict: dict[str, list[types.Artifact]]) -> bool:
        """TFX's check (model and infra blessings), and the reference blessing if any."""
        if not super().CheckBlessing(input_dict):
            return False
        for blessing in input_dict.get(REFERENCE_BLESSING_KEY) or []:
            if not model_utils.is_model_blessed(blessing):
                logging.info("Pusher: the model was not blessed on the reference set")
                return False
        return True

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        base = serving_base(exec_properties)
        served = versions.newest_version(base) if base else None
        if served and self.CheckBlessing(input_dict):
            if versions.same_model(self.GetModelPath(input_dict), served[1]):
                pushed = artifact_utils.get_single_instance(
                    output_dict[standard_component_specs.PUSHED_MODEL_KEY]
                )
                self._MarkNotPushed(pushed)
                pushed.set_string_custom_property(ALREADY_SERVED, served[1])
                logging.info("Pusher: the model is already served as %s", served[1])
                return
        super().Do(input_dict, output_dict, exec_properties)
