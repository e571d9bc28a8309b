"""Properties of `analyze` over generated windows, policies and alarm states: the verdict is deterministic, always
explained by every check, never improved by a worse green, and never worsened by identical colors."""

from __future__ import annotations

import json
import math
from typing import Any

from canary_support import CHECK_ORDER
from hypothesis import given, settings
from hypothesis import strategies as st

from safejob_ops.deploy.canary import (
    CanaryPolicy,
    CanarySample,
    CanaryVerdict,
    Outcome,
    Verdict,
    analyze,
)

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None)
ALARM_NAMES = ["a", "b", "c"]


@st.composite
def samples(draw: st.DrawFn, max_requests: int = 3000, max_rate: float = 0.2) -> CanarySample:
    requests = draw(st.integers(0, max_requests))
    errors = draw(st.integers(0, math.floor(requests * max_rate)))
    p95 = draw(st.none() | st.floats(1, 4000, allow_nan=False)) if requests else None
    return CanarySample(request_count=requests, http_5xx_count=errors, p95_latency_ms=p95)


policies = st.builds(
    CanaryPolicy,
    min_requests=st.integers(1, 1500),
    max_extensions=st.integers(0, 4),
    on_insufficient_data=st.sampled_from(["rollback", "promote"]),
    significance=st.sampled_from([0.001, 0.01, 0.05, 0.1]),
    max_error_rate=st.sampled_from([0.0, 0.001, 0.01, 0.05, 1.0]),
    max_error_rate_increase=st.sampled_from([0.0, 0.001, 0.01]),
    max_error_rate_ratio=st.sampled_from([1.0, 1.5, 2.0, 5.0]),
    max_p95_latency_ms=st.sampled_from([300.0, 2000.0, 5000.0]),
    max_p95_latency_ratio=st.sampled_from([1.0, 1.5, 3.0]),
    p95_latency_noise_floor_ms=st.sampled_from([0.0, 100.0]),
    alarms=st.lists(st.sampled_from(ALARM_NAMES), unique=True).map(tuple),
)
states = st.dictionaries(st.sampled_from(ALARM_NAMES), st.sampled_from(["OK", "ALARM", "INSUFFICIENT_DATA"]))
window_lists = st.lists(samples(), max_size=6)
extension_counts = st.integers(0, 5)


def dump(result: CanaryVerdict) -> dict[str, Any]:
    return result.model_dump(mode="json")


@PROPERTY_SETTINGS
@given(blue=window_lists, green=window_lists, alarms=states, policy=policies, extensions=extension_counts,
       order=st.randoms(use_true_random=False))
def test_the_verdict_is_deterministic_and_ignores_window_order(
    blue: list[CanarySample], green: list[CanarySample], alarms: dict[str, str], policy: CanaryPolicy,
    extensions: int, order: Any,
) -> None:
    # GIVEN any inputs / WHEN analysed twice, and with the windows shuffled
    first = analyze(blue, green, alarms, policy, extensions)
    again = analyze(list(blue), list(green), dict(alarms), policy, extensions)
    shuffled_blue, shuffled_green = list(blue), list(green)
    order.shuffle(shuffled_blue)
    order.shuffle(shuffled_green)
    shuffled = analyze(shuffled_blue, shuffled_green, alarms, policy, extensions)
    # THEN the same result every time
    assert dump(first) == dump(again) == dump(shuffled)


@PROPERTY_SETTINGS
@given(blue=window_lists, green=window_lists, alarms=states, policy=policies, extensions=extension_counts)
def test_every_check_is_reported_and_the_verdict_follows_from_them(
    blue: list[CanarySample], green: list[CanarySample], alarms: dict[str, str], policy: CanaryPolicy,
    extensions: int,
) -> None:
    result = analyze(blue, green, alarms, policy, extensions)
    # every check, in order, each with a consistent pass flag, as finite JSON
    assert [r.check for r in result.reasons] == CHECK_ORDER
    assert all(r.passed == (r.outcome in (Outcome.PASS, Outcome.NOT_APPLICABLE)) for r in result.reasons)
    json.dumps(dump(result), allow_nan=False)
    # and the verdict is the documented function of the outcomes
    outcomes = [r.outcome for r in result.reasons]
    failed, insufficient = Outcome.FAIL in outcomes, Outcome.INSUFFICIENT_DATA in outcomes
    if outcomes[0] is Outcome.FAIL:
        expected = Verdict.ROLLBACK
    elif insufficient and extensions < policy.max_extensions:
        expected = Verdict.EXTEND
    elif failed:
        expected = Verdict.ROLLBACK
    elif insufficient:
        expected = Verdict(policy.on_insufficient_data.value)
    else:
        expected = Verdict.PROMOTE
    assert result.verdict is expected
    assert result.summary.startswith(expected.value)


@st.composite
def healthy_windows(draw: st.DrawFn, policy: CanaryPolicy) -> list[CanarySample]:
    """Windows with at least min_requests requests, a 5xx ratio within the ceiling and p95 within its ceiling."""
    count = draw(st.integers(1, 5))
    per_window = draw(st.integers(math.ceil(policy.min_requests / count), 20_000))
    out = []
    for _ in range(count):
        errors = draw(st.integers(0, math.floor(per_window * policy.max_error_rate)))
        p95 = draw(st.floats(1, policy.max_p95_latency_ms))
        out.append(CanarySample(request_count=per_window, http_5xx_count=errors, p95_latency_ms=p95))
    return out


