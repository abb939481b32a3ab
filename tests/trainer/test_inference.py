"""Tests of trainer/inference.py: finding a model, classifying videos as the ingest
decodes them, streaming (equal to the whole clip, constant memory)."""

import os
import tracemalloc
import types
import zipfile

import numpy as np
import pytest
import tensorflow as tf

from components.ingest import records
from components.ingest.video import FrameReader, FrameSpec
from tests.builders.synthetic_video import write_video
from tests.builders.trained_model import RES, eval_records
from trainer import inference
from trainer.inference import InferenceError


def _saved_model(folder) -> str:
    os.makedirs(folder, exist_ok=True)
    open(os.path.join(folder, "saved_model.pb"), "wb").close()
    return str(folder)


def test_model_dir_is_a_saved_model_a_serving_base_or_a_pipeline_root(tmp_path):
    model = _saved_model(tmp_path / "model")
    assert inference.resolve_model_dir(model) == model

    base = tmp_path / "serving"
    for version in ("1", "9", "10"):
        _saved_model(base / version)
    os.makedirs(base / "11")  # an unfinished push: no SavedModel yet
    assert inference.resolve_model_dir(str(base)) == str(base / "10")

    root = tmp_path / "root" / "pipelines" / "demo"
    trained = _saved_model(root / "Trainer" / "model" / "30" / "Format-Serving")
    assert inference.resolve_model_dir(str(tmp_path / "root")) == trained
    _saved_model(root / "Pusher" / "pushed_model" / "3")
    newest_push = _saved_model(root / "Pusher" / "pushed_model" / "12")
    os.makedirs(root / "Pusher" / "pushed_model" / "20")  # not blessed: nothing pushed
    assert inference.resolve_model_dir(str(tmp_path / "root")) == newest_push


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: str(p / "absent"), "is not a directory"),
        (lambda p: str(p), "no model found under .* pipeline root"),
    ],
)
def test_no_model_is_an_error_naming_the_path(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(InferenceError, match=message) as error:
        inference.resolve_model_dir(path)
    assert path in str(error.value)


def test_a_saved_model_from_elsewhere_is_refused(tmp_path):
    module = tf.Module()
    module.f = tf.function(lambda: {"y": tf.constant(1.0)}, input_signature=[])
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": module.f})
    with pytest.raises(InferenceError, match="not a model this pipeline's Trainer exported"):
        inference.load_model(str(tmp_path))


def test_states_mode_needs_the_stream_signatures():
    base = inference.LoadedModel("/m", types.SimpleNamespace(signatures={}), ("a",), 8, 32)
    assert inference.stream_mode(base) == "smooth"
    with pytest.raises(InferenceError, match="non-causal .* smooth or window mode"):
        inference.stream_mode(base, "states")
    with pytest.raises(InferenceError, match="stream mode must be one of"):
        inference.stream_mode(base, "fast")


@pytest.fixture(scope="module")
def loaded(stream_model):
    fn_args, _ = stream_model
    return inference.load_model(fn_args.serving_model_dir)


def _frames(model, path):
    return list(FrameReader(path, model.frame_spec()))


@pytest.mark.slow
def test_loaded_model_knows_its_labels_window_and_resolution(loaded):
    assert loaded.labels == ("SlideLeft", "SlideRight", "SlideUp")
    assert (loaded.window_frames, loaded.resolution, loaded.causal) == (4, RES, True)


@pytest.mark.slow
def test_classify_video_equals_the_model_on_the_ingested_record(
    loaded, tiny_demo, examples_dir, tmp_path
):
    record = records.from_example_bytes(eval_records(examples_dir, 1)[0])
    with zipfile.ZipFile(tiny_demo.videos_zip) as z:
        member = next(n for n in z.namelist() if record.media_id in n)
        path = z.extract(member, tmp_path)
    spec = FrameSpec(frames_per_video=8, height=RES, width=RES)  # as examples_dir was ingested
    predicted = inference.classify_video(loaded, path, spec)
    served = loaded.module.signatures["serving_default"](
        examples=tf.constant([records.to_example_bytes(record)])
    )
    np.testing.assert_allclose(predicted.probabilities, served["probabilities"][0], atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".avi", ".mp4"])
