"""The Dockerfile gives the compiled pipeline what it needs (no Docker engine in CI).

Checked statically: the pinned stack from the same lock, CUDA-capable
TensorFlow at the lock's version, the project installed as a package, Keras 2
selected, and the entry point TFX's KubeflowV2DagRunner writes into every
container spec (read from the installed tfx, not copied here) importable.
And resolved against PyPI (slow): the image's pip install, with the Dockerfile's
own arguments, gets exactly the lock.
"""

import ast
import fnmatch
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys

import pytest
from packaging.requirements import Requirement

from tests import REPO

# The packages the compiled pipeline's steps import (its components, the Trainer's
# run_fn, the pipeline definition, and the kubeflow_runner tools).
PIPELINE_PACKAGES = ("components", "trainer", "pipeline", "kubeflow_runner", "video_action")


def parse_dockerfile(path: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order; continuation lines joined, comments dropped."""
    instructions, current = [], ""
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not current and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if line.rstrip().endswith("\\"):
                current += line.rstrip()[:-1] + " "
                continue
            current += line
            keyword, _, args = current.strip().partition(" ")
            instructions.append((keyword.upper(), args.strip()))
            current = ""
    return instructions


def tfx_container_command() -> tuple[str, ...]:
    """KUBEFLOW_TFX_CMD of the installed tfx, read from its source (importing it loads TF)."""
    tfx_dir = os.path.dirname(importlib.util.find_spec("tfx").origin)
    source = os.path.join(tfx_dir, "orchestration", "kubeflow", "v2", "kubeflow_v2_dag_runner.py")
    with open(source, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "KUBEFLOW_TFX_CMD" for t in node.targets
        ):
            return tuple(ast.literal_eval(node.value))
    raise AssertionError(f"KUBEFLOW_TFX_CMD not found in {source}")


def locked_versions() -> dict[str, str]:
    """requirements/lock.txt as {normalized name: version}."""
    with open(os.path.join(REPO, "requirements", "lock.txt"), encoding="utf-8") as f:
        pins = (line.strip().partition("==") for line in f if not line.startswith("#"))
        return {_normalized(name): version for name, sep, version in pins if sep}


def locked_version(package: str) -> str:
    version = locked_versions().get(_normalized(package))
    if version is None:
        raise AssertionError(f"{package} is not pinned in requirements/lock.txt")
    return version


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.fixture(scope="module")
def steps():
    return parse_dockerfile(os.path.join(REPO, "Dockerfile"))


def _index(steps, keyword: str, predicate) -> int:
    for i, (kw, args) in enumerate(steps):
        if kw == keyword and predicate(args):
            return i
    raise AssertionError(f"no {keyword} step matching {predicate.__doc__ or predicate}")


def _copied(steps, before: int) -> set[str]:
    """Sources COPY'd before step `before` (trailing slashes dropped)."""
    sources = set()
    for kw, args in steps[:before]:
        if kw == "COPY":
            sources.update(s.rstrip("/") for s in shlex.split(args)[:-1])
    return sources


def test_python_310_base_and_keras_2(steps):
    assert steps[0][0] == "FROM" and re.match(r"python:3\.10(\b|-)", steps[0][1]), steps[0]
    env = " ".join(args for kw, args in steps if kw == "ENV")
    assert re.search(r"\bTF_USE_LEGACY_KERAS=1\b", env)


def test_installs_the_locked_stack_with_cuda_tensorflow(steps):
    install = _index(steps, "RUN", lambda a: "requirements/base.txt" in a)
    args = shlex.split(steps[install][1])
    assert args[:2] == ["pip", "install"]
    assert "-c" in args and args[args.index("-c") + 1] == "requirements/lock.txt"
    assert "-r" in args and args[args.index("-r") + 1] == "requirements/base.txt"
    assert f"tensorflow[and-cuda]=={locked_version('tensorflow')}" in args
    assert "requirements" in _copied(steps, install)


def test_installs_the_locked_pip_before_the_stack(steps):
    pip = _index(steps, "RUN", lambda a: shlex.split(a)[-1:] == ["pip"])
    assert shlex.split(steps[pip][1]) == ["pip", "install", "-c", "requirements/lock.txt", "pip"]
    assert pip < _index(steps, "RUN", lambda a: "requirements/base.txt" in a)
    assert locked_version("pip")


# What this machine's PIP_* settings may bring to the resolve: how to reach the index, not
# what to resolve (its find-links, extra indexes and constraints are not the image's).
_PIP_TRANSPORT = ("PIP_INDEX_URL", "PIP_CERT", "PIP_CLIENT_CERT", "PIP_TRUSTED_HOST", "PIP_PROXY")


def _image_pip_env(steps) -> dict[str, str]:
    """This environment as the image's pip sees it: the Dockerfile's PIP_* settings, no pip
    config file, and of this machine's PIP_* only how to reach the index."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k in _PIP_TRANSPORT}
    for keyword, args in steps:
        if keyword == "ENV":
            env.update(p.split("=", 1) for p in shlex.split(args) if p.startswith("PIP_"))
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def _cuda_pins(tensorflow: dict) -> dict[str, str]:
    """{name: version} of what tensorflow's `and-cuda` extra pins with ==, from its metadata."""
    pins = {}
    for text in tensorflow["metadata"].get("requires_dist", []):
        requirement = Requirement(text)
        marker = requirement.marker
        if marker and marker.evaluate({"extra": "and-cuda"}) and not marker.evaluate({"extra": ""}):
            (spec,) = requirement.specifier
            assert spec.operator == "==", text
            pins[_normalized(requirement.name)] = spec.version
    return pins


@pytest.mark.slow
def test_image_install_resolves_to_the_lock(steps, tmp_path):
    """The Dockerfile's stack install, resolved by the lock's pip as the image runs it: every
    package at its locked version, but tensorflow's CUDA wheels, which tensorflow pins itself.

    Python 3.10 on linux x86_64 like the image, the Dockerfile's own arguments, `--dry-run
    --report`. `--use-feature=fast-deps` reads each wheel's METADATA with HTTP range requests
    where the index serves no PEP 658 metadata files (PyPI's own are read first): about 110 MB
    and 2 minutes, not the 3 GB of wheels (tensorflow's alone is 590 MB).
    """
    stack = shlex.split(steps[_index(steps, "RUN", lambda a: "requirements/base.txt" in a)][1])
    assert stack[:2] == ["pip", "install"] and "&&" not in stack
    env = _image_pip_env(steps)
    pip_dir = tmp_path / "pip"
    download = ["download", "--quiet", "--no-deps", "--only-binary=:all:", "--dest", str(pip_dir)]
    pip_pin = f"pip=={locked_version('pip')}"
    subprocess.run([sys.executable, "-m", "pip", *download, pip_pin], env=env, check=True)
    (pip_wheel,) = pip_dir.glob("pip-*.whl")  # pip runs from its wheel
    report = tmp_path / "report.json"
    resolve = ["install", "--dry-run", "--ignore-installed", "--use-feature=fast-deps", "--quiet"]
    done = subprocess.run(
        [sys.executable, str(pip_wheel / "pip"), *resolve, "--report", str(report), *stack[2:]],
        cwd=REPO,  # the image's WORKDIR holds requirements/ as the repository does
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    with open(report, encoding="utf-8") as f:
        resolved = {_normalized(i["metadata"]["name"]): i for i in json.load(f)["install"]}
    lock, cuda = locked_versions(), _cuda_pins(resolved["tensorflow"])
    assert cuda and all(name.startswith("nvidia-") for name in cuda), cuda
    assert set(cuda) <= set(resolved)
    assert resolved["tensorflow"]["requested_extras"] == ["and-cuda"]
    for name, item in resolved.items():
        version, expected = item["metadata"]["version"], lock.get(name) or cuda.get(name)
        assert expected, f"{name} {version} resolves from scratch: pin it in requirements/lock.txt"
        assert version == expected, f"{name} resolves to {version}, {expected} is locked"


def test_installs_the_project_with_every_pipeline_package(steps):
    install = _index(steps, "RUN", lambda a: re.search(r"pip install --no-deps \.(\s|$)", a))
    copied = _copied(steps, install)
    assert "pyproject.toml" in copied
    for package in PIPELINE_PACKAGES:
        assert os.path.isfile(os.path.join(REPO, package, "__init__.py")), package
        assert package in copied, f"{package}/ is not copied into the image"


def test_tfx_entry_point_is_checked_in_the_image(steps):
    command = tfx_container_command()
    assert command[:2] == ("python", "-m"), command
    module = command[2]
    assert importlib.util.find_spec(module) is not None  # exists in the locked tfx
    check = _index(steps, "RUN", lambda a: "pip install --no-deps ." in a)
    imported = steps[check][1].split("python -c", 1)[1]
    for name in (module, *PIPELINE_PACKAGES):
        assert re.search(rf"\b{re.escape(name)}\b", imported), f"{name} is not import-checked"


def test_dockerignore_keeps_what_the_image_needs():
    with open(os.path.join(REPO, ".dockerignore"), encoding="utf-8") as f:
        patterns = [p.strip().rstrip("/") for p in f if p.strip() and not p.startswith("#")]
    assert ".venv" in patterns and ".git" in patterns
    for needed in (*PIPELINE_PACKAGES, "requirements", "pyproject.toml"):
        assert not any(fnmatch.fnmatch(needed, p) for p in patterns), needed


def test_make_image_builds_this_dockerfile():
    with open(os.path.join(REPO, "Makefile"), encoding="utf-8") as f:
        makefile = f.read()
    assert re.search(r"^IMAGE \?=", makefile, re.M)
    assert re.search(r"^image:.*\n\tdocker build -t \$\(IMAGE\) \.$", makefile, re.M)


def test_the_installed_packages_are_the_pipelines_and_shadow_no_other_distribution():
    """pyproject installs exactly PIPELINE_PACKAGES (bench/ and tests/ run from the
    checkout), and none takes the import name of another distribution: `kubeflow` was
    ours once and hid the Kubeflow SDK's (`pip install kubeflow`) in the step image."""
    import importlib.metadata

    with open(os.path.join(REPO, "pyproject.toml"), encoding="utf-8") as f:
        include = re.search(r"^include = \[(.*)\]$", f.read(), re.M).group(1)
    installed = {name.strip().strip('"').rstrip("*") for name in include.split(",")}
    assert installed == set(PIPELINE_PACKAGES)
    others = {
        name
        for name, dists in importlib.metadata.packages_distributions().items()
        if set(dists) != {"video-action-pipeline"}
    }
    assert not installed & (others | {"kubeflow"})
