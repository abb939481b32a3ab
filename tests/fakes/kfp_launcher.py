"""Runs a compiled KFP 2 pipeline spec step by step, as open-source KFP's driver and
launcher would hand each step to its container (tests only; not a runner for users).

For each task of `root.dag`, in dependency order, it builds the ExecutorInput the
KFP backend builds, substitutes it for `{{$}}` in the executor's container
arguments, runs the container's exact command and arguments in a subprocess of
this environment (the image's `python` is this interpreter), reads the executor
output file back and records the output artifacts with their metadata, as the
launcher records them in ML Metadata, for the tasks downstream. What is taken
from KFP, at kubeflow/pipelines (backend/src/v2, 2.x):

- output artifact URIs: `<pipeline root>/<run id>/<task name>/<output key>`
  (driver/driver.go `generateOutputURI`, the root joined with the run id by
  `metadata.GenerateOutputURI`); the executor output file is one per step
  (`/tmp/kfp_outputs/output_metadata.json` in the pod, a folder per step here);
- input artifacts: RuntimeArtifact with `name` = the ML Metadata artifact id as
  a decimal string, `uri`, `metadata` = the artifact's properties, numbers as
  doubles (metadata/converter.go `toRuntimeArtifact`, `StructValueToMLMDValue`);
  the artifact `type` is the component's declared artifactType;
- the executor output's artifact metadata is merged into the output artifacts
  (component/launcher_v2.go, `mergeRuntimeArtifacts`); its URIs are not used;
- parameters: `runtimeValue.constant` as written, `componentInputParameter`
  from the run's parameters or the root's defaults, `taskOutputParameter` from the
  producer's output parameters, in `parameterValues`; output parameters come back
  in the executor output's `parameterValues`, else from each parameter's
  `outputFile` (launcher_v2.go `collectOutputParameters`: the output metadata file
  has the highest priority);
- caching, when `run_pipeline` is given a cache: a task whose `cachingOptions`
  enable it is keyed as driver.go `getFingerPrint` keys it, with
  cacheutils/cache.go `GenerateCacheKey` (`cache_key` below), looked up per
  pipeline name, and on a hit its recorded outputs are reused without running it
  (driver.go `reuseCachedOutputs`: the cached execution's artifacts, same ids).

TFX tests its own entry point the same way, with an ExecutorInput JSON
(tfx/orchestration/kubeflow/v2/container/kubeflow_v2_run_executor_test.py and
its testdata/executor_invocation.json).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import subprocess
import sys

EXECUTOR_INPUT_PLACEHOLDER = "{{$}}"
OUTPUT_METADATA_FILE = "output_metadata.json"


class StepFailed(AssertionError):
    """A step's container exited non-zero; the message holds its log's tail."""


@dataclasses.dataclass
class Step:
    """One executed task: what it was given and what it returned."""

    task: str
    argv: list[str]
    executor_input: dict
    executor_output: dict
    outputs: dict[str, dict]  # output key -> RuntimeArtifact (dict), as recorded
    log: str
    parameters: dict = dataclasses.field(default_factory=dict)  # output parameters
    cached: bool = False  # reused from the cache, not run
    cache_key: str = ""  # '' where the task's cache is off


_artifact_ids = itertools.count(1)


def task_order(spec: dict) -> list[str]:
    """The root DAG's tasks in an order where every task follows its producers."""
    tasks = spec["root"]["dag"]["tasks"]
    needs = {}
    for name, task in tasks.items():
        producers = set(task.get("dependentTasks", []))
        for artifact in task.get("inputs", {}).get("artifacts", {}).values():
            if "taskOutputArtifact" in artifact:
                producers.add(artifact["taskOutputArtifact"]["producerTask"])
        for parameter in task.get("inputs", {}).get("parameters", {}).values():
            if "taskOutputParameter" in parameter:
                producers.add(parameter["taskOutputParameter"]["producerTask"])
        needs[name] = producers
    order, done = [], set()
    while len(order) < len(tasks):
        ready = sorted(n for n in tasks if n not in done and needs[n] <= done)
        assert ready, f"the DAG has a cycle or an unknown producer: {needs}"
        order.extend(ready)
        done.update(ready)
    return order


