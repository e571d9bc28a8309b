"""The developer tooling: `make check`'s checks catch what they claim to, python3.12 is found however the machine is
set up, and the deploy configuration (samconfig.toml, the CI workflow, the README's commands) cannot drift.

The checks run for real (cfn-lint, sam validate, checkov, asl-validator, actionlint) on a small repository in a
temporary directory, with the tools this checkout installed.
"""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from safejob_tools import checks
from safejob_tools.checks import ROOT, Repo, main, python312_bin_dir, run_check
from safejob_tools.localaws.template import load_template

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Description: A tiny SAM application for the tooling tests.
Resources:
  HelloFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.12
      Architectures: [arm64]
  FlowStateMachine:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: statemachines/flow.asl.json
      DefinitionSubstitutions:
        HelloFunctionArn: !GetAtt HelloFunction.Arn
      Policies:
        - LambdaInvokePolicy:
            FunctionName: !Ref HelloFunction
"""

FLOW = '{"StartAt": "Hello", "States": {"Hello": {"Type": "Task", "Resource": "${HelloFunctionArn}", "End": true}}}'

BUCKET_STACK = """\
AWSTemplateFormatVersion: "2010-09-09"
Description: A plain CloudFormation child stack.
Resources:
  LogsBucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: safejob-tooling-test-logs
"""

WORKFLOW = """\
name: ok
on:
  push:
    branches: [main]
permissions:
  contents: read
jobs:
  build:
    runs-on: ubuntu-24.04
    steps:
      - run: echo "${{ vars.SOME_SETTING }}"
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Repo:
    """GIVEN a small, clean repository: a SAM template with a function and a state machine, a child stack and a
    workflow. The tools (checkov, node packages) come from this checkout."""
    for relative, text in {
        "template.yaml": TEMPLATE,
        "src/app.py": "def handler(event, context):\n    return event\n",
        "statemachines/flow.asl.json": FLOW,
        "stacks/bucket.yaml": BUCKET_STACK,
        ".github/workflows/ok.yml": WORKFLOW,
    }.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    # The harness names S3 keys of local artifacts relative to its repository root; here that is tmp_path.
    monkeypatch.setattr("safejob_tools.localaws.template.ROOT", tmp_path, raising=False)
    return Repo(root=tmp_path)


# ------------------------------------------------------------------------------------------------ the checks
def test_cfn_lint_passes_clean_templates_and_names_the_broken_one(repo: Repo) -> None:
    # GIVEN the clean repository / WHEN cfn-lint runs / THEN it passes on the SAM template and the child stack
    clean = run_check("cfn-lint", repo)
    assert clean.ok, clean.output
    assert "stacks/bucket.yaml" in clean.commands[0]

    # GIVEN a child stack with a misspelt property
    (repo.root / "stacks" / "broken.yaml").write_text(BUCKET_STACK.replace("BucketName", "BucketNam"))
    # WHEN cfn-lint runs / THEN it fails and says where
    broken = run_check("cfn-lint", repo)
    assert not broken.ok
    assert "stacks/broken.yaml" in broken.output
    assert "BucketNam" in broken.output


def test_sam_validate_rejects_an_invalid_sam_resource(repo: Repo) -> None:
    # GIVEN the clean repository / WHEN sam validate --lint runs / THEN it passes
    clean = run_check("sam-validate", repo)
    assert clean.ok, clean.output
    assert "--lint" in clean.commands[0]

    # GIVEN a function with less memory than Lambda allows
    broken_template = TEMPLATE.replace(
        "      Runtime: python3.12\n", "      Runtime: python3.12\n      MemorySize: 1\n"
    )
    repo.template.write_text(broken_template)
    # WHEN it runs again / THEN it fails, with cfn-lint's finding
    broken = run_check("sam-validate", repo)
    assert not broken.ok, broken.output
    assert "E3034" in broken.output


