"""Ingest benchmark: our ingest vs a bare OpenCV decode loop vs the tutorial's loader.

On the same generated UCF101-like clips (320x240 XviD, 25 fps), in one run:
- bare loop: `cv2.VideoCapture.read()` over every frame, nothing else, as OpenCV
  opens a file (FFmpeg's frame threads, one per core), then on one decoding thread
  as our ingest decodes XviD (components/ingest/video.py, SINGLE_THREAD_CODECS): the
  floor;
- tutorial: TensorFlow's video tutorial `frames_from_video_file` (10 frames,
  step 15, 224x224), which a tutorial-style trainer pays every epoch;
- ours, per core: the ingest's per-video work in one process (decode once,
  sample, resize, JPEG, serialize), no Beam;
- ours, Beam: the whole ingest pipeline (DirectRunner) with 1 and 2 workers,
  wall time including Beam's start-up.

Usage: python -m bench.ingest [--clips N] [--seconds S] [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from bench import write_results  # noqa: E402


def bare_decode(paths: list[str], single_thread: bool = False) -> int:
    frames = 0
    for path in paths:
        if single_thread:
            cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
        else:
            cap = cv2.VideoCapture(path)
        while True:
            ok, _ = cap.read()
            if not ok:
                break
            frames += 1
        cap.release()
    return frames


def tutorial_frames_from_video_file(video_path, n_frames, output_size=(224, 224), frame_step=15):
    """The tutorial's loader, reproduced as it is (seek, per-frame TF resize)."""
    import tensorflow as tf

    def format_frames(frame, output_size):
        frame = tf.image.convert_image_dtype(frame, tf.float32)
        return tf.image.resize_with_pad(frame, *output_size)

    result = []
    src = cv2.VideoCapture(str(video_path))
    video_length = src.get(cv2.CAP_PROP_FRAME_COUNT)
    need_length = 1 + (n_frames - 1) * frame_step
    if need_length > video_length:
        start = 0
    else:
        max_start = video_length - need_length
        start = random.randint(0, int(max_start))  # the tutorial's +1 can start past the end
    src.set(cv2.CAP_PROP_POS_FRAMES, start)
    ret, frame = src.read()
    result.append(format_frames(frame, output_size))
    for _ in range(n_frames - 1):
        for _ in range(frame_step):
            ret, frame = src.read()
        if ret:
            result.append(format_frames(frame, output_size))
        else:
            result.append(np.zeros_like(result[0]))
    src.release()
    return np.array(result)[..., [2, 1, 0]]


def ours_per_core(paths: list[str], spec) -> None:
    """The DoFn's per-video work (decode once, sample, resize, JPEG, serialize)."""
    from components.ingest import records
    from components.ingest.beam_ingest import clip_record
    from components.ingest.config import IngestConfig
    from components.ingest.video import decode_clip

    config = IngestConfig(source="bench", frames=spec)
    for path in paths:
        clip = decode_clip(path, spec)
        record = clip_record(clip, config, 0, "x", os.path.basename(path), "g")
        records.to_example_bytes(record)


BEAM_MODES = {
    "1 worker": ["--runner=DirectRunner", "--direct_num_workers=1"],
    "2 threads": [
        "--runner=DirectRunner",
        "--direct_num_workers=2",
        "--direct_running_mode=multi_threading",
    ],
    "2 processes": [
        "--runner=DirectRunner",
        "--direct_num_workers=2",
        "--direct_running_mode=multi_processing",
    ],
}


