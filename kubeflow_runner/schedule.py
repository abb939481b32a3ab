"""Recurring runs (KFP schedules) for production retraining: create, enable, disable, list.

A retraining schedule runs at most one run at a time (`max_concurrency=1`) and
does not catch up on missed intervals (`no_catchup=True`) unless asked: after
a pause it runs once, not once per missed day. The cron expression is checked
before anything is sent (six fields, seconds first: see `kubeflow_runner/cron.py`).
Schedule names are kept unique, so a second `create` cannot double the
retraining.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from absl import logging

from kubeflow_runner.client import Session, Upload, ensure_experiment
from kubeflow_runner.cron import validate_cron
from kubeflow_runner.errors import KubeflowError, kfp_call

# KFP's API server refuses a recurring run's max_concurrency outside 1..10.
MAX_CONCURRENCY_LIMIT = 10


@dataclasses.dataclass(frozen=True)
class Schedule:
    """A recurring run as KFP reports it."""

    recurring_run_id: str
    name: str
    cron: str
    enabled: bool
    max_concurrency: int
    no_catchup: bool
    pipeline_id: str
    version_id: str
    experiment_id: str


def create_schedule(
    session: Session,
    experiment: str,
    upload: Upload,
    name: str,
    cron: str,
    params: dict[str, Any] | None = None,
    max_concurrency: int = 1,
    no_catchup: bool = True,
    enabled: bool = True,
    pipeline_root: str | None = None,
    service_account: str | None = None,
) -> Schedule:
    """Creates a recurring run of an uploaded pipeline version.

    Raises:
      KubeflowError: an invalid cron or max_concurrency (before any request), a
        schedule of that name already existing, or a server error.
    """
    cron = validate_cron(cron)
    if not 1 <= max_concurrency <= MAX_CONCURRENCY_LIMIT:
        raise KubeflowError(
            f"max_concurrency {max_concurrency} is out of range: KFP allows "
            f"1..{MAX_CONCURRENCY_LIMIT} (1 for retraining: one run at a time)"
        )
    if not name.strip():
        raise KubeflowError("schedule name is empty: pass --name")
    existing = [s for s in list_schedules(session) if s.name == name]
    if existing:
        raise KubeflowError(
            f"a recurring run named {name!r} already exists ({existing[0].recurring_run_id}): "
            "disable or delete it first, or choose another --name"
        )
    experiment_id = ensure_experiment(session, experiment)
    with kfp_call(session.host, f"create recurring run {name!r}", session.secrets):
        created = session.client.create_recurring_run(
            experiment_id,
            name,
            cron_expression=cron,
            max_concurrency=max_concurrency,
            no_catchup=no_catchup,
            params=params or {},
            pipeline_id=upload.pipeline_id,
            version_id=upload.version_id,
            enabled=enabled,
            pipeline_root=pipeline_root,
            service_account=service_account,
        )
    logging.info("created recurring run %r (%s), cron %r", name, created.recurring_run_id, cron)
    return _schedule(created)


def list_schedules(session: Session, experiment_id: str | None = None) -> list[Schedule]:
    """Every recurring run of the session's namespace (or of one experiment), all pages."""
    schedules, token = [], ""
    with kfp_call(session.host, "list recurring runs", session.secrets):
        while True:
            page = session.client.list_recurring_runs(
                page_token=token,
                page_size=100,
                experiment_id=experiment_id,
                namespace=session.namespace,
            )
            schedules += [_schedule(r) for r in page.recurring_runs or []]
            token = page.next_page_token
            if not token:
                return schedules


def find_schedule(session: Session, id_or_name: str) -> Schedule:
    """The recurring run with this id or, failing that, this unique name."""
    schedules = list_schedules(session)
    by_id = [s for s in schedules if s.recurring_run_id == id_or_name]
    found = by_id or [s for s in schedules if s.name == id_or_name]
    if not found:
        raise KubeflowError(
            f"no recurring run has the id or name {id_or_name!r} at {session.host}"
            f"{_namespace_note(session)}: `python -m kubeflow_runner schedule list` shows them"
        )
    if len(found) > 1:
        ids = ", ".join(s.recurring_run_id for s in found)
        raise KubeflowError(f"several recurring runs are named {id_or_name!r} ({ids}): pass an id")
    return found[0]


def set_schedule_enabled(session: Session, id_or_name: str, enabled: bool) -> Schedule:
    """Enables or disables a recurring run; returns it as it was found."""
    schedule = find_schedule(session, id_or_name)
    verb = "enable" if enabled else "disable"
    action = f"{verb} recurring run {schedule.name!r} ({schedule.recurring_run_id})"
    with kfp_call(session.host, action, session.secrets):
        if enabled:
            session.client.enable_recurring_run(schedule.recurring_run_id)
        else:
            session.client.disable_recurring_run(schedule.recurring_run_id)
    logging.info("%sd recurring run %r", verb, schedule.name)
    return dataclasses.replace(schedule, enabled=enabled)


def delete_schedule(session: Session, id_or_name: str) -> Schedule:
    """Deletes a recurring run (its past runs stay); returns it as it was found."""
    schedule = find_schedule(session, id_or_name)
    action = f"delete recurring run {schedule.name!r} ({schedule.recurring_run_id})"
    with kfp_call(session.host, action, session.secrets):
        session.client.delete_recurring_run(schedule.recurring_run_id)
    return schedule


def _namespace_note(session: Session) -> str:
    return f" in namespace {session.namespace!r}" if session.namespace else ""


def _schedule(run) -> Schedule:
    trigger = run.trigger
    cron = ""
    if trigger is not None and trigger.cron_schedule is not None:
        cron = trigger.cron_schedule.cron or ""
    elif trigger is not None and trigger.periodic_schedule is not None:
        cron = f"every {trigger.periodic_schedule.interval_second}s"
    reference = run.pipeline_version_reference
    status = str(run.status or "")
    enabled = run.mode == "ENABLE" if run.mode else status == "ENABLED"
    return Schedule(
        recurring_run_id=run.recurring_run_id or "",
        name=run.display_name or "",
        cron=cron,
        enabled=enabled,
        max_concurrency=int(run.max_concurrency or 0),
        no_catchup=bool(run.no_catchup),
        pipeline_id=(reference.pipeline_id if reference else "") or "",
        version_id=(reference.pipeline_version_id if reference else "") or "",
        experiment_id=run.experiment_id or "",
    )
