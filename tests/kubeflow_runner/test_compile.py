"""`python -m kubeflow_runner compile`: the KFP 2 spec TFX's KubeflowV2DagRunner writes, read
back with the kfp SDK's own loaders, and its fit to the Dockerfile's image."""

import os

import kfp.components
import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from kubeflow_runner import cli
from kubeflow_runner.compile import parse_cpu, parse_memory, trainer_resources
from kubeflow_runner.spec import load_pipeline_spec, pipeline_parameters
from pipeline.config import ConfigError, KubeflowConfig, load_config
from pipeline.pipeline import create_pipeline
from tests.builders.bad_names import BAD_NAMES, assert_one_line_name_error, config_named, run_module
from tests.fakes.kfp_backend import task_containers
from tests.test_dockerfile import REPO, parse_dockerfile, tfx_container_command

IMAGE = "registry.example.com/video-action:7"
BEAM_ARGS = ["--runner=DataflowRunner", "--project=my-project", "--region=europe-west4"]
COMPONENTS = (
    "SourceFingerprint",
    "VideoIngest",
    "StatisticsGen",
    "DataGate",
    "ServedModel",
    "Trainer",
    "Evaluator",
    "ModelReport",
    "Pusher",
)
BEAM_COMPONENTS = ("VideoIngest", "StatisticsGen", "Evaluator")


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    """A config file for Kubeflow compiled through the CLI: (path, PipelineSpec dict)."""
    folder = tmp_path_factory.mktemp("compile")
    config = {
        "name": "video-action",
        "pipeline_root": "gs://my-bucket/video-action/root",
        "serving_dir": "gs://my-bucket/video-action/serving",
        "span": "latest",
        "ingest": {"source": "gs://my-bucket/ucf/span-{SPAN}/videos.zip"},
        "trainer": {"epochs": 3, "checkpoint": "gs://my-bucket/movinet_a0_base.tar.gz"},
        "beam_args": BEAM_ARGS,
        "kubeflow": {"image": IMAGE, "gpu_type": "nvidia.com/gpu", "gpu_count": 2},
    }
    config_path = folder / "kubeflow.yaml"
    config_path.write_text(yaml.safe_dump(config))
    output = str(folder / "pipeline.yaml")
    assert cli.main(["compile", "--config", str(config_path), "--output", output]) == 0
    return output, load_pipeline_spec(output)


def test_kfp_sdk_loads_the_package(package):
    path, spec = package
    assert kfp.components.load_component_from_file(path).name == "video-action"
    message = json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
    assert message.schema_version == "2.1.0"


def test_every_component_is_a_task(package):
    tasks = package[1]["root"]["dag"]["tasks"]
    assert set(tasks) == set(COMPONENTS)
    assert set(task_containers(package[1])) == set(COMPONENTS)


def test_no_resolver_and_the_baseline_comes_from_the_served_model(package):
    spec = package[1]
    kinds = {kind for e in spec["deploymentSpec"]["executors"].values() for kind in e}
    assert kinds == {"container"}  # open-source KFP runs container and importer only
    tasks = spec["root"]["dag"]["tasks"]
    baseline = tasks["Evaluator"]["inputs"]["artifacts"]["baseline_model"]
    assert baseline == {
        "taskOutputArtifact": {"outputArtifactKey": "model", "producerTask": "ServedModel"}
    }
    served = tasks["ServedModel"]
    # It reads the serving directory, which changes between runs: never cached.
    assert served["cachingOptions"] == {"enableCache": False}
    assert served["inputs"]["parameters"]["serving_dir"]["runtimeValue"]["constant"] == (
        "gs://my-bucket/video-action/serving"
    )


def test_the_data_gate_feeds_the_trainer_and_keeps_its_reference_in_the_root(package):
    tasks = package[1]["root"]["dag"]["tasks"]
    assert tasks["Trainer"]["inputs"]["artifacts"]["schema"] == {
        "taskOutputArtifact": {"outputArtifactKey": "schema", "producerTask": "DataGate"}
    }
    gate = tasks["DataGate"]["inputs"]
    assert gate["artifacts"]["statistics"]["taskOutputArtifact"]["producerTask"] == (
        "StatisticsGen"
    )
    # No resolver for the previous span: a folder every step can read (gs:// here).
    assert gate["parameters"]["reference_dir"]["runtimeValue"]["constant"] == (
        "gs://my-bucket/video-action/root/data_gate_reference/video-action"
    )


def test_image_on_every_executor_and_gpu_on_the_trainer_only(package):
    executors = package[1]["deploymentSpec"]["executors"]
    containers = {k: v["container"] for k, v in executors.items() if "container" in v}
    assert len(containers) == len(COMPONENTS)
    assert {c["image"] for c in containers.values()} == {IMAGE}
    by_task = task_containers(package[1])
    assert by_task["Trainer"]["resources"] == {
        "accelerator": {"count": "2", "type": "nvidia.com/gpu"},
        "cpuLimit": 8.0,
        "memoryLimit": 32.0,
    }
    assert [n for n, c in by_task.items() if "resources" in c] == ["Trainer"]


