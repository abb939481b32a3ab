"""The open-source KFP 2 backend's rules (tests/fakes/kfp_backend.py): each refuses a spec that
breaks it and takes one that keeps it, kfp SDK output passes, and the project's compiled pipeline is
checked against all of them."""

# No `from __future__ import annotations`: kfp reads the components' annotations as types.

import copy
import os

import pytest
import yaml
from kfp import compiler, dsl

from kubeflow_runner.compile import compile_config
from kubeflow_runner.spec import load_pipeline_spec
from pipeline.config import load_config
from tests import REPO
from tests.builders.kfp_package import write_package
from tests.fakes.kfp_backend import backend_violations, task_containers

IMAGE = "registry.example.com/video-action:7"
EXAMPLES = {"artifactType": {"instanceSchema": "title: tfx.Examples\ntype: object\n"}}


def valid_spec() -> dict:
    """Root parameter -> ingest (container) -> train (container with a GPU), plus an importer."""
    container = {"image": IMAGE, "command": ["python", "-m", "run"], "args": ["{{$}}"]}
    gpu = {"cpuLimit": 8.0, "memoryLimit": 32.0, "accelerator": {"type": "nvidia.com/gpu"}}
    gpu["accelerator"]["count"] = "1"
    return {
        "schemaVersion": "2.1.0",
        "pipelineInfo": {"name": "video-action"},
        "root": {
            "inputDefinitions": {
                "parameters": {"span": {"parameterType": "NUMBER_INTEGER", "defaultValue": 0}}
            },
            "dag": {
                "tasks": {
                    "ingest": {
                        "componentRef": {"name": "Ingest"},
                        "inputs": {
                            "parameters": {
                                "span": {"componentInputParameter": "span"},
                                "config": {"runtimeValue": {"constant": "{}"}},
                            }
                        },
                    },
                    "train": {
                        "componentRef": {"name": "Train"},
                        "dependentTasks": ["ingest"],
                        "inputs": {
                            "artifacts": {
                                "examples": {
                                    "taskOutputArtifact": {
                                        "producerTask": "ingest",
                                        "outputArtifactKey": "examples",
                                    }
                                }
                            },
                            "parameters": {"epochs": {"runtimeValue": {"constant": 3}}},
                        },
                    },
                    "checkpoint": {"componentRef": {"name": "Checkpoint"}},
                }
            },
        },
        "components": {
            "Ingest": {
                "executorLabel": "Ingest_executor",
                "inputDefinitions": {
                    "parameters": {
                        "span": {"parameterType": "NUMBER_INTEGER"},
                        "config": {"parameterType": "STRING"},
                    }
                },
                "outputDefinitions": {"artifacts": {"examples": EXAMPLES}},
            },
            "Train": {
                "executorLabel": "Train_executor",
                "inputDefinitions": {
                    "artifacts": {"examples": EXAMPLES},
                    "parameters": {"epochs": {"parameterType": "NUMBER_INTEGER"}},
                },
                "outputDefinitions": {
                    "artifacts": {"model": {"artifactType": {"schemaTitle": "system.Model"}}}
                },
            },
            "Checkpoint": {
                "executorLabel": "Checkpoint_executor",
                "outputDefinitions": {
                    "artifacts": {"artifact": {"artifactType": {"schemaTitle": "system.Model"}}}
                },
            },
        },
        "deploymentSpec": {
            "executors": {
                "Ingest_executor": {"container": dict(container)},
                "Train_executor": {"container": {**container, "resources": gpu}},
                "Checkpoint_executor": {
                    "importer": {"artifactUri": {"constant": "gs://b/ckpt"}, "typeSchema": {}}
                },
            }
        },
    }


def _tasks(spec):
    return spec["root"]["dag"]["tasks"]


def _executors(spec):
    return spec["deploymentSpec"]["executors"]


def _gpu(spec):
    return _executors(spec)["Train_executor"]["container"]["resources"]


def _rename_train(spec, name):
    _tasks(spec)[name] = _tasks(spec).pop("train")


