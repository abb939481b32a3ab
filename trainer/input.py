"""tf.data input: ingest records -> temporal windows of float frames in [0, 1].

Each record stores up to 32 frames (see the ingest). Training takes random
windows of `num_frames`; evaluation and serving take `views` windows spread
evenly over the real frames and average their scores (multi-clip). Only the
JPEGs of the frames a window needs are decoded.
"""

from __future__ import annotations

import tensorflow as tf

from components.ingest import records

AUTOTUNE = tf.data.AUTOTUNE
FEATURES = {
    records.FRAMES_KEY: tf.io.VarLenFeature(tf.string),
    records.LABEL_KEY: tf.io.FixedLenFeature([], tf.int64),
    records.NUM_REAL_FRAMES_KEY: tf.io.FixedLenFeature([], tf.int64, default_value=0),
}


def parse_examples(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
    """Parses a batch of serialized records: encoded frames (ragged), labels, real counts."""
    parsed = tf.io.parse_example(serialized, FEATURES)
    encoded = tf.RaggedTensor.from_sparse(parsed[records.FRAMES_KEY])
    num_real = tf.cast(parsed[records.NUM_REAL_FRAMES_KEY], tf.int32)
    stored = tf.cast(encoded.row_lengths(), tf.int32)
    # Records without the count (other writers) use every stored frame.
    num_real = tf.where(num_real > 0, tf.minimum(num_real, stored), stored)
    return {
        "encoded": encoded,
        "label": tf.cast(parsed[records.LABEL_KEY], tf.int32),
        "num_real": num_real,
    }


def spread_starts(num_real: tf.Tensor, window: int, views: int) -> tf.Tensor:
    """`views` window starts spread evenly over the real frames (fixed: eval, serving)."""
    last = tf.maximum(num_real - window, 0)
    fractions = tf.linspace(0.0, 1.0, views) if views > 1 else tf.constant([0.5])
    return tf.cast(tf.round(fractions * tf.cast(last, tf.float32)), tf.int32)


def random_starts(num_real: tf.Tensor, window: int, views: int, seed: tf.Tensor) -> tf.Tensor:
    """`views` random window starts within the real frames (training augmentation)."""
    last = tf.maximum(num_real - window, 0)
    return tf.random.stateless_uniform(
        [views], seed=seed, minval=0, maxval=last + 1, dtype=tf.int32
    )


def decode_windows(
    encoded: tf.Tensor, starts: tf.Tensor, window: int, resolution: int
) -> tf.Tensor:
    """Decodes the windows of one video: [views, window, resolution, resolution, 3] in [0, 1].

    Indices past the stored frames repeat the last one (short videos).
    """
    stored = tf.shape(encoded)[0]
    tf.debugging.assert_positive(stored, message="a video record holds no frame")
    index = tf.minimum(starts[:, None] + tf.range(window)[None, :], stored - 1)
    flat = tf.gather(encoded, tf.reshape(index, [-1]))
    frames = tf.map_fn(
        lambda data: _decode_frame(data, resolution),
        flat,
        fn_output_signature=tf.TensorSpec([resolution, resolution, 3], tf.float32),
    )
    return tf.reshape(frames, [-1, window, resolution, resolution, 3])


def _decode_frame(data: tf.Tensor, resolution: int) -> tf.Tensor:
    image = tf.io.decode_jpeg(data, channels=3)
    image = tf.image.convert_image_dtype(image, tf.float32)
    size = tf.shape(image)[:2]
    image = tf.cond(
        tf.reduce_all(size == resolution),
        lambda: image,
        lambda: tf.image.resize(image, [resolution, resolution]),
    )
    return tf.ensure_shape(image, [resolution, resolution, 3])


def clips_dataset(
    file_patterns: list[str] | str,
    *,
    window: int,
    resolution: int,
    views: int,
    training: bool,
    seed: int = 42,
) -> tf.data.Dataset:
    """(clips [views, window, res, res, 3], label) per video, in file order.

    Random windows when `training` (deterministic for a seed and record order),
    spread windows otherwise.
    """
    patterns = [file_patterns] if isinstance(file_patterns, str) else list(file_patterns)
    files = sorted(f for p in patterns for f in tf.io.gfile.glob(p))
    if not files:
        raise FileNotFoundError(f"no TFRecord files match {patterns}")
    dataset = tf.data.TFRecordDataset(files, num_parallel_reads=1)

    def to_clips(index, serialized):
        parsed = parse_examples(serialized[None])
        encoded, num_real = parsed["encoded"][0], parsed["num_real"][0]
        if training:
            starts = random_starts(
                num_real, window, views, tf.stack([seed, tf.cast(index, tf.int32)])
            )
        else:
            starts = spread_starts(num_real, window, views)
        return decode_windows(encoded, starts, window, resolution), parsed["label"][0]

    return dataset.enumerate().map(to_clips, num_parallel_calls=AUTOTUNE, deterministic=True)
