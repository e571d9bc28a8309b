"""The root template (template.yaml) wiring, the child stacks' interfaces (Parameters and Outputs) and cfn-lint.

Child stacks talk only through Parameters and Outputs with descriptions; the values the ops workflows need
are root Outputs, so functions receive them through the template and never guess names.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from cfn_eval import REPO_ROOT, ROOT_WIRING, STACKS_DIR, child_templates, load_template, walk
from cfnlint.api import lint_file
from cfnlint.config import ManualArgs

OUTPUT_NAME = re.compile(
    r"^[A-Z][A-Za-z0-9]*(Arn|Name|Id|Ids|Uri|Url|Address|Port|FullName|DnsName|DomainName|Ips|Count|Prefix|CidrBlock)$"
)
# What the ops workflows read from the root stack.
REQUIRED_ROOT_OUTPUTS = {
    "ClusterName",
    "ClusterArn",
    "BackendBlueServiceName",
    "BackendGreenServiceName",
    "FrontendBlueServiceName",
    "FrontendGreenServiceName",
    "BackendBlueTargetGroupArn",
    "BackendGreenTargetGroupArn",
    "FrontendBlueTargetGroupArn",
    "FrontendGreenTargetGroupArn",
    "BackendBlueTargetGroupFullName",
    "BackendGreenTargetGroupFullName",
    "LoadBalancerFullName",
    "ProdListenerArn",
    "TestListenerArn",
    "BackendProdRuleArn",
    "BackendTestRuleArn",
    "DbInstanceId",
    "DbReplicaId",
    "DbSecretArn",
    "DbSubnetGroupName",
    "DbParameterGroupName",
    "MediaBucketName",
    "StaticBucketName",
    "LogBucketName",
    "AlarmTopicArn",
    "NotificationTopicArn",
    "GeneralKmsKeyArn",
    "DatabaseKmsKeyArn",
    "AppSubnetIds",
    "DataSubnetIds",
    "MigrateTaskSecurityGroupId",
    "OpsFunctionSecurityGroupId",
    "RestoreVerifierSecurityGroupId",
    "RestoreTargetSecurityGroupId",
    "MigrateTaskFamilyName",
    "BackendTaskFamilyName",
    "BackendExecutionRoleArn",
    "BackendRepositoryName",
    "FrontendRepositoryName",
    "BackupVaultArn",
    "DeployOpsPolicyArn",
    "MigrateOpsPolicyArn",
    "RestoreVerifyOpsPolicyArn",
    "CostGuardOpsPolicyArn",
    "AlarmRouteOpsPolicyArn",
}


def wiring_problems(root: dict[str, Any], children: dict[str, dict[str, Any]]) -> list[str]:
    """Mismatches between the nested stacks the root creates and the child templates' interfaces."""
    problems: list[str] = []
    stacks = {k: v for k, v in root["Resources"].items() if v["Type"] == "AWS::CloudFormation::Stack"}
    for logical_id, stack in stacks.items():
        url = stack["Properties"]["TemplateURL"]
        match = re.fullmatch(r"stacks/([a-z-]+)\.yaml", url)
        if not match or match.group(1) not in children:
            problems.append(f"{logical_id}: TemplateURL {url} is not a stacks/<file>.yaml")
            continue
        child = children[match.group(1)]
        declared = child.get("Parameters", {})
        passed = stack["Properties"].get("Parameters", {})
        problems += [f"{logical_id}: passes unknown {p}" for p in sorted(set(passed) - set(declared))]
        required = {p for p, spec in declared.items() if "Default" not in spec}
        problems += [f"{logical_id}: misses required {p}" for p in sorted(required - set(passed))]
    for path, value in walk(root):
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            name, attribute = value["Fn::GetAtt"][0], value["Fn::GetAtt"][1]
            output = attribute.removeprefix("Outputs.")
            if name in stacks and output == attribute:
                problems.append(f"{'/'.join(map(str, path))}: GetAtt {name}.{attribute} is not an Outputs reference")
            elif name in stacks:
                child = children[stacks[name]["Properties"]["TemplateURL"][len("stacks/") : -len(".yaml")]]
                if output not in child.get("Outputs", {}):
                    problems.append(f"{'/'.join(map(str, path))}: {name} has no output {output}")
    return problems


