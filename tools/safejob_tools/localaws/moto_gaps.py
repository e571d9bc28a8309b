"""The one place where moto 5.2.5's gaps are bridged. Templates and ASL stay exactly as real AWS needs them.

Each bridge is a small patch of moto (never of our code), named `bridge_<gap>`, with a comment that says what moto
lacks and what the bridge does, and a test in tests/integration/test_moto_gaps.py that fails if the bridge breaks
or moto starts doing it itself. docs/local-aws.md lists them.

Bridged here:
1. Lambda invoke runs handlers in Docker (absent here)  -> run our real handler in-process (runtime.py).
2. EventBridge rules never invoke Lambda targets         -> invoke them, with the rule's DLQ on failure.
3. Retry intervals run in real time                        -> compressed by a factor (semantics unchanged).
4. CloudWatch GetMetricWidgetImage is not implemented     -> return a 1x1 PNG.
5. CloudFormation state machines are not executable       -> deploy.py registers them through the Step Functions
   API with DefinitionSubstitutions applied (not a patch: see `register_state_machines`).
6. Nested stacks: `GetAtt Child.Outputs.X` crashes          -> answered from the child's outputs.
7. GetAtt/Ref of ignored types fail or resolve to ""        -> recognisable `...emulated` placeholders; AWS::NoValue
   items are dropped from lists.
8. RDS parameter/subnet groups have no physical id          -> the parameter group's is its name; the subnet group
   prints as its name.
9. A CFN Listener with only a weighted ForwardConfig fails  -> passed through as the API path does.
10. A KMS KeyPolicy object breaks DescribeKey (HTTP 500)    -> stored as the JSON document.
12. Condition references (`!Condition X`) evaluate to None  -> evaluated as the referenced condition.
14. A CFN ECS Service drops `LoadBalancers`                 -> stored, as CreateService stores them.
15. CFN ignores CloudWatch Alarm and CompositeAlarm         -> created through PutMetricAlarm (Ref: name, GetAtt Arn).
16. ECS ListTasks ignores `serviceName`                    -> filtered by the task's group (with a local fleet).
17. ECS services never run tasks; UpdateService starts no   -> the active local fleet (fleet.py) runs them: tasks,
    deployment and keeps the task definition as given         runningCount, PRIMARY deployment, targets registered.
18. ELBv2 reports every registered target `healthy`         -> the fleet answers from the image's behaviour.
19. No ALB data plane (test listener, traffic, metrics)     -> the fleet's test-listener app, TEST_LISTENER_URL of
                                                              the in-process functions pointed at it, traffic.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import datetime as dt
import json
import logging
import math
import re
import threading
from collections.abc import Callable
from typing import Any, Protocol

from safejob_tools.localaws.runtime import InProcessRuntime

log = logging.getLogger(__name__)

_applied: set[str] = set()
_lock = threading.Lock()

# A valid 1x1 transparent PNG.
PNG_1X1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def _once(name: str, apply: Callable[[], None]) -> None:
    with _lock:
        if name not in _applied:
            apply()
            _applied.add(name)


# --------------------------------------------------------------------------- 1. Lambda in-process
_runtime: InProcessRuntime | None = None


def bridge_lambda_invoke(runtime: InProcessRuntime) -> None:
    """moto runs Lambda code in a Docker container; no Docker engine runs here. Replace the container run with
    our in-process runtime. moto still does everything around it (the Invoke API, FunctionError, log groups)."""
    global _runtime
    _runtime = runtime

    def apply() -> None:
        from moto.awslambda.models import LambdaFunction

        def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
            if _runtime is None:  # pragma: no cover - only when a bridge outlives its harness
                raise RuntimeError("no in-process Lambda runtime registered")
            result = _runtime.invoke(self.function_name, event if event is not None else {})
            if result.error is not None:
                return json.dumps(result.error), True, result.error["errorMessage"]
            return json.dumps(result.payload), False, ""

        setattr(LambdaFunction, "_invoke_lambda", _invoke_lambda)  # noqa: B010 - a monkeypatch, on purpose

    _once("lambda_invoke", apply)


# --------------------------------------------------------------------------- 2. EventBridge -> Lambda targets
def bridge_eventbridge_lambda_targets() -> None:
    """moto's EventBridge delivers to SQS, logs and buses, never to Lambda. Invoke Lambda targets (input
    transformers applied by moto as for other targets). Like EventBridge, a failed invocation goes to the target's
    DeadLetterConfig queue; it happens synchronously so that tests and the demo are deterministic."""

    def apply() -> None:
        from moto.events.models import Rule
        from moto.events.utils import EventTemplateParser
        from moto.sqs.models import sqs_backends
        from moto.utilities.arns import parse_arn

        original = Rule.send_to_targets

        targets_lock = threading.Lock()

        def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
            lambda_targets = [t for t in self.targets if parse_arn(t["Arn"]).service == "lambda"]
            with targets_lock:  # moto raises NotImplementedError on a Lambda target: hand it the others only
                all_targets, self.targets = self.targets, [t for t in self.targets if t not in lambda_targets]
                try:
                    original(self, original_event, transform_input)
                finally:
                    self.targets = all_targets
            if not self.event_pattern.matches_event(original_event) or _runtime is None:
                return
            for target in lambda_targets:
                transformer = target.get("InputTransformer", {})
                event = EventTemplateParser.parse(
                    input_template=transformer.get("InputTemplate"),
                    input_paths_map=transformer.get("InputPathsMap", {}),
                    event=original_event,
                )
                if "Input" in target:
                    event = json.loads(target["Input"])
                result = _runtime.invoke(target["Arn"], event)
                dlq = target.get("DeadLetterConfig", {}).get("Arn")
                if not result.ok and dlq:
                    queue = parse_arn(dlq)
                    backend = sqs_backends[queue.account][queue.region]
                    backend.send_message(queue.resource_id, json.dumps(event), message_attributes={})

        setattr(Rule, "send_to_targets", send_to_targets)  # noqa: B010

    _once("eventbridge_lambda", apply)


# --------------------------------------------------------------------------- 3. Retry intervals
RETRY_TIME_SCALE = 0.02


def bridge_retry_intervals(scale: float = RETRY_TIME_SCALE) -> None:
    """moto's ASL interpreter sleeps Retry intervals in real time (5 s, 10 s, 20 s, ... here). Scale the sleep of the
    retrier only: the attempts, their order and the errors are unchanged, and Wait states keep real time."""

    def apply() -> None:
        import time as real_time

        from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

        class _ScaledTime:
            def __getattr__(self, name: str) -> Any:
                return getattr(real_time, name)

            @staticmethod
            def sleep(seconds: float) -> None:
                real_time.sleep(seconds * scale)

        setattr(retrier_decl, "time", _ScaledTime())  # noqa: B010

    _once("retry_intervals", apply)


# --------------------------------------------------------------------------- 4. GetMetricWidgetImage
def bridge_metric_widget_image() -> None:
    """moto does not implement CloudWatch GetMetricWidgetImage. Answer it with a 1x1 PNG after checking that
    the widget is JSON, so that graph code runs end to end."""

    def apply() -> None:
        from moto.cloudwatch.responses import CloudWatchResponse
        from moto.core.responses import ActionResult

        def get_metric_widget_image(self: Any) -> ActionResult:
            widget = self._get_param("MetricWidget")
            json.loads(widget)  # a malformed widget fails as the real API would (400)
            return ActionResult({"MetricWidgetImage": PNG_1X1})

        setattr(CloudWatchResponse, "get_metric_widget_image", get_metric_widget_image)  # noqa: B010

    _once("metric_widget_image", apply)


# --------------------------------------------------------------------------- 6. nested stack outputs
def bridge_nested_stack_outputs() -> None:
    """moto creates a nested stack and its outputs, but `Fn::GetAtt [Child, Outputs.X]` crashes ('Stack' object
    has no attribute 'get_cfn_attribute'). Answer it from the child's outputs, as CloudFormation does."""

    def apply() -> None:
        from moto.cloudformation import parsing
        from moto.cloudformation.models import Stack

        def get_cfn_attribute(self: Any, attribute_name: str) -> Any:
            if attribute_name.startswith("Outputs."):
                key = attribute_name.split(".", 1)[1]
                declared = (self.template_dict.get("Outputs") or {}).get(key)
                if declared is None:
                    raise KeyError(f"nested stack {self.name} has no output {key}")
                # Evaluated against the child's own resources (moto's lazy output map may hold the caller's).
                return parsing.clean_json(declared["Value"], self.resource_map)
            raise NotImplementedError(f'"Fn::GetAtt" : [ "{{0}}" , "{attribute_name}" ]"')

        setattr(Stack, "get_cfn_attribute", get_cfn_attribute)  # noqa: B010

    _once("nested_stack_outputs", apply)


