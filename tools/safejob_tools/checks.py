"""Every static check that CI runs, one command: `python -m safejob_tools.checks [CHECK ...]` (`make check`).

Checks: ruff, mypy (strict: layers/, functions/, tools/), cfn-lint (template.yaml and stacks/*.yaml), sam-validate
(`sam validate --lint`), checkov (on the samtranslator output of template.yaml, where it sees what `sam deploy`
creates, and on stacks/*.yaml), actionlint (.github/workflows, docs/examples) and asl (asl-validator on every
state machine, as written and with its DefinitionSubstitutions applied). `all` (the default) runs every one and
keeps going past failures; the exit status is 1 if any check failed.

>>> main(["cfn-lint"])  # doctest: +SKIP
==> cfn-lint: .venv/bin/cfn-lint --non-zero-exit-code warning -- template.yaml stacks/network.yaml
...
0
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MYPY_DIRS = ("layers", "functions", "tools")
REGION = "us-east-1"  # sam validate and samtranslator only need *a* region; nothing is called


class CheckSetupError(RuntimeError):
    """A check could not run (a tool is not installed, an input is missing); the message says what to do."""


@dataclass(frozen=True)
class Repo:
    """What is checked (`root`) and where the tools are installed (`tools_root`, this checkout by default).

    Tests point `root` at a small repository in a temporary directory and keep the installed tools.
    """

    root: Path = ROOT
    tools_root: Path = ROOT

    @property
    def template(self) -> Path:
        return self.root / "template.yaml"

    @property
    def stacks(self) -> list[Path]:
        return sorted((self.root / "stacks").glob("*.yaml"))

    @property
    def state_machine_files(self) -> list[Path]:
        return sorted((self.root / "statemachines").glob("*.asl.json"))

    @property
    def workflows(self) -> list[Path]:
        """This repository's GitHub workflows and the example workflows in the docs."""
        found: list[Path] = []
        for directory in (self.root / ".github" / "workflows", self.root / "docs" / "examples"):
            found += sorted(p for p in directory.glob("*.y*ml") if p.suffix in (".yml", ".yaml"))
        return found

    @property
    def work_dir(self) -> Path:
        """Generated inputs (the transformed template, substituted ASL) are kept here for inspection."""
        return self.root / ".aws-sam" / "checks"

    @property
    def checkov(self) -> Path:
        return self.tools_root / ".tools" / "checkov" / "bin" / "checkov"

    @property
    def node_modules(self) -> Path:
        return self.tools_root / ".tools" / "node" / "node_modules"

    @property
    def actionlint_script(self) -> Path:
        return self.tools_root / "tools" / "actionlint.cjs"

    def rel(self, path: Path) -> str:
        for base in (self.root, self.tools_root):
            if path.is_relative_to(base):
                return path.relative_to(base).as_posix()
        return str(path)


@dataclass
class Result:
    name: str
    ok: bool
    seconds: float = 0.0
    output: str = ""
    commands: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------------- tool lookup
def venv_tool(name: str) -> Path:
    """A console script of this virtualenv (next to the running interpreter), else from PATH."""
    sibling = Path(sys.executable).parent / name
    if sibling.exists():
        return sibling
    found = shutil.which(name)
    if found is None:
        raise CheckSetupError(f"{name} is not installed: run `make install`")
    return Path(found)


