"""Beam arguments for local runs (no TFX import, so the ingest CLI stays light)."""

from __future__ import annotations


def direct_runner_args(workers: int) -> list[str]:
    """Beam args for the local DirectRunner with `workers` processes.

    One worker is Beam's default (DirectRunner, in memory) and gets no args at all:
    TFX's Beam executors build an sdist of TFX for remote workers whenever their args
    are not empty (base_beam_executor.py, `dependency_utils.make_beam_dependency_flags`),
    ~2.5 s per Beam component on 2 cores that a local run never uses.
    """
    if workers <= 1:
        return []
    return [
        "--runner=DirectRunner",
        f"--direct_num_workers={workers}",
        "--direct_running_mode=multi_processing",
    ]


def local_beam_args(beam_args, workers: int) -> list[str]:
    """`beam_args` with DirectRunner workers in front unless they name a runner."""
    args = list(beam_args)
    if not any(a.startswith("--runner") for a in args):
        args = direct_runner_args(workers) + args
    return args
