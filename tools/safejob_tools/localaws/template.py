"""Read the SAM template and turn it into plain CloudFormation offline, exactly as `sam deploy` would.

samtranslator needs only a region; it does not read local `CodeUri`, `ContentUri` or `DefinitionUri`, so local
paths are staged as S3 locations here (`s3://<bucket>/<relative path>`) and the caller uploads what they point to.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "template.yaml"
ARTIFACT_BUCKET = "safejob-local-artifacts"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)\}")

_SHORT_FORMS = {"Ref": "Ref", "Condition": "Condition"}


class _CfnLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """A YAML loader that understands CloudFormation short forms (`!Ref`, `!Sub`, `!GetAtt a.b`, ...)."""


def _construct_tag(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    key = _SHORT_FORMS.get(suffix, f"Fn::{suffix}")
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {key: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path) -> dict[str, Any]:
    """Parse a CloudFormation/SAM YAML (or JSON) template into plain dicts with long-form intrinsics."""
    data = yaml.load(path.read_text(), Loader=_CfnLoader)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a template (top level is {type(data).__name__})")
    return data


@dataclass
class StagedTemplate:
    """A transformed template plus the local files its S3 locations point to."""

    template: dict[str, Any]
    # s3 key -> local path (a directory for code, a file for templates and state machine definitions)
    artifacts: dict[str, Path] = field(default_factory=dict)
    # logical id of each AWS::Serverless::StateMachine -> (definition file, substitutions as in the template)
    state_machines: dict[str, tuple[Path, dict[str, Any]]] = field(default_factory=dict)


def _rel(path: Path) -> str:
    return path.resolve().relative_to(ROOT).as_posix()


def _stage_local_uris(template: dict[str, Any], base: Path, staged: StagedTemplate) -> None:
    for logical_id, resource in template.get("Resources", {}).items():
        props = resource.get("Properties", {})
        kind = resource.get("Type")
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            value = props.get(key)
            if isinstance(value, str) and not value.startswith("s3://"):
                local = (base / value).resolve()
                s3_key = _rel(local)
                staged.artifacts[s3_key] = local
                if key == "DefinitionUri":
                    substitutions = props.get("DefinitionSubstitutions", {})
                    staged.state_machines[logical_id] = (local, substitutions)
                props[key] = f"s3://{ARTIFACT_BUCKET}/{s3_key}"
        if kind == "AWS::CloudFormation::Stack":
            url = props.get("TemplateURL")
            if isinstance(url, str) and not url.startswith(("https://", "s3://")):
                local = (base / url).resolve()
                staged.artifacts[_rel(local)] = local
                props["TemplateURL"] = f"https://{ARTIFACT_BUCKET}.s3.amazonaws.com/{_rel(local)}"


class _ManagedPolicies:
    """samtranslator asks IAM for AWS managed policy ARNs; offline, they follow one well-known pattern."""

    def load(self) -> dict[str, str]:
        names = ("AWSXrayWriteOnlyAccess", "AWSLambdaBasicExecutionRole", "AWSLambdaVPCAccessExecutionRole")
        return {name: f"arn:aws:iam::aws:policy/{name}" for name in names}


def stage_template(path: Path = TEMPLATE, parameters: Mapping[str, str] | None = None) -> StagedTemplate:
    """Transform a SAM template into CloudFormation, with local paths staged as S3 locations.

    >>> staged = stage_template()
    >>> "AWS::Serverless::Function" in json.dumps(staged.template)
    False
    """
    from samtranslator.translator.transform import transform

    template = load_template(path)
    staged = StagedTemplate(template={})
    _stage_local_uris(template, path.parent, staged)
    if "Transform" in template:
        # samtranslator only needs *a* region to resolve pseudo parameters offline.
        region_was = os.environ.get("AWS_DEFAULT_REGION")
        os.environ["AWS_DEFAULT_REGION"] = os.environ.get("AWS_REGION", region_was or "us-east-1")
        try:
            template = transform(template, dict(parameters or {}), _ManagedPolicies())
        finally:
            if region_was is None:
                del os.environ["AWS_DEFAULT_REGION"]
            else:
                os.environ["AWS_DEFAULT_REGION"] = region_was
    staged.template = template
    return staged


def transform_template(path: Path = TEMPLATE, parameters: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The plain CloudFormation that `sam deploy` would create (what checkov and the emulator see)."""
    return stage_template(path, parameters).template


def substitute(definition: str, values: Mapping[str, str]) -> str:
    """Apply DefinitionSubstitutions to an ASL text, as Step Functions does; unknown placeholders are an error.

    >>> substitute('{"Resource": "${FnArn}"}', {"FnArn": "arn:x"})
    '{"Resource": "arn:x"}'
    """

    def repl(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"placeholder ${{{name}}} has no DefinitionSubstitutions entry")
        return values[name]

    return PLACEHOLDER.sub(repl, definition)


def placeholders(definition: str) -> set[str]:
    return set(PLACEHOLDER.findall(definition))


@cache
def _dummy(name: str) -> str:
    if name.endswith("Url"):
        return f"https://sqs.us-east-1.amazonaws.com/123456789012/{name}"
    return f"arn:aws:lambda:us-east-1:123456789012:function:{name}"


def render_state_machines(path: Path = TEMPLATE, values: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every state machine's ASL with its placeholders substituted (by `values`, else by plausible dummies).

    Used by the ASL validator in `make check` and by the emulator, which registers the real substituted ASL.
    """
    staged = StagedTemplate(template={})
    _stage_local_uris(load_template(path), path.parent, staged)
    out: dict[str, str] = {}
    for logical_id, (definition_file, substitutions) in staged.state_machines.items():
        text = definition_file.read_text()
        lookup = dict(values or {}) or {name: _dummy(name) for name in substitutions}
        out[logical_id] = json.dumps(json.loads(substitute(text, lookup)), indent=2)
    return out