def test_checkov_sees_what_samtranslator_generates_and_honours_inline_suppressions(repo: Repo) -> None:
    # GIVEN the repository as is
    # WHEN checkov runs
    result = run_check("checkov", repo)
    # THEN it fails on the Lambda function that only exists after the SAM transform, and on the child stack
    assert not result.ok
    assert "AWS::Lambda::Function.HelloFunction" in result.output
    assert "CKV_AWS_116" in result.output  # no dead-letter queue
    assert "stacks/bucket.yaml" in result.output
    assert (repo.work_dir / "template.transformed.json").is_file()

    # GIVEN a suppression with a reason in the SAM resource's Metadata
    repo.template.write_text(
        TEMPLATE.replace(
            "    Type: AWS::Serverless::Function\n",
            "    Type: AWS::Serverless::Function\n"
            "    Metadata:\n"
            "      checkov:\n"
            "        skip:\n"
            "          - id: CKV_AWS_116\n"
            "            comment: invoked synchronously by Step Functions, which handles failures\n",
        )
    )
    # WHEN checkov runs again / THEN that finding is gone (the suppression carries through the transform)
    suppressed = run_check("checkov", repo)
    assert "CKV_AWS_116" not in suppressed.output


def test_asl_validates_state_machines_as_written_and_as_substituted(repo: Repo) -> None:
    # GIVEN a valid state machine / WHEN asl runs / THEN both forms pass
    clean = run_check("asl", repo)
    assert clean.ok, clean.output
    assert ".aws-sam/checks/asl/FlowStateMachine.asl.json" in clean.output
    assert "statemachines/flow.asl.json" in clean.output
    substituted = (repo.work_dir / "asl" / "FlowStateMachine.asl.json").read_text()
    assert "${" not in substituted

    # GIVEN a state whose Next names no state
    (repo.root / "statemachines" / "flow.asl.json").write_text(FLOW.replace('"End": true', '"Next": "Missing"'))
    # WHEN asl runs / THEN it fails and says why
    broken = run_check("asl", repo)
    assert not broken.ok
    assert "MISSING_TRANSITION_TARGET" in broken.output


def test_actionlint_accepts_current_syntax_and_reports_findings_with_their_place(repo: Repo) -> None:
    # GIVEN a workflow using the vars context and a current runner label / WHEN actionlint runs / THEN it passes
    clean = run_check("actionlint", repo)
    assert clean.ok, clean.output

    # GIVEN an example workflow in the docs that reads an undefined matrix value
    examples = repo.root / "docs" / "examples"
    examples.mkdir(parents=True)
    (examples / "bad.yml").write_text(WORKFLOW.replace("vars.SOME_SETTING", "matrix.missing"))
    # WHEN actionlint runs / THEN it fails and names file, line and column
    broken = run_check("actionlint", repo)
    assert not broken.ok
    assert re.search(r"docs/examples/bad\.yml:11:24: .*missing", broken.output), broken.output


def test_a_check_that_cannot_run_fails_with_the_reason(tmp_path: Path) -> None:
    # GIVEN a repository without template.yaml / WHEN cfn-lint is asked for / THEN it fails, saying why
    result = run_check("cfn-lint", Repo(root=tmp_path))
    assert not result.ok
    assert "template.yaml not found" in result.output


def test_main_runs_the_named_checks_and_exits_non_zero_on_any_failure(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the clean repository / WHEN two checks run / THEN exit 0 and a summary line
    assert main(["cfn-lint", "asl", "--root", str(repo.root)]) == 0
    assert "checks: cfn-lint ok, asl ok" in capsys.readouterr().out

    # GIVEN a broken state machine / WHEN both run again / THEN the other still runs, and the exit status is 1
    (repo.root / "statemachines" / "flow.asl.json").write_text("{}")
    assert main(["cfn-lint", "asl", "--root", str(repo.root)]) == 1
    assert "checks: cfn-lint ok, asl FAILED" in capsys.readouterr().out

    # AND an unknown check is a usage error
    with pytest.raises(SystemExit) as usage:
        main(["lint-everything"])
    assert usage.value.code == 2


def test_all_runs_every_check() -> None:
    # GIVEN / WHEN / THEN `all` is the ordered list make check documents
    assert list(checks.CHECKS) == ["ruff", "mypy", "cfn-lint", "sam-validate", "checkov", "actionlint", "asl", "config"]


def test_config_check_fails_on_an_invalid_config_naming_the_field(tmp_path: Path) -> None:
    # GIVEN a repository whose alerting config routes to a receiver that does not exist
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "alerting.yaml").write_text(
        "route: {receiver: nobody}\nreceivers: [{name: mail, type: email, topic_arn: 'env:T'}]\n"
    )
    # WHEN the config check runs THEN it fails and names the bad field
    result = checks.run_check("config", checks.Repo(root=tmp_path))
    assert not result.ok
    assert "route.receiver" in result.output