def test_root_beam_args_and_span_parameter(package):
    spec = package[1]
    assert spec["defaultPipelineRoot"] == "gs://my-bucket/video-action/root"
    by_task = task_containers(spec)
    for name in BEAM_COMPONENTS:
        args = by_task[name]["args"]
        assert args[-len(BEAM_ARGS) :] == BEAM_ARGS, name
    span = pipeline_parameters(spec)["span"]
    assert (span.kind, span.default) == ("int", -1)
    tasks = spec["root"]["dag"]["tasks"]
    for name in ("SourceFingerprint", "VideoIngest"):
        assert tasks[name]["inputs"]["parameters"]["span"] == {"componentInputParameter": "span"}


def test_the_ingest_cache_is_keyed_on_a_fingerprint_taken_in_the_run(package):
    """VideoIngest's `source_fingerprint` input parameter is SourceFingerprint's output
    parameter: KFP's driver resolves it before keying the cache, and the key hashes
    resolved input parameter values (kubeflow/pipelines backend/src/v2/driver/driver.go
    `getFingerPrint`, backend/src/v2/cacheutils/cache.go `GenerateCacheKey`). The step
    that takes it is never cached; the rest is cached as the config says."""
    spec = package[1]
    tasks = spec["root"]["dag"]["tasks"]
    ingest = tasks["VideoIngest"]
    assert ingest["inputs"]["parameters"]["source_fingerprint"] == {
        "taskOutputParameter": {
            "outputParameterKey": "fingerprint",
            "producerTask": "SourceFingerprint",
        }
    }
    assert "SourceFingerprint" in ingest["dependentTasks"]
    produced = spec["components"][tasks["SourceFingerprint"]["componentRef"]["name"]]
    assert produced["outputDefinitions"]["parameters"]["fingerprint"] == {"parameterType": "STRING"}
    # TFX's entry point writes an output parameter from the String artifact of the same key.
    assert "fingerprint" in produced["outputDefinitions"]["artifacts"]
    uncached = {n for n, t in tasks.items() if not t.get("cachingOptions", {}).get("enableCache")}
    assert uncached == {"SourceFingerprint", "ServedModel"}


def test_tfx_task_suffix_on_output_parameters_is_linked_to_the_task():
    from kubeflow_runner.compile import link_output_parameters

    source = {"taskOutputParameter": {"producerTask": "A_task", "outputParameterKey": "x"}}
    spec = {"root": {"dag": {"tasks": {"A": {}, "B": {"inputs": {"parameters": {"x": source}}}}}}}
    link_output_parameters(spec)
    assert source["taskOutputParameter"]["producerTask"] == "A"
    assert spec["root"]["dag"]["tasks"]["B"]["dependentTasks"] == ["A"]
    source["taskOutputParameter"]["producerTask"] = "C_task"
    with pytest.raises(ValueError, match="no task produces"):
        link_output_parameters(spec)


def test_container_command_is_what_the_dockerfile_provides(package):
    steps = parse_dockerfile(os.path.join(REPO, "Dockerfile"))
    workdir = [args for kw, args in steps if kw == "WORKDIR"][-1]
    install = [args for kw, args in steps if kw == "RUN" and "pip install --no-deps ." in args][0]
    for name, container in task_containers(package[1]).items():
        command = tuple(container["command"])
        assert command == tfx_container_command(), name
        assert command[2] in install  # import-checked at build time
        # Our modules import from site-packages, not from the working directory.
        assert "cd / &&" in install and workdir == "/pipeline"
        executor_class = container["args"][container["args"].index("--executor_class_path") + 1]
        package_name = executor_class.split(".")[0]
        if package_name not in ("tfx",):
            assert package_name in install, executor_class


def test_local_pipeline_has_no_kubeflow_resources():
    pipeline = create_pipeline(load_config(None))
    assert all(getattr(c, "platform_config", None) is None for c in pipeline.components)


def test_trainer_resources_without_gpu():
    spec = trainer_resources(KubeflowConfig(gpu_count=0, trainer_cpu="500m", trainer_memory="8Gi"))
    assert not spec.HasField("accelerator")
    assert spec.cpu_limit == 0.5
    assert spec.memory_limit == pytest.approx(8 * 2**30 / 1e9)


def test_parse_cpu_and_memory():
    assert parse_cpu("8") == 8.0 and parse_cpu("") == 0.0
    assert parse_memory("32G") == 32.0 and parse_memory("512M") == 0.512
    with pytest.raises(ConfigError, match="trainer_memory"):
        parse_memory("lots")
    with pytest.raises(ConfigError, match="trainer_cpu"):
        parse_cpu("eight")