def run_pipeline(
    spec: dict,
    pipeline_root: str,
    run_id: str,
    parameters: dict | None = None,
    env: dict | None = None,
    timeout: float = 900,
    cache: dict | None = None,
) -> dict[str, Step]:
    """Executes every task of `spec` in order; task name -> Step.

    Args:
      cache: KFP's cache across runs (a dict this fills; None: no caching).

    Raises:
      StepFailed: a step exited non-zero (nothing downstream runs).
    """
    root_params = spec["root"].get("inputDefinitions", {}).get("parameters", {})
    values = {k: v["defaultValue"] for k, v in root_params.items() if "defaultValue" in v}
    values.update(parameters or {})
    unknown = set(parameters or {}) - set(root_params)
    assert not unknown, f"not runtime parameters of the spec: {unknown}"
    run_root = f"{pipeline_root.rstrip('/')}/{run_id}"
    steps: dict[str, Step] = {}
    for name in task_order(spec):
        steps[name] = run_step(spec, name, run_root, values, steps, env, timeout, cache)
    return steps


def task_parts(spec: dict, name: str) -> tuple[dict, dict, dict]:
    """The task, its component and its container spec."""
    task = spec["root"]["dag"]["tasks"][name]
    component = spec["components"][task["componentRef"]["name"]]
    executor = spec["deploymentSpec"]["executors"][component["executorLabel"]]
    assert set(executor) == {"container"}, f"{name}: not a container executor: {set(executor)}"
    return task, component, executor["container"]


def build_executor_input(spec, name, run_root, values, steps) -> dict:
    """The ExecutorInput the driver gives the task (inputs resolved, outputs provisioned)."""
    task, component, _ = task_parts(spec, name)
    step_dir = os.path.join(run_root, ".kfp", name)
    return {
        "inputs": {
            "parameterValues": _parameter_values(task, values, steps),
            "artifacts": _input_artifacts(task, component, steps),
        },
        "outputs": {
            "artifacts": _output_artifacts(component, run_root, name),
            "parameters": {
                key: {"outputFile": os.path.join(step_dir, "parameters", key)}
                for key in component.get("outputDefinitions", {}).get("parameters", {})
            },
            "outputFile": os.path.join(step_dir, OUTPUT_METADATA_FILE),
        },
    }


