"""Beam arguments for local runs (no TFX import, so the ingest CLI stays light)."""

from __future__ import annotations


def direct_runner_args(workers: int) -> list[str]:
    """Beam args for the local DirectRunner with `workers` threads.

    One worker is Beam's default (DirectRunner, in memory) and gets no args at all:
    TFX's Beam executors build an sdist of TFX for remote workers whenever their args
    are not empty (base_beam_executor.py, `dependency_utils.make_beam_dependency_flags`),
    ~2.5 s per Beam component on 2 cores that a local run never uses.

    Several workers are threads of this process (`multi_threading`), not processes:
    the work they share is native code that releases the GIL (OpenCV's decoding and
    JPEG coding in the ingest; TensorFlow in the Evaluator), while each worker
    process imports TFX and TensorFlow first. On 2 cores (2026-12-07) the ingest of
    300 five-second clips took 6.2-6.7 s on 2 threads against 7.6-8.1 s on 2
    processes, and 600 seven-second clips 14.2-14.3 s against 14.4-15.0 s.
    """
    if workers <= 1:
        return []
    return [
        "--runner=DirectRunner",
        f"--direct_num_workers={workers}",
        "--direct_running_mode=multi_threading",
    ]


def local_beam_args(beam_args, workers: int) -> list[str]:
    """`beam_args` with DirectRunner workers in front unless they name a runner."""
    args = list(beam_args)
    if not any(a.startswith("--runner") for a in args):
        args = direct_runner_args(workers) + args
    return args