# --------------------------------------------------------------------------- 7. GetAtt of ignored types
EMULATED = "emulated"


def bridge_getatt_of_ignored_types() -> None:
    """moto's CloudFormation ignores some types (ElastiCache, WAFv2, CloudFront, ...; docs/local-aws.md) and then
    fails any `Fn::GetAtt` on them ("references undefined resource", or a crash on attributes it doesn't model).
    Answer such a GetAtt with a recognisable placeholder (`<LogicalId>.<Attribute>.emulated`, an ARN-shaped one for
    `Arn`), so that what depends on it deploys; those resources are covered by static checks only."""

    def apply() -> None:
        from moto.cloudformation import parsing

        original = parsing.clean_json

        def clean_json(resource_json: Any, resources_map: Any) -> Any:
            if isinstance(resource_json, list):
                # (a gap of its own) `AWS::NoValue` in a list becomes None instead of removing the item, e.g. an
                # IAM statement behind `Fn::If`, which then fails policy validation.
                cleaned = [clean_json(item, resources_map) for item in resource_json]
                return [item for item in cleaned if item is not None]
            if _targets_ignored(resource_json, resources_map):
                logical_id, attribute = resource_json["Fn::GetAtt"][:2]
                return _placeholder(logical_id, attribute, resources_map)
            if _refers_to_ignored(resource_json, resources_map):
                return _ref_placeholder(resource_json["Ref"], resources_map)
            result = original(resource_json, resources_map)
            if isinstance(result, dict) and "Fn::GetAtt" in result and isinstance(resource_json, dict):
                # moto declares the attribute but can't compute it (e.g. LoadBalancerFullName): it would hand
                # the unresolved intrinsic on, to fail later in another stack's context.
                logical_id, attribute = result["Fn::GetAtt"][:2]
                return _placeholder(logical_id, attribute, resources_map)
            return result

        setattr(parsing, "clean_json", clean_json)  # noqa: B010

        # Its output validation crashes on the same (AttributeError on None): validate the other outputs only.
        original_validate = parsing.ResourceMap.validate_outputs

        def validate_outputs(self: Any) -> None:
            outputs = self._template.get("Outputs") or {}
            ignored = {key for key, output in outputs.items() if _targets_ignored(output.get("Value"), self)}
            if not ignored:
                original_validate(self)
                return
            self._template["Outputs"] = {k: v for k, v in outputs.items() if k not in ignored}
            try:
                original_validate(self)
            finally:
                self._template["Outputs"] = outputs

        setattr(parsing.ResourceMap, "validate_outputs", validate_outputs)  # noqa: B010

    _once("getatt_ignored_types", apply)


def _refers_to_ignored(value: Any, resources_map: Any) -> bool:
    """A `Ref` to an ignored type resolves to "" in moto: an output made of it disappears, and a nested stack's
    parameter goes missing. Give it the same kind of placeholder (ARN-shaped: most such Refs are ARNs or ids)."""
    from moto.cloudformation import parsing

    if not isinstance(value, dict) or set(value) != {"Ref"} or not isinstance(value["Ref"], str):
        return False
    declared = getattr(resources_map, "_resource_json_map", {}).get(value["Ref"])
    return declared is not None and parsing.resource_class_from_type(declared.get("Type", "")) is None


def _targets_ignored(value: Any, resources_map: Any) -> bool:
    from moto.cloudformation import parsing

    if not isinstance(value, dict) or "Fn::GetAtt" not in value:
        return False
    logical_id, attribute = value["Fn::GetAtt"][:2]
    declared = getattr(resources_map, "_resource_json_map", {}).get(logical_id)
    if declared is None:
        return False  # an undefined resource: moto's own error says so
    resource_class = parsing.resource_class_from_type(declared.get("Type", ""))
    return resource_class is None or not resource_class.has_cfn_attr(attribute)


