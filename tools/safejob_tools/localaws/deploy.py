"""Deploy the real template into the emulator through CloudFormation, as `sam deploy` would into an account."""

from __future__ import annotations

import contextlib
import io
import json
import time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safejob_tools.localaws.runtime import FunctionSpec
from safejob_tools.localaws.server import ACCOUNT_ID, LocalAws
from safejob_tools.localaws.template import ARTIFACT_BUCKET, TEMPLATE, StagedTemplate, stage_template, substitute

DEFAULT_STACK = "safejob-local"
# The [default] (local emulator) parameters; samconfig.toml carries the same for `sam deploy`.
_DIGEST = "sha256:" + "0" * 63
LOCAL_PARAMETERS = {
    "EnvironmentName": "local",
    "AlertingConfigFile": "alerting.local.yaml",
    "DeployConfigFile": "deploy.local.yaml",
    "GitHubRepository": "safejob/app",
    "BackendImage": f"123456789012.dkr.ecr.us-east-1.amazonaws.com/safejob/local/backend@{_DIGEST}1",
    "FrontendImage": f"123456789012.dkr.ecr.us-east-1.amazonaws.com/safejob/local/frontend@{_DIGEST}2",
    "XrayDaemonImage": f"public.ecr.aws/xray/aws-xray-daemon@{_DIGEST}3",
}


class DeployError(RuntimeError):
    pass


@dataclass
class DeployedStack:
    name: str
    aws: LocalAws
    outputs: dict[str, str]
    resources: dict[str, str]  # logical id -> physical id ("" where moto created nothing)
    types: dict[str, str] = field(default_factory=dict)  # logical id -> resource type
    timings: dict[str, float] = field(default_factory=dict)

    def inventory(self, nested: bool = False) -> dict[str, int]:
        """How many resources of each type the stack holds, e.g. {"AWS::Lambda::Function": 4}.

        With `nested`, the resources of its nested stacks (and theirs) are added, as CloudFormation lists them
        (`describe_stack_resources` of each AWS::CloudFormation::Stack): in the emulator, only what moto created,
        since it lists ignored and condition-skipped resources without a type.
        """
        counts: dict[str, int] = {}
        for kind in self.types.values():
            counts[kind] = counts.get(kind, 0) + 1
        if nested:
            cfn = self.aws.client("cloudformation")
            pending = [self.resources[lid] for lid, kind in self.types.items() if kind == "AWS::CloudFormation::Stack"]
            while pending:
                for resource in cfn.describe_stack_resources(StackName=pending.pop())["StackResources"]:
                    kind = resource.get("ResourceType")
                    if kind is None:
                        continue
                    counts[kind] = counts.get(kind, 0) + 1
                    if kind == "AWS::CloudFormation::Stack" and resource.get("PhysicalResourceId"):
                        pending.append(resource["PhysicalResourceId"])
        return dict(sorted(counts.items()))

    def output(self, key: str) -> str:
        try:
            return self.outputs[key]
        except KeyError:
            raise KeyError(f"stack {self.name} has no output {key!r} (outputs: {sorted(self.outputs)})") from None


def _zip_dir(path: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(path.rglob("*")):
            if file.is_file() and "__pycache__" not in file.parts:
                archive.write(file, file.relative_to(path).as_posix())
    return buffer.getvalue()


def _upload_artifacts(aws: LocalAws, staged: StagedTemplate) -> None:
    s3 = aws.client("s3")
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=ARTIFACT_BUCKET)
    for key, local in staged.artifacts.items():
        body = _zip_dir(local) if local.is_dir() else local.read_bytes()
        s3.put_object(Bucket=ARTIFACT_BUCKET, Key=key, Body=body)