def _sub_dag(spec, name):
    """Moves the train task into a sub-DAG component `name`."""
    sub = {"dag": {"tasks": {"train": _tasks(spec).pop("train")}}}
    sub["dag"]["tasks"]["train"]["inputs"]["artifacts"]["examples"] = {
        "componentInputArtifact": "examples"
    }
    sub["dag"]["tasks"]["train"].pop("dependentTasks")
    sub["inputDefinitions"] = {"artifacts": {"examples": EXAMPLES}}
    spec["components"][name] = sub
    _tasks(spec)["trainer"] = {
        "componentRef": {"name": name},
        "inputs": {
            "artifacts": {
                "examples": {
                    "taskOutputArtifact": {
                        "producerTask": "ingest",
                        "outputArtifactKey": "examples",
                    }
                }
            }
        },
    }


# (mutation of valid_spec(), a fragment of the violation it must cause)
BREAKS = [
    pytest.param(
        lambda s: _executors(s).update(Train_executor={"resolver": {"outputArtifactQueries": {}}}),
        "resolver executors not implemented",
        id="resolver-executor",
    ),
    pytest.param(
        lambda s: _executors(s).update(Train_executor={"customJob": {"customJob": {}}}),
        "Google Cloud only",
        id="custom-job-executor",
    ),
    pytest.param(
        lambda s: _executors(s).pop("Train_executor"),
        "not in deploymentSpec.executors",
        id="missing-executor",
    ),
    pytest.param(
        lambda s: _tasks(s)["train"].update(componentRef={"name": "Trainer"}),
        "is not a component",
        id="unknown-component",
    ),
    pytest.param(lambda s: s.update(schemaVersion="2.0.0"), "2.1.0 only", id="schema-2.0"),
    pytest.param(
        lambda s: s.update(pipelineInfo={"name": "Video_Action"}),
        "pipelineInfo.name",
        id="pipeline-name",
    ),
    pytest.param(lambda s: s["root"].pop("dag"), "root has no dag", id="no-root-dag"),
    pytest.param(
        lambda s: _rename_train(s, "train_model"), "Argo DAG task name", id="underscore-task"
    ),
    pytest.param(lambda s: _rename_train(s, "2train"), "begins with a digit", id="digit-task"),
    pytest.param(lambda s: _rename_train(s, "t" * 125), "128 characters", id="long-task"),
    pytest.param(
        lambda s: _rename_train(s, "ingest-driver"), "taken by another", id="driver-clash"
    ),
    pytest.param(
        lambda s: _sub_dag(s, "train_dag"), "Argo template name 'train_dag'", id="dag-name"
    ),
    pytest.param(
        lambda s: s["components"].update({"Check point": s["components"].pop("Checkpoint")})
        or _tasks(s)["checkpoint"].update(componentRef={"name": "Check point"}),
        "workflow argument",
        id="importer-name",
    ),
    pytest.param(
        lambda s: _tasks(s)["train"]["inputs"]["artifacts"]["examples"][
            "taskOutputArtifact"
        ].update(producerTask="ingester"),
        "unknown producer task 'ingester'",
        id="unknown-producer",
    ),
    pytest.param(
        lambda s: _tasks(s)["train"]["inputs"]["artifacts"]["examples"][
            "taskOutputArtifact"
        ].update(outputArtifactKey="records"),
        "declares no output 'records'",
        id="unknown-output",
    ),
    pytest.param(
        lambda s: _tasks(s)["train"].update(dependentTasks=["ingester"]),
        "not a task here",
        id="unknown-dependency",
    ),
    pytest.param(
        lambda s: _tasks(s)["ingest"].update(dependentTasks=["train"]),
        "dependency cycle",
        id="cycle",
    ),
    pytest.param(
        lambda s: _tasks(s)["ingest"]["inputs"]["parameters"].update(
            span={"componentInputParameter": "spans"}
        ),
        "parent DAG does not have input parameter 'spans'",
        id="unknown-root-input",
    ),
    pytest.param(
        lambda s: _tasks(s)["train"]["inputs"]["parameters"].update(
            epochs={"runtimeValue": {"runtimeParameter": "epochs"}}
        ),
        "reads `constant` only",
        id="runtime-parameter",
    ),
    pytest.param(
        lambda s: _tasks(s)["train"]["inputs"]["parameters"].update(
            epochs={"taskFinalStatus": {"producerTask": "ingest"}}
        ),
        "task final status not supported",
        id="final-status",
    ),
    pytest.param(
        lambda s: _tasks(s)["train"]["inputs"].pop("parameters"),
        "neither given nor isOptional",
        id="missing-input",
    ),
    pytest.param(
        lambda s: s["root"]["inputDefinitions"]["parameters"].update(
            span={"type": "INT", "defaultValue": 0}
        ),
        "legacy type 'INT'",
        id="legacy-root-type",
    ),
    pytest.param(
        lambda s: s["root"]["inputDefinitions"]["parameters"]["span"].update(defaultValue="latest"),
        "defaultValue 'latest' is not NUMBER_INTEGER",
        id="root-default-kind",
    ),
    pytest.param(
        lambda s: _tasks(s)["train"]["inputs"]["parameters"]["epochs"]["runtimeValue"].update(
            constant="3"
        ),
        "constant '3' is not NUMBER_INTEGER",
        id="constant-kind",
    ),
    pytest.param(
        lambda s: s["components"]["Train"]["inputDefinitions"]["parameters"].update(
            epochs={"type": "INT"}
        ),
        "the driver type-checks against it",
        id="legacy-component-type",
    ),
    pytest.param(
        lambda s: s["root"]["inputDefinitions"]["parameters"].update(
            span={"parameterType": "STRING", "defaultValue": "0"}
        ),
        "NUMBER_INTEGER fed from STRING",
        id="input-type-mismatch",
    ),
    pytest.param(
        lambda s: _gpu(s)["accelerator"].update(type="NVIDIA_TESLA_T4"),
        "not a Kubernetes resource name",
        id="vertex-accelerator",
    ),
    pytest.param(
        lambda s: _gpu(s)["accelerator"].pop("count"), "this one is dropped", id="gpu-no-count"
    ),
    pytest.param(
        lambda s: _gpu(s).update(resourceCpuLimit="8"), "2.4.0+ only", id="string-resources"
    ),
    pytest.param(
        lambda s: _gpu(s).update(memoryLimit=1.024e-06),
        "'1.024e-06G', not a Kubernetes quantity",
        id="memory-quantity",
    ),
    pytest.param(lambda s: _gpu(s).update(cpuRequest=16.0), "above cpuLimit", id="request>limit"),
    pytest.param(
        lambda s: _executors(s)["Ingest_executor"]["container"].update(image=""),
        "no image",
        id="no-image",
    ),
    pytest.param(
        lambda s: _executors(s)["Ingest_executor"].update(container={"image": IMAGE}),
        "command and arguments are empty",
        id="no-command",
    ),
    pytest.param(
        lambda s: s["components"]["Ingest"]["outputDefinitions"]["artifacts"].update(
            examples={"artifactType": {"schemaUri": "gs://b/schema.yaml"}}
        ),
        "artifactType needs schemaTitle",
        id="schema-uri",
    ),
    pytest.param(
        lambda s: _tasks(s)["train"].update(artifactIterator={"itemInput": "x"}),
        "artifact iterator not implemented",
        id="artifact-iterator",
    ),
    pytest.param(
        lambda s: _tasks(s)["checkpoint"].update(triggerPolicy={"condition": "true"}),
        "condition on an importer task",
        id="importer-condition",
    ),
    pytest.param(
        lambda s: [
            t.update(triggerPolicy={"strategy": "ALL_UPSTREAM_TASKS_COMPLETED"})
            for t in _tasks(s).values()
        ],
        "no non-exit task",
        id="only-exit-tasks",
    ),
]


