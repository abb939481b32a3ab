"""The schema of a span of video records: ours, written from the config, never inferred.

The features that mean something for video get a domain: the label (the class list,
with TFDV's L-infinity drift comparator against the last accepted span), the stored
and real frame counts, the sample times, the source rate and the frame size. The JPEG
bytes, media id and group are only required to be there. TFDV validates StatisticsGen's
statistics against it (`tfdv.validate_statistics`, as ExampleValidator does).

Light: tensorflow_metadata protos only (no TensorFlow, no TFDV).
"""

from __future__ import annotations

from tensorflow_metadata.proto.v0 import schema_pb2

from components.data_gate.config import DataGateConfig
from components.ingest import records

SCHEMA_FILE = "schema.pbtxt"
_INT, _FLOAT, _BYTES = schema_pb2.INT, schema_pb2.FLOAT, schema_pb2.BYTES


def video_schema(
    class_names: tuple[str, ...],
    frames_per_video: int,
    height: int,
    width: int,
    config: DataGateConfig,
) -> schema_pb2.Schema:
    """The schema every span's records must satisfy.

    Args:
      class_names: the expected classes, in label order (label index domain
        [0, len - 1], label text domain these names).
      frames_per_video: frames stored per record (`clip/num_frames`, `image/encoded`
        and `clip/frame/timestamp` value counts).
      height, width: stored frame size in pixels.
      config: the source-rate range and the label drift threshold.

    Returns:
      A Schema proto (every feature required in every record).
    """
    schema = schema_pb2.Schema()
    n = frames_per_video
    _feature(schema, records.FRAMES_KEY, _BYTES, n, n)
    label = _feature(schema, records.LABEL_KEY, _INT)
    label.int_domain.min, label.int_domain.max = 0, max(0, len(class_names) - 1)
    label.int_domain.is_categorical = True
    text = _feature(schema, records.LABEL_TEXT_KEY, _BYTES)
    text.string_domain.name = "classes"
    text.string_domain.value.extend(class_names)
    if config.label_drift != "off":
        text.drift_comparator.infinity_norm.threshold = config.max_label_drift
    _feature(schema, records.MEDIA_ID_KEY, _BYTES)
    _feature(schema, records.GROUP_KEY, _BYTES)
    stored = _feature(schema, records.NUM_FRAMES_KEY, _INT)
    stored.int_domain.min = stored.int_domain.max = n
    real = _feature(schema, records.NUM_REAL_FRAMES_KEY, _INT)
    real.int_domain.min, real.int_domain.max = 1, n
    times = _feature(schema, records.FRAME_TIMESTAMPS_KEY, _INT, n, n)
    times.int_domain.min = 0
    for key in (records.START_TIMESTAMP_KEY, records.END_TIMESTAMP_KEY):
        _feature(schema, key, _INT).int_domain.min = 0  # microseconds
    sample = _feature(schema, records.SAMPLE_FPS_KEY, _FLOAT)
    sample.float_domain.min = 0.0
    if config.source_fps != "off":
        rate = _feature(schema, records.SOURCE_FPS_KEY, _FLOAT)
        rate.float_domain.min, rate.float_domain.max = config.min_source_fps, config.max_source_fps
    else:
        _feature(schema, records.SOURCE_FPS_KEY, _FLOAT)
    for key, size in ((records.HEIGHT_KEY, height), (records.WIDTH_KEY, width)):
        side = _feature(schema, key, _INT)
        side.int_domain.min = side.int_domain.max = size
    return schema


def _feature(schema, name: str, kind, min_count: int = 1, max_count: int = 1):
    feature = schema.feature.add(name=name, type=kind)
    feature.presence.min_fraction = 1.0
    feature.presence.min_count = 1
    feature.value_count.min, feature.value_count.max = min_count, max_count
    return feature
