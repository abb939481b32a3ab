"""The ServedModel executor: copies the newest served SavedModel into its Model artifact."""

from __future__ import annotations

from typing import Any

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils

from components.served_model import versions

SERVED_VERSION = "served_version"
SERVED_FROM = "served_from"


class Executor(base_executor.BaseExecutor):
    """Outputs `<serving_dir>/<newest version>` as a Model, or an empty Model."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        serving_dir = exec_properties["serving_dir"]
        model = artifact_utils.get_single_instance(output_dict["model"])
        newest = versions.newest_version(serving_dir)
        if newest is None:
            logging.info("ServedModel: nothing served under %s yet", serving_dir)
            model.set_string_custom_property(SERVED_VERSION, "")
            model.set_string_custom_property(SERVED_FROM, "")
            return
        version, path = newest
        # A copy, not a pointer: the serving directory may be cleaned up later,
        # and what this run was judged against stays with the run's artifacts.
        io_utils.copy_dir(path, versions.artifact_model_dir(model.uri))
        model.set_string_custom_property(SERVED_VERSION, str(version))
        model.set_string_custom_property(SERVED_FROM, path)
        logging.info("ServedModel: version %d from %s", version, path)