def test_classify_written_videos(loaded, tmp_path, suffix):
    path = write_video(tmp_path / f"clip{suffix}", num_frames=60)
    prediction = inference.classify_video(loaded, path, loaded.frame_spec())
    assert not prediction.error
    assert prediction.probabilities.shape == (3,)
    assert prediction.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    top = prediction.top(loaded.labels, 2)
    assert [label for label, _ in top][0] == loaded.labels[int(np.argmax(prediction.probabilities))]
    assert top[0][1] >= top[1][1]


@pytest.mark.slow
def test_unreadable_videos_are_reported_not_fatal(loaded, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 100)
    good = write_video(tmp_path / "good.avi", num_frames=30)
    results = list(
        inference.classify_videos(
            loaded, [str(bad), good, str(tmp_path / "gone.avi")], loaded.frame_spec()
        )
    )
    assert [bool(r.error) for r in results] == [True, False, True]
    assert "cannot open" in results[0].error and results[0].top(loaded.labels, 2) == []


@pytest.mark.slow
def test_streaming_equals_whole_clip_classification(loaded, tmp_path):
    path = write_video(tmp_path / "clip.avi", num_frames=60)  # 12 frames at 5 fps
    frames = _frames(loaded, path)
    assert len(frames) == 12
    streamed = list(inference.stream(loaded, FrameReader(path, loaded.frame_spec()), "states"))
    assert len(streamed) == 12
    classify = loaded.module.signatures["frames"]
    clip = np.stack([inference.model_input(f) for f in frames])
    for t in (0, 5, 11):
        whole = classify(frames=tf.constant(clip[None, : t + 1]))["probabilities"][0]
        np.testing.assert_allclose(streamed[t], whole, atol=1e-4, err_msg=f"frame {t}")


@pytest.mark.slow
def test_window_mode_classifies_the_last_frames(loaded, tmp_path):
    path = write_video(tmp_path / "clip.avi", num_frames=50)
    clip = np.stack([inference.model_input(f) for f in _frames(loaded, path)])
    streamed = list(inference.stream(loaded, _frames(loaded, path), mode="window", window=3))
    classify = loaded.module.signatures["frames"]
    for t in (0, 1, 6, 9):
        want = classify(frames=tf.constant(clip[None, max(0, t - 2) : t + 1]))["probabilities"][0]
        np.testing.assert_allclose(streamed[t], want, atol=1e-5, err_msg=f"frame {t}")


def _peak_streaming_bytes(model, path, mode, keep=None) -> int:
    """Peak Python-visible memory (numpy arrays included) while streaming `path`;
    `keep`, a list, holds every frame's model input (a leak, for the control)."""
    frames = FrameReader(path, model.frame_spec(fps=25.0))
    if keep is not None:
        frames = (keep.append(inference.model_input(f)) or f for f in frames)
    tracemalloc.start()
    try:
        for _ in inference.stream(model, frames, mode):
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["states", "window", "smooth"])
def test_streaming_memory_does_not_grow_with_video_length(loaded, tmp_path, mode):
    # 640x480 source frames (900 KB each) sampled at their own rate: keeping the
    # decoded frames would add ~300 MB over the long video, keeping the model's
    # inputs (12 KB each) ~4 MB; the bound allows neither.
    size = dict(width=640, height=480, fps=25.0)
    short = write_video(tmp_path / "short.avi", num_frames=40, **size)
    long = write_video(tmp_path / "long.avi", num_frames=400, **size)
    _peak_streaming_bytes(loaded, short, mode)  # warm-up: traces, caches
    short_peak = _peak_streaming_bytes(loaded, short, mode)
    long_peak = _peak_streaming_bytes(loaded, long, mode)
    assert long_peak - short_peak < 1_000_000, (short_peak, long_peak)
    # Control: the measurement does see a leak of the model's inputs.
    leaky_peak = _peak_streaming_bytes(loaded, long, mode, keep=[])
    assert leaky_peak - short_peak > 3_000_000, (short_peak, leaky_peak)
