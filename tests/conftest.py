"""Shared fixtures: a tiny demo dataset generated once per test session."""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from pipeline.demo_data import DemoSpec, write_demo_dataset  # noqa: E402

TINY = DemoSpec(num_classes=3, groups_per_class=4, clips_per_group=2, seconds=1.6, seed=1)


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory):
    """DemoPaths of a 3-class, 24-video UCF101-like dataset (zip + split lists)."""
    return write_demo_dataset(str(tmp_path_factory.mktemp("tiny_demo")), TINY)


@pytest.fixture(scope="session")
def examples_dir(tiny_demo, tmp_path_factory):
    """The tiny demo ingested (32x32, 8 frames per video); see tests/builders/trained_model.py."""
    from tests.builders import trained_model

    out = str(tmp_path_factory.mktemp("examples"))
    return trained_model.ingest_examples(tiny_demo.videos_zip, tiny_demo.lists_zip, out)


@pytest.fixture(scope="session")
def stream_model(examples_dir, tmp_path_factory):
    """(fn_args, loaded SavedModel) of a tiny stream model trained on `examples_dir`;
    the export is in fn_args.serving_model_dir."""
    from tests.builders import trained_model

    return trained_model.train(examples_dir, tmp_path_factory, variant="stream")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items):
    """Under `make test` (pytest-xdist, --dist loadgroup) a test file runs on one worker,
    so its module fixtures are built once; files that share an expensive session
    fixture name one `xdist_group` (SPAN_RUNS) and run on one worker together."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))


# KFP fixtures (fake API server, package, isolation), shared by the kubeflow_runner tests.
from tests.builders.kfp_fixtures import kfp_isolated, package, server  # noqa: E402, F401

# The scheduled runs over spans (tests/builders/span_runs.py), shared by
# components/data_gate/test_runs, pipeline/test_retraining and pipeline/test_history.
from tests.builders.span_runs import span_runs  # noqa: E402, F401