# Ignored types whose Ref is an ARN in CloudFormation; the others' Ref is a name or an id.
_REF_IS_ARN = ("AWS::SecretsManager::Secret", "AWS::CertificateManager::Certificate", "AWS::SNS::Subscription",
               "AWS::ApplicationAutoScaling::ScalingPolicy", "AWS::Backup::BackupPlan")


def _ref_placeholder(logical_id: str, resources_map: Any) -> str:
    declared = resources_map._resource_json_map[logical_id]
    if declared.get("Type") in _REF_IS_ARN:
        return _placeholder(logical_id, "Arn", resources_map)
    return f"{logical_id.lower()}-{EMULATED}"


def _placeholder(logical_id: str, attribute: str, resources_map: Any) -> str:
    if attribute.endswith("Arn"):
        region, account = resources_map._region_name, resources_map._account_id
        return f"arn:aws:{EMULATED}:{region}:{account}:{logical_id.lower()}/{attribute.lower()}"
    return f"{logical_id}.{attribute}.{EMULATED}"


# --------------------------------------------------------------------------- 8. RDS groups' physical ids
def bridge_rds_group_refs() -> None:
    """moto's DBParameterGroup and DBSubnetGroup have no physical id, so `Ref` to them yields the Python object:
    a DBInstance given `DBParameterGroupName: !Ref ...` crashes, and outputs show a repr. A parameter group's
    physical id becomes its name, as in CloudFormation. moto's own DBInstance needs the subnet group *object*
    from its Ref, so that one keeps it, and only prints as its name (in outputs)."""

    def apply() -> None:
        from moto.rds import models

        for cls in (models.DBParameterGroup, models.DBClusterParameterGroup):
            setattr(cls, "physical_resource_id", property(lambda self: self.name))  # noqa: B010
        setattr(models.DBSubnetGroup, "__str__", lambda self: self.name)  # noqa: B010

    _once("rds_group_refs", apply)


# --------------------------------------------------------------------------- 9. weighted forward from CFN
def bridge_listener_forward_config() -> None:
    """moto's CloudFormation Listener requires `TargetGroupArn` on a forward action (KeyError), while the weighted
    form has only `ForwardConfig` (which moto's API path supports: create_listener, modify_listener). Pass such
    actions through unchanged."""

    def apply() -> None:
        from moto.elbv2.models import ELBv2Backend

        original = ELBv2Backend.convert_and_validate_properties

        def convert(self: Any, properties: dict[str, Any]) -> list[dict[str, Any]]:
            weighted = [a for a in properties["DefaultActions"]
                        if a.get("Type") == "forward" and "TargetGroupArn" not in a and "ForwardConfig" in a]
            if not weighted:
                result: list[dict[str, Any]] = original(self, properties)
                return result
            others = {**properties, "DefaultActions": [a for a in properties["DefaultActions"] if a not in weighted]}
            return [*weighted, *original(self, others)]

        setattr(ELBv2Backend, "convert_and_validate_properties", convert)  # noqa: B010

    _once("listener_forward_config", apply)


# --------------------------------------------------------------------------- 10. KMS key policy objects
def bridge_kms_key_policy_object() -> None:
    """CloudFormation takes a KMS `KeyPolicy` as an object; moto stores the object, and DescribeKey/GetKeyPolicy
    then fail with HTTP 500. Store it as the JSON document the API would."""

    def apply() -> None:
        from moto.kms.models import Key

        original = Key.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

        def create(cls: Any, /, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
                   region_name: str, **kwargs: Any) -> Any:
            properties = cloudformation_json.get("Properties", {})
            if isinstance(properties.get("KeyPolicy"), dict):
                properties = {**properties, "KeyPolicy": json.dumps(properties["KeyPolicy"])}
                cloudformation_json = {**cloudformation_json, "Properties": properties}
            return original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)

        setattr(Key, "create_from_cloudformation_json", classmethod(create))  # noqa: B010

    _once("kms_key_policy_object", apply)


# --------------------------------------------------------------------------- 12. condition references
_CONDITION_KEYS = ("Condition", "Fn::Condition")


def bridge_condition_references() -> None:
    """A condition that refers to another one evaluates to a falsy None in moto, twice over: its YAML loader reads the
    short form `!Condition X` as `{"Fn::Condition": X}` (CloudFormation: `{"Condition": X}`), so every `!And`, `!Or`,
    `!Not` over `!Condition` in a nested (YAML) template is false; and a condition whose whole body is a reference
    (`IsB: !Condition IsA`) is not evaluated at all. Production's per-AZ NAT gateways were silently not created.
    Evaluate both forms as the referenced condition, as CloudFormation does."""

    def apply() -> None:
        from moto.cloudformation import parsing

        original = parsing.parse_condition

        def parse_condition(condition: Any, resources_map: Any, condition_map: Any) -> bool:
            if isinstance(condition, dict) and len(condition) == 1:
                ((operator, operands),) = condition.items()
                if operator in _CONDITION_KEYS and isinstance(operands, str):
                    return bool(condition_map[operands])
                if operator in ("Fn::And", "Fn::Or", "Fn::Not") and isinstance(operands, list):
                    condition = {operator: [_as_condition_reference(operand) for operand in operands]}
            result: bool = original(condition, resources_map, condition_map)
            return result

        setattr(parsing, "parse_condition", parse_condition)  # noqa: B010 - moto's recursion and lazy map see it

    _once("condition_references", apply)


def _as_condition_reference(operand: Any) -> Any:
    if isinstance(operand, dict) and set(operand) == {"Fn::Condition"}:
        return {"Condition": operand["Fn::Condition"]}
    return operand


def apply_all(runtime: InProcessRuntime) -> None:
    bridge_lambda_invoke(runtime)
    bridge_eventbridge_lambda_targets()
    bridge_retry_intervals()
    bridge_metric_widget_image()
    bridge_nested_stack_outputs()
    bridge_getatt_of_ignored_types()
    bridge_rds_group_refs()
    bridge_listener_forward_config()
    bridge_kms_key_policy_object()
    bridge_condition_references()
    bridge_ecs_run_task()
    bridge_percentile_statistics()
    bridge_ecs_service_load_balancers()
    bridge_cloudwatch_alarms()
    bridge_ecs_list_tasks_by_service()
    bridge_ecs_service_tasks()
    bridge_target_health()
    bridge_elbv2_full_names()
    bridge_sfn_start_execution()
    bridge_execution_default_name()