# ------------------------------------------------------------------------------------------------ python3.12
def _fake_python(directory: Path) -> Path:
    """A python3.12 like a pyenv shim for a version that is not selected: it exists and fails."""
    directory.mkdir(parents=True, exist_ok=True)
    fake = directory / "python3.12"
    fake.write_text("#!/bin/sh\necho 'pyenv: python3.12: command not found' >&2\nexit 127\n")
    fake.chmod(0o755)
    return fake


def _is_python312(python: Path) -> bool:
    version = subprocess.run(
        [str(python), "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True, check=False
    )
    return version.stdout.strip() == "(3, 12)"


def test_python312_bin_dir_skips_a_python312_that_does_not_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN PYTHON312 and the front of PATH both point at a python3.12 that fails
    fake = _fake_python(tmp_path / "shims")
    monkeypatch.setenv("PYTHON312", str(fake))
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    # WHEN the bin dir for sam is looked up
    found = python312_bin_dir()
    # THEN it is another directory, whose python3.12 really is Python 3.12
    assert found != fake.parent
    assert _is_python312(found / "python3.12")


def test_sam_environment_puts_a_working_python312_first_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN / WHEN the environment for sam commands / THEN its PATH starts with a real python3.12, telemetry off
    env = checks.sam_environment()
    first = Path(env["PATH"].split(os.pathsep)[0])
    assert _is_python312(first / "python3.12")
    assert env["SAM_CLI_TELEMETRY"] == "0"


@pytest.mark.parametrize("keep_pyenv_on_path", [True, False], ids=["pyenv-on-path", "pyenv-not-on-path"])
def test_makefile_finds_python312_past_a_broken_shim(tmp_path: Path, keep_pyenv_on_path: bool) -> None:
    # GIVEN a failing python3.12 first on PATH and no PYTHON312 (pyenv itself on PATH or not)
    fake = _fake_python(tmp_path / "shims")
    rest = os.environ["PATH"] if keep_pyenv_on_path else "/usr/local/bin:/usr/bin:/bin"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHON312", "MAKEFLAGS", "MAKELEVEL")}
    env["PATH"] = f"{fake.parent}{os.pathsep}{rest}"
    # WHEN make resolves PYTHON312
    out = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "print-PYTHON312"], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    # THEN it is a real Python 3.12, not the shim
    assert out, "make found no python3.12"
    assert Path(out) != fake
    assert _is_python312(Path(out))


# ------------------------------------------------------------------------------------------------ configuration
def test_samconfig_environments_match_the_template_parameters() -> None:
    # GIVEN samconfig.toml and the template's parameters
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    environment_names = load_template(ROOT / "template.yaml")["Parameters"]["EnvironmentName"]["AllowedValues"]
    expected = {
        "default": ("safejob-local", "us-east-1", "local"),
        "staging": ("safejob-staging", "eu-west-1", "staging"),
        "production": ("safejob-production", "eu-west-1", "production"),
    }
    for env, (stack_name, region, environment_name) in expected.items():
        # WHEN each environment's settings are read
        global_params = config[env]["global"]["parameters"]
        deploy = config[env]["deploy"]["parameters"]
        # THEN the stack, region and EnvironmentName are as documented, and EnvironmentName is a value the
        # template allows
        assert (global_params["stack_name"], global_params["region"]) == (stack_name, region)
        assert deploy["parameter_overrides"] == f"EnvironmentName={environment_name}"
        assert environment_name in environment_names
        assert set(deploy["capabilities"].split()) == {
            "CAPABILITY_IAM",
            "CAPABILITY_NAMED_IAM",
            "CAPABILITY_AUTO_EXPAND",
        }
        assert deploy["resolve_s3"] is True
        assert config[env]["build"]["parameters"] == {"cached": True, "parallel": True}
    assert config["production"]["deploy"]["parameters"]["confirm_changeset"] is True
    assert config["staging"]["deploy"]["parameters"]["confirm_changeset"] is False


