"""The packages import one way (issue 16): components <- trainer <- pipeline <- kubeflow_runner.

`components` (with `video_action`, which only holds a component's artifact type where
Kubeflow looks for it) imports none of the others; `trainer` imports `components`;
`pipeline`, the composition root, imports both; `kubeflow_runner` compiles the pipeline. No
package imports another's private (`_`) name. Read from the source with `ast`, so
imports inside functions count too.
"""

from __future__ import annotations

import ast
import os

import pytest

from tests import REPO

LAYER = {"components": 0, "video_action": 0, "trainer": 1, "pipeline": 2, "kubeflow_runner": 3}


def imports_of(path: str):
    """(line, imported module, names) for every import in the file at `path`."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, ()
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.lineno, node.module, tuple(alias.name for alias in node.names)


def package_files(package: str) -> list[str]:
    return sorted(
        os.path.join(folder, name)
        for folder, _, files in os.walk(os.path.join(REPO, package))
        for name in files
        if name.endswith(".py")
    )


def project_imports():
    """(file, line, importing package, imported module, names) across the packages."""
    for package in LAYER:
        for path in package_files(package):
            for line, module, names in imports_of(path):
                if module.split(".")[0] in LAYER:
                    yield os.path.relpath(path, REPO), line, package, module, names


@pytest.mark.parametrize("package", sorted(LAYER))
def test_every_package_is_scanned(package):
    assert package_files(package)  # a renamed package would otherwise pass unseen


def test_no_package_imports_a_higher_layer():
    upward = [
        f"{path}:{line} ({package}) imports {module}"
        for path, line, package, module, _ in project_imports()
        if LAYER[module.split(".")[0]] > LAYER[package]
    ]
    assert upward == []


def test_no_private_name_crosses_a_package():
    private = [
        f"{path}:{line} imports {module}: {', '.join(n for n in names if n.startswith('_'))}"
        for path, line, package, module, names in project_imports()
        if module.split(".")[0] != package
        and (
            any(n.startswith("_") for n in names)
            or any(part.startswith("_") for part in module.split("."))
        )
    ]
    assert private == []


@pytest.mark.parametrize(
    "source, expected",
    [
        ("from pipeline import evaluation\n", (1, "pipeline", ("evaluation",))),
        ("def f():\n    from trainer.run import X\n", (2, "trainer.run", ("X",))),
        ("import kubeflow_runner.compile as c\n", (1, "kubeflow_runner.compile", ())),
    ],
)
def test_the_scan_sees_module_and_function_level_imports(tmp_path, source, expected):
    path = tmp_path / "m.py"
    path.write_text(source)
    assert list(imports_of(str(path))) == [expected]


def test_test_files_mirror_the_packages():
    """tests/<package>/<module folder>/test_*.py tests that package (issue 16); shared
    helpers live in tests/fakes/ and tests/builders/, and only whole-repository checks sit
    at the top. Every test folder is a package (so two test_config.py can coexist)."""
    tests_root = os.path.join(REPO, "tests")
    misplaced, not_packages = [], []
    for folder, dirs, files in os.walk(tests_root):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        relative = os.path.relpath(folder, tests_root)
        if relative != "." and "__init__.py" not in files:
            not_packages.append(relative)
        top = relative.split(os.sep)[0]
        for name in files:
            if not (name.startswith("test_") and name.endswith(".py")):
                continue
            if top in ("fakes", "builders"):
                misplaced.append(os.path.join(relative, name))
            elif relative != "." and not os.path.isdir(os.path.join(REPO, relative)):
                misplaced.append(os.path.join(relative, name))
    assert not misplaced, f"test files outside a folder that mirrors a package: {misplaced}"
    assert not not_packages, f"test folders without __init__.py: {not_packages}"
    top_level = sorted(n for n in os.listdir(tests_root) if n.startswith("test_"))
    assert top_level == ["test_dockerfile.py", "test_layers.py"]
