"""Compiles the pipeline for Kubeflow Pipelines 2: TFX's KubeflowV2DagRunner -> a KFP spec.

The pipeline is the one `pipeline.pipeline.create_pipeline` builds for every
runner; what is Kubeflow's alone is added here: the container image of every step,
the Trainer's GPU, CPU and memory (its platform config, which only the Kubeflow V2
compiler reads), and the runtime parameters a run or a schedule may set:

  span: the data span to ingest (-1 = the newest span matching the `{SPAN}`
    placeholder in ingest.source, looked up when the run starts).

The ingest's cache is keyed on the data here too: a SourceFingerprint step, never
cached, fingerprints the source in the cluster at the start of every run (recurring
runs included) and its output parameter is VideoIngest's `source_fingerprint` input
parameter, which KFP's cache key hashes. Unchanged data: the ingest and everything
fed by it alone are reused; changed data: they run again.

Other settings (epochs, thresholds) sit inside JSON and proto parameters that TFX
cannot template with a RuntimeParameter; change them in the config and compile
again.
"""

from __future__ import annotations

import json
import re

import tensorflow as tf
import yaml
from absl import logging
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.components import Trainer
from tfx.orchestration import data_types
from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

from pipeline.config import ConfigError, KubeflowConfig, PipelineConfig
from pipeline.pipeline import ALWAYS_RUN, create_pipeline

SPAN_PARAMETER = "span"
INGEST_TASK = "VideoIngest"
ResourceSpec = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec

_MEMORY_UNITS = {
    "": 1e-9,
    "K": 1e-6,
    "M": 1e-3,
    "G": 1.0,
    "T": 1e3,
    "KI": 2**10 / 1e9,
    "MI": 2**20 / 1e9,
    "GI": 2**30 / 1e9,
    "TI": 2**40 / 1e9,
}


# Storage every step's pod reads and writes itself: TFX executors open their
# artifact URIs with tf.io.gfile (tfx/orchestration/kubeflow/v2/container/
# kubeflow_v2_run_executor.py passes the ExecutorInput's `uri` straight through),
# which knows gs:// and hdfs:// but not KFP's default minio:// root.
SHARED_STORAGE = ("gs://", "hdfs://")


def storage_warnings(config: PipelineConfig) -> list[str]:
    """Why the config's paths may not work on a cluster ([] when they are shared storage).

    Each Kubeflow step runs in a pod of its own: a local path is seen by one step
    only, and a path under KFP's minio:// root is not one TFX's steps can open.
    """
    warnings = []
    for field in ("pipeline_root", "serving_dir"):
        path = getattr(config, field)
        if not path.startswith(SHARED_STORAGE):
            warnings.append(
                f"{field} {path!r} is not shared storage: each Kubeflow step runs in its own "
                f"pod and opens artifact paths with tf.io.gfile; use gs://bucket/..."
            )
    return warnings


def compile_config(config: PipelineConfig, output: str) -> str:
    """Writes the KFP 2 pipeline spec of the config's pipeline.

    Args:
      config: the loaded pipeline config (`pipeline.config.load_config`).
      output: the file to write: `.yaml`/`.yml` for a bare PipelineSpec (what the
        KFP server takes), `.json` for TFX's PipelineJob.

    Returns:
      The path written.

    Raises:
      ConfigError: `output` names neither a .yaml nor a .json file.
    """
    if not output.endswith((".yaml", ".yml", ".json")):
        raise ConfigError(f"--output {output!r}: name a .yaml file (or .json for TFX's job)")
    span = data_types.RuntimeParameter(name=SPAN_PARAMETER, ptype=int, default=config.span)
    pipeline = create_pipeline(config, span=span, fingerprint_in_run=True)
    with_kubeflow_resources(pipeline.components, config.kubeflow)
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(
            default_image=config.kubeflow.image,
            # Schema 2.1 (parameterType), what the kfp 2 SDK writes and the KFP 2 server
            # reads; TFX's 2.0 output cannot even be written as YAML (its comment
            # writer expects parameterType).
            use_pipeline_spec_2_1=True,
        ),
    )
    job = runner.run(pipeline, parameter_values={SPAN_PARAMETER: config.span}, write_out=False)
    spec = finish_spec(job)
    with tf.io.gfile.GFile(output, "w") as f:
        if output.endswith(".json"):
            json.dump({**job, "pipelineSpec": spec}, f, indent=2, sort_keys=True)
        else:
            f.write(f"# PIPELINE DEFINITION\n# Name: {config.name}\n")
            yaml.safe_dump(spec, f, sort_keys=True)
    logging.info("compiled %s (image %s) to %s", config.name, config.kubeflow.image, output)
    return output


