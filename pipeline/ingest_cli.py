"""`python -m pipeline ingest`: the ingest's Beam transform without an orchestrator.

Its flags are shortcuts for keys of the ingest config (`INGEST_FLAGS`); the rest of
the command line goes to Beam.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

from pipeline import exits, predict_cli


def _parse_classes(text: str) -> int | tuple[str, ...]:
    text = text.strip()
    if text.isdigit():
        return int(text)
    return tuple(name.strip() for name in text.split(",") if name.strip())


# The ingest's flags are shortcuts for `--set ingest....` keys of its config
# (IngestConfig, nested as in a pipeline config's `ingest:` section);
# a flag not given leaves the key to the config's own default, so the defaults live
# in the dataclasses alone (`--print-config` shows them).
INGEST_FLAGS = {
    "source": "ingest.source",
    "split_lists": "ingest.split_lists",
    "split": "ingest.selection.split",
    "classes": "ingest.selection.classes",
    "clips_per_class": "ingest.selection.clips_per_class",
    "eval_fraction": "ingest.selection.eval_fraction",
    "seed": "ingest.selection.seed",
    "allow_missing": "ingest.selection.allow_missing_listed",
    "frames_per_video": "ingest.frames.frames_per_video",
    "fps": "ingest.frames.target_fps",
    "frame_step": "ingest.frames.frame_step",
    "height": "ingest.frames.height",
    "width": "ingest.frames.width",
    "resize_mode": "ingest.frames.resize_mode",
    "jpeg_quality": "ingest.jpeg_quality",
    "num_shards": "ingest.num_shards",
    "max_bad_fraction": "ingest.max_bad_fraction",
    "retries": "ingest.http.retries",
    "cache_dir": "ingest.cache_dir",
}


def add_parser(sub) -> None:
    p = sub.add_parser(
        "ingest",
        help="videos -> TFRecord Examples (train/eval), without an orchestrator",
        description="Each flag sets one key of the ingest config (components/ingest/config.py; "
        "`--print-config` shows every key and its value); `--set KEY=VALUE` sets any key, "
        "e.g. --set ingest.frames.min_decoded_fraction=0.5. Unknown --flags are passed to Beam "
        "(e.g. --runner=FlinkRunner ...).",
        argument_default=argparse.SUPPRESS,
    )

    def key(flag: str, help: str, *old_names: str, **kwargs) -> None:
        name = flag[2:].replace("-", "_")
        p.add_argument(flag, *old_names, help=f"{help} [{INGEST_FLAGS[name]}]", **kwargs)

    key("--source", "http(s) URL of a zip, a local zip, or a folder")
    key("--split-lists", "official split lists: URL, zip or folder")
    key("--split", "official split 1-3 (1 when --split-lists is given), 0: group split", type=int)
    key("--classes", "N (first N classes) or Name1,Name2,... (0: all)", type=_parse_classes)
    key("--clips-per-class", "cap per class (0: all)", type=int)
    key("--eval-fraction", "group split: share of groups", type=float)
    key("--seed", "seeds the group split and the clip order", type=int)
    key("--allow-missing", "tolerate listed videos the source lacks", action="store_true")
    key(
        "--frames-per-video",
        "frames stored per video (not the model's window, trainer.window_frames)",
        "--num-frames",  # the old name, read for one release with a warning
        type=int,
        action=predict_cli.RenamedOption,
    )
    key("--fps", "sampling rate (frames per second)", type=float)
    key("--frame-step", "explicit stride; overrides --fps", type=int)
    key("--height", "frame height", type=int)
    key("--width", "frame width", type=int)
    key("--resize-mode", "how frames fit the size", choices=("pad", "crop", "stretch"))
    key("--jpeg-quality", "JPEG quality of stored frames", type=int)
    key("--num-shards", "shards per split (0: the runner decides)", type=int)
    key("--max-bad-fraction", "share of videos allowed to fail decoding", type=float)
    key("--retries", "HTTP retries with exponential backoff", type=int)
    key("--cache-dir", "cache for fetched remote members")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set an ingest config key, e.g. --set ingest.frames.resize_mode=crop (repeatable)",
    )
    p.add_argument("--print-config", action="store_true", default=False, help="print and stop")
    p.add_argument("--workers", type=int, default=2, help="DirectRunner worker threads (default 2)")
    p.add_argument("--output", help="output folder (Split-train/, Split-eval/)")
    p.add_argument(
        "--overwrite", action="store_true", default=False, help="replace an earlier output"
    )


def _ingest_config(args):
    """The IngestConfig the flags and --set give (ConfigError names a bad key)."""
    import json

    from components.ingest.config import IngestConfig
    from pipeline.config import ConfigError, apply_overrides

    given = []  # each flag given, as the --set item it stands for (JSON is YAML)
    for name, key in INGEST_FLAGS.items():
        if name in vars(args):
            value = vars(args)[name]
            given.append(f"{key}={json.dumps(list(value) if isinstance(value, tuple) else value)}")
    outside = [item for item in args.set if not item.startswith("ingest.")]
    if outside:
        raise ConfigError(f"--set {outside[0]!r}: the ingest command takes ingest.* keys only")
    data = apply_overrides({"ingest": {}}, given + args.set)["ingest"]
    if "split" not in data.get("selection", {}) and data.get("split_lists"):
        data.setdefault("selection", {})["split"] = 1  # the lists' first official split
    return IngestConfig.from_dict(data)


def run(args, beam_args: list[str]) -> int:
    """Runs the ingest the flags describe; prints what it wrote per class and split.

    Raises:
      ConfigError: a flag or --set key the ingest config refuses.
      exits.UsageError: no --output, or an output folder in the way.
      IngestError, SourceUnavailableError: as components/ingest/beam_ingest.py.
    """
    from components.ingest import beam_ingest
    from pipeline.beam import local_beam_args

    config = _ingest_config(args)
    if args.print_config:
        import json

        print(json.dumps(json.loads(config.to_json()), indent=2))
        return 0
    if not getattr(args, "output", None):
        raise exits.UsageError("ingest needs --output FOLDER (or --print-config)")
    if os.path.exists(args.output) and os.listdir(args.output):
        if not args.overwrite:
            raise exits.UsageError(
                f"--output {args.output!r} is not empty; pass --overwrite to replace it"
            )
        shutil.rmtree(args.output)
    beam_args = local_beam_args(beam_args, args.workers)
    print(f"ingesting {config.source} -> {args.output}", file=sys.stderr)
    start = time.monotonic()
    report = beam_ingest.run_ingest(config, args.output, beam_args)
    elapsed = time.monotonic() - start
    _print_report(report, args.output, elapsed)
    return 0


def _print_report(report, output: str, elapsed: float) -> None:
    from components.ingest import constants

    width = max(len(n) for n in report.class_names)
    print(f"{'class':<{width}}  {'train':>6}  {'eval':>6}")
    for name in report.class_names:
        train, evaluation = report.written["train"][name], report.written["eval"][name]
        print(f"{name:<{width}}  {train:>6}  {evaluation:>6}")
    totals = {s: sum(report.written[s].values()) for s in constants.SPLITS}
    print(f"{'total':<{width}}  {totals['train']:>6}  {totals['eval']:>6}")
    for split in constants.SPLITS:
        folder = constants.split_dir(output, split)
        shards = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
        print(f"{split}: {len(shards)} shard(s) in {folder}")
    print(f"labels: {os.path.join(output, constants.LABELS_FILE)}")
    print(f"report: {os.path.join(output, constants.REPORT_FILE)}")
    for bad in report.bad:
        print(f"skipped {bad['video']}: {bad['reason']}")
    for name in report.refused:
        print(f"refused unsafe member name {name!r}")
    for warning in report.warnings:
        print(f"warning: {warning}")
    for warning in report.video_warnings:
        print(f"warning: {warning['video']}: {warning['warning']}")
    print(f"{report.selected - len(report.bad)} videos written in {elapsed:.1f}s")
