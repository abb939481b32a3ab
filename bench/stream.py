"""Streaming benchmark: MoViNet A0-Stream frame by frame on CPU, Model Garden's
export path vs ours, and peak memory of `python -m pipeline stream` against video length.

In one run:
- latency: the same A0 stream backbone weights (random init, non-trivial
  BatchNorm statistics and residual scales), 600 classes (a head trained on the
  first 4, see below), exported twice:
  Model Garden's `export_saved_model` (its `call` signature, XLA-compiled, static
  shape [1, 1, 172, 172, 3]) and our `export_model` (the `stream_step`
  signature, dynamic shapes; also run on one intra- and inter-op thread). Ours is
  also converted to TFLite (`trainer/tflite_model.py`): float32, and int8
  post-training quantization calibrated on the head's training videos; each runs on
  LiteRT with 2 interpreter threads (XNNPACK), and on 1; the float file also on
  TensorFlow 2.16's `tf.lite.Interpreter` (2 threads). Each of the eight runs is
  loaded in a process of its own and stepped
  over the same random frames, states carried; the processes take turns, a few
  frames each per round, so all see the same load on shared cores; median and
  p90 milliseconds per frame after warm-up. Model Garden's published figure for
  A0-Stream is 16 ms per frame on one x86 core with TFLite. Sizes: the
  SavedModel folder and each .tflite file.
- int8 top-1 agreement with float, frame by frame over held-out videos of 4
  synthetic classes (the background's colour) that the head is trained on (Adam,
  on the streamed features after every frame), with each model's accuracy, the
  float top-2 gap and the int8 logit error.
- memory: peak resident memory (VmHWM) of the stream command, in a fresh process
  per video, over synthetic 5 fps videos of increasing length.

Usage: python -m bench.stream [--steps 100] [--rounds 10] [--lengths 50,200,800]

One script (~480 lines): the exports, the head, the turn-taking runner and the memory probe
must agree on the same frames and weights, and a benchmark is read whole.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from bench import write_results

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning")

SIZE = 172
NUM_CLASSES = 600
TFLITE_THREADS = 2  # the setting; each TFLite model also runs on 1 (see latency)


def export_both(folder: str) -> tuple[str, str, dict]:
    """Exports one A0 stream model Model Garden's way and ours; returns the two
    SavedModel paths and the export seconds."""
    from official.projects.movinet.tools import export_saved_model as garden_export

    from bench.backbone import randomize_non_kernel_weights
    from trainer import architecture, restore
    from trainer.config import TrainerConfig
    from trainer.export import export_model
    from trainer.fast_conv import use_fast_conv3d
    from trainer.folded_batch_norm import use_folded_batch_norm
    from trainer.model import VideoClassifier, build_head, feature_dim
    from trainer.tflite_model import write_stream_tflite

    arch = architecture.arch_for("a0", "stream")
    backbone, garden_classifier = restore.build_kinetics_classifier(arch)
    randomize_non_kernel_weights(backbone)
    seconds = {}
    start = time.perf_counter()
    garden_dir = os.path.join(folder, "model_garden")
    garden_export.export_saved_model(
        model=garden_classifier,
        input_shape=(1, 1, SIZE, SIZE, 3),
        export_path=garden_dir,
        causal=True,
        bundle_input_init_states_fn=True,
    )
    seconds["model_garden"] = time.perf_counter() - start

    use_fast_conv3d(backbone)  # as the Trainer's load_backbone does (fast_3d): 0 layers
    use_folded_batch_norm(backbone)  # as fast_3d does; none here: the stream blocks are (2+1)D
    start = time.perf_counter()
    head = build_head(arch, feature_dim(backbone), backbone.head_filters, NUM_CLASSES, 0.0, 0)
    config = TrainerConfig(random_init=True, variant="stream", resolution=SIZE)
    ours_dir = os.path.join(folder, "ours")
    labels = [f"class{i:03d}" for i in range(NUM_CLASSES)]
    classifier = VideoClassifier(backbone, head, arch)
    head_start = time.perf_counter()
    train_videos = list(labelled_videos(TRAIN_VIDEOS_PER_CLASS, seed=1))
    train_head(backbone, head, train_videos)
    seconds["train_head"] = time.perf_counter() - head_start
    export_model(classifier, labels, config, arch, ours_dir)
    seconds["ours"] = time.perf_counter() - start - seconds["train_head"]
    for mode in ("float", "int8"):
        start = time.perf_counter()
        os.makedirs(os.path.join(folder, f"tflite_{mode}"))
        write_stream_tflite(  # int8 calibrated on the head's training videos, as the Trainer does
            classifier,
            SIZE,
            os.path.join(folder, f"tflite_{mode}"),
            mode,
            lambda: (video for video, _ in train_videos),
        )
        seconds[f"tflite_{mode}"] = time.perf_counter() - start
    return garden_dir, ours_dir, seconds


# int8 agreement is measured on a head trained to tell AGREEMENT_CLASSES synthetic
# classes apart (the background's colour), not on random weights: with a random
# head over 600 classes the float top two are ~0.02 apart, the size of int8's logit
# error, so near ties decided the count (77.5-100% from run to run). The backbone
# stays random (no Model Garden checkpoint can be fetched here), and its pooled
# features barely tell a moving square's colour apart (a head trained on that
# scored chance on held-out videos), hence the background.
AGREEMENT_CLASSES = 4
TRAIN_VIDEOS_PER_CLASS = 6
HELD_OUT_VIDEOS_PER_CLASS = 5
CLASS_COLOURS = ((0.9, 0.2, 0.2), (0.2, 0.8, 0.2), (0.2, 0.3, 0.9), (0.9, 0.8, 0.1))


def labelled_videos(per_class: int, frames: int = 8, seed: int = 1):
    """(video, label) pairs: `per_class` videos of each of AGREEMENT_CLASSES, a square
    of random colour moving left or right over a background of the class's colour
    (jittered), with noise; frames [SIZE, SIZE, 3] float32 in [0, 1]."""
    import numpy as np

    rng = np.random.default_rng(seed)
    for label, colour in enumerate(CLASS_COLOURS[:AGREEMENT_CLASSES]):
        for _ in range(per_class):
            background = np.clip(np.asarray(colour) * 0.6 + rng.normal(0, 0.05, 3), 0, 1)
            square = rng.uniform(0.0, 1.0, 3)
            x0, y = int(rng.integers(0, SIZE - 40)), int(rng.integers(0, SIZE - 40))
            speed = int(rng.choice([-12, -8, 8, 12]))
            video = []
            for i in range(frames):
                frame = np.tile(background, (SIZE, SIZE, 1)).astype(np.float32)
                x = (x0 + speed * i) % (SIZE - 40)
                frame[y : y + 40, x : x + 40] = square
                frame += rng.normal(0, 0.02, frame.shape).astype(np.float32)
                video.append(np.clip(frame, 0, 1))
            yield video, label


def train_head(backbone, head, videos, epochs: int = 60) -> None:
    """Fits `head` (its first AGREEMENT_CLASSES logits) on the stream backbone's
    features after every frame of `videos` ((frames, label) pairs), as streaming
    gives them: all videos stepped together, states carried."""
    import numpy as np
    import tensorflow as tf
    import tf_keras

    clips = np.stack([np.stack(video) for video, _ in videos])  # [N, T, S, S, 3]
    labels = np.array([label for _, label in videos])
    states = backbone.init_states([len(clips), 1, SIZE, SIZE, 3])

    @tf.function(autograph=False)
    def step(image, states):
        endpoints, new_states = backbone({**states, "image": image}, training=False)
        return tf.reshape(endpoints["head"], [len(clips), -1]), new_states

    features = []
    for t in range(clips.shape[1]):
        pooled, states = step(tf.constant(clips[:, t : t + 1]), states)
        features.append(pooled.numpy())
    head.compile(
        optimizer=tf_keras.optimizers.Adam(1e-3),
        loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    head.fit(
        np.concatenate(features),
        np.tile(labels, clips.shape[1]),
        batch_size=32,
        epochs=epochs,
        shuffle=True,
        verbose=0,
    )


def int8_top1_agreement(folder: str) -> dict:
    """How often TFLite int8's top-1 class equals float's, frame by frame over held-out
    labelled videos (not the calibration ones), with what decides it: float's gap
    between its top two logits (median and least) and int8's largest logit error
    (median over frames), and each model's top-1 accuracy against the labels."""
    import numpy as np

    from trainer.tflite_model import StreamInterpreter

    videos = list(labelled_videos(HELD_OUT_VIDEOS_PER_CLASS, seed=2))
    labels = np.repeat([label for _, label in videos], len(videos[0][0]))
    runs = {}
    for mode in ("float", "int8"):
        interpreter = StreamInterpreter(os.path.join(folder, f"tflite_{mode}"), num_threads=2)
        runs[mode] = np.stack(
            [out["logits"] for video, _ in videos for out in interpreter.stream(video)]
        )
    top2 = np.sort(runs["float"], axis=1)[:, -2:]
    return {
        "agreement": float(np.mean(runs["float"].argmax(1) == runs["int8"].argmax(1))),
        "frames": len(runs["float"]),
        "float_accuracy": float(np.mean(runs["float"].argmax(1) == labels)),
        "int8_accuracy": float(np.mean(runs["int8"].argmax(1) == labels)),
        "float_top2_gap_median": float(np.median(top2[:, 1] - top2[:, 0])),
        "float_top2_gap_min": float(np.min(top2[:, 1] - top2[:, 0])),
        "int8_max_logit_error_median": float(
            np.median(np.abs(runs["float"] - runs["int8"]).max(1))
        ),
    }


