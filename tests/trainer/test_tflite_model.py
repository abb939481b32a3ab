"""TFLite streaming: model.tflite beside a stream SavedModel, same outputs, same CLI.

Uses the session's tiny stream model (tests/builders/trained_model.py: 32x32, random
init, trainer.tflite 'float' by default) and its eval records.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from tests.builders import trained_model  # noqa: E402
from trainer import (
    tflite_model,  # noqa: E402
    video_input,  # noqa: E402
)

TOLERANCE = 1e-4  # issue 15: TFLite float vs SavedModel, per frame


def eval_frames(examples_dir, videos=3):
    """Frames [T, R, R, 3] float32 of the first eval videos, as the trainer decodes them."""
    dataset = video_input.clips_dataset(
        trained_model.patterns(examples_dir, "eval"),
        window=8,
        resolution=trained_model.RES,
        views=1,
        training=False,
    )
    return [clips.numpy()[0] for clips, _ in dataset.take(videos)]


def saved_model_log_probabilities(module, frames):
    shape = tf.constant([1, 1, trained_model.RES, trained_model.RES, 3], tf.int32)
    states = module.signatures["init_states"](input_shape=shape)
    step = module.signatures["stream_step"]
    out_all = []
    for frame in frames:
        out = step(image=tf.constant(frame[None, None]), **states)
        states = {name: out[name] for name in states}
        out_all.append(np.log(out["probabilities"][0].numpy()))
    return np.stack(out_all)


def test_float_tflite_matches_saved_model_frame_by_frame(stream_model, examples_dir):
    fn_args, module = stream_model
    path = os.path.join(fn_args.serving_model_dir, tflite_model.TFLITE_FILE)
    assert os.path.isfile(path), "a stream model's export carries model.tflite"
    interpreter = tflite_model.StreamInterpreter(fn_args.serving_model_dir)
    assert interpreter.resolution == trained_model.RES
    for frames in eval_frames(examples_dir):
        want = saved_model_log_probabilities(module, frames)
        logits = np.stack([out["logits"] for out in interpreter.stream(frames)])
        got = np.asarray(tf.nn.log_softmax(logits))  # logits up to the softmax's shift
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= TOLERANCE


def exported_classifier(fn_args):
    """The stream model's classifier rebuilt as the Trainer builds it, with the
    exported weights (`run.warm_start`), and its config."""
    from trainer import architecture, run
    from trainer.config import TrainerConfig
    from trainer.model import VideoClassifier, build_head, feature_dim, load_backbone

    config = TrainerConfig.from_dict(fn_args.custom_config["trainer"])
    arch = architecture.arch_for(config.model_id, config.variant)
    labels = run.labels_of(fn_args.train_files)
    backbone = load_backbone(config, arch)
    head = build_head(arch, feature_dim(backbone), backbone.head_filters, len(labels), 0.0, 0)
    classifier = VideoClassifier(backbone, head, arch)
    run.warm_start(classifier, labels, fn_args.serving_model_dir)
    return classifier, config


def test_int8_top1_agrees_with_float_on_eval_frames(stream_model, examples_dir, tmp_path):
    """The Trainer's int8 export of the session's stream model against its float one,
    streamed over every eval video (6 x 8 frames). int8 moves a logit by a few
    hundredths (measured: at most 0.05 on this model), so top-1 must agree on every
    frame whose float top two are more than 0.15 apart, and the logits must stay
    within 0.15 of float. A frame closer than that may flip either way: this
    random-init model, trained 2 epochs, has frames 0.008 apart, so an exact count
    (issue 15's 98%) would follow the training's luck, not the quantization; the
    count is in the failure message. The logits stay float (FLOAT_OUTPUTS)."""
    import dataclasses

    from components.ingest.contract import read_contract
    from trainer import run

    fn_args, _ = stream_model
    classifier, config = exported_classifier(fn_args)
    config = dataclasses.replace(config, tflite="int8")
    contract = read_contract(run.examples_dir_of(fn_args.train_files))
    run._write_tflite(classifier, config, fn_args.train_files, str(tmp_path), contract)
    float_model = tflite_model.StreamInterpreter(fn_args.serving_model_dir)
    int8_model = tflite_model.StreamInterpreter(str(tmp_path))
    logits = int8_model.runner.get_output_details()["logits"]["index"]
    ops = int8_model.interpreter._get_ops_details()
    producer = next(op["op_name"] for op in ops if logits in op["outputs"])
    assert producer == "FULLY_CONNECTED", "float logits, not an int8 layer's DEQUANTIZE"
    agree, margins, errors = [], [], []
    for frames in eval_frames(examples_dir, videos=100):
        for want, got in zip(float_model.stream(frames), int8_model.stream(frames), strict=True):
            agree.append(np.argmax(want["logits"]) == np.argmax(got["logits"]))
            top2 = np.sort(want["logits"].ravel())[-2:]
            margins.append(float(top2[1] - top2[0]))
            errors.append(float(np.abs(want["logits"] - got["logits"]).max()))
    assert len(agree) == 48
    summary = (
        f"int8 top-1 = float top-1 on {sum(agree)} of 48 frames; largest logit error "
        f"{max(errors):.3f}; float top-2 margins of the flips "
        f"{[round(m, 3) for m, a in zip(margins, agree, strict=True) if not a]}"
    )
    assert max(errors) < 0.15, summary
    decided = [a for a, m in zip(agree, margins, strict=True) if m > 0.15]
    assert all(decided) and len(decided) >= 24, summary  # at least half are decided
    assert os.path.getsize(tmp_path / tflite_model.TFLITE_FILE) < 0.5 * os.path.getsize(
        os.path.join(fn_args.serving_model_dir, tflite_model.TFLITE_FILE)
    )


def test_missing_tflite_is_a_clear_error(tmp_path):
    with pytest.raises(tflite_model.TFLiteError, match="trainer.tflite"):
        tflite_model.StreamInterpreter(str(tmp_path))


def test_a_damaged_tflite_is_a_clear_error(stream_model, tmp_path):
    """model.tflite cut short (a copy stopped half way) or not a model at all: the
    error names the file, what LiteRT says, and what to do."""
    with open(os.path.join(stream_model[0].serving_model_dir, tflite_model.TFLITE_FILE), "rb") as f:
        content = f.read()
    for data in (content[: len(content) // 2], b"not a model\n" * 100):
        (tmp_path / tflite_model.TFLITE_FILE).write_bytes(data)
        with pytest.raises(tflite_model.TFLiteError) as error:
            tflite_model.StreamInterpreter(str(tmp_path))
        assert str(error.value) == (
            f"{str(tmp_path / tflite_model.TFLITE_FILE)!r} is not a TFLite model LiteRT can "
            "load (The model is not a valid Flatbuffer buffer); export it again (trainer.tflite)"
        )


def test_unknown_mode_is_refused():
    with pytest.raises(tflite_model.TFLiteError, match="'float' or 'int8'"):
        tflite_model.convert_stream_model(None, 32, "float16")


@pytest.mark.slow
def test_stream_cli_tflite_runtime_writes_the_savedmodel_csv(stream_model, tmp_path, capsys):
    import csv

    from pipeline.cli import main
    from tests.builders.synthetic_video import write_video

    model_dir = stream_model[0].serving_model_dir
    video = tmp_path / "a.avi"
    write_video(video, num_frames=40)  # 8 frames at 5 fps
    tables = {}
    for runtime in ("savedmodel", "tflite"):
        table = tmp_path / f"{runtime}.csv"
        args = ["stream", "--model", model_dir, str(video), "--mode", "states"]
        assert main([*args, "--runtime", runtime, "--csv", str(table)]) == 0
        with open(table) as f:
            tables[runtime] = list(csv.reader(f))
    saved, lite = tables["savedmodel"], tables["tflite"]
    assert saved[0] == lite[0] and len(saved) == len(lite) == 9
    got = np.array([row[2:] for row in lite[1:]], float)
    want = np.array([row[2:] for row in saved[1:]], float)
    assert np.abs(got - want).max() <= TOLERANCE
    capsys.readouterr()
    # Without --mode, tflite streams in the states mode; another mode is refused.
    lite_args = ["stream", "--model", model_dir, str(video), "--runtime", "tflite"]
    default = tmp_path / "default.csv"
    assert main([*lite_args, "--csv", str(default)]) == 0
    with open(default) as f:
        assert list(csv.reader(f)) == lite
    # --threads 1: same frames, same probabilities up to the summation order.
    one_thread = tmp_path / "one_thread.csv"
    assert main([*lite_args, "--threads", "1", "--csv", str(one_thread)]) == 0
    with open(one_thread) as f:
        rows = list(csv.reader(f))
    assert rows[0] == lite[0] and [r[:2] for r in rows] == [r[:2] for r in lite]
    got = np.array([row[2:] for row in rows[1:]], float)
    assert np.abs(got - np.array([row[2:] for row in lite[1:]], float)).max() <= TOLERANCE
    capsys.readouterr()
    refused = [*lite_args, "--mode", "smooth"]
    assert main(refused) == 2
    assert "--runtime tflite runs the states mode" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("verbose", [False, True])
def test_litert_lines_reach_the_console_only_with_verbose(stream_model, tmp_path, verbose):
    """LiteRT prints `INFO: Created TensorFlow Lite XNNPACK delegate for CPU.` from C++,
    once a process, when it loads a model: `python -m pipeline stream --runtime tflite`
    shows it only with --verbose (the frames' lines either way)."""
    from tests.builders import cli_process
    from tests.builders.synthetic_video import write_video

    video = tmp_path / "a.avi"
    write_video(video, num_frames=10)  # 2 frames at 5 fps
    result = cli_process.run_module(
        "pipeline",
        *(["--verbose"] if verbose else []),
        "stream",
        "--model",
        stream_model[0].serving_model_dir,
        str(video),
        "--runtime",
        "tflite",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert len([line for line in result.stdout.splitlines() if "0.20s" in line]) == 1
    delegate = "Created TensorFlow Lite XNNPACK delegate for CPU"
    assert (delegate in result.stderr) == verbose, result.stderr[-2000:]


def test_converter_lines_go_to_the_log_not_the_console(capfd):
    from trainer import architecture
    from trainer.model import VideoClassifier, build_head, feature_dim

    arch = architecture.arch_for("a0", "stream")
    backbone = architecture.build_backbone(arch)
    head = build_head(arch, feature_dim(backbone), backbone.head_filters, 3, 0.0, 0)
    capfd.readouterr()
    assert tflite_model.convert_stream_model(VideoClassifier(backbone, head, arch), 32)
    assert "Ignored output_format" not in capfd.readouterr().err