@PROPERTY_SETTINGS
@given(data=st.data(), policy=policies, extensions=extension_counts)
def test_identical_colors_with_enough_traffic_always_promote(data: st.DataObject, policy: CanaryPolicy,
                                                             extensions: int) -> None:
    # GIVEN blue and green with the same windows, enough traffic, within the ceilings, and every alarm OK
    windows = data.draw(healthy_windows(policy))
    alarms = {name: data.draw(st.sampled_from(["OK", "INSUFFICIENT_DATA"])) for name in policy.alarms}
    # WHEN analysed / THEN promote: the same service cannot be significantly worse than itself
    result = analyze(windows, windows, alarms, policy, extensions)
    assert result.verdict is Verdict.PROMOTE, result.summary


@st.composite
def with_more_errors(draw: st.DrawFn, windows: list[CanarySample]) -> list[CanarySample]:
    candidates = [i for i, w in enumerate(windows) if w.http_5xx_count < w.request_count]
    if not candidates:
        return windows
    index = draw(st.sampled_from(candidates))
    window = windows[index]
    extra = draw(st.integers(1, window.request_count - window.http_5xx_count))
    worse = window.model_copy(update={"http_5xx_count": window.http_5xx_count + extra})
    return [*windows[:index], worse, *windows[index + 1:]]


@PROPERTY_SETTINGS
@given(data=st.data(), blue=window_lists, green=window_lists, alarms=states, policy=policies,
       extensions=extension_counts)
def test_more_green_errors_never_improve_the_verdict(
    data: st.DataObject, blue: list[CanarySample], green: list[CanarySample], alarms: dict[str, str],
    policy: CanaryPolicy, extensions: int,
) -> None:
    # GIVEN a verdict / WHEN green has more 5xx in some window
    before = analyze(blue, green, alarms, policy, extensions).verdict
    after = analyze(blue, data.draw(with_more_errors(green)), alarms, policy, extensions).verdict
    # THEN the verdict stays, or becomes rollback (never rollback -> promote, never promote -> extend)
    assert after in (before, Verdict.ROLLBACK), (before, after)


@PROPERTY_SETTINGS
@given(data=st.data(), blue=window_lists, green=window_lists, alarms=states, policy=policies,
       extensions=extension_counts)
def test_more_blue_errors_never_turn_promote_into_rollback(
    data: st.DataObject, blue: list[CanarySample], green: list[CanarySample], alarms: dict[str, str],
    policy: CanaryPolicy, extensions: int,
) -> None:
    before = analyze(blue, green, alarms, policy, extensions).verdict
    after = analyze(data.draw(with_more_errors(blue)), green, alarms, policy, extensions).verdict
    if before is Verdict.PROMOTE:
        assert after is Verdict.PROMOTE


@PROPERTY_SETTINGS
@given(blue=window_lists, green=window_lists, alarms=states, policy=policies, extensions=extension_counts,
       factor=st.floats(1, 10), added=st.floats(0, 1000))
def test_slower_green_never_improves_the_verdict(
    blue: list[CanarySample], green: list[CanarySample], alarms: dict[str, str], policy: CanaryPolicy,
    extensions: int, factor: float, added: float,
) -> None:
    # GIVEN a verdict / WHEN green's windows get slower
    before = analyze(blue, green, alarms, policy, extensions).verdict
    slower = [w if w.p95_latency_ms is None else w.model_copy(update={"p95_latency_ms": w.p95_latency_ms * factor
                                                                      + added}) for w in green]
    after = analyze(blue, slower, alarms, policy, extensions).verdict
    # THEN the verdict stays, or becomes rollback
    assert after in (before, Verdict.ROLLBACK), (before, after)


@PROPERTY_SETTINGS
@given(blue=window_lists, green=window_lists, policy=policies, extensions=extension_counts, data=st.data())
def test_a_configured_alarm_in_alarm_always_rolls_back(
    blue: list[CanarySample], green: list[CanarySample], policy: CanaryPolicy, extensions: int, data: st.DataObject,
) -> None:
    alarm = data.draw(st.sampled_from(ALARM_NAMES))
    policy = policy.model_copy(update={"alarms": tuple(sorted({*policy.alarms, alarm}))})
    alarms = {**data.draw(states), alarm: "ALARM"}
    result = analyze(blue, green, alarms, policy, extensions)
    assert result.verdict is Verdict.ROLLBACK
    assert result.reasons[0].outcome is Outcome.FAIL


@PROPERTY_SETTINGS
@given(blue=window_lists, green=window_lists, policy=policies, data=st.data())
def test_too_little_green_traffic_extends_while_extensions_remain(
    blue: list[CanarySample], green: list[CanarySample], policy: CanaryPolicy, data: st.DataObject,
) -> None:
    # GIVEN fewer green requests than the minimum, no alarm firing and an extension left
    policy = policy.model_copy(update={"min_requests": sum(w.request_count for w in green) + 1,
                                       "max_extensions": max(policy.max_extensions, 1)})
    extensions = data.draw(st.integers(0, policy.max_extensions - 1))
    alarms = {name: "OK" for name in policy.alarms}
    # WHEN analysed / THEN extend, whatever the numbers say
    assert analyze(blue, green, alarms, policy, extensions).verdict is Verdict.EXTEND