def _runs_python312(python: Path | str) -> bool:
    try:
        result = subprocess.run(
            [str(python), "-c", "import sys; sys.exit(sys.version_info[:2] != (3, 12))"],
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return result.returncode == 0


def python312_bin_dir() -> Path:
    """The bin directory of a real python3.12, which `sam build` looks up on PATH.

    Order: $PYTHON312; the interpreter this virtualenv was made from; pyenv's newest 3.12; python3.12 on PATH.
    A pyenv shim on PATH can exist and still fail ("python3.12: command not found"), so each candidate is run.
    """
    candidates: list[Path] = []
    if os.environ.get("PYTHON312"):
        candidates.append(Path(os.environ["PYTHON312"]))
    if sys.version_info[:2] == (3, 12):
        # The interpreter this virtualenv was made from (private, but present since 3.7 and not in typeshed).
        candidates.append(Path(getattr(sys, "_base_executable", sys.executable)))
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    pyenv_pythons = sorted(
        pyenv_root.glob("versions/3.12.*/bin/python3.12"),
        key=lambda p: [int(x) if x.isdigit() else -1 for x in p.parts[-3].split(".")],
        reverse=True,
    )
    candidates.extend(pyenv_pythons)
    on_path = shutil.which("python3.12")
    if on_path:
        candidates.append(Path(on_path))
    for python in candidates:
        if python.parent.joinpath("python3.12").exists() and _runs_python312(python.parent / "python3.12"):
            return python.parent
    raise CheckSetupError("python3.12 not found: install it (e.g. `pyenv install 3.12`) or set PYTHON312=/path/to/it")


def sam_environment() -> dict[str, str]:
    """The environment for `sam` commands: a working python3.12 first on PATH, and no telemetry prompt."""
    env = dict(os.environ)
    env["PATH"] = f"{python312_bin_dir()}{os.pathsep}{env.get('PATH', '')}"
    env["SAM_CLI_TELEMETRY"] = "0"
    env.setdefault("AWS_DEFAULT_REGION", REGION)
    return env


# ---------------------------------------------------------------------------------------------------- running
def _run(result: Result, args: Sequence[object], repo: Repo, env: dict[str, str] | None = None) -> bool:
    command = [str(a) for a in args]
    result.commands.append(" ".join(repo.rel(Path(c)) if c.startswith("/") else c for c in command))
    completed = subprocess.run(
        command,
        cwd=repo.root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    result.output += completed.stdout
    if completed.returncode != 0:
        result.output += f"(exit status {completed.returncode})\n"
    return completed.returncode == 0


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise CheckSetupError(f"{what} not found at {path}: run `make install`")
    return path


def _require_template(repo: Repo) -> Path:
    if not repo.template.is_file():
        raise CheckSetupError(f"{repo.rel(repo.template)} not found")
    return repo.template


# ---------------------------------------------------------------------------------------------------- the checks
def check_ruff(repo: Repo, result: Result) -> bool:
    return _run(result, [venv_tool("ruff"), "check", "."], repo)


def check_mypy(repo: Repo, result: Result) -> bool:
    targets = [d for d in MYPY_DIRS if (repo.root / d).is_dir()]
    if not targets:
        raise CheckSetupError(f"none of {', '.join(MYPY_DIRS)} exists")
    return _run(result, [venv_tool("mypy"), *targets], repo)


def check_cfn_lint(repo: Repo, result: Result) -> bool:
    templates = [repo.rel(t) for t in (_require_template(repo), *repo.stacks)]
    # Warnings fail too: the bar is no errors and no warnings. Informational findings are printed only.
    return _run(result, [venv_tool("cfn-lint"), "--non-zero-exit-code", "warning", "--", *templates], repo)


def check_sam_validate(repo: Repo, result: Result) -> bool:
    template = repo.rel(_require_template(repo))
    args = [venv_tool("sam"), "validate", "--lint", "--template", template, "--region", REGION]
    return _run(result, args, repo, env=sam_environment())


def check_checkov(repo: Repo, result: Result) -> bool:
    from safejob_tools.localaws.template import transform_template  # the lead's samtranslator staging

    checkov = _require(repo.checkov, "checkov")
    repo.work_dir.mkdir(parents=True, exist_ok=True)
    # Checkov checks far more on plain CloudFormation than on the SAM form (the Lambda, IAM and Step Functions
    # resources samtranslator generates). Inline suppressions in a resource's Metadata carry over.
    transformed = repo.work_dir / "template.transformed.json"
    transformed.write_text(json.dumps(transform_template(_require_template(repo)), indent=2, default=str) + "\n")
    files = [repo.rel(transformed), *(repo.rel(s) for s in repo.stacks)]
    args = [checkov, "--framework", "cloudformation", "--skip-download", "--quiet", "--compact", "-f", *files]
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}  # offline: no guideline mapping download
    return _run(result, args, repo, env=env)


def check_actionlint(repo: Repo, result: Result) -> bool:
    node = shutil.which("node")
    if node is None:
        raise CheckSetupError("node is not installed (apt-get install nodejs)")
    _require(repo.node_modules / "@tktco" / "node-actionlint", "actionlint (npm)")
    workflows = repo.workflows
    if not workflows:
        raise CheckSetupError("no workflows in .github/workflows or docs/examples")
    env = {**os.environ, "SAFEJOB_NODE_MODULES": str(repo.node_modules)}
    return _run(result, [node, repo.actionlint_script, *(repo.rel(w) for w in workflows)], repo, env=env)


def check_asl(repo: Repo, result: Result) -> bool:
    from safejob_tools.localaws.template import render_state_machines

    node = shutil.which("node")
    if node is None:
        raise CheckSetupError("node is not installed (apt-get install nodejs)")
    validator = _require(repo.node_modules / "asl-validator" / "dist" / "bin" / "asl-validator.js", "asl-validator")
    out_dir = repo.work_dir / "asl"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    # As substituted (what Step Functions receives), and as written: that also covers a file not yet in the
    # template, and asl-validator accepts ${Placeholders}.
    rendered = render_state_machines(_require_template(repo)) if repo.template.is_file() else {}
    paths: list[Path] = []
    for name, definition in sorted(rendered.items()):
        path = out_dir / f"{name}.asl.json"
        path.write_text(definition)
        paths.append(path)
    paths.extend(repo.state_machine_files)
    if not paths:
        raise CheckSetupError("no state machines in template.yaml or statemachines/")
    args: list[str | Path] = [node, validator]
    for path in paths:
        args += ["--json-path", repo.rel(path)]
    return _run(result, args, repo)


def check_config(repo: Repo, result: Result) -> bool:
    """Every file of config/ against its schema (the same models the functions load at cold start)."""
    from safejob_ops.alerting.config import ConfigError, load_config
    from safejob_ops.deploy.canary import CanaryConfigError
    from safejob_ops.deploy.config import load_deploy_config

    schemas: dict[str, Callable[[Path], object]] = {"alerting": load_config, "deploy": load_deploy_config}
    files = sorted((repo.root / "config").glob("*.yaml"))
    if not files:
        raise CheckSetupError("no config/*.yaml")
    ok = True
    for path in files:
        result.commands.append(f"validate {repo.rel(path)}")
        kind = path.stem.split(".", 1)[0]
        loader = schemas.get(kind)
        if loader is None:
            result.output += f"{repo.rel(path)}: no schema for '{kind}' files; add one to checks.check_config\n"
            ok = False
            continue
        try:
            loader(path)
        except (ConfigError, CanaryConfigError) as exc:
            result.output += f"{repo.rel(path)}: {exc}\n"
            ok = False
        else:
            result.output += f"{repo.rel(path)}: ok\n"
    return ok


CheckFn = Callable[[Repo, Result], bool]
CHECKS: dict[str, CheckFn] = {
    "ruff": check_ruff,
    "mypy": check_mypy,
    "cfn-lint": check_cfn_lint,
    "sam-validate": check_sam_validate,
    "checkov": check_checkov,
    "actionlint": check_actionlint,
    "asl": check_asl,
    "config": check_config,
}


def run_check(name: str, repo: Repo) -> Result:
    """Run one check; a check that cannot run (missing tool or input, a crash) is a failure, never a skip."""
    result = Result(name=name, ok=False)
    started = time.monotonic()
    try:
        result.ok = CHECKS[name](repo, result)
    except Exception as error:  # a check that crashes must fail loudly, with the reason, not abort the others
        result.output += f"{name} could not run: {type(error).__name__}: {error}\n"
        result.ok = False
    result.seconds = time.monotonic() - started
    return result


def _print_result(result: Result) -> None:
    print(f"==> {result.name}: {' && '.join(result.commands) or '(not run)'}", flush=True)
    if result.output.strip():
        print(result.output.rstrip(), flush=True)
    print(f"<== {result.name}: {'ok' if result.ok else 'FAILED'} ({result.seconds:.1f}s)\n", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m safejob_tools.checks", description=__doc__.split("\n\n")[0])
    parser.add_argument("checks", nargs="*", metavar="CHECK", help=f"one of: {', '.join(CHECKS)}, all (the default)")
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root (default: this checkout)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.checks) - {*CHECKS, "all"})
    if unknown:
        parser.error(f"unknown check(s): {', '.join(unknown)} (choose from {', '.join(CHECKS)}, all)")
    names = list(CHECKS) if not args.checks or "all" in args.checks else list(dict.fromkeys(args.checks))
    repo = Repo(root=args.root.resolve())
    results = []
    for name in names:
        result = run_check(name, repo)
        _print_result(result)
        results.append(result)
    failed = [r.name for r in results if not r.ok]
    summary = ", ".join(f"{r.name} {'ok' if r.ok else 'FAILED'}" for r in results)
    print(f"checks: {summary}")
    if failed:
        print(f"checks: {len(failed)} of {len(results)} failed: {' '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
