"""`sam build` ships what Lambda needs: the shared layer with the safejob_ops package and its dependencies, built
as arm64 wheels (no container), and every function's handler.

The contract with template.yaml: a layer `SharedLayer` (AWS::Serverless::LayerVersion, ContentUri layers/shared/,
BuildMethod python3.12, BuildArchitecture arm64) and functions whose Handler is `<module>.<function>`.
"""

from __future__ import annotations

import fcntl
import subprocess
from pathlib import Path
from typing import Any

import pytest

from safejob_tools.checks import ROOT, sam_environment, venv_tool
from safejob_tools.localaws.template import load_template

pytestmark = pytest.mark.slow

TEMPLATE = ROOT / "template.yaml"
LAYER = "SharedLayer"


def sam_build(template: Path, build_dir: Path) -> Path:
    """Run `sam build` as `make build` does (python3.12 first on PATH), into `build_dir`; fail with its output.

    It runs from `build_dir`'s parent because sam keeps dependency folders in `./.aws-sam/deps`: two builds from
    the same directory (two test workers, or a `make build` meanwhile) would delete each other's.
    """
    args = [
        str(venv_tool("sam")),
        "build",
        "--template-file",
        str(template),
        "--build-dir",
        str(build_dir),
        "--cache-dir",
        str(build_dir.parent / "cache"),
        "--cached",
        "--parallel",
    ]
    completed = subprocess.run(
        args,
        cwd=build_dir.parent,
        env=sam_environment(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert completed.returncode == 0, f"sam build failed:\n{completed.stdout}\n{completed.stderr}"
    return build_dir


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """One build per test run, shared by the xdist workers: the first one builds, under a lock, the others reuse it.

    (`xdist_group` with `--dist loadgroup` would be the idiom, but xdist 3.8 cannot rename node ids on pytest 9.)
    """
    base = tmp_path_factory.getbasetemp()
    shared = base if worker_id == "master" else base.parent  # the run's directory, common to all workers
    target = shared / "sam"
    with (shared / "sam-build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "build" / "template.yaml").is_file():
            target.mkdir(exist_ok=True)
            sam_build(TEMPLATE, target / "build")
    return target / "build"


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource.get("Properties", {})
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def test_layer_ships_the_safejob_ops_package(built: Path) -> None:
    # GIVEN the built application / WHEN we look inside the shared layer
    python = built / LAYER / "python"
    # THEN the package is importable from the layer's python/ directory, as Lambda mounts it at /opt/python
    assert (python / "safejob_ops" / "__init__.py").is_file()
    assert (python / "safejob_ops" / "py.typed").is_file()
    assert not (python / "tests").exists()


def test_layer_ships_pydantic_built_for_arm64(built: Path) -> None:
    # GIVEN the built layer
    python = built / LAYER / "python"
    # WHEN we look for pydantic and its compiled core
    cores = list((python / "pydantic_core").glob("_pydantic_core.*.so"))
    # THEN both are there, and the extension module is the Linux arm64 (Graviton) build, not this machine's
    assert (python / "pydantic" / "__init__.py").is_file()
    assert [core.name for core in cores] == ["_pydantic_core.cpython-312-aarch64-linux-gnu.so"]


def test_every_function_is_built_with_its_handler_module(built: Path) -> None:
    # GIVEN the functions of the source template
    source = load_template(TEMPLATE)
    functions = _functions(source)
    assert functions, "template.yaml defines no AWS::Serverless::Function"
    default_handler = source.get("Globals", {}).get("Function", {}).get("Handler")
    # WHEN we look at the built template and artifacts
    built_functions = _functions(load_template(built / "template.yaml"))
    # THEN each function has its own artifact with the module its Handler names, and uses the built layer
    for logical_id in functions:
        handler = built_functions[logical_id].get("Handler", default_handler)
        assert isinstance(handler, str), f"{logical_id}: no Handler"
        module = handler.rsplit(".", 1)[0].replace(".", "/")
        assert (built / logical_id / f"{module}.py").is_file(), f"{logical_id}: {module}.py missing from the build"
    layer = load_template(built / "template.yaml")["Resources"][LAYER]
    assert layer["Properties"]["ContentUri"] == LAYER