# --------------------------------------------------------------------------- 11. ECS one-off tasks (runTask.sync)
def bridge_ecs_run_task() -> None:
    """moto's `ecs:runTask(.sync)` in Step Functions is broken three ways, and its ECS never runs a container:
    - the optimized integration hands the SFN-cased parameters (`Cluster`, `Overrides`...) to boto3 unchanged
      (KeyError 'Cluster'), and reads `Tasks` from a boto3-cased response: moto leaves `_normalise_parameters`/
      `_normalise_response` empty. Convert both ways through the ECS service model, as Step Functions does
      (timestamps as epoch milliseconds, as its task output shows them);
    - `.sync` succeeds on STOPPED whatever the exit code. As in AWS, a stopped task whose essential container
      exited non-zero (or never started) fails the state with States.TaskFailed, the task description as cause;
    - a task's status runs to STOPPED (exit code 0) as it is described. A task whose family the installed
      `containers.ContainerRunner` handles runs its essential container's command there instead (overrides
      applied), in a thread: PENDING -> RUNNING -> STOPPED with the real exit code, and the output written to the
      container's awslogs group as stream `<prefix>/<container>/<task id>`, as the awslogs driver names it.
    On the same path, a container without its own memory (valid on Fargate, where the task sets it) makes moto's
    RunTask add None (TypeError): it counts as 0. Not bridged: a `NetworkConfiguration` without `SecurityGroups`
    (moto's KeyError: always pass them), and an awsvpc task in a VPC without DNS hostnames (moto's AttributeError;
    the core VPC has them)."""

    def apply() -> None:
        from moto.ecs.models import EC2ContainerServiceBackend
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_ecs import (
            StateTaskServiceEcs,
        )

        setattr(StateTaskServiceEcs, "_normalise_parameters", _ecs_normalise_parameters)  # noqa: B010
        setattr(StateTaskServiceEcs, "_normalise_response", _ecs_normalise_response)  # noqa: B010
        setattr(StateTaskServiceEcs, "_build_sync_resolver", _ecs_build_sync_resolver)  # noqa: B010
        original_run_task = EC2ContainerServiceBackend.run_task
        original_requirements = EC2ContainerServiceBackend._calculate_task_resource_requirements

        def run_task(self: Any, cluster_str: str, task_definition_str: str, *args: Any, **kwargs: Any) -> Any:
            tasks = original_run_task(self, cluster_str, task_definition_str, *args, **kwargs)
            from safejob_tools.localaws import containers

            runner = containers.current()
            definition = self.describe_task_definition(task_definition_str)
            if runner.handles(definition.family):
                overrides = kwargs.get("overrides", args[1] if len(args) > 1 else None) or {}
                for task in tasks:
                    _ecs_start_container(self, runner, task, definition, overrides)
            return tasks

        def requirements(task_definition: Any) -> dict[str, Any]:
            counted = copy.copy(task_definition)
            counted.container_definitions = [c if _ecs_memory(c) else {**c, "memory": 0}
                                             for c in task_definition.container_definitions]
            result: dict[str, Any] = original_requirements(counted)
            return result

        setattr(EC2ContainerServiceBackend, "run_task", run_task)  # noqa: B010
        setattr(EC2ContainerServiceBackend, "_calculate_task_resource_requirements",  # noqa: B010
                staticmethod(requirements))

    _once("ecs_run_task", apply)


_ECS_MODEL: Any = None


def _ecs_operation(action: str) -> Any:
    """"runTask" / "run_task" -> the botocore RunTask operation model."""
    global _ECS_MODEL
    if _ECS_MODEL is None:
        import botocore.session

        _ECS_MODEL = botocore.session.get_session().get_service_model("ecs")
    return _ECS_MODEL.operation_model("".join(part[:1].upper() + part[1:] for part in action.split("_")))


def _ecs_epoch_millis(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, dict):
        return {key: _ecs_epoch_millis(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_ecs_epoch_millis(item) for item in value]
    return value


def _ecs_normalise_parameters(self: Any, parameters: dict[str, Any], boto_service_name: str | None = None,
                              service_action_name: str | None = None) -> None:
    self._to_boto_request(parameters, _ecs_operation(service_action_name or self.resource.api_action).input_shape)


def _ecs_normalise_response(self: Any, response: Any, boto_service_name: str | None = None,
                            service_action_name: str | None = None) -> None:
    if isinstance(response, dict):
        self._from_boto_response(response, _ecs_operation(service_action_name or self.resource.api_action).output_shape)
        response.update(_ecs_epoch_millis(response))


def _ecs_build_sync_resolver(self: Any, env: Any, resource_runtime_part: Any, normalised_parameters: dict[str, Any],
                             state_credentials: Any) -> Callable[[], Any]:
    from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

    ecs: Any = boto_client_for(service="ecs", region=resource_runtime_part.region, state_credentials=state_credentials)
    submitted = env.stack.pop()["Tasks"][0]

    def resolve() -> dict[str, Any] | None:
        described = ecs.describe_tasks(cluster=submitted["ClusterArn"], tasks=[submitted["TaskArn"]])
        if described["tasks"][0]["lastStatus"] != "STOPPED":
            return None
        described.pop("ResponseMetadata", None)
        _ecs_normalise_response(self, described, service_action_name="describe_tasks")
        task: dict[str, Any] = described["Tasks"][0]
        definition = ecs.describe_task_definition(taskDefinition=task["TaskDefinitionArn"])["taskDefinition"]
        essential = {c["name"] for c in definition["containerDefinitions"] if c.get("essential", True)}
        if all(c.get("ExitCode") == 0 for c in task.get("Containers", []) if c.get("Name") in essential):
            return task
        raise _ecs_task_failed(self, env, task)

    return resolve


def _ecs_task_failed(self: Any, env: Any, task: dict[str, Any]) -> Exception:
    """What Step Functions reports for a task that stopped badly: States.TaskFailed, the task as the cause."""
    from moto.stepfunctions.parser.api import HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

    details: Any = {"taskFailedEventDetails": {  # moto's EventDetails / TaskFailedEventDetails TypedDicts
        "error": StatesErrorNameType.StatesTaskFailed.to_name(), "cause": to_json_str(task),
        "resource": self._get_sfn_resource(), "resourceType": self._get_sfn_resource_type()}}
    return FailureEventException(FailureEvent(
        env=env, error_name=StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed),
        event_type=HistoryEventType.TaskFailed, event_details=details))


