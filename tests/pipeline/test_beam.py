"""Beam arguments for local runs (pipeline/beam.py), against what Beam and TFX do
with them."""

import pytest
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

from pipeline.beam import direct_runner_args, local_beam_args


def test_one_worker_is_beams_in_memory_direct_runner():
    options = PipelineOptions(local_beam_args((), 1))
    assert options.view_as(StandardOptions).runner in (None, "DirectRunner")
    direct = options.view_as(DirectOptions)
    assert direct.direct_num_workers == 1
    assert direct.direct_running_mode == "in_memory"


def test_several_workers_are_threads():
    direct = PipelineOptions(local_beam_args((), 2)).view_as(DirectOptions)
    assert direct.direct_num_workers == 2
    assert direct.direct_running_mode == "multi_threading"


def test_a_runner_the_user_names_is_kept():
    args = local_beam_args(["--runner=FlinkRunner"], 2)
    assert args == ["--runner=FlinkRunner"]


@pytest.mark.parametrize("workers, builds", [(1, 0), (2, 1)])
def test_tfx_builds_its_package_for_remote_workers_only_when_args_are_given(
    monkeypatch, workers, builds
):
    """TFX's Beam executors build an sdist of TFX (seconds) whenever their Beam args
    are not empty (tfx/dsl/components/base/base_beam_executor.py): a one-worker local
    run passes none."""
    from tfx.components.statistics_gen import executor as statistics_gen
    from tfx.dsl.components.base import base_beam_executor
    from tfx.utils import dependency_utils

    from components.evaluator import executor as evaluator
    from components.ingest import executor as ingest

    built = []
    monkeypatch.setattr(
        dependency_utils, "build_ephemeral_package", lambda: built.append(1) or "tfx.tar.gz"
    )
    context = base_beam_executor.BaseBeamExecutor.Context(
        beam_pipeline_args=direct_runner_args(workers)
    )
    for executor in (ingest.Executor, statistics_gen.Executor, evaluator.Executor):
        executor(context)  # the Beam components of a local run
    assert len(built) == 3 * builds
