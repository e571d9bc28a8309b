"""The traffic plan of a deploy: the listener weights of each step, and of a rollback. Pure.

The live colour serves 100% before the deploy; the new release runs in the other colour ("target"). A canary
strategy shifts the target's share through its steps (e.g. 10, 50, 100), an all-at-once one in a single step.
Rollback always returns 100% to the live colour. Every setting's two weights sum to 100.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from safejob_ops.deploy.models import AllAtOnceStrategy, CanaryStrategy

Colour = Literal["blue", "green"]


def other(colour: Colour) -> Colour:
    """The colour that is not `colour`.

    >>> other("blue")
    'green'
    """
    return "green" if colour == "blue" else "blue"


class ListenerWeights(BaseModel):
    """The forward action's target group weights (percent), as elbv2 ModifyListener/ModifyRule take them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    blue: int = Field(ge=0, le=100)
    green: int = Field(ge=0, le=100)

    @model_validator(mode="after")
    def _sum_to_100(self) -> Self:
        if self.blue + self.green != 100:
            raise ValueError(f"weights must sum to 100, got blue {self.blue} + green {self.green}")
        return self

    @classmethod
    def giving(cls, colour: Colour, weight: int) -> ListenerWeights:
        """`weight` percent to `colour`, the rest to the other one."""
        return cls.model_validate({colour: weight, other(colour): 100 - weight})

    def of(self, colour: Colour) -> int:
        return self.blue if colour == "blue" else self.green


class TrafficStep(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int = Field(ge=0)
    target_weight: int = Field(ge=1, le=100, description="the new colour's share")
    weights: ListenerWeights
    bake_seconds: int = Field(ge=0)
    analyse: bool = Field(description="whether the canary analysis judges this step after its bake")


class TrafficPlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    live: Colour
    target: Colour
    steps: tuple[TrafficStep, ...]
    rollback: ListenerWeights


def plan_traffic(strategy: CanaryStrategy | AllAtOnceStrategy, live: Colour) -> TrafficPlan:
    """The listener weights of each step, and the rollback setting.

    >>> plan = plan_traffic(CanaryStrategy(type="canary", steps=(10, 50, 100), bake_seconds=120), live="blue")
    >>> [(s.weights.blue, s.weights.green) for s in plan.steps], (plan.rollback.blue, plan.rollback.green)
    ([(90, 10), (50, 50), (0, 100)], (100, 0))
    """
    target = other(live)
    if isinstance(strategy, CanaryStrategy):
        weights, bake, analyse = strategy.steps, strategy.bake_seconds, True
    else:  # all at once: no bake and no analysis (staging and local only)
        weights, bake, analyse = (100,), 0, False
    steps = tuple(
        TrafficStep(index=index, target_weight=weight, weights=ListenerWeights.giving(target, weight),
                    bake_seconds=bake, analyse=analyse)
        for index, weight in enumerate(weights)
    )
    return TrafficPlan(live=live, target=target, steps=steps, rollback=ListenerWeights.giving(live, 100))