def _workflows() -> list[Path]:
    return sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))


def test_workflow_actions_are_pinned_by_commit_sha_and_no_static_keys_are_used() -> None:
    # GIVEN every workflow of this repository
    for workflow in _workflows():
        text = workflow.read_text()
        # WHEN we read their `uses:` references / THEN each remote action is pinned to a full commit SHA
        for ref in re.findall(r"uses:\s*([^\s#]+)", text):
            if ref.startswith("./"):
                continue
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), f"{workflow.name}: {ref} is not pinned"
        # AND no long-lived AWS keys are passed
        assert "aws-access-key-id" not in text, workflow.name
        assert "AWS_SECRET_ACCESS_KEY" not in text, workflow.name


def test_ci_verifies_then_deploys_main_to_staging_then_production_with_oidc() -> None:
    # GIVEN this repository's pipeline
    ci = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    jobs = ci["jobs"]
    triggers = ci[True]  # PyYAML reads the bare key `on` as a boolean
    # THEN it runs on pull requests and on pushes to main, with read-only defaults
    assert "pull_request" in triggers
    assert triggers["push"]["branches"] == ["main"]
    assert ci["permissions"] == {"contents": "read"}
    # AND verification is .ci/run (make check, make test) then sam build
    verify_steps = " ".join(str(step.get("run", "")) for step in jobs["verify"]["steps"])
    assert "bash .ci/run" in verify_steps
    assert "make build" in verify_steps
    # AND deploys go staging, then production behind its environment, each with OIDC and its samconfig section
    assert jobs["deploy-staging"]["needs"] == "verify"
    assert jobs["deploy-production"]["needs"] == "deploy-staging"
    for job_id, env in (("deploy-staging", "staging"), ("deploy-production", "production")):
        job = jobs[job_id]
        assert job["environment"] == env
        assert job["permissions"] == {"contents": "read", "id-token": "write"}
        assert "refs/heads/main" in job["if"]
        steps = job["steps"]
        assert any(str(s.get("uses", "")).startswith("aws-actions/configure-aws-credentials@") for s in steps)
        assert any(f"sam deploy --config-env {env}" in str(s.get("run", "")) for s in steps)


def test_every_make_command_in_the_docs_is_a_target() -> None:
    # GIVEN the Makefile's targets
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-zA-Z][\w%-]*):", makefile, flags=re.MULTILINE))
    documented: set[str] = set()
    for doc in (ROOT / "README.md", ROOT / "docs" / "development.md"):
        # WHEN we collect every `make X` the docs tell people to run
        documented |= set(re.findall(r"(?:^|`)make ([a-z][\w-]*)", doc.read_text(), flags=re.MULTILINE))
    # THEN each one exists, directly or through a pattern rule such as check-%
    patterns = [t.removesuffix("%") for t in targets if t.endswith("%")]
    missing = {t for t in documented if t not in targets and not any(t.startswith(p) for p in patterns)}
    assert documented >= {"demo", "test", "check", "install"}
    assert missing == set()


def test_readme_starts_with_the_two_command_quick_start() -> None:
    # GIVEN the README / WHEN we read its first code block / THEN it is exactly make demo, make test
    readme = (ROOT / "README.md").read_text()
    first_block = re.search(r"```(?:bash|sh)?\n(.*?)```", readme, flags=re.DOTALL)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == ["make demo", "make test"]


def test_ci_run_is_strict_and_runs_check_and_test() -> None:
    # GIVEN .ci/run / THEN it is bash with strict mode, and runs both gates
    script = (ROOT / ".ci" / "run").read_text()
    assert script.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in script
    assert "make check" in script
    assert "make test" in script
    assert os.access(ROOT / ".ci" / "run", os.X_OK)