def _ecs_memory(container: dict[str, Any]) -> Any:
    return (container.get("memory") or container.get("memoryReservation") or container.get("Memory")
            or container.get("MemoryReservation"))


def _ecs_start_container(backend: Any, runner: Any, task: Any, definition: Any, overrides: dict[str, Any]) -> None:
    """Run the task's essential container through the runner, in a thread, and stop the task as ECS would."""
    from safejob_tools.localaws import containers

    spec = next(c for c in definition.container_definitions if c.get("essential", True))
    override: dict[str, Any] = next(
        (o for o in overrides.get("containerOverrides", []) if o.get("name") == spec["name"]), {})
    environment = {e["name"]: e["value"] for e in [*(spec.get("environment") or []),
                                                    *(override.get("environment") or [])]}
    run = containers.ContainerRun(
        cluster=task.cluster_name, family=definition.family, task_id=task.id, container=spec["name"],
        image=spec.get("image", ""), command=tuple(override.get("command") or spec.get("command") or ()),
        environment=environment)
    task._transitions = []  # moto advances a task to STOPPED as it is described; here the container decides
    task.last_status = "PENDING"
    container = task.containers[0]
    container.name, container.image, container.last_status = spec["name"], run.image, "PENDING"
    options = (spec.get("logConfiguration") or {}).get("options") or {}

    def execute() -> None:
        task.last_status = container.last_status = "RUNNING"
        task.started_at = dt.datetime.now(dt.UTC)
        try:
            result = runner.run(run)
        except Exception as error:  # a broken runner must not leave the task RUNNING forever
            log.exception("container runner failed")
            result = containers.ContainerResult(exit_code=None, reason=f"container runner failed: {error}")
        if options.get("awslogs-group") and result.exit_code is not None:
            _ecs_write_awslogs(backend, options, run, result.output)
        started = result.exit_code is not None
        container.exitCode, container.reason, container.last_status = result.exit_code, result.reason or None, "STOPPED"
        task.stop_code = "EssentialContainerExited" if started else "TaskFailedToStart"
        task.stopped_reason = "Essential container in task exited" if started else result.reason
        task.stopped_at = dt.datetime.now(dt.UTC)
        task.desired_status = task.last_status = "STOPPED"

    threading.Thread(target=execute, name=f"ecs-task-{task.id}", daemon=True).start()


def _ecs_write_awslogs(backend: Any, options: dict[str, str], run: Any, lines: tuple[str, ...]) -> None:
    """What the awslogs driver writes: one event per non-empty line, in stream <prefix>/<container>/<task id>."""
    from moto.logs.models import logs_backends

    logs = logs_backends[backend.account_id][options.get("awslogs-region") or backend.region_name]
    group = options["awslogs-group"]
    stream = f"{options.get('awslogs-stream-prefix', 'ecs')}/{run.container}/{run.task_id}"
    if group not in logs.groups:
        logs.create_log_group(group, tags={})
    logs.ensure_log_stream(group, stream)
    now = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    events = [{"timestamp": now, "message": line} for line in lines if line.strip()]
    for start in range(0, len(events), 1000):
        logs.put_log_events(group, stream, events[start:start + 1000])


# --------------------------------------------------------------------------- 13. percentile statistics
_PERCENTILE = re.compile(r"p(\d{1,2}(?:\.\d+)?)")


def bridge_percentile_statistics() -> None:
    """moto's GetMetricData crashes on percentile stats (`p95`: TypeError on float(None)), which the canary analysis
    asks for (TargetResponseTime p95). Answer `pNN` with the nearest-rank percentile of the period's values."""

    def apply() -> None:
        from moto.cloudwatch.models import Statistics

        original = Statistics.get_statistics_for_type

        def get_statistics_for_type(self: Any, stat: str) -> Any:
            match = _PERCENTILE.fullmatch(stat)
            if match is None:
                return original(self, stat)
            values = sorted([*self.metric_single_values_list, *(s.max for s in self.metric_aggregated_list)])
            if not values:
                return None
            rank = math.ceil(float(match[1]) / 100 * len(values))
            return values[max(rank, 1) - 1]

        setattr(Statistics, "get_statistics_for_type", get_statistics_for_type)  # noqa: B010

    _once("percentile_statistics", apply)



# --------------------------------------------------------------------------- the active local fleet (17, 18, 19)
class FleetHooks(Protocol):
    """What the ECS and ELB bridges ask the active local fleet (`fleet.LocalFleet`), which plays the running tasks,
    the ALB's health checks and the traffic. Without an active fleet, those bridges leave moto's behaviour."""

    def manages(self, cluster: str, service: str) -> bool:
        """Whether the fleet runs the tasks of this ECS service (a service of its stack's cluster)."""
        ...

    def reconcile(self, service: Any) -> None:
        """Bring the service's tasks and targets in line with its desired count and task definition (moto object)."""
        ...

    def target_health(self, target_group_arn: str, target_id: str) -> tuple[str, str | None, str | None] | None:
        """(state, reason, description) of a target the fleet registered; None for any other target."""
        ...


_fleet: FleetHooks | None = None
_fleet_lock = threading.Lock()


class FleetActiveError(RuntimeError):
    pass


def activate_fleet(fleet: FleetHooks) -> None:
    """Make `fleet` the one the bridges consult (one at a time: the emulator and its stack are shared)."""
    global _fleet
    with _fleet_lock:
        if _fleet is not None and _fleet is not fleet:
            raise FleetActiveError("another local fleet is active in this emulator: stop it first")
        _fleet = fleet


def deactivate_fleet(fleet: FleetHooks) -> None:
    global _fleet
    with _fleet_lock:
        if _fleet is fleet:
            _fleet = None


def active_fleet() -> FleetHooks | None:
    return _fleet


def _fleet_for(cluster: str, service: str) -> FleetHooks | None:
    fleet = _fleet
    return fleet if fleet is not None and fleet.manages(cluster, service) else None