def folder_mb(path: str) -> float:
    """Bytes under `path` (a file or a folder), in MB."""
    if os.path.isfile(path):
        return os.path.getsize(path) / 1e6
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs) / 1e6


def time_steps(step, init_states, frames, output_key: str, warmup: int = 5) -> list[float]:
    """Seconds per call of `step(image=frame, **states)` over `frames`, states carried."""
    import tensorflow as tf

    states = init_states(input_shape=tf.constant([1, 1, SIZE, SIZE, 3]))
    names = list(states)
    times = []
    for i, frame in enumerate(frames):
        start = time.perf_counter()
        out = step(image=frame, **states)
        out[output_key].numpy()  # waits for the result
        if i >= warmup:
            times.append(time.perf_counter() - start)
        states = {name: out[name] for name in names}
    return times


def latency(garden_dir: str, ours_dir: str, steps: int, rounds: int = 10) -> dict:
    """Per-frame latency of each model, side by side: each model lives in a process of
    its own (a model loaded beside another, or after the exports, runs measurably
    slower), and the processes take turns, `steps / rounds` frames each per round,
    so every model sees the same load on the shared cores. The others wait on a
    pipe meanwhile, so only one computes at a time."""
    import numpy as np

    folder = os.path.dirname(ours_dir)
    runs = {
        "model_garden_call_xla": (garden_dir, "call", "logits"),
        "ours_stream_step": (ours_dir, "stream_step", "probabilities"),
        "ours_stream_step_1_thread": (ours_dir, "stream_step:1", "probabilities"),
    }
    # Also on one thread: at batch 1 the ~500 small ops of a frame step each end at a
    # barrier of the thread pool, and on this 2-vCPU machine a second thread has cost
    # more than it gave, even with nothing else running (README, Benchmarks).
    for mode in ("float", "int8"):
        for threads, suffix in ((TFLITE_THREADS, ""), (1, "_1_thread")):
            tflite = (os.path.join(folder, f"tflite_{mode}"), f"tflite:{threads}", "probabilities")
            runs[f"ours_tflite_{mode}{suffix}"] = tflite
    # The same float file on TensorFlow 2.16's tf.lite.Interpreter, which `stream` ran
    # before LiteRT (trainer/tflite_model.py).
    runs["ours_tflite_float_tf_lite_runtime"] = (
        os.path.join(folder, "tflite_float"),
        f"tf.lite:{TFLITE_THREADS}",
        "probabilities",
    )
    children = {name: _LatencyChild(*run) for name, run in runs.items()}
    try:
        per_round = max(1, steps // rounds)
        times = {name: [] for name in runs}
        for _ in range(rounds):
            for name, child in children.items():
                times[name] += child.step(per_round)
    finally:
        for child in children.values():
            child.close()
    return {
        "ms_per_frame": {k: 1000 * statistics.median(v) for k, v in times.items()},
        "ms_per_frame_p90": {k: 1000 * float(np.percentile(v, 90)) for k, v in times.items()},
        "steps_timed": len(times["ours_stream_step"]),
        "rounds": rounds,
        "threads": {
            "tflite": "2, or 1 (_1_thread); LiteRT, or TensorFlow 2.16's (_tf_lite_runtime)",
            "savedmodel": "TensorFlow's default, or 1 intra- and inter-op thread (_1_thread)",
        },
    }


class _LatencyChild:
    """A `--latency-child` process holding one loaded model; `step(n)` times n frames."""

    def __init__(self, model_dir: str, signature: str, output: str):
        self.log = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.stream", "--latency-child", model_dir, signature, output],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        self.name = f"{signature} in {model_dir}"
        self._answer()  # loaded and warmed up

    def _answer(self):
        for line in self.process.stdout:
            if line.startswith("{"):
                return json.loads(line)
        self.log.seek(0)
        raise RuntimeError(f"latency child ({self.name}) died:\n{self.log.read()[-3000:]}")

    def step(self, n: int) -> list[float]:
        self.process.stdin.write(f"{n}\n")
        self.process.stdin.flush()
        return self._answer()["seconds"]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(timeout=60)
        self.log.close()


def _latency_child(model_dir: str, signature: str, output: str, warmup: int = 5) -> None:
    """Loads one model, steps `warmup` frames, then for each line `n` on stdin steps n
    more random frames (states carried) and prints their seconds as JSON."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    frames = [rng.uniform(size=(1, 1, SIZE, SIZE, 3)).astype("float32") for _ in range(16)]
    if signature.startswith(("tflite:", "tf.lite:")):  # model.tflite in model_dir
        from trainer.tflite_model import TFLITE_FILE, StreamInterpreter, zero_states

        runtime, threads = signature.split(":")
        if runtime == "tf.lite":  # TensorFlow 2.16's own runtime, the one LiteRT replaced
            path = os.path.join(model_dir, TFLITE_FILE)
            runner = tf.lite.Interpreter(path, num_threads=int(threads)).get_signature_runner()
        else:
            runner = StreamInterpreter(model_dir, num_threads=int(threads)).runner
        states = zero_states(runner)

        def step(frame):
            nonlocal states
            out = runner(image=frame, **states)
            states = {name: out[name] for name in states}
            out[output].sum()

    else:  # a SavedModel signature, <signature>[:<threads>]
        signature, _, threads = signature.partition(":")
        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(int(threads))
            tf.config.threading.set_inter_op_parallelism_threads(int(threads))
        model = tf.saved_model.load(model_dir)
        call, init = model.signatures[signature], model.signatures["init_states"]
        states = init(input_shape=tf.constant([1, 1, SIZE, SIZE, 3]))
        frames = [tf.constant(frame) for frame in frames]

        def step(frame):
            nonlocal states
            out = call(image=frame, **states)
            out[output].numpy()  # waits for the result
            states = {name: out[name] for name in states}

    for i in range(warmup):
        step(frames[i % len(frames)])
    print(json.dumps({"ready": True}), flush=True)
    done = warmup
    for line in sys.stdin:
        seconds = []
        for _ in range(int(line)):
            start = time.perf_counter()
            step(frames[done % len(frames)])
            seconds.append(time.perf_counter() - start)
            done += 1
        print(json.dumps({"seconds": seconds}), flush=True)


def write_long_video(path: str, num_frames: int) -> str:
    """A 5 fps 320x240 AVI (every frame is sampled at the model's 5 fps)."""
    import cv2
    import numpy as np

    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"XVID"), 5.0, (320, 240))
    for i in range(num_frames):
        frame = np.full((240, 320, 3), 30, np.uint8)
        x = 4 * (i % 60)
        frame[80:160, x : x + 80] = (60, 200, 240)
        writer.write(frame)
    writer.release()
    return path


