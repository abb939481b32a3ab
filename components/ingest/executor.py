"""The VideoIngest executor: runs the ingest's Beam pipeline into the Examples artifact."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from absl import logging
from tfx import types
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils

from components.ingest import beam_ingest, constants, contract, spans
from components.ingest.config import IngestConfig
from components.ingest.errors import IngestError


def with_classes_of(config: IngestConfig, label_examples: types.Artifact) -> IngestConfig:
    """`config` selecting exactly the classes of `label_examples`, in their label order.

    Raises:
      IngestError: that artifact records no class names (not written by VideoIngest).
    """
    names = label_examples.get_string_custom_property("label_names")
    if not names:
        raise IngestError(
            f"the Examples at {label_examples.uri} record no label_names: they were not "
            "written by VideoIngest, so their classes cannot be matched"
        )
    classes = tuple(json.loads(names))
    logging.info("VideoIngest keeps the %d classes of %s", len(classes), label_examples.uri)
    return dataclasses.replace(
        config, selection=dataclasses.replace(config.selection, classes=classes)
    )


class Executor(base_beam_executor.BaseBeamExecutor):
    """Plans the selection, runs the Beam transform, records labels and counts."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        config = IngestConfig.from_json(exec_properties["config"])
        # Resolved here, not when the pipeline is built: a scheduled run reads the
        # newest span present when it starts.
        resolved = spans.resolve_span(config.source, int(exec_properties.get("span") or 0))
        config = dataclasses.replace(config, source=resolved.source)
        if input_dict.get("label_examples"):
            config = with_classes_of(
                config, artifact_utils.get_single_instance(input_dict["label_examples"])
            )
        logging.info("VideoIngest reads span %d: %s", resolved.span, resolved.source)
        examples = artifact_utils.get_single_instance(output_dict["examples"])
        examples.split_names = artifact_utils.encode_split_names(list(constants.SPLITS))
        examples.span = resolved.span
        examples.set_string_custom_property("source", resolved.source)
        examples.set_string_custom_property(
            "source_fingerprint", exec_properties.get("source_fingerprint") or ""
        )
        examples_utils.set_payload_format(examples, example_gen_pb2.FORMAT_TF_EXAMPLE)

        try:
            selection, refused = beam_ingest.plan_ingest(config)
        except IngestError as e:
            if not input_dict.get("label_examples"):
                raise
            raise IngestError(
                f"{config.source} must hold every class the model predicts "
                f"{list(config.selection.classes)}: {e}"
            ) from e
        with self._make_beam_pipeline() as pipeline:
            beam_ingest.build_ingest(pipeline, selection, config, examples.uri)
        report = beam_ingest.finish_ingest(selection, refused, config, examples.uri)

        examples.set_string_custom_property("label_names", json.dumps(list(report.class_names)))
        examples.set_string_custom_property(
            contract.PROPERTY, contract.FrameContract.of_ingest(config).to_json()
        )
        for split in constants.SPLITS:
            examples.set_int_custom_property(f"num_{split}", sum(report.written[split].values()))
        examples.set_int_custom_property("num_bad", len(report.bad))
        examples.set_int_custom_property("num_duplicate_groups", len(report.duplicates))
        examples.set_int_custom_property("num_video_warnings", len(report.video_warnings))
        logging.info(
            "VideoIngest wrote %s to %s (%d bad)",
            {s: sum(report.written[s].values()) for s in constants.SPLITS},
            examples.uri,
            len(report.bad),
        )
