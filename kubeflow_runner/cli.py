"""The `python -m kubeflow_runner` command line: thin wrappers over its client and schedule.

Commands:
  compile   the pipeline -> a KFP 2 pipeline spec (YAML) for the container image
  submit    upload the compiled pipeline (or a new version of it) and start a run
  schedule  recurring runs for retraining: create (--cron), --list, --enable,
            --disable, --delete

Credentials: --token or $KFP_TOKEN (a bearer token), --sa-token-path (a
service-account token file), or the current kube config when --host is left
out. A token is never printed; prefer $KFP_TOKEN to --token, which other users
of the machine can see in the process list.
"""

from __future__ import annotations

import argparse
import os
import sys

from pipeline import exits

TOKEN_ENV = "KFP_TOKEN"
DEFAULT_EXPERIMENT = "video-action"


def _add_connection_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("connection")
    g.add_argument(
        "--host",
        default=os.environ.get("KF_PIPELINES_ENDPOINT"),
        help="KFP API URL, e.g. http://localhost:8080 (default $KF_PIPELINES_ENDPOINT; "
        "without it: in-cluster, or the kube config's cluster through its API proxy)",
    )
    g.add_argument("--namespace", help="profile namespace (multi-user Kubeflow)")
    g.add_argument(
        "--token", help=f"bearer token (default ${TOKEN_ENV}; prefer the variable: never printed)"
    )
    g.add_argument("--sa-token-path", help="service-account token file, read on each request")
    g.add_argument("--kube-context", help="kube config context (when --host is left out)")


def _add_package_args(p: argparse.ArgumentParser, required: bool) -> None:
    p.add_argument(
        "--package",
        required=required,
        help="compiled pipeline (python -m kubeflow_runner compile --output FILE): .yaml, or "
        "TFX .json",
    )
    p.add_argument("--pipeline-name", help="pipeline name in KFP (default: the spec's name)")
    p.add_argument("--version", help="version name when the pipeline exists (default: dated)")
    p.add_argument("--experiment", default=DEFAULT_EXPERIMENT, help="experiment (made if missing)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="runtime parameter (repeatable), typed as the spec declares it",
    )
    p.add_argument(
        "--pipeline-root",
        help="pipeline root for the run(s) (default: the one compiled into the package)",
    )
    p.add_argument("--service-account", help="Kubernetes service account the run(s) use")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m kubeflow_runner",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("compile", help="compile the pipeline to a KFP 2 pipeline spec")
    p.add_argument("--config", help="pipeline config file (default: configs/demo.yaml)")
    p.add_argument("--output", required=True, help="pipeline spec to write (.yaml)")

    p = sub.add_parser("submit", help="upload the pipeline (or a new version) and start a run")
    _add_package_args(p, required=True)
    p.add_argument("--run-name", help="run name (default: pipeline name and time)")
    p.add_argument("--no-cache", action="store_true", help="rerun every step (no KFP caching)")
    _add_connection_args(p)

    p = sub.add_parser(
        "schedule",
        help="recurring runs: create (--cron), --list, --enable, --disable, --delete",
        description="Create a recurring run with --cron (uploads --package first), or manage "
        "recurring runs with --list, --enable, --disable or --delete. KFP evaluates cron "
        "expressions in UTC (unless its scheduledworkflow deployment sets "
        "CRON_SCHEDULE_TIMEZONE); creating and listing print the next three runs in UTC and "
        "in this machine's zone.",
    )
    action = p.add_mutually_exclusive_group(required=True)
    action.add_argument(
        "--cron",
        help="create: six fields, seconds first, evaluated by KFP in UTC, e.g. "
        "'0 0 3 * * *' (03:00 UTC daily); the next runs are printed in UTC and local time",
    )
    action.add_argument("--list", action="store_true", help="list recurring runs")
    action.add_argument("--enable", metavar="ID_OR_NAME", help="enable a recurring run")
    action.add_argument("--disable", metavar="ID_OR_NAME", help="disable a recurring run")
    action.add_argument("--delete", metavar="ID_OR_NAME", help="delete a recurring run")
    _add_package_args(p, required=False)
    p.add_argument("--name", help="recurring run name (default: '<pipeline name> retraining')")
    p.add_argument("--max-concurrency", type=int, default=1, help="runs at a time (default 1: one)")
    p.add_argument("--catchup", action="store_true", help="run every missed interval after a pause")
    p.add_argument("--disabled", action="store_true", help="create it disabled")
    _add_connection_args(p)
    exits.add_verbose_flag(parser, sub)
    return parser


def _connect(args):
    from kubeflow_runner.client import connect

    token = args.token or os.environ.get(TOKEN_ENV) or None
    return connect(args.host, args.namespace, token, args.sa_token_path, args.kube_context)