def beam_ingest(folder: str, out: str, beam_args: list[str], spec) -> None:
    from components.ingest import beam_ingest
    from components.ingest.config import IngestConfig
    from components.ingest.selection import SelectionSpec

    config = IngestConfig(source=folder, selection=SelectionSpec(split=0), frames=spec)
    beam_ingest.run_ingest(config, out, beam_args)


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=4)
    parser.add_argument("--groups", type=int, default=4)
    parser.add_argument("--clips", type=int, default=3, help="clips per group")
    parser.add_argument("--seconds", type=float, default=7.0, help="UCF101 clips average ~7 s")
    parser.add_argument("--out", default="bench_out/ingest.json")
    args = parser.parse_args()

    from components.ingest.video import FrameSpec
    from pipeline.demo_data import DemoSpec, write_videos

    spec = FrameSpec()  # the ingest's defaults: 32 frames at 5 fps, 172x172
    with tempfile.TemporaryDirectory() as tmp:
        folder, tiny = os.path.join(tmp, "videos"), os.path.join(tmp, "tiny")
        rels = write_videos(folder, DemoSpec(args.classes, args.groups, args.clips, args.seconds))
        n_tiny = len(write_videos(tiny, DemoSpec(2, 3, 1, args.seconds, seed=1)))
        paths = [os.path.join(folder, r) for r in rels]
        ours_per_core(paths[:1], spec)  # warm up: imports, TF start-up
        tutorial_frames_from_video_file(paths[0], 10)
        frames = bare_decode(paths)
        n = len(paths)
        results = {
            "clips": n,
            "frames_decoded": frames,
            "cpu_count": os.cpu_count(),
            "bare_loop_s": timed(bare_decode, paths),
            "bare_loop_one_thread_s": timed(bare_decode, paths, True),
            "ours_per_core_s": timed(ours_per_core, paths, spec),
            "tutorial_s": timed(lambda: [tutorial_frames_from_video_file(p, 10) for p in paths]),
        }
        for i, (mode, beam_args) in enumerate(BEAM_MODES.items()):
            full = timed(beam_ingest, folder, os.path.join(tmp, f"full{i}"), beam_args, spec)
            start_up = timed(beam_ingest, tiny, os.path.join(tmp, f"tiny{i}"), beam_args, spec)
            # Steady state: the extra clips over the extra time, start-up cancelled out.
            results[f"beam {mode}"] = {
                "wall_s": full,
                "tiny_run_s": start_up,
                "steady_clips_per_s": (n - n_tiny) / max(full - start_up, 1e-9),
            }
    print(
        f"{n} clips, {frames} frames (320x240 XviD, 25 fps, {args.seconds:.0f} s each), "
        f"{os.cpu_count()} cores"
    )
    print(f"{'':36}{'seconds':>9}{'clips/s':>9}{'frames/s':>10}{'vs bare':>9}")
    rows = [
        ("bare OpenCV decode loop", "bare_loop_s"),
        ("  on one decoding thread (floor)", "bare_loop_one_thread_s"),
        ("ours per core (no Beam)", "ours_per_core_s"),
        ("tutorial frames_from_video_file", "tutorial_s"),
    ]
    for label, key in rows:
        s = results[key]
        print(f"{label:36}{s:9.2f}{n / s:9.1f}{frames / s:10.0f}{s / results['bare_loop_s']:8.2f}x")
    print(f"{'Beam DirectRunner':24}{'wall s':>9}{'start-up s':>12}{'steady clips/s':>16}")
    for mode in BEAM_MODES:
        r = results[f"beam {mode}"]
        print(
            f"  {mode:22}{r['wall_s']:9.2f}{r['tiny_run_s']:12.2f}{r['steady_clips_per_s']:16.1f}"
        )
    one = results["beam 1 worker"]["steady_clips_per_s"]
    results["ratio_ours_per_core_vs_bare"] = results["ours_per_core_s"] / results["bare_loop_s"]
    results["ratio_ours_per_core_vs_bare_one_thread"] = (
        results["ours_per_core_s"] / results["bare_loop_one_thread_s"]
    )
    results["ratio_tutorial_epoch_vs_ours_once"] = (
        results["tutorial_s"] / results["ours_per_core_s"]
    )
    vs_bare, vs_floor = (
        results["ratio_ours_per_core_vs_bare"],
        results["ratio_ours_per_core_vs_bare_one_thread"],
    )
    print(
        f"ours per core / bare loop: {vs_bare:.2f}x (goal <= 1.5x); "
        f"/ bare loop on one decoding thread: {vs_floor:.2f}x"
    )
    for mode in ("2 threads", "2 processes"):
        gain = results[f"beam {mode}"]["steady_clips_per_s"] / one
        results[f"steady_speedup_{mode.replace(' ', '_')}"] = gain
        print(f"steady-state speed-up, {mode} vs 1 worker: {gain:.2f}x")
    print(f"tutorial, one epoch / ours, once: {results['ratio_tutorial_epoch_vs_ours_once']:.2f}x")
    write_results(args.out, results)


if __name__ == "__main__":
    main()