def _resolve(value: Any, resources: Mapping[str, str], functions: Mapping[str, str]) -> str:
    """Resolve the intrinsics SAM puts in DefinitionSubstitutions (Ref, GetAtt X.Arn) against the deployed stack."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return resources[value["Ref"]]
    if "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        if logical_id in functions and attribute == "Arn":
            return functions[logical_id]
        if attribute == "Arn" and resources[logical_id].startswith("arn:"):
            return resources[logical_id]
    raise DeployError(f"cannot resolve substitution {value!r} in the emulator")


def _register_functions(aws: LocalAws, template: Mapping[str, Any], resources: Mapping[str, str],
                        staged: StagedTemplate) -> dict[str, str]:
    """Tell the in-process runtime where each function's code is; the environment comes from moto, which resolved
    the template's intrinsics when CloudFormation created the function."""
    lam = aws.client("lambda")
    arns: dict[str, str] = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        config = lam.get_function_configuration(FunctionName=resources[logical_id])
        code_key = resource["Properties"]["Code"]["S3Key"]
        aws.runtime.register(
            FunctionSpec(
                name=config["FunctionName"],
                handler=config["Handler"],
                code_dir=staged.artifacts[code_key],
                environment=config.get("Environment", {}).get("Variables", {}),
                timeout_seconds=config.get("Timeout", 3),
                memory_mb=config.get("MemorySize", 128),
                arn=config["FunctionArn"],
            )
        )
        arns[logical_id] = config["FunctionArn"]
    return arns


def register_state_machines(aws: LocalAws, staged: StagedTemplate, resources: Mapping[str, str],
                            functions: Mapping[str, str]) -> None:
    """moto gap: CloudFormation stores state machines where the executing backend can't see them, and ignores
    DefinitionSubstitutions. Register each through the Step Functions API under the same name (so the same ARN that
    CloudFormation handed to the functions), with the substitutions applied as Step Functions would."""
    sfn = aws.client("stepfunctions")
    template = staged.template["Resources"]
    for logical_id, (definition_file, substitutions) in staged.state_machines.items():
        values = {name: _resolve(raw, resources, functions) for name, raw in substitutions.items()}
        definition = substitute(definition_file.read_text(), values)
        arn = resources[logical_id]
        role = template[logical_id]["Properties"]["RoleArn"]
        role_name = "" if isinstance(role, str) else resources[role["Fn::GetAtt"][0]]
        role_arn = role if isinstance(role, str) else f"arn:aws:iam::{ACCOUNT_ID}:role/{role_name}"
        sfn.create_state_machine(
            name=arn.rsplit(":", 1)[-1],
            definition=definition,
            roleArn=role_arn,
            type=template[logical_id]["Properties"].get("StateMachineType", "STANDARD"),
        )


def deploy(aws: LocalAws, stack_name: str = DEFAULT_STACK, template: Path = TEMPLATE,
           parameters: Mapping[str, str] | None = None) -> DeployedStack:
    """Transform, upload and create the stack in the emulator; then bridge what moto lacks. Raises DeployError."""
    params = {**LOCAL_PARAMETERS, **(parameters or {})}
    if "CertificateArn" not in params:  # what an operator brings: the ALB's certificate (no domain locally)
        params["CertificateArn"] = aws.client("acm").request_certificate(DomainName="safejob.local")["CertificateArn"]
    timings: dict[str, float] = {}
    started = time.perf_counter()
    staged = stage_template(template, params)
    timings["transform"] = time.perf_counter() - started
    _upload_artifacts(aws, staged)
    cfn = aws.client("cloudformation")
    declared = staged.template.get("Parameters", {})
    cfn.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(staged.template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items() if k in declared],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        events = cfn.describe_stack_events(StackName=stack_name)["StackEvents"]
        failed = [f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}" for e in events
                  if e["ResourceStatus"].endswith("FAILED")]
        raise DeployError(f"stack {stack_name} is {stack['StackStatus']}: {failed}")
    timings["create_stack"] = time.perf_counter() - started - timings["transform"]
    # moto gap: some resources (Lambda Permission, DB subnet/parameter groups) come back without a physical id.
    resources = {
        r["LogicalResourceId"]: r.get("PhysicalResourceId", "")
        for r in cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
        if "LogicalResourceId" in r
    }
    functions = _register_functions(aws, staged.template, resources, staged)
    register_state_machines(aws, staged, resources, functions)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    timings["total"] = time.perf_counter() - started
    types = {logical_id: r["Type"] for logical_id, r in staged.template["Resources"].items()}
    return DeployedStack(name=stack_name, aws=aws, outputs=outputs, resources=resources, types=types,
                         timings=timings)