# --------------------------------------------------------------------------- 14. ECS service load balancers (CFN)
def bridge_ecs_service_load_balancers() -> None:
    """moto's CloudFormation `AWS::ECS::Service` drops `LoadBalancers` (moto: ecs/models.py,
    `Service.create_from_cloudformation_json`, "TODO: LoadBalancers"): DescribeServices shows none, and nothing ties
    a service to its target group. Create the service with them, as CloudFormation passes them to CreateService
    (`targetGroupArn`, `containerName`, `containerPort`). The other dropped properties stay dropped."""

    def apply() -> None:
        from moto.ecs.models import Cluster, Service, TaskDefinition, ecs_backends

        def create(cls: Any, /, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
                   region_name: str, **kwargs: Any) -> Any:
            properties = cloudformation_json["Properties"]
            cluster = properties["Cluster"]
            definition = properties["TaskDefinition"]
            return ecs_backends[account_id][region_name].create_service(
                cluster.name if isinstance(cluster, Cluster) else cluster, resource_name,
                properties.get("DesiredCount"),
                task_definition_str=definition.family if isinstance(definition, TaskDefinition) else definition,
                load_balancers=[_ecs_load_balancer(declared) for declared in properties.get("LoadBalancers") or []],
            )

        setattr(Service, "create_from_cloudformation_json", classmethod(create))  # noqa: B010

    _once("ecs_service_load_balancers", apply)


def _ecs_load_balancer(declared: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation LoadBalancers item as the ECS API stores it."""
    converted: dict[str, Any] = {api: str(declared[cfn]) for cfn, api in (
        ("TargetGroupArn", "targetGroupArn"), ("LoadBalancerName", "loadBalancerName"),
        ("ContainerName", "containerName")) if declared.get(cfn)}
    if declared.get("ContainerPort") is not None:
        converted["containerPort"] = int(declared["ContainerPort"])
    return converted


# --------------------------------------------------------------------------- 15. CloudWatch alarms (CFN)
_ALARM_TYPES = ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm")


def bridge_cloudwatch_alarms() -> None:
    """moto's CloudFormation has no model for `AWS::CloudWatch::Alarm` or `AWS::CloudWatch::CompositeAlarm` (moto:
    cloudwatch/models.py declares only the Dashboard's; cloudformation/parsing.py then warns "No Moto CloudFormation
    support" and creates nothing): DescribeAlarms knows none of the stack's alarms, so the deploy workflow's alarm
    checks would read every one as missing. Register both types: each is created through moto's PutMetricAlarm
    (metric math and composite rules included), `Ref` is its name and `GetAtt Arn` its ARN, as in CloudFormation.
    moto never evaluates alarms: a new one is OK (AWS: INSUFFICIENT_DATA until evaluated); SetAlarmState moves it."""

    def apply() -> None:
        from moto.cloudformation import parsing
        from moto.cloudwatch.models import cloudwatch_backends
        from moto.core.common_models import CloudFormationModel

        class _StackAlarm:
            """One alarm of a stack; moto's Alarm itself is no CloudFormation model."""

            def __init__(self, alarm: Any) -> None:
                self.alarm = alarm

            @property
            def physical_resource_id(self) -> str:
                return str(self.alarm.name)

            @staticmethod
            def cloudformation_name_type() -> str:
                return "AlarmName"

            @classmethod
            def has_cfn_attr(cls, attr: str) -> bool:
                return attr == "Arn"

            def get_cfn_attribute(self, attribute_name: str) -> str:
                from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

                if attribute_name == "Arn":
                    return str(self.alarm.alarm_arn)
                raise UnformattedGetAttTemplateException()

            @classmethod
            def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any, account_id: str,
                                                region_name: str, **kwargs: Any) -> Any:
                properties = cloudformation_json.get("Properties", {})
                alarm = cloudwatch_backends[account_id][region_name].put_metric_alarm(
                    **_alarm_arguments(resource_name, properties))
                return cls(alarm)

            @classmethod
            def update_from_cloudformation_json(cls, original_resource: Any, new_resource_name: str,
                                                cloudformation_json: Any, account_id: str, region_name: str) -> Any:
                backend = cloudwatch_backends[account_id][region_name]
                backend.delete_alarms([original_resource.physical_resource_id])
                return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id,
                                                           region_name)

            @classmethod
            def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any, account_id: str,
                                                region_name: str) -> None:
                cloudwatch_backends[account_id][region_name].delete_alarms([resource_name])

        # moto finds CloudFormation models among CloudFormationModel's direct subclasses (cached).
        for alarm_type in _ALARM_TYPES:
            type(f"StackAlarm{alarm_type.rsplit('::', 1)[-1]}", (_StackAlarm, CloudFormationModel), {
                "cloudformation_type": staticmethod(lambda declared=alarm_type: declared)})
        for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
            cached.cache_clear()

    _once("cloudwatch_alarms", apply)


def _alarm_arguments(name: str, properties: dict[str, Any]) -> dict[str, Any]:
    """PutMetricAlarm's arguments (moto's backend signature) from an Alarm's or a CompositeAlarm's properties."""
    from moto.cloudwatch.models import Dimension, Metric, MetricDataQuery, MetricStat

    queries = []
    for metric in properties.get("Metrics") or []:
        stat = metric.get("MetricStat")
        metric_stat = None
        if stat:
            declared = stat["Metric"]
            metric_stat = MetricStat(
                metric=Metric(metric_name=declared["MetricName"], namespace=declared["Namespace"], dimensions=[
                    Dimension(name=d["Name"], value=str(d["Value"])) for d in declared.get("Dimensions") or []]),
                period=str(stat["Period"]), stat=stat["Stat"], unit=stat.get("Unit"))
        queries.append(MetricDataQuery(
            query_id=metric["Id"], label=metric.get("Label"), period=metric.get("Period"),
            return_data=str(metric.get("ReturnData", True)).lower(), expression=metric.get("Expression"),
            metric_stat=metric_stat))

    def number(key: str, kind: Callable[[Any], Any] = int) -> Any:
        value = properties.get(key)
        return None if value is None else kind(value)

    actions_enabled = properties.get("ActionsEnabled", True)
    return {
        "name": name, "namespace": properties.get("Namespace"), "metric_name": properties.get("MetricName"),
        "metric_data_queries": queries or None, "comparison_operator": properties.get("ComparisonOperator"),
        "evaluation_periods": number("EvaluationPeriods"), "datapoints_to_alarm": number("DatapointsToAlarm"),
        "period": number("Period"), "threshold": number("Threshold", float), "statistic": properties.get("Statistic"),
        "extended_statistic": properties.get("ExtendedStatistic"), "description": properties.get("AlarmDescription"),
        "dimensions": [{"Name": d["Name"], "Value": str(d["Value"])} for d in properties.get("Dimensions") or []],
        "alarm_actions": list(properties.get("AlarmActions") or []), "ok_actions": properties.get("OKActions"),
        "insufficient_data_actions": properties.get("InsufficientDataActions"), "unit": properties.get("Unit"),
        "actions_enabled": str(actions_enabled).lower() == "true",
        "treat_missing_data": properties.get("TreatMissingData"),
        "evaluate_low_sample_count_percentile": properties.get("EvaluateLowSampleCountPercentile"),
        "threshold_metric_id": properties.get("ThresholdMetricId"), "rule": properties.get("AlarmRule"),
        "tags": properties.get("Tags") or [],
    }


