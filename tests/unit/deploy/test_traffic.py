"""The traffic plan: listener weights per step and for rollback, for every strategy and live colour."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from safejob_ops.deploy.models import AllAtOnceStrategy, CanaryStrategy
from safejob_ops.deploy.traffic import Colour, ListenerWeights, plan_traffic

steps_lists = st.sets(st.integers(min_value=1, max_value=99), max_size=8).map(lambda s: (*sorted(s), 100))
colours = st.sampled_from(["blue", "green"])


def canary(*steps: int, bake: int = 120) -> CanaryStrategy:
    return CanaryStrategy(type="canary", steps=steps, bake_seconds=bake)


def test_a_canary_from_blue_shifts_green_up_and_rolls_back_to_blue() -> None:
    # GIVEN blue live and a 10/50/100 canary / WHEN planned
    plan = plan_traffic(canary(10, 50, 100), live="blue")
    # THEN green gets 10, 50, then 100%, each step baked and analysed, and rollback is 100% blue
    assert plan.target == "green"
    assert [(s.weights.blue, s.weights.green) for s in plan.steps] == [(90, 10), (50, 50), (0, 100)]
    assert [(s.bake_seconds, s.analyse) for s in plan.steps] == [(120, True)] * 3
    assert plan.rollback == ListenerWeights(blue=100, green=0)


def test_a_canary_from_green_shifts_blue_up_and_rolls_back_to_green() -> None:
    plan = plan_traffic(canary(25, 100), live="green")
    assert plan.target == "blue"
    assert [(s.weights.blue, s.weights.green) for s in plan.steps] == [(25, 75), (100, 0)]
    assert plan.rollback == ListenerWeights(blue=0, green=100)


def test_all_at_once_is_one_step_without_bake_or_analysis() -> None:
    plan = plan_traffic(AllAtOnceStrategy(type="all_at_once"), live="blue")
    assert [(s.weights.green, s.bake_seconds, s.analyse) for s in plan.steps] == [(100, 0, False)]
    assert plan.rollback.blue == 100


@pytest.mark.parametrize(("blue", "green"), [(50, 60), (-10, 110), (0, 0)])
def test_weights_that_do_not_sum_to_100_are_refused(blue: int, green: int) -> None:
    with pytest.raises(ValidationError):
        ListenerWeights(blue=blue, green=green)


@given(steps=steps_lists, live=colours, bake=st.integers(min_value=0, max_value=3600))
def test_every_setting_sums_to_100_and_the_target_share_only_grows(steps: tuple[int, ...], live: Colour,
                                                                   bake: int) -> None:
    # GIVEN any valid canary and live colour / WHEN planned
    plan = plan_traffic(canary(*steps, bake=bake), live=live)
    shares = [step.weights.of(plan.target) for step in plan.steps]
    # THEN each setting sums to 100, the new colour's share follows the steps (strictly up, ending at 100),
    # and rollback gives everything back to the live colour
    assert all(s.weights.blue + s.weights.green == 100 for s in plan.steps)
    assert shares == list(steps)
    assert all(earlier < later for earlier, later in pairwise(shares))
    assert shares[-1] == 100
    assert plan.rollback.of(live) == 100
    assert plan.rollback.blue + plan.rollback.green == 100


@given(steps=steps_lists, bake=st.integers(min_value=0, max_value=3600))
def test_from_blue_greens_weight_is_monotonic(steps: tuple[int, ...], bake: int) -> None:
    greens = [step.weights.green for step in plan_traffic(canary(*steps, bake=bake), live="blue").steps]
    assert greens == sorted(greens)
    assert greens[-1] == 100
