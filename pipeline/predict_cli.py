"""The `predict` and `stream` commands of `python -m pipeline`: thin wrappers over
`trainer/inference.py` and `trainer/plots.py`.

  predict  the most probable labels of videos (files or folders; a folder gives a CSV or
           JSON Lines file)
  stream   frame-by-frame predictions of one video, optionally as CSV and an animated plot

The two commands share their model options and their error handling (~360 lines).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys

from components.ingest.ucf101 import VIDEO_EXTENSIONS
from pipeline import exits

COMMANDS = ("predict", "stream")
OUTPUT_FORMATS = (".csv", ".jsonl")
DEFAULT_FOLDER_OUTPUT = "predictions.csv"


class RenamedOption(argparse.Action):
    """Stores the value; an option given by its old name (the second one listed) gets a
    one-line warning naming the new one."""

    def __call__(self, parser, namespace, values, option_string=None):
        if option_string == self.option_strings[-1] and len(self.option_strings) > 1:
            print(
                f"warning: {option_string} is deprecated, read as {self.option_strings[0]} "
                "(the old name goes in the next release)",
                file=sys.stderr,
            )
        setattr(namespace, self.dest, values)


def _add_model_args(p) -> None:
    p.add_argument(
        "--model",
        required=True,
        help="SavedModel directory, serving base directory (newest version) or pipeline root",
    )
    p.add_argument(
        "--show",
        "--top-k",  # the old name, read for one release with a warning
        type=int,
        default=3,
        action=RenamedOption,
        help="labels shown per prediction, most probable first (default 3)",
    )
    p.add_argument(
        "--fps",
        type=float,
        default=None,
        help="samples per second of video (default and only accepted value: the model's "
        "frame contract, how its training frames were made)",
    )
    p.add_argument(
        "--resize-mode",
        default=None,
        choices=("pad", "crop", "stretch"),
        help="default and only accepted value: the model's frame contract",
    )


def add_parsers(sub) -> None:
    """Adds the `predict` and `stream` subcommands to an argparse subparsers object."""
    p = sub.add_parser("predict", help="the most probable labels of videos (--show of them)")
    _add_model_args(p)
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video files or folders of videos")
    p.add_argument(
        "--output",
        default="",
        help=f"write the predictions to FILE.csv or FILE.jsonl (default with a folder: "
        f"{DEFAULT_FOLDER_OUTPUT})",
    )
    p.add_argument(
        "--frames-per-video",
        "--num-frames",  # the old name, read for one release with a warning
        type=int,
        default=None,
        action=RenamedOption,
        help="frames stored per video, as the ingest (not the model's window; default and "
        "only accepted value: the model's frame contract)",
    )

    p = sub.add_parser(
        "stream",
        help="frame-by-frame predictions of one video",
        description=(
            "What each mode answers. smooth (the default): what is happening now, the mean "
            "of the last --smooth outputs of the window mode; it follows a change of action "
            "within W+K-2 frames (W = --window, K = --smooth) and is steadier on one action "
            "(K windows must agree to move it). window: the last --window frames alone; it "
            "follows a change within W frames but flickers. states (causal models): the "
            "whole video so far, with the stream signatures' carried states; exact and "
            "cheapest for one action, but it never forgets, so a later action barely moves it."
        ),
    )
    _add_model_args(p)
    p.add_argument("video", metavar="VIDEO")
    p.add_argument("--csv", default="", help="write every frame's probabilities to this CSV")
    p.add_argument(
        "--plot",
        default="",
        help="write an animated plot (FILE.gif or FILE.mp4) and FILE.png, the curves",
    )
    p.add_argument(
        "--mode",
        default=None,
        choices=("smooth", "window", "states", "auto"),
        help="smooth (default; states with --runtime tflite): mean of the last --smooth window "
        "outputs; window: the last --window frames alone; states: everything since frame 0 "
        "(causal models); auto: smooth",
    )
    p.add_argument(
        "--window", type=int, default=0, help="W, frames per window (default: the model's)"
    )
    p.add_argument("--smooth", type=int, default=0, help="K, window outputs averaged (default: W)")
    p.add_argument(
        "--runtime",
        default="savedmodel",
        choices=("savedmodel", "tflite"),
        help="tflite: the states mode with the model.tflite a stream model exports beside "
        "its SavedModel (trainer.tflite)",
    )
    p.add_argument("--threads", type=int, default=0, help="TFLite threads (0: LiteRT's default)")
    p.add_argument("--print-every", type=int, default=1, help="print every Nth frame (0: none)")


def run(args) -> int:
    """Runs `predict` or `stream`; errors a user can act on are printed, exit status 2."""
    from components.ingest.video import VideoDecodeError
    from trainer.inference import InferenceError

    try:
        if args.command == "predict":
            return _run_predict(args)
        return _run_stream(args)
    except (InferenceError, exits.UsageError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except VideoDecodeError as e:
        print(f"error: {args.video}: {e}", file=sys.stderr)
        return 2


def expand_videos(paths: list[str]) -> tuple[list[str], bool]:
    """Files as given, folders as their video files (recursively, sorted); and
    whether any folder was given."""
    videos, folder_given = [], False
    for path in paths:
        if not os.path.isdir(path):
            videos.append(path)
            continue
        folder_given = True
        for parent, _, names in sorted(os.walk(path)):
            videos += [
                os.path.join(parent, n)
                for n in sorted(names)
                if os.path.splitext(n)[1].lower() in VIDEO_EXTENSIONS
            ]
    return videos, folder_given


def _top_text(top: list[tuple[str, float]]) -> str:
    return ", ".join(f"{label} {p:.3f}" for label, p in top)


def _run_predict(args) -> int:
    from pipeline.progress import Counter
    from trainer import inference

    videos, folder_given = expand_videos(args.videos)
    output = args.output or (DEFAULT_FOLDER_OUTPUT if folder_given else "")
    if output and os.path.splitext(output)[1].lower() not in OUTPUT_FORMATS:
        raise exits.UsageError(f"--output {output!r}: the suffix must be one of {OUTPUT_FORMATS}")
    if not videos:
        raise exits.UsageError(f"no video ({', '.join(VIDEO_EXTENSIONS)}) in {args.videos}")
    model = inference.load_model(args.model)
    inference.check_frame_options(model, args.fps, args.resize_mode, args.frames_per_video)
    spec = model.frame_spec(
        frames_per_video=args.frames_per_video, fps=args.fps, resize_mode=args.resize_mode
    )
    k = min(args.show, len(model.labels))
    failed = 0
    with _PredictionWriter(output, model.labels, k) as writer:
        # A bar on a terminal; in a log the per-video lines are the progress.
        bar = Counter(len(videos) if len(videos) > 1 else None, "videos", lines_in_log=False)
        for prediction in inference.classify_videos(model, _counted(videos, bar), spec):
            writer.write(prediction)
            if prediction.error:
                failed += 1
                bar.write(f"{prediction.path}: unreadable: {prediction.error}", file=sys.stderr)
            else:
                bar.write(f"{prediction.path}: {_top_text(prediction.top(model.labels, k))}")
            for warning in prediction.warnings:
                bar.write(f"{prediction.path}: warning: {warning}", file=sys.stderr)
        bar.close()
    print(
        f"{len(videos) - failed} of {len(videos)} videos classified, {failed} unreadable"
        + (f"; predictions in {output}" if output else ""),
        file=sys.stderr,
    )
    return 0 if failed < len(videos) else 1


def _counted(items: list, counter):
    """Yields `items`, counting each one done as the next is asked for."""
    for item in items:
        yield item
        counter.step()


class _PredictionWriter:
    """Writes predictions as CSV (top-k columns) or JSON Lines (every probability)."""

    def __init__(self, path: str, labels: tuple[str, ...], k: int):
        self._path, self._labels, self._k = path, labels, k
        self._file = self._csv = None

    def __enter__(self) -> _PredictionWriter:
        if not self._path:
            return self
        os.makedirs(os.path.dirname(os.path.abspath(self._path)), exist_ok=True)
        self._file = open(self._path, "w", newline="")
        if self._path.lower().endswith(".csv"):
            self._csv = csv.writer(self._file)
            ranks = range(1, self._k + 1)
            self._csv.writerow(
                ["path", "error"] + [f"{c}_{i}" for i in ranks for c in ("label", "probability")]
            )
        return self

    def write(self, prediction) -> None:
        if self._file is None:
            return
        top = prediction.top(self._labels, self._k)
        if self._csv is not None:
            cells = [x for label, p in top for x in (label, f"{p:.6f}")]
            self._csv.writerow([prediction.path, prediction.error] + cells)
            return
        row = {"path": prediction.path, "error": prediction.error or None}
        row["top_k"] = [{"label": label, "probability": p} for label, p in top]
        if prediction.probabilities is not None:
            row["probabilities"] = dict(
                zip(self._labels, prediction.probabilities.tolist(), strict=True)
            )
        self._file.write(json.dumps(row) + "\n")

    def __exit__(self, *exc) -> None:
        if self._file is not None:
            self._file.close()


def _run_stream(args) -> int:
    import numpy as np

    from components.ingest.video import FrameReader
    from pipeline.progress import Counter
    from trainer import inference, plots

    if args.plot and os.path.splitext(args.plot)[1].lower() not in plots.ANIMATION_FORMATS:
        raise exits.UsageError(
            f"--plot {args.plot!r}: the suffix must be one of {plots.ANIMATION_FORMATS}"
        )
    model = inference.load_model(args.model)
    mode = inference.stream_mode(model, "states" if _tflite(args) else args.mode or "smooth")
    inference.check_frame_options(model, args.fps, args.resize_mode)
    spec = model.frame_spec(fps=args.fps, resize_mode=args.resize_mode, at_model_resolution=True)
    reader = FrameReader(args.video, spec)
    fps = reader.sampled_fps
    how = _describe_mode(mode, args.window or model.window_frames, args.smooth)
    print(f"{args.video}: {fps:g} samples/s of video, {how}, model {model.path}", file=sys.stderr)
    k = min(args.show, len(model.labels))
    kept = [] if args.plot else None  # [frames, classes] floats, for the plot only
    csv_file = open(args.csv, "w", newline="") if args.csv else None
    try:
        rows = csv.writer(csv_file) if csv_file else None
        if rows:
            rows.writerow(["frame", "time_s", *model.labels])
        bar = Counter(reader.expected_frames or None, "frames")
        if _tflite(args):
            from trainer import tflite_model

            outputs = tflite_model.stream_probabilities(model.path, reader, args.threads or None)
        else:
            outputs = inference.stream(model, reader, mode, args.window, args.smooth)
        for index, probabilities in enumerate(outputs):
            bar.step()
            if args.print_every and index % args.print_every == 0:
                top = np.argsort(-probabilities, kind="stable")[:k]
                text = _top_text([(model.labels[i], float(probabilities[i])) for i in top])
                bar.write(f"{index:6d} {reader.timestamps[index]:8.2f}s  {text}")
            if rows:
                time_s = f"{reader.timestamps[index]:.3f}"
                rows.writerow([index, time_s, *(f"{p:.6f}" for p in probabilities)])
            if kept is not None:
                kept.append(probabilities)
        bar.close()
    finally:
        if csv_file:
            csv_file.close()
    # What the decoder found wrong with the file, as the ingest report says it; known
    # once the whole video was read.
    for warning in reader.warnings:
        print(f"{args.video}: warning: {warning}", file=sys.stderr)
    if args.csv:
        print(f"per-frame probabilities: {args.csv}", file=sys.stderr)
    if kept:
        _write_plots(args, model, spec, np.stack(kept), fps)
    return 0


def _tflite(args) -> bool:
    """Whether to stream with model.tflite; it runs the states mode only."""
    if args.runtime != "tflite":
        return False
    if args.mode not in (None, "states", "auto"):
        raise exits.UsageError(
            f"--runtime tflite runs the states mode (the frame step with carried states); "
            f"got --mode {args.mode}: pass --mode states, or use --runtime savedmodel"
        )
    return True


def _describe_mode(mode: str, window: int, smooth: int) -> str:
    if mode == "states":
        return "states: the whole video so far (stream signatures)"
    if mode == "window":
        return f"window: the last {window} frames"
    k = smooth or window
    return (
        f"smooth: mean of the last {k} outputs of {window}-frame windows "
        f"(a change shows within {window + k - 2} frames)"
    )


def _write_plots(args, model, spec, probabilities, fps: float) -> None:
    from components.ingest.video import FrameReader
    from pipeline.progress import Counter
    from trainer import plots

    png = os.path.splitext(args.plot)[0] + ".png"
    plots.plot_curves(probabilities, model.labels, fps, png, shown=args.show)
    with Counter(len(probabilities), "plot frames") as bar:
        written = plots.write_animation(
            FrameReader(args.video, spec),
            probabilities,
            model.labels,
            fps,
            args.plot,
            shown=args.show,
            progress=bar.step,
        )
    print(f"plot: {args.plot} ({written} frames), curves: {png}", file=sys.stderr)
