"""What the open-source KFP 2 backend accepts in a compiled pipeline spec, read from its source.

`backend_violations(spec)` checks a PipelineSpec (the dict
`python -m kubeflow_runner compile --output x.yaml` writes) against the rules the
open-source Kubeflow Pipelines backend applies: at upload
(API server), when a run is created (its compiler turns the spec into an Argo Workflow, which
the API server validates with Argo's own validator before creating it), and when a task starts
(the driver resolves the task's inputs and builds its pod). What the driver would silently drop
(a GPU request it cannot read) counts as a violation too.

Read at (every quote below is from these):
  KFP   github.com/kubeflow/pipelines tag 2.5.0, commit d07cf1c7f9bd163091986de9bb723c4078c498b1
        (2025-04-28): backend/src/apiserver/template/v2_template.go,
        backend/src/apiserver/resource/resource_manager.go, backend/src/v2/compiler/visitor.go,
        backend/src/v2/compiler/argocompiler/{argo,dag,container}.go,
        backend/src/v2/driver/driver.go, backend/src/v2/component/launcher_v2.go,
        backend/src/v2/metadata/client.go.
  Argo  github.com/argoproj/argo-workflows v3.5.14 (KFP 2.5.0's go.mod), commit
        d94c214176716ece96974fd98ac5107c38d61344: workflow/validate/validate.go. KFP runs it on
        every compiled run (resource_manager.go CreateRun: `err = executionSpec.Validate(false,
        false)`).
  Kubernetes  pkg/apis/core/validation/validation.go (validateContainerResourceName, requests
        against limits) for the pod the driver builds, and object names for the Workflow.
  Where the 2.x backends of 2024-2025 differ, the rule says so (compared with 2.0.5, the server
  of kfp SDK 2.5's time, 2.3.0 and 2.14.3).

Not a rule here: `defaultPipelineRoot`. No backend from 2.0.5 to 2.14.3 reads it (the driver
takes the run's runtime config `gcsOutputDirectory`, else the kfp-launcher ConfigMap's
`defaultPipelineRoot`, default "minio://mlpipeline/v2/artifacts": driver.go RootDAG).
Not checked: dagOutputs of sub-DAGs, the Kubernetes platform spec, launcher placeholders other
than the executor input, and the Workflow's size.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Iterator
from typing import Any

# Argo validate.go: workflowFieldNameFmt "[a-zA-Z0-9][-a-zA-Z0-9]*", workflowFieldMaxLength 128
# (template and DAG task names); paramOrArtifactNameRegex `^[-a-zA-Z0-9_]+[-a-zA-Z0-9_]*$`
# (workflow argument names).
_ARGO_NAME = re.compile(r"[a-zA-Z0-9][-a-zA-Z0-9]*")
_ARGO_NAME_MAX = 128
_ARGO_PARAM_NAME = re.compile(r"[-a-zA-Z0-9_]+")
# A lowercase RFC 1123 subdomain (v2_template.go's pipeline name regex, anchored).
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
# Kubernetes extended resource name: <DNS subdomain>/<qualified name>, e.g. nvidia.com/gpu.
_EXTENDED_RESOURCE = re.compile(
    _DNS_SUBDOMAIN.pattern + r"/([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]"
)
# k8s.io/apimachinery resource.ParseQuantity: <signedNumber><suffix>.
_QUANTITY = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[KMGTPE]i|[mkMGTPE])?")
# ParameterType values a root input may have (v2_template.go validatePipelineJobInputs).
_PARAMETER_KINDS = {
    "STRING": (str,),
    "NUMBER_INTEGER": (int, float),
    "NUMBER_DOUBLE": (int, float),
    "BOOLEAN": (bool,),
    "LIST": (list,),
    "STRUCT": (dict,),
}
_EXIT_STRATEGY = "ALL_UPSTREAM_TASKS_COMPLETED"
# argo.go dummyImages: tasks the driver runs itself (PVC create/delete), with no launcher.
_DUMMY_IMAGES = ("argostub/createpvc", "argostub/deletepvc")


def backend_violations(spec: dict[str, Any]) -> list[str]:
    """What the open-source KFP 2 backend would refuse (or silently drop) in `spec`.

    Returns:
      One message per problem, naming the task or component, the rule and its source file.
    """
    rules = (_pipeline, _executors, _dag_references, _parameter_types, _containers, _argo_names)
    return [message for rule in rules for message in rule(spec)]


def _pipeline(spec: dict) -> Iterator[str]:
    """Upload: v2_template.go NewV2SpecTemplate and argocompiler/argo.go Compile.

    - "KFP only supports schema version 2.1.0, but the pipeline spec has version %s"
    - "invalid v2 pipeline spec: name is empty" (argo.go: "pipelineInfo.name is empty")
    - "name should consist of lower case alphanumeric characters, '-' or '.', and must start and
      end with an alphanumeric character" (its regex is unanchored). What follows the last '/'
      becomes the Argo Workflow's `GenerateName: retrieveLastValidString(spec.GetPipelineInfo()
      .GetName()) + "-"` (argo.go), a Kubernetes object name: a lowercase RFC 1123 subdomain.
    - "invalid v2 pipeline spec: root component is empty"
    """
    if spec.get("schemaVersion") != "2.1.0":
        yield f"schemaVersion {spec.get('schemaVersion')!r}: the KFP API server takes 2.1.0 only"
    name = spec.get("pipelineInfo", {}).get("name", "")
    if not _DNS_SUBDOMAIN.fullmatch(name.rsplit("/", 1)[-1]):
        yield (
            f"pipelineInfo.name {name!r}: must be lower case alphanumeric characters, '-' or '.', "
            "starting and ending alphanumeric (v2_template.go; the Argo Workflow's generateName)"
        )
    if not spec.get("root", {}).get("dag"):
        yield "root has no dag: the KFP API server refuses 'root component is empty'"


def _executors(spec: dict) -> Iterator[str]:
    """Executor kinds: compiler/visitor.go pipelineDFS.dfs and argocompiler/dag.go task.

    The compiler visits the components the root DAG reaches and implements two executors:
    `container := executor.GetContainer()`, `importer := executor.GetImporter()`, else
    "executor(label=%q): non-container and non-importer executor not implemented"; dag.go:
    `case *pipelinespec.PipelineDeploymentConfig_ExecutorSpec_Resolver: return nil,
    fmt.Errorf("resolver executors not implemented")` and for CustomJob "custom job executors is
    Google Cloud only, it's not supported". Same text at 2.0.5, 2.3.0 and 2.14.3.
    Also "executor(label=%q) not found in deployment config" and "unknown component
    implementation" (neither executorLabel nor dag).
    """
    executors = spec.get("deploymentSpec", {}).get("executors", {})
    for name, component in _reachable(spec).items():
        label = component.get("executorLabel")
        if not label:
            if "dag" not in component:
                yield f"component {name!r}: neither executorLabel nor dag (visitor.go)"
            continue
        executor = executors.get(label)
        if executor is None:
            yield (
                f"component {name!r}: executor {label!r} is not in deploymentSpec.executors "
                "(visitor.go: not found in deployment config)"
            )
        elif "resolver" in executor:
            yield (
                f"component {name!r}: resolver executor {label!r}; the KFP backend runs container "
                "and importer executors only: 'resolver executors not implemented' "
                "(argocompiler/dag.go; visitor.go: 'non-container and non-importer executor')"
            )
        elif "customJob" in executor:
            yield (
                f"component {name!r}: customJob executor {label!r}: 'custom job executors is "
                "Google Cloud only, it's not supported' (argocompiler/dag.go)"
            )
        elif "container" not in executor and "importer" not in executor:
            yield f"component {name!r}: executor {label!r} is neither a container nor an importer"


def _dag_references(spec: dict) -> Iterator[str]:
    """Every reference in a DAG resolves, and the DAG has no cycle.

    - visitor.go: "component ref name is empty for task name=%q", "cannot find component ref
      name=%q".
    - dag.go DAG: "DAG %s must contain one or more non-exit tasks"; "artifact iterator not
      implemented yet"; "triggerPolicy.condition on importer task is not supported".
    - dag.go addImplicitDependencies: "unknown producer task %q in DAG"; "task final status not
      supported yet" (2.0.5 to 2.5.0; 2.14.3 dropped it).
    - driver.go resolveInputParameter: "parent DAG does not have input parameter %s"; of
      runtimeValue only `constant` is read, else "param runtime value spec of type %T not
      implemented"; resolveInputArtifact: componentInputArtifact and taskOutputArtifact only,
      else "artifact spec of type %T not implemented yet"; resolveInputs: a component input
      neither given nor optional: "neither value nor default value provided for non-optional
      parameter %q" (with a default, the value is still missing: a STRING gets "", other types
      "unknown protobuf.Value type").
    - Argo validate.go validateDAG: "dependency '%s' not defined"; verifyNoCycles: "dependency
      cycle detected". KFP turns dependentTasks and producers into Argo `depends`.
    """
    components = spec.get("components", {})
    for dag_name, dag_component in _dags(spec):
        tasks = dag_component["dag"].get("tasks", {})
        where = f"DAG {dag_name!r}"
        if not any(_strategy(t) != _EXIT_STRATEGY for t in tasks.values()):
            yield f"{where}: no non-exit task (dag.go: must contain one or more non-exit tasks)"
        parent_inputs = dag_component.get("inputDefinitions", {})
        upstream = {}
        for task_name, task in tasks.items():
            at = f"task {task_name!r} in {where}"
            ref = task.get("componentRef", {}).get("name", "")
            if ref not in components:
                yield f"{at}: componentRef {ref!r} is not a component (visitor.go)"
            component = components.get(ref, {})
            yield from _iterator_and_trigger(at, task, component, spec)
            upstream[task_name] = set(task.get("dependentTasks", []))
            inputs = task.get("inputs", {})
            for name, source in inputs.get("parameters", {}).items():
                problem, producer = _parameter_source(source, parent_inputs, tasks, components)
                upstream[task_name].update(producer)
                if problem:
                    yield f"{at}: input parameter {name!r}: {problem}"
            for name, source in inputs.get("artifacts", {}).items():
                problem, producer = _artifact_source(source, parent_inputs, tasks, components)
                upstream[task_name].update(producer)
                if problem:
                    yield f"{at}: input artifact {name!r}: {problem}"
            declared = component.get("inputDefinitions", {}).get("parameters", {})
            # An iterator's item input comes from the iteration (driver.go: "It's expected that
            # an iterator does not have iteration item input parameter").
            item = task.get("parameterIterator", {}).get("itemInput")
            for name, body in declared.items():
                given = name in inputs.get("parameters", {}) or name == item
                if not given and not body.get("isOptional"):
                    yield (
                        f"{at}: component input {name!r} is neither given nor isOptional "
                        "(driver.go resolveInputs: non-optional parameter)"
                    )
            for dep in task.get("dependentTasks", []):
                if dep not in tasks:
                    yield f"{at}: dependentTasks names {dep!r}, not a task here (Argo: not defined)"
        cycle = _cycle({name: deps & set(tasks) for name, deps in upstream.items()})
        if cycle:
            yield f"{where}: dependency cycle {' -> '.join(cycle)} (Argo validate.go)"


def _iterator_and_trigger(at: str, task: dict, component: dict, spec: dict) -> Iterator[str]:
    if "artifactIterator" in task:
        yield f"{at}: artifactIterator: 'artifact iterator not implemented yet' (dag.go)"
    executor = spec.get("deploymentSpec", {}).get("executors", {})
    is_importer = "importer" in executor.get(component.get("executorLabel", ""), {})
    if is_importer and task.get("triggerPolicy", {}).get("condition"):
        yield f"{at}: triggerPolicy.condition on an importer task is not supported (dag.go)"


def _parameter_source(source: dict, parent: dict, tasks: dict, components: dict):
    """(problem or None, producer tasks) of one task input parameter."""
    if "taskOutputParameter" in source:
        output = source["taskOutputParameter"]
        return _producer_problem(output, "outputParameterKey", "parameters", tasks, components)
    if "componentInputParameter" in source:
        name = source["componentInputParameter"]
        if name not in parent.get("parameters", {}):
            return f"parent DAG does not have input parameter {name!r} (driver.go)", set()
        return None, set()
    if "runtimeValue" in source:
        if "constant" not in source["runtimeValue"]:
            kind = ", ".join(source["runtimeValue"]) or "empty"
            return f"runtimeValue {kind}: the driver reads `constant` only (driver.go)", set()
        return None, set()
    if "taskFinalStatus" in source:
        return "taskFinalStatus: 'task final status not supported yet' (dag.go, 2.5.0)", set()
    return f"unsupported kind {sorted(source)} (driver.go: not implemented yet)", set()


def _artifact_source(source: dict, parent: dict, tasks: dict, components: dict):
    """(problem or None, producer tasks) of one task input artifact."""
    if "taskOutputArtifact" in source:
        output = source["taskOutputArtifact"]
        return _producer_problem(output, "outputArtifactKey", "artifacts", tasks, components)
    if "componentInputArtifact" in source:
        name = source["componentInputArtifact"]
        if name not in parent.get("artifacts", {}):
            return f"parent DAG does not have input artifact {name!r} (driver.go)", set()
        return None, set()
    return f"unsupported kind {sorted(source)} (driver.go: not implemented yet)", set()


def _producer_problem(output: dict, key_field: str, kind: str, tasks: dict, components: dict):
    producer = output.get("producerTask", "")
    if producer not in tasks:
        return f"unknown producer task {producer!r} in DAG (dag.go)", set()
    ref = tasks[producer].get("componentRef", {}).get("name", "")
    outputs = components.get(ref, {}).get("outputDefinitions", {}).get(kind, {})
    if output.get(key_field) not in outputs:
        return f"producer {producer!r} declares no output {output.get(key_field)!r}", {producer}
    return None, {producer}


def _parameter_types(spec: dict) -> Iterator[str]:
    """Parameter types the API server and the driver handle.

    - Root inputs (v2_template.go validatePipelineJobInputs): a run's value is checked against
      `param.GetParameterType()`: PARAMETER_TYPE_ENUM_UNSPECIFIED -> "input parameter %s has
      unspecified type" (so the legacy `type` field alone fails), TASK_FINAL_STATUS -> "invalid
      for root component", and NUMBER_* need a number, STRING a string, BOOLEAN a bool, LIST a
      list, STRUCT a struct. A default is the value of every run that sets none (argo.go Compile:
      `job.RuntimeConfig.ParameterValues[name] = param.GetDefaultValue()`), so it must fit too.
    - Task inputs (driver.go resolveInputs handleParamTypeValidationAndConversion): a STRING
      input takes any value (converted to text); otherwise "input parameter %q type mismatch:
      expect %s, got %s", "got null for input parameter %q".
    """
    root = spec.get("root", {}).get("inputDefinitions", {}).get("parameters", {})
    for name, body in root.items():
        ptype = body.get("parameterType")
        if ptype not in _PARAMETER_KINDS:
            yield (
                f"root parameter {name!r}: parameterType {ptype!r} (legacy type "
                f"{body.get('type')!r}): the KFP API server takes {sorted(_PARAMETER_KINDS)}"
            )
        elif "defaultValue" in body and not _fits(ptype, body["defaultValue"]):
            yield f"root parameter {name!r}: defaultValue {body['defaultValue']!r} is not {ptype}"
    components = spec.get("components", {})
    for name, component in _reachable(spec).items():
        for pname, body in component.get("inputDefinitions", {}).get("parameters", {}).items():
            if name != "root" and body.get("parameterType") not in _PARAMETER_KINDS:
                yield (
                    f"component {name!r} input {pname!r}: parameterType "
                    f"{body.get('parameterType')!r}: the driver type-checks against it"
                )
    for _, dag_component in _dags(spec):
        parent = dag_component.get("inputDefinitions", {}).get("parameters", {})
        for task_name, task in dag_component["dag"].get("tasks", {}).items():
            ref = task.get("componentRef", {}).get("name", "")
            declared = components.get(ref, {}).get("inputDefinitions", {}).get("parameters", {})
            for pname, source in task.get("inputs", {}).get("parameters", {}).items():
                want = declared.get(pname, {}).get("parameterType")
                if want not in _PARAMETER_KINDS or "parameterExpressionSelector" in source:
                    continue
                constant = source.get("runtimeValue", {}).get("constant", _ABSENT)
                given = parent.get(source.get("componentInputParameter"), {})
                if constant is not _ABSENT and want != "STRING" and not _fits(want, constant):
                    yield f"task {task_name!r} input {pname!r}: constant {constant!r} is not {want}"
                elif given.get("parameterType") in _PARAMETER_KINDS and not _type_fits(
                    given["parameterType"], want
                ):
                    yield (
                        f"task {task_name!r} input {pname!r}: {want} fed from "
                        f"{given.get('parameterType')} (driver.go: type mismatch)"
                    )


_ABSENT = object()


def _containers(spec: dict) -> Iterator[str]:
    """Container specs as the driver turns them into a pod (driver.go initPodSpecPatch).

    - Image and command: the executor template's image is a placeholder "should always be
      overridden in podSpecPatch" (container.go); launcher_v2.go: "command and arguments are
      empty".
    - CPU and memory: 2.4.0 and later read `resourceCpuLimit` etc. (strings) first, then the
      floats: `getPodResource(container.GetResources().GetResourceCpuLimit(),
      container.GetResources().GetCpuLimit(), executorInput, "%v")` and "%vG" for memory; 2.0.5
      to 2.3.0 read only the floats (`cpuLimit := container.GetResources().GetCpuLimit()`), so
      the string fields are ignored by the 2024 backends. The float is formatted with Go's %v
      and must parse as a Kubernetes quantity (`k8sres.ParseQuantity`). Kubernetes pod
      validation then refuses a request above its limit ("must be less than or equal to %s
      limit", k8s pkg/apis/core/validation/validation.go).
    - Accelerator: `acceleratorType = accelerator.GetType()`, count only `if accelerator.Count >
      0`, and the limit is set only `if acceleratorType != "" && acceleratorCount != ""`: a type
      without a count (or a count without a type) drops the GPU silently. The type becomes
      `res.Limits[k8score.ResourceName(acceleratorType)]`, a Kubernetes resource name: a
      Vertex AI name (NVIDIA_TESLA_T4) fails pod validation ("must be a standard resource for
      containers", validateContainerResourceName). `resourceType`/`resourceCount`: 2.4.0+ only.
    - Output artifact types (launcher_v2.go getArtifactSchema: "SchemaUri is unsupported";
      metadata/client.go SchemaToArtifactType: an instanceSchema without a `title` is fatal,
      `glog.Fatal("No title specified")`).
    """
    executors = spec.get("deploymentSpec", {}).get("executors", {})
    for name, component in _reachable(spec).items():
        yield from _artifact_types(name, component)
        container = executors.get(component.get("executorLabel", ""), {}).get("container")
        if container is None:
            continue
        at = f"component {name!r} container"
        if container.get("image") in _DUMMY_IMAGES:
            continue
        if not container.get("image"):
            yield f"{at}: no image (container.go: the image must be overridden at run time)"
        if not container.get("command") and not container.get("args"):
            yield f"{at}: command and arguments are empty (launcher_v2.go)"
        yield from _resources(at, container.get("resources", {}))


def _resources(at: str, resources: dict) -> Iterator[str]:
    for field in (
        "resourceCpuLimit",
        "resourceCpuRequest",
        "resourceMemoryLimit",
        "resourceMemoryRequest",
    ):
        if field in resources:
            yield f"{at}: {field}: read by KFP backends 2.4.0+ only; set the float field"
    values = {}
    for field, suffix in (
        ("cpuLimit", ""),
        ("cpuRequest", ""),
        ("memoryLimit", "G"),
        ("memoryRequest", "G"),
    ):
        value = resources.get(field, 0)
        if not value:
            continue
        quantity = _go_float(value) + suffix
        if value < 0 or not _QUANTITY.fullmatch(quantity):
            yield f"{at}: {field} {value!r} becomes {quantity!r}, not a Kubernetes quantity"
        values[field] = value
    for kind in ("cpu", "memory"):
        limit, request = values.get(f"{kind}Limit"), values.get(f"{kind}Request")
        if limit and request and request > limit:
            yield f"{at}: {kind}Request {request} above {kind}Limit {limit} (Kubernetes refuses)"
    accelerator = resources.get("accelerator")
    if accelerator is None:
        return
    if "resourceType" in accelerator or "resourceCount" in accelerator:
        yield f"{at}: accelerator resourceType/resourceCount: read by KFP 2.4.0+ only"
    kind, count = accelerator.get("type", ""), int(accelerator.get("count", 0) or 0)
    if bool(kind) != (count > 0):
        yield (
            f"{at}: accelerator type {kind!r} count {count}: the driver requests a GPU only "
            "with both a type and a count > 0 (driver.go); this one is dropped"
        )
    if kind and not _EXTENDED_RESOURCE.fullmatch(kind):
        yield (
            f"{at}: accelerator type {kind!r} is not a Kubernetes resource name like "
            "'nvidia.com/gpu': the driver uses it as the container's resource limit"
        )


def _artifact_types(name: str, component: dict) -> Iterator[str]:
    for key, body in component.get("outputDefinitions", {}).get("artifacts", {}).items():
        schema = body.get("artifactType", {})
        if "schemaTitle" in schema:
            continue
        title = re.search(r"^title:\s*(\S+)", schema.get("instanceSchema", ""), re.M)
        if not title:
            yield (
                f"component {name!r} output {key!r}: artifactType needs schemaTitle or an "
                "instanceSchema with a title (launcher_v2.go, metadata/client.go)"
            )


def _argo_names(spec: dict) -> Iterator[str]:
    """Names the compiler copies into the Argo Workflow, as Argo's validator takes them.

    argocompiler/argo.go `templateName(componentName)` returns the name unchanged ("TODO(Bobgy):
    sanitize component name"; still so at 2.14.3). dag.go names each container or DAG task's
    Argo DAG tasks `name` and `name + "-driver"`, an importer task `name`; a DAG component is a
    template named after the component, with "exit-hook-%s-%s" and "%s-%s-iterator" templates
    for exit and iterator tasks; container.go names `name + "-" + nameContainerExecutor` for a
    task with a retry policy; argo.go stores importer and DAG components as workflow arguments
    "components-"/"implementations-" + component name.
    Argo validate.go: template and DAG task names `^[a-zA-Z0-9][-a-zA-Z0-9]*$`, at most 128
    characters, unique; "name cannot begin with a digit when using either 'depends' or
    'dependencies'" (every container task uses depends); argument names
    `^[-a-zA-Z0-9_]+[-a-zA-Z0-9_]*$`.
    """
    components = spec.get("components", {})
    executors = spec.get("deploymentSpec", {}).get("executors", {})
    for dag_name, dag_component in _dags(spec):
        seen: dict[str, str] = {}
        templates = [] if dag_name == "root" else [dag_name]
        for task_name, task in dag_component["dag"].get("tasks", {}).items():
            ref = task.get("componentRef", {}).get("name", "")
            component = components.get(ref, {})
            executor = executors.get(component.get("executorLabel", ""), {})
            argo_tasks = [task_name]
            if "container" in executor or "dag" in component:
                argo_tasks.append(task_name + "-driver")
            for argo_task in argo_tasks:
                problem = _argo_name_problem(argo_task)
                if problem:
                    yield f"task {task_name!r}: Argo DAG task name {argo_task!r} {problem}"
                if argo_task in seen:
                    yield f"task {task_name!r}: Argo DAG task {argo_task!r} is taken by another"
                seen[argo_task] = task_name
            if _strategy(task) == _EXIT_STRATEGY:
                templates.append(f"exit-hook-{dag_name}-{task_name}")
            if "parameterIterator" in task:
                templates += [f"{ref}-{task_name}-iterator", f"{ref}-iteration"]
            if "retryPolicy" in task and dag_name == "root":
                templates.append(f"{task_name}-system-container-executor")
        for template in templates:
            problem = _argo_name_problem(template)
            if problem:
                yield f"DAG {dag_name!r}: Argo template name {template!r} {problem}"
    for name, component in _reachable(spec).items():
        executor = executors.get(component.get("executorLabel", ""), {})
        if ("importer" in executor or "dag" in component) and not _ARGO_PARAM_NAME.fullmatch(name):
            yield f"component {name!r}: Argo workflow argument 'components-{name}' is invalid"


def _argo_name_problem(name: str) -> str | None:
    if not _ARGO_NAME.fullmatch(name):
        return "is invalid: Argo names are alphanumerics and '-', starting alphanumeric"
    if len(name) > _ARGO_NAME_MAX:
        return f"is longer than Argo's {_ARGO_NAME_MAX} characters"
    if name[0].isdigit():
        return "begins with a digit, which Argo refuses in a DAG using 'depends'"
    return None


def _reachable(spec: dict) -> dict[str, dict]:
    """Root and the components its DAGs reach: what the compiler visits (visitor.go Accept)."""
    components = spec.get("components", {})
    found, stack = {"root": spec.get("root", {})}, ["root"]
    while stack:
        for task in found[stack.pop()].get("dag", {}).get("tasks", {}).values():
            ref = task.get("componentRef", {}).get("name", "")
            if ref in components and ref not in found:
                found[ref] = components[ref]
                stack.append(ref)
    return found


def _dags(spec: dict) -> Iterator[tuple[str, dict]]:
    for name, component in _reachable(spec).items():
        if "dag" in component:
            yield name, component


def _strategy(task: dict) -> str:
    return task.get("triggerPolicy", {}).get("strategy", "")


def _cycle(upstream: dict[str, set[str]]) -> list[str]:
    """A dependency cycle as [a, b, ..., a], or [] (depth-first, like Argo's verifyNoCycles)."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str]:
        if node in path:
            return path[path.index(node) :] + [node]
        if node in done:
            return []
        for dep in sorted(upstream.get(node, ())):
            found = visit(dep, path + [node])
            if found:
                return found
        done.add(node)
        return []

    for start in sorted(upstream):
        found = visit(start, [])
        if found:
            return found
    return []


def _fits(ptype: str, value: Any) -> bool:
    """Whether a JSON value has the protobuf kind a parameter type needs (bool is not a number)."""
    if isinstance(value, bool):
        return ptype == "BOOLEAN"
    return isinstance(value, _PARAMETER_KINDS[ptype])


def _type_fits(given: str | None, want: str) -> bool:
    numbers = {"NUMBER_INTEGER", "NUMBER_DOUBLE"}
    return want == "STRING" or given == want or {given, want} <= numbers


def _go_float(value: float) -> str:
    """Go's fmt %v of a float64: strconv 'g' with the shortest digits, as the driver formats."""
    if value == 0:
        return "0"
    sign, digits, exponent = decimal.Decimal(repr(float(value))).normalize().as_tuple()
    text = "".join(map(str, digits))
    point = len(text) + exponent  # digits before the decimal point
    exp = point - 1
    if exp < -4 or exp >= 6:  # strconv ftoa.go: `if shortest { eprec = 6 }`
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        out = f"{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    elif point <= 0:
        out = "0." + "0" * -point + text
    elif point >= len(text):
        out = text + "0" * (point - len(text))
    else:
        out = text[:point] + "." + text[point:]
    return ("-" if sign else "") + out


def task_containers(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each root task's container spec (image, command, args, resources), by task name.

    Follows root.dag.tasks -> components -> deploymentSpec.executors, the way KFP
    resolves a task to the container it runs; tasks without a container (an
    importer or a sub-DAG) are left out.
    """
    executors = spec.get("deploymentSpec", {}).get("executors", {})
    components = spec.get("components", {})
    result = {}
    for task_name, task in spec["root"]["dag"]["tasks"].items():
        component = components.get(task.get("componentRef", {}).get("name", ""), {})
        executor = executors.get(component.get("executorLabel", ""), {})
        if "container" in executor:
            result[task_name] = executor["container"]
    return result