def peak_memory(model_dir: str, folder: str, lengths: list[int]) -> dict:
    """Peak RSS (MB) and wall seconds of the stream command per video length."""
    results = {}
    for n in lengths:
        video = write_long_video(os.path.join(folder, f"video_{n}.avi"), n)
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-m", "bench.stream", "--rss-child", model_dir, video],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        child = json.loads(out.strip().splitlines()[-1])
        results[str(n)] = {
            "peak_rss_mb": child["vm_hwm_kb"] / 1024,
            "seconds": time.perf_counter() - start,
        }
    return results


def _rss_child(model_dir: str, video: str) -> None:
    """Runs the stream command (nothing printed per frame) and prints its peak RSS."""
    import contextlib
    import io

    from pipeline.cli import main

    with contextlib.redirect_stderr(io.StringIO()):
        code = main(["stream", "--model", model_dir, video, "--print-every", "0"])
    if code:
        raise SystemExit(code)
    with open("/proc/self/status") as f:
        hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    print(json.dumps({"vm_hwm_kb": hwm}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="frames stepped per model")
    parser.add_argument("--rounds", type=int, default=10, help="turns per model (latency)")
    parser.add_argument("--lengths", default="50,200,800", help="video lengths (frames at 5 fps)")
    parser.add_argument("--out", default="bench_out/stream.json")
    parser.add_argument("--rss-child", nargs=2, metavar=("MODEL", "VIDEO"), help=argparse.SUPPRESS)
    parser.add_argument("--latency-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        _rss_child(*args.rss_child)
        return
    if args.latency_child:
        _latency_child(*args.latency_child)
        return

    import tensorflow as tf

    with tempfile.TemporaryDirectory() as folder:
        garden_dir, ours_dir, export_s = export_both(folder)
        results = latency(garden_dir, ours_dir, args.steps, args.rounds)
        results["int8_top1_agreement_with_float"] = int8_top1_agreement(folder)
        lengths = [int(n) for n in args.lengths.split(",")]
        results["stream_command_by_video_frames"] = peak_memory(ours_dir, folder, lengths)
        results["size_mb"] = {
            "model_garden_call_xla": folder_mb(garden_dir),
            "ours_stream_step": folder_mb(ours_dir),
            "ours_tflite_float": folder_mb(os.path.join(folder, "tflite_float", "model.tflite")),
            "ours_tflite_int8": folder_mb(os.path.join(folder, "tflite_int8", "model.tflite")),
        }
    results.update(
        model="a0 stream",
        frame_shape=[1, 1, SIZE, SIZE, 3],
        cpu_count=os.cpu_count(),
        tensorflow=tf.__version__,
        export_s=export_s,
        published_model_garden_tflite_ms_per_frame_one_x86_core=16.0,
    )
    ms = results["ms_per_frame"]
    print(f"A0-Stream, one 172x172 frame per step, batch 1, {os.cpu_count()} cores")
    print(f"{'':36}{'ms/frame':>10}{'p90':>8}{'size MB':>9}")
    for key, value in ms.items():
        p90 = results["ms_per_frame_p90"][key]
        size = results["size_mb"][key.removesuffix("_1_thread").removesuffix("_tf_lite_runtime")]
        print(f"{key:36}{value:10.1f}{p90:8.1f}{size:9.1f}")
    print("published: Model Garden A0-Stream TFLite, one x86 core: 16 ms/frame")
    print(
        f"TFLite float on {TFLITE_THREADS} threads: LiteRT {ms['ours_tflite_float']:.1f} ms/frame, "
        f"{ms['ours_tflite_float_tf_lite_runtime'] / ms['ours_tflite_float']:.1f}x faster than "
        f"TensorFlow 2.16's runtime (goal <= 8 ms: "
        f"{'met' if ms['ours_tflite_float'] <= 8 else 'not met'})"
    )
    agreement = results["int8_top1_agreement_with_float"]
    print(
        f"TFLite int8 top-1 = float top-1 on {100 * agreement['agreement']:.1f}% of "
        f"{agreement['frames']} held-out frames, head trained on {AGREEMENT_CLASSES} "
        f"synthetic classes (accuracy float {100 * agreement['float_accuracy']:.1f}%, "
        f"int8 {100 * agreement['int8_accuracy']:.1f}%; float top-2 gap median "
        f"{agreement['float_top2_gap_median']:.3f}, min "
        f"{agreement['float_top2_gap_min']:.3f}; int8 logit error median "
        f"{agreement['int8_max_logit_error_median']:.3f})"
    )
    print(f"{'video frames':>14}{'peak RSS MB':>14}{'seconds':>10}")
    for n, row in results["stream_command_by_video_frames"].items():
        print(f"{n:>14}{row['peak_rss_mb']:14.0f}{row['seconds']:10.1f}")
    write_results(args.out, results)


if __name__ == "__main__":
    main()
