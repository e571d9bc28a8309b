"""deploy Validate: the execution input, checked before any side effect, and resolved into the run (`$.run`):
the environment's resources (from the template) and the timings (config/deploy.yaml)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from safejob_ops.deploy.config import load_deploy_config
from safejob_ops.deploy.service import DeploySetup, max_extensions, validate_input
from safejob_ops.deploy.workflow import ColourResources, ServiceTopology, Topology, TrafficSwitch, ValidateRequest
from safejob_ops.settings import Settings, config_file


class ValidateSettings(Settings):
    environment_name: str
    deploy_config_file: str = "deploy.yaml"
    cluster_arn: str
    load_balancer_full_name: str
    test_listener_url: str
    prod_listener_arn: str
    test_listener_arn: str
    backend_prod_rule_arn: str
    backend_test_rule_arn: str
    backend_blue_service_name: str
    backend_green_service_name: str
    frontend_blue_service_name: str
    frontend_green_service_name: str
    backend_blue_target_group_arn: str
    backend_green_target_group_arn: str
    frontend_blue_target_group_arn: str
    frontend_green_target_group_arn: str
    backend_blue_target_group_full_name: str
    backend_green_target_group_full_name: str
    frontend_blue_target_group_full_name: str
    frontend_green_target_group_full_name: str


def topology(s: ValidateSettings) -> Topology:
    def colour(service: str, colour: str) -> ColourResources:
        prefix = f"{service}_{colour}_"
        values = s.model_dump()
        return ColourResources(service_name=values[prefix + "service_name"],
                               target_group_arn=values[prefix + "target_group_arn"],
                               target_group=values[prefix + "target_group_full_name"])

    return Topology(cluster=s.cluster_arn, load_balancer=s.load_balancer_full_name,
                    test_listener_url=s.test_listener_url, services={
                        # The backend's weights are on a rule of the production listener, the frontend's on its
                        # default action (stacks/edge.yaml); the test listener mirrors that.
                        "backend": ServiceTopology(
                            service="backend", blue=colour("backend", "blue"), green=colour("backend", "green"),
                            prod=TrafficSwitch(kind="rule", arn=s.backend_prod_rule_arn),
                            test=TrafficSwitch(kind="rule", arn=s.backend_test_rule_arn)),
                        "frontend": ServiceTopology(
                            service="frontend", blue=colour("frontend", "blue"), green=colour("frontend", "green"),
                            prod=TrafficSwitch(kind="listener", arn=s.prod_listener_arn),
                            test=TrafficSwitch(kind="listener", arn=s.test_listener_arn)),
                    })


settings = ValidateSettings.from_env()
config = load_deploy_config(config_file(settings.deploy_config_file))
setup = DeploySetup(environment_name=settings.environment_name, topology=topology(settings), timings=config.timings,
                    max_extensions=max_extensions(config.canary))
logger = Logger()


@logger.inject_lambda_context(correlation_id_path="execution_id")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run = validate_input(parse(event=event, model=ValidateRequest), setup)
    logger.info("validated", extra={"services": run.request.services, "strategy": run.request.strategy.type})
    return run.model_dump(mode="json")
