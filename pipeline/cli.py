"""The `python -m pipeline` command line: thin wrappers over library functions.

Commands:
  demo-data  write the synthetic UCF101-like demo dataset (videos zip + split lists)
  ingest     run the ingest's Beam transform without an orchestrator
  run        run the whole pipeline locally (ingest, validate, train, evaluate, push)
  predict    top-k labels of videos with an exported model (see predict_cli.py)
  stream     frame-by-frame predictions of a video, CSV and animated plot
  history    list the runs in the ML Metadata store: span, model, metrics, verdict, push
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


def _add_demo_parser(sub) -> None:
    # Defaults None: DemoSpec's (importing it here would load OpenCV for every command).
    p = sub.add_parser("demo-data", help="write the synthetic UCF101-like demo dataset")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--classes", type=int, help="classes (default: DemoSpec's)")
    p.add_argument("--groups", type=int, help="groups per class (default: DemoSpec's)")
    p.add_argument("--clips", type=int, help="clips per group (default: DemoSpec's)")
    p.add_argument("--seconds", type=float, help="length of each clip (default: DemoSpec's)")
    p.add_argument("--seed", type=int, help="(default: DemoSpec's)")


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


def _add_ingest_parser(sub) -> None:
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
    p.add_argument(
        "--workers", type=int, default=2, help="DirectRunner worker processes (default 2)"
    )
    p.add_argument("--output", help="output folder (Split-train/, Split-eval/)")
    p.add_argument(
        "--overwrite", action="store_true", default=False, help="replace an earlier output"
    )


def _add_run_parser(sub) -> None:
    p = sub.add_parser(
        "run",
        help="run the whole pipeline locally (LocalDagRunner)",
        description="Without --config the demo runs: configs/demo.yaml (data from "
        "`make demo-data`).",
    )
    p.add_argument(
        "--config", default=None, help="pipeline config (YAML or JSON; default configs/demo.yaml)"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. --set trainer.epochs=5 (repeatable)",
    )
    p.add_argument("--print-config", action="store_true", help="print the config and stop")
    p.add_argument(
        "--wait",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="wait this long for another run of the same metadata store, or for a process "
        "holding the store's lock, saying so; then give up (default 60; 0: do not wait)",
    )


def _add_history_parser(sub) -> None:
    p = sub.add_parser(
        "history",
        help="list the pipeline's runs, newest first (span, model, metrics, verdict, push)",
        description="Reads the ML Metadata store: --metadata, else <--pipeline-root>/metadata.db, "
        "else the store of --config (default: configs/demo.yaml, the demo).",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("--metadata", help="SQLite ML Metadata file (path or sqlite:///path)")
    where.add_argument("--pipeline-root", help="pipeline root holding metadata.db")
    p.add_argument("--config", default=None, help="pipeline config (its store and name)")
    p.add_argument("--json", action="store_true", help="print JSON (a list of runs)")
    p.add_argument(
        "--wait",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="wait this long for a process holding the store's exclusive lock (default 10); "
        "a pipeline run in progress does not block reading",
    )


def _run_history(args) -> int:
    import json

    from pipeline.config import load_config
    from pipeline.history import format_history, load_history

    config = (
        load_config(args.config)
        if args.config or not (args.metadata or args.pipeline_root)
        else None
    )
    metadata = args.metadata or (
        os.path.join(args.pipeline_root, "metadata.db") if args.pipeline_root else None
    )
    records = load_history(
        metadata or config.metadata_db, config.name if config else None, wait_s=args.wait
    )
    if args.json:
        print(json.dumps([r.to_dict() for r in records], indent=2))
    else:
        print(format_history(records))
    return 0


def _run_pipeline(args) -> int:
    from pipeline.config import load_config

    config = load_config(args.config, args.set)
    if args.print_config:
        import yaml

        print(yaml.safe_dump(config.to_dict(), sort_keys=False), end="")
        return 0
    from pipeline import local_runner, progress

    print(f"pipeline {config.name}: root {config.pipeline_root}", file=sys.stderr)
    start = time.monotonic()
    log_dir = os.path.join(config.pipeline_root, "logs")
    os.makedirs(log_dir, exist_ok=True)
    # Named by the start time until the run's id is known (LocalDagRunner picks it).
    log_path = os.path.join(log_dir, time.strftime("started-%Y%m%dT%H%M%S.log", time.gmtime()))
    try:
        with progress.component_progress(
            verbose=bool(os.environ.get("VERBOSE")), log_path=log_path
        ):
            summary = local_runner.run_local(config, args.wait, _print_waiting)
    except BaseException:
        print(f"full log: {log_path}", file=sys.stderr)
        raise
    run_log = os.path.join(log_dir, f"{summary.run_id}.log")
    os.replace(log_path, run_log)
    _print_run_summary(summary, time.monotonic() - start, run_log)
    return 0


def _print_waiting(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _print_run_summary(summary, elapsed: float, log_path: str) -> None:
    reused = [name for name, state in summary.executions.items() if state == "CACHED"]
    print(f"run {summary.run_id} finished in {elapsed:.0f}s")
    if reused:
        print(f"reused from earlier runs (cached): {', '.join(reused)}")
    if summary.data_gate:  # a refusal ends the run earlier, with its own message
        print(f"data gate: {summary.data_gate}")
        for finding in summary.data_findings:
            print(f"  - {finding}")
    for title, value in summary.headline.items():
        print(f"  {title:<24} {value:.3f}")
    from components.training_summary import WEIGHTS_HASH_FILE

    hash_file = os.path.join(summary.model, WEIGHTS_HASH_FILE)
    weights = ""
    if summary.model and os.path.isfile(hash_file):
        with open(hash_file) as f:
            weights = f"  (weights sha256 {f.read().strip()[:16]})"
    print(f"model:  {summary.model}{weights}")
    if summary.baseline:
        print(f"judged against: {summary.baseline}")
    print(f"report: {summary.report}")
    if summary.pushed_to:
        print(f"pushed: {summary.pushed_to}")
    elif summary.already_served:
        print(f"not pushed: the same model is already served as {summary.already_served}")
    else:
        print("not pushed: the model was not blessed")
        for reason in summary.reasons:
            print(f"  - {reason}")
    print(f"log:    {log_path}")


def _run_demo(args) -> int:
    from pipeline.demo_data import DemoSpec, write_demo_dataset
    from pipeline.progress import Counter

    given = {
        "num_classes": args.classes,
        "groups_per_class": args.groups,
        "clips_per_group": args.clips,
        "seconds": args.seconds,
        "seed": args.seed,
    }
    spec = DemoSpec(**{name: value for name, value in given.items() if value is not None})
    total = spec.num_classes * spec.groups_per_class * spec.clips_per_group
    # A bar on a terminal; in a log the two lines below say it all (issue 13: a screenful).
    counter, done = Counter(total, f"demo videos -> {args.out}", lines_in_log=False), []

    def progress(rel):
        done.append(rel)
        counter.update(len(done))

    paths = write_demo_dataset(args.out, spec, progress)
    counter.close()
    print(f"videos:      {paths.videos_zip} ({os.path.getsize(paths.videos_zip) / 1e6:.1f} MB)")
    print(f"split lists: {paths.lists_zip}")
    return 0


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


def _run_ingest(args, beam_args: list[str]) -> int:
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_demo_parser(sub)
    _add_ingest_parser(sub)
    _add_run_parser(sub)
    predict_cli.add_parsers(sub)
    _add_history_parser(sub)
    exits.add_verbose_flag(parser, sub)
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "ingest":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    verbose = exits.is_verbose(args)

    from absl import logging

    from components.ingest.errors import IngestError, SourceUnavailableError
    from pipeline.config import ConfigError
    from pipeline.store import StoreBusyError

    logging.set_verbosity(logging.INFO if verbose else logging.WARNING)
    commands = {
        "demo-data": lambda: _run_demo(args),
        "run": lambda: _run_pipeline(args),
        "history": lambda: _run_history(args),
        "ingest": lambda: _run_ingest(args, extra),
        **{name: (lambda: predict_cli.run(args)) for name in predict_cli.COMMANDS},
    }

    def command() -> int:
        if args.command == "run":  # the run's own progress and log file
            return commands["run"]()
        from pipeline import progress

        with progress.component_progress(verbose=verbose, keras=False):
            return commands[args.command]()

    return exits.run_command(
        command,
        [
            ((SourceUnavailableError, StoreBusyError), 1),  # the environment, not the input
            ((IngestError, ConfigError, exits.UsageError), 2),
        ],
        verbose,
    )