def test_cli_reports_config_errors(tmp_path, capsys):
    assert cli.main(["compile", "--output", str(tmp_path / "pipeline.txt")]) == 2
    assert "name a .yaml file" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("ingest: {source: x.zip}\ntrainer: {random_init: true}\nspan: latest\n")
    assert cli.main(["compile", "--config", str(bad), "--output", str(tmp_path / "p.yaml")]) == 2
    assert "needs a {SPAN} placeholder" in capsys.readouterr().err
    assert not (tmp_path / "p.yaml").exists()


def test_paths_that_are_not_shared_storage_are_warned_about(tmp_path, capsys):
    from kubeflow_runner.compile import storage_warnings

    shared = load_config(None, ["pipeline_root=gs://b/root", "serving_dir=gs://b/serving"])
    assert storage_warnings(shared) == []
    local = load_config(None, ["pipeline_root=/data/root", "serving_dir=gs://b/serving"])
    (warning,) = storage_warnings(local)
    assert "pipeline_root '/data/root' is not shared storage" in warning and "gs://" in warning
    assert cli.main(["compile", "--output", str(tmp_path / "p.yaml")]) == 0
    err = capsys.readouterr().err
    assert err.count("warning: ") == 2 and "serving_dir" in err


def test_custom_artifact_types_import_by_their_schema_title(package):
    """TFX's step entry point imports a custom artifact's class by its schema title
    (tfx/orchestration/kubeflow/v2/container/kubeflow_v2_entrypoint_utils.py,
    `_retrieve_class_path`); first-party titles map through TITLE_TO_CLASS_PATH."""
    from tfx.orchestration.kubeflow.v2 import compiler_utils
    from tfx.utils import import_utils

    titles = set()
    for component in package[1]["components"].values():
        for side in ("inputDefinitions", "outputDefinitions"):
            for artifact in component.get(side, {}).get("artifacts", {}).values():
                titles.add(yaml.safe_load(artifact["artifactType"]["instanceSchema"])["title"])
    custom = titles - set(compiler_utils.TITLE_TO_CLASS_PATH)
    assert custom == {"video_action.HtmlReport"}
    for title in custom:
        assert import_utils.import_class_by_path(title).TYPE_NAME == title


@pytest.mark.parametrize("name, suggestion", BAD_NAMES)
def test_compile_refuses_a_bad_name_in_one_line(tmp_path, name, suggestion):
    """The rule `python -m pipeline run` applies: a name that runs locally compiles."""
    config_path = config_named(tmp_path, name)
    output = tmp_path / "pipeline.yaml"
    result = run_module(
        "kubeflow_runner", "compile", "--config", config_path, "--output", str(output)
    )
    assert_one_line_name_error(result, config_path, name, suggestion)
    assert not output.exists()


def test_a_reference_set_gets_its_own_fingerprint_step_and_runs_after_the_gate(tmp_path):
    """evaluation.reference_source on Kubeflow: ReferenceFingerprint (never cached) keys
    ReferenceIngest's cache as SourceFingerprint keys the span's; the reference is read
    after the DataGate and its Evaluator's blessing is the Pusher's second one."""
    config = {
        "name": "with-reference",
        "pipeline_root": "gs://my-bucket/root",
        "serving_dir": "gs://my-bucket/serving",
        "ingest": {"source": "gs://my-bucket/ucf/videos.zip"},
        "trainer": {"checkpoint": "gs://my-bucket/movinet_a0_base.tar.gz"},
        "evaluation": {"reference_source": "gs://my-bucket/ucf/reference/"},
        "kubeflow": {"image": IMAGE},
    }
    config_path = tmp_path / "kubeflow.yaml"
    config_path.write_text(yaml.safe_dump(config))
    output = str(tmp_path / "pipeline.yaml")
    assert cli.main(["compile", "--config", str(config_path), "--output", output]) == 0
    tasks = load_pipeline_spec(output)["root"]["dag"]["tasks"]
    reference = tasks["ReferenceIngest"]
    assert reference["inputs"]["parameters"]["source_fingerprint"] == {
        "taskOutputParameter": {
            "outputParameterKey": "fingerprint",
            "producerTask": "ReferenceFingerprint",
        }
    }
    assert {"DataGate", "VideoIngest", "ReferenceFingerprint"} <= set(reference["dependentTasks"])
    uncached = {n for n, t in tasks.items() if not t.get("cachingOptions", {}).get("enableCache")}
    assert uncached == {"SourceFingerprint", "ServedModel", "ReferenceFingerprint"}
    pusher = tasks["Pusher"]["inputs"]["artifacts"]
    assert pusher["reference_blessing"]["taskOutputArtifact"]["producerTask"] == (
        "ReferenceEvaluator"
    )