# --------------------------------------------------------------------------- 16. ECS ListTasks by service
def bridge_ecs_list_tasks_by_service() -> None:
    """moto's ListTasks ignores `serviceName` (moto: ecs/models.py `list_tasks`, "TODO: We can't filter on
    `service_name` until the backend actually launches tasks"): every task of the cluster comes back. For the
    services whose tasks the active local fleet runs, filter by the task's group (`service:<name>`) and by the desired
    status (RUNNING when none is given, as ECS does; moto returns every status); STOPPED tasks come newest first (ECS
    does not say), so that a bounded read (the rollback diagnostics read 10) sees the latest.
    Other services (no fleet active, or another cluster) keep moto's behaviour."""

    def apply() -> None:
        from moto.ecs.models import EC2ContainerServiceBackend

        original = EC2ContainerServiceBackend.list_tasks

        def list_tasks(self: Any, cluster_str: str | None = None, container_instance: str | None = None,
                       family: str | None = None, started_by: str | None = None, service_name: str | None = None,
                       desiredStatus: str | None = None) -> list[Any]:  # noqa: N803 - moto's parameter name
            tasks: list[Any] = original(self, cluster_str, container_instance, family, started_by, service_name,
                                        desiredStatus)
            if not service_name:
                return tasks
            name = service_name.rsplit("/", 1)[-1]
            cluster = self._get_cluster(cluster_str or "default").name
            if _fleet_for(cluster, name) is None:
                return tasks
            # ECS lists RUNNING tasks unless asked for another desired status (moto: all of them).
            wanted = desiredStatus or "RUNNING"
            tasks = [task for task in tasks if task.group == f"service:{name}" and task.desired_status == wanted]
            if wanted == "STOPPED":
                epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
                tasks.sort(key=lambda task: getattr(task, "stopped_at", None) or epoch, reverse=True)
            return tasks

        setattr(EC2ContainerServiceBackend, "list_tasks", list_tasks)  # noqa: B010

    _once("ecs_list_tasks_by_service", apply)


# --------------------------------------------------------------------------- 17. ECS services' tasks
def bridge_ecs_service_tasks() -> None:
    """moto's ECS services never run a task: a service from CloudFormation reports runningCount 0 and pendingCount =
    desiredCount forever; UpdateService copies desiredCount into runningCount without any task, starts no deployment
    for a new task definition (deployments[PRIMARY] keeps the old one) and stores the task definition as given
    (a family or family:revision, where ECS reports the ARN). So:
    - the task definition is stored as its ARN (always);
    - while a local fleet is active, every CreateService/UpdateService/DeleteService of a service it runs is handed
      to the fleet, which runs the tasks as ECS would (fleet.py): desiredCount RUNNING tasks of the service's task
      definition, each with an ENI address registered in the service's target groups, old ones stopped; a new task
      definition makes a new PRIMARY deployment; runningCount counts the RUNNING tasks."""

    def apply() -> None:
        from moto.ecs.models import EC2ContainerServiceBackend

        original_create = EC2ContainerServiceBackend.create_service
        original_update = EC2ContainerServiceBackend.update_service
        original_delete = EC2ContainerServiceBackend.delete_service

        def handed_to_fleet(service: Any) -> Any:
            fleet = _fleet_for(service.cluster_name, service.name)
            if fleet is not None:
                fleet.reconcile(service)
            return service

        def create_service(self: Any, *args: Any, **kwargs: Any) -> Any:
            return handed_to_fleet(original_create(self, *args, **kwargs))

        def update_service(self: Any, service_properties: dict[str, Any]) -> Any:
            service = original_update(self, service_properties)
            if service.task_definition and not str(service.task_definition).startswith("arn:"):
                service.task_definition = self.describe_task_definition(service.task_definition).arn
            return handed_to_fleet(service)

        def delete_service(self: Any, *args: Any, **kwargs: Any) -> Any:
            return handed_to_fleet(original_delete(self, *args, **kwargs))

        setattr(EC2ContainerServiceBackend, "create_service", create_service)  # noqa: B010
        setattr(EC2ContainerServiceBackend, "update_service", update_service)  # noqa: B010
        setattr(EC2ContainerServiceBackend, "delete_service", delete_service)  # noqa: B010

    _once("ecs_service_tasks", apply)


# --------------------------------------------------------------------------- 18. target health
def bridge_target_health() -> None:
    """moto's DescribeTargetHealth reports every registered target `healthy` (moto: elbv2/models.py
    `FakeTargetGroup.health_for`). For the targets the active local fleet registered (its tasks' addresses), the
    state is the one the ALB's health checks would find for the task's image (fleet.Behaviour): `healthy`, or
    `unhealthy` with reason `Target.ResponseCodeMismatch`. Other targets keep moto's answer."""

    def apply() -> None:
        from moto.elbv2.models import FakeHealthStatus, FakeTargetGroup

        original = FakeTargetGroup.health_for

        def health_for(self: Any, target: dict[str, Any], ec2_backend: Any) -> Any:
            fleet = _fleet
            answer = fleet.target_health(self.arn, target["Id"]) if fleet is not None else None
            if answer is None:
                return original(self, target, ec2_backend)
            state, reason, description = answer
            port = self.targets.get(target["Id"], {}).get("Port", target.get("Port", self.port))
            return FakeHealthStatus(target["Id"], port, self.health_check_port, state, reason, description)

        setattr(FakeTargetGroup, "health_for", health_for)  # noqa: B010

    _once("target_health", apply)


