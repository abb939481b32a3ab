"""tf.data input: ingest records -> temporal windows of float frames in [0, 1].

Each record stores up to 32 frames (see the ingest). Training takes random
windows of `trainer.window_frames`, new ones each epoch, optionally from a random
square crop of the frames (the same crop over a window); evaluation and serving
take `views` windows spread evenly over the real frames and average their scores
(multi-clip). Only the JPEGs of the frames a window needs are decoded.
"""

from __future__ import annotations

import hashlib

import tensorflow as tf
from absl import logging

from components.ingest import records

AUTOTUNE = tf.data.AUTOTUNE
CANONICAL_CHUNK_BYTES = 256 << 20  # records held at once to sort them (canonical_records)
FEATURES = {
    records.FRAMES_KEY: tf.io.VarLenFeature(tf.string),
    records.LABEL_KEY: tf.io.FixedLenFeature([], tf.int64),
    records.NUM_REAL_FRAMES_KEY: tf.io.FixedLenFeature([], tf.int64, default_value=0),
}


def without_autotune(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """`dataset` (and every dataset made from it) with tf.data's autotuning off;
    `AUTOTUNE` parallelism is then one call per core.

    With autotuning on, deleting an iterator waited out its autotune thread's current
    optimisation period, a period that doubles from 10 ms while the iterator runs
    (`kOptimizationPeriodMinMs`, tensorflow/core/framework/model.h). TF 2.16 on 2 cores,
    2026-12-07: after a ~10 s pass over 200 training videos with the frozen A0
    forward, the deletion took 10.1, 0.2, 0.1 and 0.0 s in four runs, so 10 s of
    idle in about half of bench.finetune's runs; any pass can end this way (Keras
    makes an iterator per epoch). With autotuning off it took 0.0 s in four runs,
    and the passes took as long (9.6-11.2 s against 10.0-10.3 s).
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


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


def random_crop_boxes(views: int, min_area: float, seed: tf.Tensor) -> tf.Tensor:
    """`views` square crop boxes [views, 4] (y1, x1, y2, x2, in [0, 1] of the frame)
    covering between `min_area` and all of its area, at random places."""
    side = tf.sqrt(tf.random.stateless_uniform([views], seed=seed, minval=min_area, maxval=1.0))
    corner = tf.random.stateless_uniform([views, 2], seed=seed + 1) * (1.0 - side[:, None])
    return tf.concat([corner, corner + side[:, None]], axis=1)


def decode_windows(
    encoded: tf.Tensor,
    starts: tf.Tensor,
    window: int,
    resolution: int,
    boxes: tf.Tensor | None = None,
) -> tf.Tensor:
    """Decodes the windows of one video: [views, window, resolution, resolution, 3] in [0, 1].

    Indices past the stored frames repeat the last one (short videos). `boxes`
    ([views, 4], see `random_crop_boxes`) crops each window before the resize.
    """
    stored = tf.shape(encoded)[0]
    tf.debugging.assert_positive(stored, message="a video record holds no frame")
    index = tf.minimum(starts[:, None] + tf.range(window)[None, :], stored - 1)
    flat = tf.gather(encoded, tf.reshape(index, [-1]))
    if boxes is None:
        frames = tf.map_fn(
            lambda data: _decode_frame(data, resolution),
            flat,
            fn_output_signature=tf.TensorSpec([resolution, resolution, 3], tf.float32),
        )
    else:  # one video's frames share a size
        full = tf.map_fn(
            _decode_frame, flat, fn_output_signature=tf.TensorSpec([None, None, 3], tf.float32)
        )
        frames = tf.image.crop_and_resize(
            full,
            tf.repeat(boxes, window, axis=0),
            tf.range(tf.shape(flat)[0]),
            [resolution, resolution],
        )
    return tf.reshape(frames, [-1, window, resolution, resolution, 3])


def _decode_frame(data: tf.Tensor, resolution: int | None = None) -> tf.Tensor:
    """One JPEG as float32 [h, w, 3] in [0, 1], resized to `resolution` square if given."""
    image = tf.io.decode_jpeg(data, channels=3)
    image = tf.image.convert_image_dtype(image, tf.float32)
    if resolution is None:
        return image
    size = tf.shape(image)[:2]
    image = tf.cond(
        tf.reduce_all(size == resolution),
        lambda: image,
        lambda: tf.image.resize(image, [resolution, resolution]),
    )
    return tf.ensure_shape(image, [resolution, resolution, 3])


def canonical_records(
    files: list[str], chunk_bytes: int = CANONICAL_CHUNK_BYTES
) -> tf.data.Dataset:
    """Serialized records in an order fixed by their content: by a hash of the video
    id (`clip/media_id`), then by the bytes.

    Beam's DirectRunner decides which shard holds which record, and in what order,
    from how its workers were scheduled: sorting makes the input (so the windows
    drawn, the shuffle and the weights) a function of the records alone.

    Memory stays bounded whatever the data: one read of the files keeps each
    record's sort key (32 bytes) and size; up to `chunk_bytes` of records in all,
    the records are kept from that read too and the dataset serves them from
    memory. Above it, the order is cut into chunks of at most `chunk_bytes` (a
    record larger than that is a chunk of its own; records with the same key are
    never split), and each pass over the dataset reads the files once per chunk,
    keeping only that chunk's records. The order is the same either way.
    """
    keys, sizes, held, total = [], [], {}, 0
    for i, record in _read(files):
        data = record.numpy()
        keys.append(_order_key(data))
        sizes.append(len(data))
        total += len(data)
        if total <= chunk_bytes:
            held[i] = data
        else:
            held.clear()  # sorted in chunks: see below
    if total <= chunk_bytes:
        return tf.data.Dataset.from_tensor_slices(
            tf.constant(_in_order(held, keys), dtype=tf.string)
        )
    chunks = order_chunks(keys, sizes, chunk_bytes)
    logging.info(
        "%d bytes of records: sorted in %d chunks of <= %d bytes (one read of the "
        "files per chunk, each pass)",
        total,
        len(chunks),
        chunk_bytes,
    )

    def generate():
        for chunk in chunks:
            members = set(chunk)
            kept = {}
            for i, record in _read(files):
                if i in members:
                    kept[i] = record.numpy()
            yield from _in_order(kept, keys)

    dataset = tf.data.Dataset.from_generator(
        generate, output_signature=tf.TensorSpec([], tf.string)
    )
    return dataset.apply(tf.data.experimental.assert_cardinality(len(keys)))


def _read(files: list[str]):
    """(read index, serialized record) of every record of `files`, in file order."""
    return enumerate(without_autotune(tf.data.TFRecordDataset(files)))


def _in_order(held: dict[int, bytes], keys: list[bytes]) -> list[bytes]:
    """The `held` records (by read index) in the canonical order: key, then bytes."""
    return [held[i] for i in sorted(held, key=lambda i: (keys[i], held[i]))]


def _order_key(data: bytes) -> bytes:
    """The sort key of a serialized record: sha256 of its `clip/media_id` (by a hash
    of the id, not the id: ids begin with the class name, and a sorted stream of
    one class after another is more than a shuffle buffer can mix)."""
    example = tf.train.Example.FromString(data)
    return hashlib.sha256(
        b"\n".join(example.features.feature[records.MEDIA_ID_KEY].bytes_list.value)
    ).digest()


def order_chunks(keys: list[bytes], sizes: list[int], chunk_bytes: int) -> list[list[int]]:
    """Record indices (in read order) cut into consecutive runs of the key order, each
    of at most `chunk_bytes` in all, except a run of equal keys or a single record
    that alone exceeds it."""
    order = sorted(range(len(keys)), key=keys.__getitem__)
    chunks, current, size = [], [], 0
    for i in order:
        same_key = current and keys[current[-1]] == keys[i]
        if current and not same_key and size + sizes[i] > chunk_bytes:
            chunks.append(current)
            current, size = [], 0
        current.append(i)
        size += sizes[i]
    if current:
        chunks.append(current)
    return chunks


def records_of(file_patterns: list[str] | str) -> tf.data.Dataset:
    """The serialized records of the files matching `file_patterns`, in the canonical
    order (`canonical_records`). Raises FileNotFoundError when no file matches."""
    patterns = [file_patterns] if isinstance(file_patterns, str) else list(file_patterns)
    files = sorted(f for p in patterns for f in tf.io.gfile.glob(p))
    if not files:
        raise FileNotFoundError(f"no TFRecord files match {patterns}")
    return canonical_records(files)


def clips_dataset(
    records: tf.data.Dataset | list[str] | str,
    *,
    window: int,
    resolution: int,
    views: int,
    training: bool,
    seed: int = 42,
    crop_min_area: float = 1.0,
) -> tf.data.Dataset:
    """(clips [views, window, res, res, 3] float32 in [0, 1], label int32) per video,
    in the canonical record order (`canonical_records`).

    `records`: file patterns, or `records_of`'s dataset (read once, it can feed
    several clip datasets). Random windows when `training`, others on each pass over
    the dataset (each epoch), the same ones run after run for a seed; with
    `crop_min_area` < 1, each window from a random square crop of at least that share
    of the frame. Spread windows of the whole frame otherwise. Raises
    FileNotFoundError when no file matches.
    """
    dataset = records if isinstance(records, tf.data.Dataset) else records_of(records)
    # A number per record that changes on each pass (epoch), the same run after run.
    draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)

    def to_clips(serialized, draw):
        parsed = parse_examples(serialized[None])
        encoded, num_real = parsed["encoded"][0], parsed["num_real"][0]
        boxes = None
        if training:
            key = tf.stack([seed, tf.cast(draw % (2**31 - 1), tf.int32)])
            starts = random_starts(num_real, window, views, key)
            if crop_min_area < 1.0:
                boxes = random_crop_boxes(views, crop_min_area, key + 2)
        else:
            starts = spread_starts(num_real, window, views)
        return decode_windows(encoded, starts, window, resolution, boxes), parsed["label"][0]

    # Traced as written: autograph would convert to_clips and what it calls from their
    # source (nothing branches on a tensor's value in them), once per dataset.
    clips = tf.data.Dataset.zip(dataset, draws).map(
        tf.autograph.experimental.do_not_convert(to_clips),
        num_parallel_calls=AUTOTUNE,
        deterministic=True,
    )
    return without_autotune(clips)