def test_the_valid_spec_passes():
    assert backend_violations(valid_spec()) == []


@pytest.mark.parametrize("mutate, expected", BREAKS)
def test_each_rule_refuses_a_spec_that_breaks_it(mutate, expected):
    spec = valid_spec()
    mutate(spec)
    violations = backend_violations(spec)
    assert any(expected in v for v in violations), violations


def test_what_the_backend_takes_passes():
    """Kept rules: sub-DAGs, a PVC step without a command, resolvers no task uses, lean names."""
    spec = valid_spec()
    _sub_dag(spec, "comp-train")
    spec["components"]["Unused"] = {"executorLabel": "resolver"}
    _executors(spec)["resolver"] = {"resolver": {"outputArtifactQueries": {}}}
    _executors(spec)["Ingest_executor"]["container"] = {"image": "argostub/createpvc"}
    _gpu(spec).update(cpuLimit=0.5, memoryLimit=8.589934592, cpuRequest=0.5)
    spec["pipelineInfo"]["name"] = "namespace/team/pipeline/video-action.v2"
    assert backend_violations(spec) == []


@dsl.component(base_image="python:3.10-slim")
def _make(count: int, data: dsl.Output[dsl.Dataset]) -> str:
    return "ok"


@dsl.component(base_image="python:3.10-slim")
def _use(item: str, data: dsl.Input[dsl.Dataset], model: dsl.Input[dsl.Model]):
    print(item)