def run_step(spec, name, run_root, values, steps, env, timeout, cache=None) -> Step:
    """Builds the task's ExecutorInput, runs its container command (or reuses the
    cached outputs), records its outputs."""
    task, component, container = task_parts(spec, name)
    step_dir = os.path.join(run_root, ".kfp", name)
    executor_input = build_executor_input(spec, name, run_root, values, steps)
    argv = _command(container, json.dumps(executor_input))
    fingerprint = ""
    if cache is not None and task.get("cachingOptions", {}).get("enableCache"):
        fingerprint = cache_key(executor_input, component, container)
        hit = cache.get((spec["pipelineInfo"]["name"], fingerprint))
        if hit is not None:
            return dataclasses.replace(
                hit, executor_input=executor_input, argv=argv, cached=True, log=""
            )
    os.makedirs(step_dir, exist_ok=True)
    process = subprocess.run(
        argv,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    if process.returncode != 0:
        raise StepFailed(f"step {name} exited {process.returncode}:\n{process.stdout[-4000:]}")
    with open(executor_input["outputs"]["outputFile"]) as f:
        executor_output = json.load(f)
    outputs = {}
    for key, listed in executor_input["outputs"]["artifacts"].items():
        (artifact,) = listed["artifacts"]
        returned = executor_output.get("artifacts", {}).get(key, {}).get("artifacts", [])
        metadata = dict(artifact.get("metadata", {}))
        if returned:
            metadata.update(returned[0].get("metadata", {}))
        outputs[key] = {
            "name": str(next(_artifact_ids)),
            "uri": artifact["uri"],
            # ML Metadata keeps numbers as doubles and hands them back as numbers.
            "metadata": json.loads(json.dumps(metadata)),
        }
    parameters = dict(executor_output.get("parameterValues", {}))
    for pkey, output in executor_input["outputs"]["parameters"].items():
        if pkey not in parameters:
            with open(output["outputFile"]) as f:
                parameters[pkey] = f.read()
    step = Step(
        name,
        argv,
        executor_input,
        executor_output,
        outputs,
        process.stdout,
        parameters,
        cache_key=fingerprint,
    )
    if fingerprint:
        cache[(spec["pipelineInfo"]["name"], fingerprint)] = step
    return step


def cache_key(executor_input: dict, component: dict, container: dict) -> str:
    """KFP's cache fingerprint of a task (driver.go `getFingerPrint`, cache.go).

    `GenerateCacheKey` keeps: the input parameters' resolved values; each input
    artifact's `name` only (its ML Metadata id, not its URI or metadata); each
    output artifact's name, type and metadata with the URI wiped; each output
    parameter's type; and the container's image and `command + args` as the spec
    writes them, placeholders unsubstituted. `GenerateFingerPrint` is the SHA-256
    of that key's JSON (field order fixed here by sort_keys, as encoding/json
    sorts map keys).
    """
    inputs = executor_input["inputs"]
    outputs = executor_input["outputs"]
    declared = component.get("outputDefinitions", {}).get("parameters", {})
    key = {
        "inputArtifactNames": {
            k: {"artifactNames": [a["name"] for a in v["artifacts"]]}
            for k, v in inputs.get("artifacts", {}).items()
        },
        "inputParameterValues": inputs.get("parameterValues", {}),
        "outputArtifactsSpec": {
            k: {f: a[f] for f in ("name", "type", "metadata") if f in a}
            for k, v in outputs.get("artifacts", {}).items()
            for a in v["artifacts"][:1]
        },
        "outputParametersSpec": {
            k: declared[k].get("parameterType", "") for k in outputs.get("parameters", {})
        },
        "containerSpec": {
            "image": container.get("image", ""),
            "cmdArgs": list(container.get("command", [])) + list(container.get("args", [])),
        },
    }
    text = json.dumps(key, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _parameter_values(task: dict, values: dict, steps: dict[str, Step]) -> dict:
    result = {}
    for key, source in task.get("inputs", {}).get("parameters", {}).items():
        if "runtimeValue" in source:
            result[key] = source["runtimeValue"]["constant"]
        elif "componentInputParameter" in source:
            result[key] = values[source["componentInputParameter"]]
        elif "taskOutputParameter" in source:
            output = source["taskOutputParameter"]
            result[key] = steps[output["producerTask"]].parameters[output["outputParameterKey"]]
        else:
            raise AssertionError(f"parameter {key}: source not emulated: {source}")
    return result


def _input_artifacts(task: dict, component: dict, steps: dict[str, Step]) -> dict:
    declared = component.get("inputDefinitions", {}).get("artifacts", {})
    result = {}
    for key, source in task.get("inputs", {}).get("artifacts", {}).items():
        producer = source["taskOutputArtifact"]
        recorded = steps[producer["producerTask"]].outputs[producer["outputArtifactKey"]]
        artifact = dict(recorded, type=declared[key]["artifactType"])
        result[key] = {"artifacts": [artifact]}
    return result


def _output_artifacts(component: dict, run_root: str, task_name: str) -> dict:
    result = {}
    for key, output in component.get("outputDefinitions", {}).get("artifacts", {}).items():
        artifact = {"uri": f"{run_root}/{task_name}/{key}", "type": output["artifactType"]}
        result[key] = {"artifacts": [artifact]}
    return result


def _command(container: dict, executor_input_json: str) -> list[str]:
    """The container's command and arguments with the ExecutorInput substituted.

    The image's `python` is this interpreter; any placeholder other than `{{$}}`
    fails, since the emulation does not know it.
    """
    argv = list(container.get("command", [])) + list(container.get("args", []))
    argv = [executor_input_json if a == EXECUTOR_INPUT_PLACEHOLDER else a for a in argv]
    for arg in argv:
        if arg is not executor_input_json and "{{$" in arg:
            raise AssertionError(f"placeholder not emulated: {arg[:120]}")
    if argv and argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    return argv