# --------------------------------------------------------------------------- 19. the test listener's URL
TEST_LISTENER_VARIABLE = "TEST_LISTENER_URL"


def redirect_test_listener(runtime: InProcessRuntime, url: str) -> Callable[[], None]:
    """moto has no ALB data plane: nothing answers on the test listener the template points TEST_LISTENER_URL at
    (https://<ALB DNS name>:8443). Give every in-process function that has the variable `url` instead (the local
    fleet's test-listener app, which routes as the listener's rules say) and return the undo. Not a patch of moto:
    the functions are re-registered with the runtime, so each cold-starts again with the new value."""
    saved = []
    for name in runtime.names():
        spec = runtime.spec(name)
        if TEST_LISTENER_VARIABLE in spec.environment:
            saved.append(spec)
            runtime.register(dataclasses.replace(spec, environment={**spec.environment, TEST_LISTENER_VARIABLE: url}))

    def restore() -> None:
        for spec in saved:
            runtime.register(spec)

    return restore


# --------------------------------------------------------------------------- 20. ELBv2 full names (CFN GetAtt)
def bridge_elbv2_full_names() -> None:
    """moto declares `LoadBalancerFullName` but raises NotImplementedError for it, and its target groups answer no
    GetAtt at all, so both became `…emulated` placeholders (bridge 7) and every CloudWatch query built from them
    (the canary analysis, the diagnostics) names no real dimension. Answer them as AWS does, from the ARNs:
    `app/<name>/<id>` (after `loadbalancer/`) and `targetgroup/<name>/<id>` (the ARN's last part)."""

    def apply() -> None:
        from moto.elbv2.models import FakeLoadBalancer, FakeTargetGroup

        lb_original = FakeLoadBalancer.get_cfn_attribute

        def lb_attribute(self: Any, attribute_name: str) -> Any:
            if attribute_name == "LoadBalancerFullName":
                return str(self.arn).split(":loadbalancer/", 1)[1]
            return lb_original(self, attribute_name)

        def tg_has(cls: Any, attr: str) -> bool:
            return attr in ("TargetGroupFullName", "TargetGroupName", "LoadBalancerArns")

        def tg_attribute(self: Any, attribute_name: str) -> Any:
            if attribute_name == "TargetGroupFullName":
                return str(self.arn).rsplit(":", 1)[1]
            if attribute_name == "TargetGroupName":
                return self.name
            if attribute_name == "LoadBalancerArns":
                return list(getattr(self, "load_balancer_arns", []))
            from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

            raise UnformattedGetAttTemplateException()

        setattr(FakeLoadBalancer, "get_cfn_attribute", lb_attribute)  # noqa: B010
        setattr(FakeTargetGroup, "has_cfn_attr", classmethod(tg_has))  # noqa: B010
        setattr(FakeTargetGroup, "get_cfn_attribute", tg_attribute)  # noqa: B010

    _once("elbv2_full_names", apply)


# --------------------------------------------------------------------------- 21. states:startExecution(.sync:2)
def bridge_sfn_start_execution() -> None:
    """moto's `states:startExecution` integration (a child execution, `.sync` and `.sync:2`) hands the SFN-cased
    parameters (`StateMachineArn`, `Input`) to boto3 unchanged (States.Runtime: 'StateMachineArn') and reads
    `ExecutionArn` from a boto3-cased response: its `_normalise_parameters`/`_normalise_response` stop short of the
    service model, as with ECS (bridge 11). Convert both ways through the Step Functions model, after moto's own
    step (the input as a JSON string), as Step Functions does. The child's output then arrives as `.sync:2` promises
    it: `Output` parsed, PascalCase keys."""

    def apply() -> None:
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
            StateTaskServiceSfn,
        )

        own_parameters = StateTaskServiceSfn._normalise_parameters

        def normalise_parameters(self: Any, parameters: dict[str, Any], boto_service_name: str | None = None,
                                 service_action_name: str | None = None) -> None:
            own_parameters(self, parameters, boto_service_name, service_action_name)
            action = service_action_name or self.resource.api_action
            self._to_boto_request(parameters, _operation("stepfunctions", action).input_shape)

        def normalise_response(self: Any, response: Any, boto_service_name: str | None = None,
                               service_action_name: str | None = None) -> None:
            if isinstance(response, dict):
                action = service_action_name or self.resource.api_action
                self._from_boto_response(response, _operation("stepfunctions", action).output_shape)

        setattr(StateTaskServiceSfn, "_normalise_parameters", normalise_parameters)  # noqa: B010
        setattr(StateTaskServiceSfn, "_normalise_response", normalise_response)  # noqa: B010

    _once("sfn_start_execution", apply)


_MODELS: dict[str, Any] = {}


def _operation(service: str, action: str) -> Any:
    """("stepfunctions", "startExecution" or "start_execution") -> the botocore operation model."""
    if service not in _MODELS:
        import botocore.session

        _MODELS[service] = botocore.session.get_session().get_service_model(service)
    return _MODELS[service].operation_model("".join(part[:1].upper() + part[1:] for part in action.split("_")))


# --------------------------------------------------------------------------- 22. an execution started without a name
def bridge_execution_default_name() -> None:
    """StartExecution without `name` is valid: AWS names the execution with a UUID. moto's executable backend (the
    one running ASL) keeps None, so the execution is `…:None` and `$$.Execution.Name` is null; a child execution
    started by `states:startExecution` without `Name` hits it. Give it a UUID, as AWS does."""

    def apply() -> None:
        import uuid as uuid_module

        from moto.stepfunctions.parser.models import StepFunctionsParserBackend

        original = StepFunctionsParserBackend.start_execution

        def start_execution(self: Any, state_machine_arn: str, name: Any = None, execution_input: Any = None,
                            *args: Any, **kwargs: Any) -> Any:
            return original(self, state_machine_arn, name or str(uuid_module.uuid4()), execution_input,
                            *args, **kwargs)

        setattr(StepFunctionsParserBackend, "start_execution", start_execution)  # noqa: B010

    _once("execution_default_name", apply)
