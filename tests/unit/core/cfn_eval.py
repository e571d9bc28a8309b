"""A small, pure-Python evaluator for the core templates, for static tests.

It loads CloudFormation YAML (short-form intrinsics included), resolves Conditions for given parameters, and
renders resources and outputs with every intrinsic it can evaluate offline. Values only known at deploy time
become placeholders: ``Ref`` to a resource renders as ``"<LogicalId>"`` and ``GetAtt`` as
``"<LogicalId.Attribute>"``. Nested stacks render in dependency order, each child's outputs feeding the next
child's parameters, so a whole environment (staging, production) can be rendered and compared.

Example:
    >>> env = render_environment({"EnvironmentName": "staging", **REQUIRED_ROOT_PARAMETERS})
    >>> env["DataStack"].resources["DatabaseInstance"].properties["MultiAZ"]
    False
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safejob_tools.localaws.template import load_template as _load

REPO_ROOT = Path(__file__).resolve().parents[3]
STACKS_DIR = REPO_ROOT / "stacks"
ROOT_WIRING = REPO_ROOT / "template.yaml"  # the root: the core stacks are nested from it

PSEUDO_PARAMETERS: dict[str, Any] = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "safejob-test",
    "AWS::StackId": (
        "arn:aws:cloudformation:us-east-1:123456789012:stack/safejob-test/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
    ),
    "AWS::NotificationARNs": [],
}

DIGEST = "sha256:" + "0" * 64
# Root parameters without a default, with values that satisfy their constraints.
REQUIRED_ROOT_PARAMETERS: dict[str, str] = {
    "GitHubRepository": "safejob/safejob-app",
    "BackendImage": f"123456789012.dkr.ecr.us-east-1.amazonaws.com/safejob/backend@{DIGEST}",
    "FrontendImage": f"123456789012.dkr.ecr.us-east-1.amazonaws.com/safejob/frontend@{DIGEST}",
    "XrayDaemonImage": f"public.ecr.aws/xray/aws-xray-daemon@{DIGEST}",
}

_NO_VALUE = object()


class TemplateEvaluationError(Exception):
    """Raised when a template uses an intrinsic or reference this evaluator cannot resolve."""


# ---------------------------------------------------------------- loading
def load_template(path: Path) -> dict[str, Any]:
    """Load one CloudFormation YAML template into plain Python data (intrinsics in long form)."""
    return _load(path)


def child_templates() -> dict[str, Path]:
    """Every child stack template in stacks/ (the root is template.yaml), by file stem."""
    return {p.stem: p for p in sorted(STACKS_DIR.glob("*.yaml")) if p != ROOT_WIRING}


# ---------------------------------------------------------------- rendering
@dataclass(frozen=True)
class RenderedResource:
    """One resource after Conditions and intrinsics are resolved."""

    logical_id: str
    type: str
    properties: dict[str, Any]
    deletion_policy: str | None
    update_replace_policy: str | None
    metadata: dict[str, Any]


@dataclass
class RenderedStack:
    """A template rendered for one set of parameters."""

    name: str
    parameters: dict[str, Any]
    conditions: dict[str, bool]
    resources: dict[str, RenderedResource] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, resource_type: str) -> list[RenderedResource]:
        """Rendered resources of one CloudFormation type."""
        return [r for r in self.resources.values() if r.type == resource_type]


class _Evaluator:
    def __init__(self, template: Mapping[str, Any], parameters: Mapping[str, Any]) -> None:
        self.template = template
        self.resources: Mapping[str, Any] = template.get("Resources", {})
        self.mappings: Mapping[str, Any] = template.get("Mappings", {})
        self.parameters = self._resolve_parameters(parameters)
        self.conditions: dict[str, bool] = {}
        for name in template.get("Conditions", {}):
            self.condition(name)

    def _resolve_parameters(self, given: Mapping[str, Any]) -> dict[str, Any]:
        declared: Mapping[str, Any] = self.template.get("Parameters", {})
        unknown = set(given) - set(declared)
        if unknown:
            raise TemplateEvaluationError(f"unknown parameters {sorted(unknown)}")
        resolved: dict[str, Any] = {}
        for name, spec in declared.items():
            if name in given:
                value = given[name]
            elif "Default" in spec:
                value = spec["Default"]
            else:
                raise TemplateEvaluationError(f"parameter {name} has no value and no default")
            value = str(value) if not isinstance(value, list) else value
            if spec.get("Type") == "CommaDelimitedList" and isinstance(value, str):
                value = value.split(",") if value else []
            if "AllowedValues" in spec and value not in [str(v) for v in spec["AllowedValues"]]:
                raise TemplateEvaluationError(f"{name}={value!r} is not one of {spec['AllowedValues']}")
            pattern = spec.get("AllowedPattern")
            if pattern and isinstance(value, str) and not re.fullmatch(pattern, value):
                raise TemplateEvaluationError(f"{name}={value!r} does not match {pattern}")
            resolved[name] = value
        return resolved

    # -------------------------------------------------------- conditions
    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            expression = self.template.get("Conditions", {}).get(name)
            if expression is None:
                raise TemplateEvaluationError(f"unknown condition {name}")
            self.conditions[name] = self._truth(expression)
        return self.conditions[name]

    def _truth(self, expression: Any) -> bool:
        if not isinstance(expression, dict) or len(expression) != 1:
            raise TemplateEvaluationError(f"bad condition {expression!r}")
        ((function, args),) = expression.items()
        if function == "Fn::Equals":
            left, right = (self.value(a) for a in args)
            return str(left) == str(right)
        if function == "Fn::And":
            return all(self._truth(a) for a in args)
        if function == "Fn::Or":
            return any(self._truth(a) for a in args)
        if function == "Fn::Not":
            return not self._truth(args[0])
        if function == "Condition":
            return self.condition(args)
        raise TemplateEvaluationError(f"unsupported condition function {function}")

    # -------------------------------------------------------- values
    def value(self, node: Any) -> Any:  # noqa: C901 - one branch per intrinsic reads best here
        if isinstance(node, list):
            items = [self.value(item) for item in node]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, args),) = node.items()
            if key == "Ref":
                return self._ref(args)
            if key == "Fn::GetAtt":
                name, attribute = args[0], ".".join(args[1:])
                self._require_resource(name)
                return f"<{name}.{attribute}>"
            if key == "Fn::If":
                condition, when_true, when_false = args
                return self.value(when_true if self.condition(condition) else when_false)
            if key == "Fn::Sub":
                return self._sub(args)
            if key == "Fn::Join":
                delimiter, items = args
                return delimiter.join(str(v) for v in self.value(items))
            if key == "Fn::Split":
                delimiter, text = args
                return str(self.value(text)).split(delimiter)
            if key == "Fn::Select":
                index, items = args
                chosen, values = int(self.value(index)), self.value(items)
                if chosen >= len(values) and any("<" in str(v) for v in values):
                    # A deploy-time value (placeholder) split apart: the part is a deploy-time value too.
                    return f"<part {chosen} of {','.join(map(str, values))}>"
                return values[chosen]
            if key == "Fn::FindInMap":
                table, top, second = (self.value(a) for a in args)
                return self.mappings[table][top][second]
            if key == "Fn::GetAZs":
                return [f"{PSEUDO_PARAMETERS['AWS::Region']}{suffix}" for suffix in "abcdef"]
            if key in ("Fn::Equals", "Fn::And", "Fn::Or", "Fn::Not", "Condition"):
                return self._truth(node)
            if key.startswith("Fn::"):
                raise TemplateEvaluationError(f"unsupported intrinsic {key}")
        return {k: v for k, v in ((k, self.value(v)) for k, v in node.items()) if v is not _NO_VALUE}

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[name]
        if name in self.parameters:
            return self.parameters[name]
        self._require_resource(name)
        return f"<{name}>"

    def _require_resource(self, name: str) -> None:
        if name not in self.resources:
            raise TemplateEvaluationError(f"reference to undefined resource or parameter {name}")

    def _sub(self, args: Any) -> str:
        text, variables = (args, {}) if isinstance(args, str) else (args[0], args[1])
        local = {k: self.value(v) for k, v in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in local:
                return str(local[name])
            if "." in name and not name.startswith("AWS::"):
                resource, attribute = name.split(".", 1)
                self._require_resource(resource)
                return f"<{resource}.{attribute}>"
            value = self._ref(name)
            return ",".join(value) if isinstance(value, list) else str(value)

        return re.sub(r"\$\{([^}]+)\}", replace, text)


def render(template: Mapping[str, Any], parameters: Mapping[str, Any], name: str = "") -> RenderedStack:
    """Render one template: drop resources whose Condition is false and resolve every intrinsic we can."""
    evaluator = _Evaluator(template, parameters)
    stack = RenderedStack(name=name, parameters=evaluator.parameters, conditions=dict(evaluator.conditions))
    for logical_id, spec in template.get("Resources", {}).items():
        if "Condition" in spec and not evaluator.condition(spec["Condition"]):
            continue
        stack.resources[logical_id] = RenderedResource(
            logical_id=logical_id,
            type=spec["Type"],
            properties=evaluator.value(spec.get("Properties", {})),
            deletion_policy=spec.get("DeletionPolicy"),
            update_replace_policy=spec.get("UpdateReplacePolicy"),
            metadata=spec.get("Metadata", {}),
        )
    for output_name, spec in template.get("Outputs", {}).items():
        if "Condition" in spec and not evaluator.condition(spec["Condition"]):
            continue
        stack.outputs[output_name] = evaluator.value(spec["Value"])
    return stack


_OUTPUT_REF = re.compile(r"^<(\w+)\.Outputs\.(\w+)>$")


def _resolve_child_outputs(value: Any, rendered: Mapping[str, RenderedStack]) -> Any:
    """Replace "<Child.Outputs.X>" placeholders by the value the child rendered for output X."""
    if isinstance(value, str):
        match = _OUTPUT_REF.match(value)
        if match:
            child, output = match.groups()
            if child not in rendered:
                raise TemplateEvaluationError(f"{child} is used before it is rendered")
            result = rendered[child].outputs[output]
            return ",".join(result) if isinstance(result, list) else result
        return re.sub(
            r"<(\w+)\.Outputs\.(\w+)>",
            lambda m: str(_resolve_child_outputs(m.group(0), rendered)),
            value,
        )
    return value


def render_environment(root_parameters: Mapping[str, Any]) -> dict[str, RenderedStack]:
    """Render the root template (template.yaml) and every nested child stack it creates, in dependency order.

    The result maps "Root" and each nested stack's logical ID (NetworkStack, DataStack, ...) to its rendering.
    """
    root_template = load_template(ROOT_WIRING)
    root = render(root_template, root_parameters, name="Root")
    rendered: dict[str, RenderedStack] = {"Root": root}
    pending = {k: v for k, v in root.resources.items() if v.type == "AWS::CloudFormation::Stack"}
    while pending:
        progressed = False
        for logical_id, stack in list(pending.items()):
            needs = {
                m.group(1)
                for v in stack.properties.get("Parameters", {}).values()
                for m in re.finditer(r"<(\w+)\.Outputs\.", str(v))
            }
            if not needs <= set(rendered):
                continue
            parameters = {k: _resolve_child_outputs(v, rendered) for k, v in stack.properties["Parameters"].items()}
            child_template = load_template(REPO_ROOT / stack.properties["TemplateURL"])
            rendered[logical_id] = render(child_template, parameters, name=logical_id)
            del pending[logical_id]
            progressed = True
        if not progressed:
            raise TemplateEvaluationError(f"circular nested-stack dependencies among {sorted(pending)}")
    return rendered


def walk(node: Any, path: tuple[str | int, ...] = ()) -> list[tuple[tuple[str | int, ...], Any]]:
    """Every (path, value) pair in a nested structure, depth first."""
    found: list[tuple[tuple[str | int, ...], Any]] = [(path, node)]
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(walk(value, (*path, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(walk(value, (*path, index)))
    return found
