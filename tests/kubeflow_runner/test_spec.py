"""Loading a compiled package and typing its run parameters, before any request."""

import json

import pytest

from kubeflow_runner.errors import KubeflowError
from kubeflow_runner.spec import (
    coerce_params,
    load_pipeline_spec,
    parse_param_assignments,
    pipeline_name,
    pipeline_parameters,
)
from tests.builders.kfp_package import write_package, write_pipeline_job_json


def test_loads_yaml_spec_and_its_parameters(tmp_path):
    spec = load_pipeline_spec(write_package(tmp_path))
    assert pipeline_name(spec) == "video-action-test"
    params = pipeline_parameters(spec)
    assert {n: p.kind for n, p in params.items()} == {
        "epochs": "int",
        "learning_rate": "float",
        "data_root": "str",
        "augment": "bool",
    }
    assert params["epochs"].default == 3


def test_loads_the_spec_inside_a_tfx_pipeline_job_json(tmp_path):
    spec = load_pipeline_spec(write_pipeline_job_json(tmp_path))
    assert pipeline_name(spec) == "video-action-test"
    assert "epochs" in pipeline_parameters(spec)


def test_legacy_parameter_types(tmp_path):
    spec = load_pipeline_spec(write_package(tmp_path))
    spec["root"]["inputDefinitions"]["parameters"] = {"n": {"type": "INT"}, "x": {"type": "DOUBLE"}}
    assert coerce_params({"n": "4", "x": "0.5"}, spec) == {"n": 4, "x": 0.5}


def test_missing_and_invalid_packages_are_named(tmp_path):
    with pytest.raises(KubeflowError, match="missing.yaml.*does not exist.*compile"):
        load_pipeline_spec(str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("pipelineInfo: {name: x}\nnotAField: 1\n")
    with pytest.raises(KubeflowError, match="bad.yaml.*not a KFP pipeline spec"):
        load_pipeline_spec(str(bad))
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"pipelineInfo": {"name": "x"}}))
    with pytest.raises(KubeflowError, match="empty.json.*root tasks"):
        load_pipeline_spec(str(empty))


def test_coerces_cli_strings_to_declared_types(tmp_path):
    spec = load_pipeline_spec(write_package(tmp_path))
    raw = parse_param_assignments(
        ["epochs=5", "learning_rate=1e-3", "data_root=a=b", "augment=false"]
    )
    assert coerce_params(raw, spec) == {
        "epochs": 5,
        "learning_rate": 0.001,
        "data_root": "a=b",
        "augment": False,
    }


def test_unknown_or_mistyped_parameters_are_refused(tmp_path):
    spec = load_pipeline_spec(write_package(tmp_path))
    with pytest.raises(
        KubeflowError, match="'epoch' is not a runtime parameter.*augment, data_root"
    ):
        coerce_params({"epoch": "5"}, spec)
    with pytest.raises(KubeflowError, match="'epochs'='five' is not a valid int"):
        coerce_params({"epochs": "five"}, spec)
    with pytest.raises(KubeflowError, match="NAME=VALUE"):
        parse_param_assignments(["epochs"])
