"""The `python -m pipeline` command line: thin wrappers over library functions.

Commands:
  demo-data  write the synthetic UCF101-like demo dataset (videos zip + split lists)
  ingest     run the ingest's Beam transform without an orchestrator (see ingest_cli.py)
  run        run the whole pipeline locally (ingest, validate, train, evaluate, push)
  predict    the most probable labels of videos with an exported model (see predict_cli.py)
  stream     frame-by-frame predictions of a video, CSV and animated plot
  history    list the runs in the ML Metadata store: span, model, metrics, verdict, push
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from pipeline import exits, ingest_cli, predict_cli


def _add_demo_parser(sub) -> None:
    # Defaults None: DemoSpec's (importing it here would load OpenCV for every command).
    p = sub.add_parser("demo-data", help="write the synthetic UCF101-like demo dataset")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--classes", type=int, help="classes (default: DemoSpec's)")
    p.add_argument("--groups", type=int, help="groups per class (default: DemoSpec's)")
    p.add_argument("--clips", type=int, help="clips per group (default: DemoSpec's)")
    p.add_argument("--seconds", type=float, help="length of each clip (default: DemoSpec's)")
    p.add_argument("--seed", type=int, help="(default: DemoSpec's)")


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_demo_parser(sub)
    ingest_cli.add_parser(sub)
    _add_run_parser(sub)
    predict_cli.add_parsers(sub)
    _add_history_parser(sub)
    exits.add_verbose_flag(parser, sub)
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "ingest":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    verbose = exits.is_verbose(args)

    from absl import logging

    from components.data_gate.checks import DataGateError
    from components.ingest.errors import IngestError, SourceUnavailableError
    from pipeline.config import ConfigError
    from pipeline.history import HistoryError
    from pipeline.store import StoreBusyError

    logging.set_verbosity(logging.INFO if verbose else logging.WARNING)
    commands = {
        "demo-data": lambda: _run_demo(args),
        "run": lambda: _run_pipeline(args),
        "history": lambda: _run_history(args),
        "ingest": lambda: ingest_cli.run(args, extra),
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
            # the input: flags, config, data, the store asked for
            ((IngestError, ConfigError, exits.UsageError, DataGateError, HistoryError), 2),
        ],
        verbose,
    )