def _upload(args, session):
    """(upload, typed params): the package's parameters are checked before uploading.

    Also sets `args.pipeline_root`, when not given, to the spec's defaultPipelineRoot:
    the open-source KFP backend does not read it from the spec and would put the
    run's artifacts under the cluster's default (minio://), which TFX steps cannot
    open (kubeflow/pipelines backend/src/v2/driver/driver.go, RootDAG).
    """
    from kubeflow_runner.client import upload_pipeline_or_version
    from kubeflow_runner.spec import coerce_params, load_pipeline_spec, parse_param_assignments

    spec = load_pipeline_spec(args.package)
    params = coerce_params(parse_param_assignments(args.param), spec)
    args.pipeline_root = args.pipeline_root or spec.get("defaultPipelineRoot") or None
    upload = upload_pipeline_or_version(session, args.package, args.pipeline_name, args.version)
    what = "new pipeline" if upload.new_pipeline else "new version of pipeline"
    print(
        f"uploaded {what} {upload.pipeline_name!r} ({upload.pipeline_id}), "
        f"version {upload.version_name!r} ({upload.version_id})"
    )
    return upload, params


def _run_submit(args) -> int:
    from kubeflow_runner.client import start_run

    session = _connect(args)
    upload, params = _upload(args, session)
    run = start_run(
        session,
        args.experiment,
        upload,
        params,
        args.run_name,
        args.pipeline_root,
        False if args.no_cache else None,
        args.service_account,
    )
    print(f"started run {run.run_id} in experiment {args.experiment!r}: {run.link}")
    return 0


def _run_schedule(args) -> int:
    from kubeflow_runner import schedule
    from kubeflow_runner.cron import validate_cron

    if args.cron is not None:
        if not args.package:
            raise _UsageError("schedule --cron needs --package (the compiled pipeline)")
        cron = validate_cron(args.cron)  # before connecting or uploading
        session = _connect(args)
        upload, params = _upload(args, session)
        created = schedule.create_schedule(
            session,
            args.experiment,
            upload,
            args.name or f"{upload.pipeline_name} retraining",
            cron,
            params,
            args.max_concurrency,
            not args.catchup,
            not args.disabled,
            args.pipeline_root,
            args.service_account,
        )
        _print_schedules([created])
        return 0
    session = _connect(args)
    if args.list:
        _print_schedules(schedule.list_schedules(session))
    elif args.delete:
        gone = schedule.delete_schedule(session, args.delete)
        print(f"deleted recurring run {gone.name!r} ({gone.recurring_run_id})")
    else:
        enable = args.enable is not None
        changed = schedule.set_schedule_enabled(session, args.enable or args.disable, enable)
        print(
            f"{'enabled' if enable else 'disabled'} recurring run {changed.name!r} "
            f"({changed.recurring_run_id})"
        )
    return 0


def _print_schedules(schedules) -> None:
    if not schedules:
        print("no recurring runs")
        return
    _print_schedule_table(schedules)
    _print_next_runs(schedules)


def _print_next_runs(schedules) -> None:
    """Each enabled schedule's next three runs, in UTC and in this machine's zone."""
    from kubeflow_runner.cron import ZONE_NOTE, describe_fire_times
    from kubeflow_runner.errors import KubeflowError

    print(f"{ZONE_NOTE}; next runs:")
    for s in schedules:
        if not s.enabled:
            print(f"  {s.name}: disabled (no runs until --enable)")
        elif s.cron.startswith("every "):
            print(f"  {s.name}: {s.cron}, counted from when it started")
        else:
            try:
                lines = describe_fire_times(s.cron)
            except KubeflowError as e:  # made by another tool, in a form we do not read
                lines = [f"cannot tell: {e}"]
            print(f"  {s.name}:")
            for line in lines:
                print(f"    {line}")


def _print_schedule_table(schedules) -> None:
    rows = [("id", "name", "state", "cron (UTC)", "max", "catchup", "pipeline version")]
    for s in schedules:
        state = "enabled" if s.enabled else "disabled"
        catchup = "no" if s.no_catchup else "yes"
        rows.append(
            (
                s.recurring_run_id,
                s.name,
                state,
                s.cron,
                str(s.max_concurrency),
                catchup,
                s.version_id,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def _run_compile(args) -> int:
    from pipeline.config import load_config

    # The config first: it loads without TensorFlow, so a bad one is refused in a
    # moment with one line, before TFX and TensorFlow load (seconds, and log lines).
    config = load_config(args.config)
    from kubeflow_runner.compile import compile_config, storage_warnings

    for warning in storage_warnings(config):
        print(f"warning: {warning}", file=sys.stderr)
    path = compile_config(config, args.output)
    print(f"wrote {path or args.output}")
    return 0


class _UsageError(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    verbose = exits.is_verbose(args)

    import logging as std_logging

    from absl import logging

    from components.ingest.errors import IngestError
    from kubeflow_runner.errors import KubeflowError
    from pipeline.config import ConfigError

    logging.set_verbosity(logging.INFO if verbose else logging.WARNING)
    # urllib3 warns on each connection retry; the final error says it all.
    std_logging.getLogger("urllib3").setLevel(std_logging.ERROR)
    commands = {"compile": _run_compile, "submit": _run_submit, "schedule": _run_schedule}

    def command() -> int:
        from pipeline.progress import component_progress

        try:
            # Library log lines go nowhere unless --verbose; errors still end the command.
            with component_progress(verbose=verbose, keras=False):
                return commands[args.command](args)
        except _UsageError as e:
            parser.error(str(e))  # usage and exit status 2

    return exits.run_command(
        command, [(KubeflowError, 1), ((ConfigError, IngestError), 2)], verbose
    )
