"""The SourceFingerprint executor: fingerprints the ingest's source into a String artifact."""

from __future__ import annotations

import os
from typing import Any

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils

from components.ingest.config import IngestConfig
from components.ingest.fingerprint import source_fingerprint

FINGERPRINT_KEY = "fingerprint"


class Executor(base_executor.BaseExecutor):
    """Writes `source_fingerprint(source, split_lists, span)` as the String output."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        config = IngestConfig.from_json(exec_properties["config"])
        span = int(exec_properties.get("span") or 0)
        fingerprint = source_fingerprint(config.source, config.split_lists, span)
        artifact = artifact_utils.get_single_instance(output_dict[FINGERPRINT_KEY])
        # A String artifact's URI is the file holding its value; KFP makes no folder
        # for it, and TFX's entry point reads the value back as the output parameter
        # (kubeflow_v2_run_executor.py: `parameter_values[key].string_value =
        # artifact.read()`).
        fileio.makedirs(os.path.dirname(artifact.uri))
        artifact.value = fingerprint
        logging.info("SourceFingerprint: %s (span %d) is %s", config.source, span, fingerprint)
