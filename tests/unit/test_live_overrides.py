"""The CI step that keeps a stack update from moving traffic or rolling images back (.github/scripts)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / ".github" / "scripts" / "live-overrides.sh"
DIGEST = "sha256:" + "a" * 64

# A fake `aws` answering the few calls the script makes, from files in its directory.
FAKE_AWS = r"""#!/usr/bin/env bash
here=$(dirname "$0")
args="$*"
case "$args" in
  "cloudformation describe-stacks --stack-name missing"*) echo "Stack missing does not exist" >&2; exit 254 ;;
  *"describe-stacks"*"OutputKey=='"*)
    key=${args#*OutputKey==\'}; key=${key%%\'*}; grep "^$key=" "$here/outputs" | cut -d= -f2- ;;
  "cloudformation describe-stacks"*) echo "{}" ;;
  "elbv2 describe-listeners"*) cat "$here/live" ;;
  "ecs describe-services"*) svc=${args#*--services }; echo "td-${svc%% *}" ;;
  "ecs describe-task-definition"*)
    td=${args#*--task-definition td-}; td=${td%% *}; grep "^$td=" "$here/images" | cut -d= -f2- ;;
  *) echo "unexpected: $args" >&2; exit 2 ;;
esac
"""


@pytest.fixture
def fake_aws(tmp_path: Path) -> Path:
    (tmp_path / "aws").write_text(FAKE_AWS)
    (tmp_path / "aws").chmod(0o755)
    (tmp_path / "outputs").write_text("\n".join([
        "ClusterName=safejob-staging", "ProdListenerArn=arn:listener",
        "FrontendBlueTargetGroupArn=arn:tg/frontend-blue", "FrontendGreenTargetGroupArn=arn:tg/frontend-green",
        "BackendBlueServiceName=backend-blue", "BackendGreenServiceName=backend-green",
        "FrontendBlueServiceName=frontend-blue", "FrontendGreenServiceName=frontend-green",
    ]) + "\n")
    (tmp_path / "images").write_text("\n".join([
        f"backend-blue=repo/backend@{DIGEST}", f"frontend-blue=repo/frontend@{DIGEST}",
        "backend-green=repo/backend@sha256:" + "b" * 64, "frontend-green=repo/frontend@sha256:" + "b" * 64,
    ]) + "\n")
    return tmp_path


def run(fake: Path, stack: str = "safejob-staging") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}
    return subprocess.run(["bash", str(SCRIPT), stack], env=env, capture_output=True, text=True, check=False)


def test_prints_the_live_colour_and_its_images(fake_aws: Path) -> None:
    (fake_aws / "live").write_text("arn:tg/frontend-green\n")
    result = run(fake_aws)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["LiveColor=green", "BackendImage=repo/backend@sha256:" + "b" * 64,
                                     "FrontendImage=repo/frontend@sha256:" + "b" * 64]


def test_refuses_while_traffic_is_split(fake_aws: Path) -> None:
    (fake_aws / "live").write_text("\n")  # no target group at weight 100: a canary step is running
    result = run(fake_aws)
    assert result.returncode == 1
    assert "a deploy is running" in result.stderr
    assert result.stdout == ""


def test_refuses_a_stack_that_does_not_exist(fake_aws: Path) -> None:
    result = run(fake_aws, "missing")
    assert result.returncode == 1
    assert "first deploy is by hand" in result.stderr
