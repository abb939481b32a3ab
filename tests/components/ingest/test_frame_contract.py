"""The frame contract travels with the model: a model trained on frames made at
another rate, with crop and another stored-frame count, is served exactly those
frames by `predict` and `stream`; contradicting options are refused. Also `predict`
and `stream` on every real camera clip in ../shared/videos."""

from __future__ import annotations

import csv
import glob
import os
import shutil
import zipfile

import numpy as np
import pytest
import tensorflow as tf

from components.ingest import beam_ingest, constants, contract, records
from components.ingest.config import IngestConfig
from components.ingest.selection import SelectionSpec
from components.ingest.video import FrameReader, FrameSpec
from pipeline.cli import main
from tests.builders import trained_model
from tests.components.ingest.test_realworld import REAL_CLIPS, REAL_VIDEOS, assert_sampled_at_5fps
from trainer import inference

pytestmark = pytest.mark.slow
# Not the ingest's defaults: 10 fps, centre crop, 6 stored frames, JPEG quality 70.
FRAMES = FrameSpec(frames_per_video=6, target_fps=10.0, height=32, width=32, resize_mode="crop")


@pytest.fixture(scope="module")
def trained(tiny_demo, tmp_path_factory):
    """(ingest config, examples folder, loaded model) trained on non-default frames."""
    config = IngestConfig(
        source=tiny_demo.videos_zip,
        split_lists=tiny_demo.lists_zip,
        selection=SelectionSpec(split=1),
        frames=FRAMES,
        jpeg_quality=70,
    )
    out = str(tmp_path_factory.mktemp("contract_examples"))
    beam_ingest.run_ingest(config, out, ["--runner=DirectRunner", "--direct_num_workers=1"])
    fn_args, _ = trained_model.train(out, tmp_path_factory, epochs=1)
    return config, out, inference.load_model(fn_args.serving_model_dir)


def test_model_carries_the_ingest_frame_contract(trained):
    config, examples, model = trained
    expected = contract.FrameContract.of_ingest(config)
    assert contract.read_contract(examples) == expected
    assert model.contract == expected
    text = model.module.signatures["frame_contract"]()["frame_contract"].numpy().decode()
    assert contract.FrameContract.from_json(text) == expected
    assert contract.read_contract(os.path.join(model.path, "assets.extra")) == expected
    spec = model.frame_spec()
    assert (spec.target_fps, spec.frames_per_video, spec.resize_mode) == (10.0, 6, "crop")
    assert model.window_frames == 4 and expected.frames_per_video == 6


def test_predict_equals_serving_default_on_the_ingest_record(trained, tiny_demo, tmp_path):
    _, examples, model = trained
    files = sorted(glob.glob(os.path.join(constants.split_dir(examples, "eval"), "*")))
    serialized = [r.numpy() for r in tf.data.TFRecordDataset(files).take(2)]
    serve = model.module.signatures["serving_default"]
    with zipfile.ZipFile(tiny_demo.videos_zip) as z:
        members = {os.path.basename(n): n for n in z.namelist()}
        for data in serialized:
            record = records.from_example_bytes(data)
            path = z.extract(members[record.media_id], tmp_path)
            want = serve(examples=tf.constant([data]))["probabilities"][0].numpy()
            got = inference.classify_video(model, path, model.frame_spec())
            np.testing.assert_allclose(got.probabilities, want, atol=1e-5)
            # Sampled at 10 fps (not the default 5) from 25 fps: 2.5 frames apart.
            gaps = set(np.diff(record.timestamps_us).tolist())
            assert gaps <= {80_000, 120_000} and record.sample_fps == 10.0


def test_options_that_contradict_the_contract_are_refused(trained, capsys):
    _, _, model = trained
    inference.check_frame_options(model, 10.0, "crop", 6)  # agreeing: fine
    for kwargs, option in (
        ({"fps": 5.0}, "--fps"),
        ({"resize_mode": "pad"}, "--resize-mode"),
        ({"frames_per_video": 32}, "--frames-per-video"),
    ):
        with pytest.raises(inference.InferenceError, match=f"{option} .* frame contract"):
            inference.check_frame_options(model, **kwargs)
    video = str(REAL_VIDEOS / "h264_340x256_30fps_short.mp4")
    assert main(["predict", "--model", model.path, video, "--fps", "5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --fps 5.0 contradicts")


@pytest.fixture(scope="module")
def real_clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("real")
    for name in REAL_CLIPS:
        shutil.copy(REAL_VIDEOS / name, folder / name)
    return folder


def test_predict_and_stream_every_real_clip(stream_model, real_clips, tmp_path, capsys):
    model_dir = stream_model[0].serving_model_dir
    out = tmp_path / "predictions.jsonl"
    assert main(["predict", "--model", model_dir, str(real_clips), "--output", str(out)]) == 0
    assert f"{len(REAL_CLIPS)} of {len(REAL_CLIPS)} videos classified" in capsys.readouterr().err
    # The CLI once (its CSV's times); the library, which it calls, on every clip.
    name = "h264_340x256_6fps.mp4"
    csv_path = tmp_path / "stream.csv"
    argv = ["stream", "--model", model_dir, str(real_clips / name), "--mode", "states"]
    assert main([*argv, "--csv", str(csv_path), "--print-every", "0"]) == 0
    assert "5 samples/s of video" in capsys.readouterr().err
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == REAL_CLIPS[name][2]
    assert_sampled_at_5fps([round(float(r["time_s"]) * 1e6) for r in rows], len(rows), 6.0)
    model = inference.load_model(model_dir)
    for name, (_, fps, samples) in REAL_CLIPS.items():
        reader = FrameReader(str(real_clips / name), model.frame_spec(at_model_resolution=True))
        outputs = np.stack(list(inference.stream(model, reader, "states")))
        assert outputs.shape == (samples, len(model.labels)), name
        assert_sampled_at_5fps(records.timestamps_us(reader.timestamps), samples, fps)
        np.testing.assert_allclose(outputs.sum(axis=1), 1.0, atol=1e-4)