@dsl.component(base_image="python:3.10-slim")
def _say(text: str):
    print(text)


@dsl.pipeline(name="backend-rules")
def _sdk_pipeline(items: list = ["a", "b"], span: int = 0):  # noqa: B006 (a KFP default)
    imported = dsl.importer(artifact_uri="gs://b/model", artifact_class=dsl.Model)
    with dsl.ExitHandler(_say(text="done")):
        made = _make(count=span).set_retry(2).set_cpu_limit("8").set_memory_limit("32G")
        made.set_accelerator_type("nvidia.com/gpu").set_accelerator_limit(1)
        with dsl.If(made.outputs["Output"] == "ok"), dsl.ParallelFor(items) as item:
            _use(item=item, data=made.outputs["data"], model=imported.output)


def test_kfp_sdk_output_passes(tmp_path):
    """What kfp 2.5 compiles (importer, exit handler, condition, loop, retry, GPU) is taken."""
    path = str(tmp_path / "sdk.yaml")
    compiler.Compiler().compile(_sdk_pipeline, package_path=path)
    with open(path, encoding="utf-8") as f:
        spec = yaml.safe_load(f)
    assert backend_violations(spec) == []


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """The project's default config compiled by `python -m kubeflow_runner compile`'s function."""
    path = str(tmp_path_factory.mktemp("kfp") / "pipeline.yaml")
    return load_pipeline_spec(compile_config(load_config(None), path))


@pytest.mark.parametrize("config_file", [None, "configs/kubeflow.yaml"])
def test_compiled_pipeline_runs_on_open_source_kfp(config_file, tmp_path):
    """The default config and the documented Kubeflow config, as compiled."""
    path = os.path.join(REPO, config_file) if config_file else None
    spec = load_pipeline_spec(compile_config(load_config(path), str(tmp_path / "p.yaml")))
    assert backend_violations(spec) == []


def test_a_resolver_in_the_compiled_pipeline_is_refused(compiled):
    """What TFX's Resolver compiles to (the spec before ServedModel replaced it)."""
    spec = copy.deepcopy(compiled)
    label = spec["components"]["ServedModel"]["executorLabel"]
    spec["deploymentSpec"]["executors"][label] = {
        "resolver": {"outputArtifactQueries": {"model": {"filter": 'schema_title="tfx.Model"'}}}
    }
    (violation,) = backend_violations(spec)
    assert "resolver executors not implemented" in violation


def test_task_containers_follow_tasks_to_executors(tmp_path):
    spec = load_pipeline_spec(write_package(tmp_path))
    containers = task_containers(spec)
    assert list(containers) == ["train"]
    assert containers["train"]["image"] == "python:3.10-slim"
    assert containers["train"]["command"]
