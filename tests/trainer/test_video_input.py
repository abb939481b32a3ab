"""The canonical record order (trainer/video_input.py `canonical_records`): the same
order from any shard layout, and the same whether the records are sorted in memory
at once or, above the memory bound, in chunks read from the files."""

import os
import random

import pytest
import tensorflow as tf

from components.ingest import records
from trainer import video_input


def example(media_id: str, payload: bytes) -> bytes:
    feature = {
        records.MEDIA_ID_KEY: tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[media_id.encode()])
        ),
        "payload": tf.train.Feature(bytes_list=tf.train.BytesList(value=[payload])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


@pytest.fixture(scope="module")
def serialized():
    """60 records of 100 to 3,000 bytes; two share a media id (a tie the bytes break)."""
    rng = random.Random(0)
    data = [
        example(f"v_Class{i % 5}_g{i:02d}_c01", rng.randbytes(rng.randint(100, 3000)))
        for i in range(60)
    ]
    return data + [example("v_Class0_g00_c01", b"another take of the same id")]


def write_shards(folder, data: list[bytes], shards: int) -> list[str]:
    os.makedirs(folder)
    paths = [os.path.join(folder, f"shard-{s}") for s in range(shards)]
    for s, path in enumerate(paths):
        with tf.io.TFRecordWriter(path) as writer:
            for record in data[s::shards]:
                writer.write(record)
    return paths


def read(dataset: tf.data.Dataset) -> list[bytes]:
    return [r.numpy() for r in dataset]


def test_the_order_is_the_same_from_any_shard_layout_in_memory_or_in_chunks(serialized, tmp_path):
    expected = sorted(serialized, key=lambda d: (video_input._order_key(d), d))
    one = write_shards(tmp_path / "one", serialized, 1)
    reversed_three = write_shards(tmp_path / "three", serialized[::-1], 3)
    for files in (one, reversed_three):
        in_memory = video_input.canonical_records(files)
        chunked = video_input.canonical_records(files, chunk_bytes=8_000)
        assert read(in_memory) == expected
        assert read(chunked) == expected
        assert read(chunked) == expected  # every pass (epoch) the same
        assert int(chunked.cardinality()) == len(serialized)


def test_chunks_are_consecutive_runs_of_the_key_order_within_the_bound(serialized):
    keys = [video_input._order_key(d) for d in serialized]
    sizes = [len(d) for d in serialized]
    chunks = video_input.order_chunks(keys, sizes, 8_000)
    assert len(chunks) > 3
    flat = [i for chunk in chunks for i in chunk]
    assert [keys[i] for i in flat] == sorted(keys)
    assert sorted(flat) == list(range(len(serialized)))
    for chunk in chunks:
        assert sum(sizes[i] for i in chunk) <= 8_000
    tie = [i for i, k in enumerate(keys) if keys.count(k) == 2]
    assert len(tie) == 2 and any(set(tie) <= set(chunk) for chunk in chunks)


def test_a_record_larger_than_the_bound_is_a_chunk_of_its_own():
    chunks = video_input.order_chunks([b"a", b"b", b"c"], [10, 500, 10], 100)
    assert chunks == [[0], [1], [2]]
    assert video_input.order_chunks([b"a", b"a", b"b"], [60, 60, 10], 100) == [[0, 1], [2]]


def test_no_records_is_an_empty_dataset(tmp_path):
    files = write_shards(tmp_path / "empty", [], 1)
    assert read(video_input.canonical_records(files)) == []
