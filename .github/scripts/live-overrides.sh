#!/usr/bin/env bash
# live-overrides.sh STACK: print "LiveColor=... BackendImage=... FrontendImage=..." as they are live now.
#
# `sam deploy` reuses a parameter's previous value when it is not passed. The deploy workflow shifts traffic and
# images outside CloudFormation, so a stack update must pass what is live, or it would move traffic back and roll
# images back. Refuses (exit 1) while traffic is split between the colours: a deploy is running.
set -euo pipefail
stack=${1:?usage: live-overrides.sh STACK}
if ! aws cloudformation describe-stacks --stack-name "$stack" >/dev/null 2>&1; then
  echo "live-overrides: no stack $stack; its first deploy is by hand (docs/operations.md)" >&2
  exit 1
fi

out() {
  aws cloudformation describe-stacks --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}

image_of() { # the app container's image of one service (by the output naming the service)
  local task_definition
  task_definition=$(aws ecs describe-services --cluster "$(out ClusterName)" --services "$(out "$1")" \
    --query 'services[0].taskDefinition' --output text)
  aws ecs describe-task-definition --task-definition "$task_definition" \
    --query "taskDefinition.containerDefinitions[?name=='app'].image | [0]" --output text
}

live=$(aws elbv2 describe-listeners --listener-arns "$(out ProdListenerArn)" --query \
  'Listeners[0].DefaultActions[0].ForwardConfig.TargetGroups[?Weight==`100`].TargetGroupArn' --output text)
case "$live" in
  "$(out FrontendBlueTargetGroupArn)") color=blue backend=BackendBlueServiceName frontend=FrontendBlueServiceName ;;
  "$(out FrontendGreenTargetGroupArn)") color=green backend=BackendGreenServiceName frontend=FrontendGreenServiceName ;;
  *)
    echo "live-overrides: traffic is split between the colours on $stack: a deploy is running; retry after it" >&2
    exit 1
    ;;
esac
echo "LiveColor=$color BackendImage=$(image_of "$backend") FrontendImage=$(image_of "$frontend")"