def test_root_wiring_matches_every_child_interface(
    root_wiring: dict[str, Any], templates: dict[str, dict[str, Any]]
) -> None:
    # GIVEN the fragment and the child templates
    # WHEN parameters passed and outputs read are compared with what the children declare
    # THEN they match exactly
    assert wiring_problems(root_wiring, templates) == []


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        (
            lambda r: r["Resources"]["NetworkStack"]["Properties"]["Parameters"].update(Bogus="x"),
            "passes unknown Bogus",
        ),
        (lambda r: r["Resources"]["DataStack"]["Properties"]["Parameters"].pop("MultiAz"), "misses required MultiAz"),
        (
            lambda r: r["Outputs"]["VpcId"].update(Value={"Fn::GetAtt": ["NetworkStack", "Outputs.Nope"]}),
            "has no output Nope",
        ),
    ],
)
def test_the_wiring_check_catches_mismatches(
    templates: dict[str, dict[str, Any]], mutation: Any, expected: str
) -> None:
    # GIVEN the fragment with one mismatch
    root = load_template(ROOT_WIRING)
    mutation(root)
    # THEN the check reports it
    assert any(expected in p for p in wiring_problems(root, templates))


def test_every_value_the_workflows_need_is_a_described_root_output(root_wiring: dict[str, Any]) -> None:
    outputs = root_wiring["Outputs"]
    assert set(outputs) >= REQUIRED_ROOT_OUTPUTS
    assert [n for n, o in outputs.items() if len(o.get("Description", "")) < 10] == []


def test_every_output_is_described_and_named_by_convention(
    templates: dict[str, dict[str, Any]], root_wiring: dict[str, Any]
) -> None:
    for name, template in [*templates.items(), ("root-wiring", root_wiring)]:
        for output, spec in template.get("Outputs", {}).items():
            assert OUTPUT_NAME.match(output), f"{name}: {output} is not <Name>Arn/Name/Id/..."
            assert len(spec.get("Description", "")) >= 10, f"{name}: {output} has no description"


def test_every_parameter_is_described(templates: dict[str, dict[str, Any]], root_wiring: dict[str, Any]) -> None:
    for name, template in [*templates.items(), ("root-wiring", root_wiring)]:
        for parameter, spec in template.get("Parameters", {}).items():
            assert len(spec.get("Description", "")) >= 10, f"{name}: {parameter} has no description"


@pytest.mark.parametrize("path", sorted(child_templates().values()), ids=lambda p: p.name)
def test_child_template_has_no_cfn_lint_errors_or_warnings(path: Path) -> None:
    matches = lint_file(path)
    assert [str(m) for m in matches if m.rule.id[0] in "EW"] == []


def test_root_wiring_lints_clean_where_it_will_live(tmp_path: Path) -> None:
    # GIVEN the fragment as a template at the repository root, next to stacks/, without its local lint overrides
    text = ROOT_WIRING.read_text()
    text = re.sub(r"\nMetadata:\n  cfn-lint:\n    config:\n      ignore_checks: \[[^\]]*\]\n", "\n", text)
    assert "ignore_checks" not in text
    (tmp_path / "template.yaml").write_text(text)
    (tmp_path / "stacks").symlink_to(STACKS_DIR)
    # WHEN cfn-lint checks it, nested stack parameters (E3043) included
    matches = lint_file(tmp_path / "template.yaml", ManualArgs(ignore_checks=["W3002"]))
    # THEN nothing is reported (W3002: sam deploy packages local TemplateURLs, as intended)
    assert [str(m) for m in matches if m.rule.id[0] in "EW"] == []
    assert REPO_ROOT.joinpath("stacks").is_dir()