def finish_spec(job: dict) -> dict:
    """The PipelineSpec of TFX's PipelineJob, made to stand alone as a KFP package.

    A bare spec (what the KFP server takes) drops the job's runtime config, so its
    parameter defaults and pipeline root move into the spec: runs that set no
    --param still get the config's span, and artifacts go under pipeline_root. The
    ALWAYS_RUN steps are never cached: ServedModel reads the serving directory,
    SourceFingerprint the source's listing. The ingest is cached as the config
    says, keyed on SourceFingerprint's output (link_output_parameters).
    """
    spec = json.loads(json.dumps(job["pipelineSpec"]))
    runtime = job.get("runtimeConfig", {})
    declared = spec["root"].setdefault("inputDefinitions", {}).setdefault("parameters", {})
    for name, value in runtime.get("parameterValues", {}).items():
        if name in declared:
            integral = declared[name].get("parameterType") == "NUMBER_INTEGER"
            declared[name]["defaultValue"] = int(value) if integral else value
    if runtime.get("gcsOutputDirectory"):
        spec["defaultPipelineRoot"] = runtime["gcsOutputDirectory"]
    link_output_parameters(spec)
    for task in spec["root"]["dag"]["tasks"].values():
        if task.get("taskInfo", {}).get("name") in ALWAYS_RUN:
            task["cachingOptions"] = {"enableCache": False}
    return spec


def link_output_parameters(spec: dict) -> dict:
    """Points each task's `taskOutputParameter` at the task that produces it.

    TFX 1.16's Kubeflow V2 compiler names the producer of a `.future()` exec
    property `<component id>_task` (tfx/orchestration/kubeflow/v2/step_builder.py,
    `producer_task=channel.producer_component_id + '_task'`; its own testdata
    expected_dynamic_execution_properties_downstream_component_task.pbtxt shows
    `range_config_generator_task` next to a task named `range_config_generator`),
    while it names the task itself by the component id. KFP's driver looks the
    producer up by task name and fails on a name no task has (kubeflow/pipelines
    backend/src/v2/driver/driver.go, resolveUpstreamParameters: "cannot find
    producer task"), so the suffix goes when the task without it exists.
    """
    tasks = spec["root"]["dag"]["tasks"]
    for task in tasks.values():
        for source in task.get("inputs", {}).get("parameters", {}).values():
            output = source.get("taskOutputParameter")
            if not output or output["producerTask"] in tasks:
                continue
            bare = output["producerTask"].removesuffix("_task")
            if bare not in tasks:
                raise ValueError(f"no task produces {output}: tasks are {sorted(tasks)}")
            output["producerTask"] = bare
            if bare not in task.setdefault("dependentTasks", []):
                task["dependentTasks"].append(bare)
    return spec


def with_kubeflow_resources(components: list, kubeflow: KubeflowConfig) -> list:
    """Sets the Trainer's GPU, CPU and memory request; the other steps keep the defaults.

    Only the Kubeflow V2 compiler reads a component's platform config, so the
    local runner's pipeline is left as it is.
    """
    trainers = [c for c in components if isinstance(c, Trainer)]
    if len(trainers) != 1:
        raise ValueError(f"expected one Trainer in the pipeline, found {len(trainers)}")
    trainers[0].with_platform_config(trainer_resources(kubeflow))
    return components


def trainer_resources(kubeflow: KubeflowConfig) -> ResourceSpec:
    """The Trainer's ResourceSpec: CPU and memory limits (GB), and the accelerator."""
    spec = ResourceSpec(
        cpu_limit=parse_cpu(kubeflow.trainer_cpu),
        memory_limit=parse_memory(kubeflow.trainer_memory),
    )
    if kubeflow.gpu_type and kubeflow.gpu_count:
        spec.accelerator.type = kubeflow.gpu_type
        spec.accelerator.count = kubeflow.gpu_count
    return spec


def parse_cpu(text: str) -> float:
    """'8', '0.5' or '500m' as a number of CPUs ('' = 0: no limit)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)(m?)\s*", str(text))
    if str(text).strip() and not match:
        raise ConfigError(f"kubeflow.trainer_cpu must be like '8', '0.5' or '500m', got {text!r}")
    return 0.0 if not match else float(match.group(1)) / (1000 if match.group(2) else 1)


def parse_memory(text: str) -> float:
    """'32G', '32Gi', '512M' (or bytes) in GB, as KFP's ResourceSpec takes it ('' = 0)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]i?)?B?\s*", str(text), re.I)
    if str(text).strip() and not match:
        raise ConfigError(
            f"kubeflow.trainer_memory must be like '32G', '32Gi' or '512M', got {text!r}"
        )
    if not match:
        return 0.0
    return float(match.group(1)) * _MEMORY_UNITS[(match.group(2) or "").upper()]
