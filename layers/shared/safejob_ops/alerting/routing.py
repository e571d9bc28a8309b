"""Routing: which routes (receiver, grouping, timings) an alert's labels select, with Alertmanager semantics.

The tree is walked depth first; a node matches when its matchers do; its children are tried in order and the first
matching child wins unless that child has `continue: true`; when no child matches, the node itself is the match.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from safejob_ops.alerting.config import AlertingConfig, ResolvedRoute

FALLBACK_ROUTE_ID = "fallback"
UNRECOGNISED_ALERTNAME = "UnrecognisedEvent"
# Route matching is a pure function of (config, labels), so it is memoised per label set; the cache is dropped
# when it grows past this many label sets (label sets repeat: one per alarm, not one per event).
_CACHE_LIMIT = 20_000


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """One route an alert goes to: the receiver, how its group is keyed, and the group's timings.

    `group_key` is stable across processes: the route id then the sorted group labels, e.g.
    `0.1:{alertname="X",service="api"}`. Treat `group_labels` as read-only (matches are cached and shared).
    """

    route_id: str
    receiver: str
    group_by: tuple[str, ...]
    group_labels: dict[str, str]
    group_key: str
    group_wait: timedelta
    group_interval: timedelta
    repeat_interval: timedelta
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()

    def __hash__(self) -> int:
        return hash((self.route_id, self.group_key, self.receiver))


def match_routes(config: AlertingConfig, labels: Mapping[str, str]) -> list[RouteMatch]:
    """The routes an alert with these labels goes to (never empty: the root matches everything).

    >>> from safejob_ops.alerting.config import parse_config
    >>> cfg = parse_config({"route": {"receiver": "all", "group_by": ["alertname"], "routes": [
    ...     {"matchers": ['severity="critical"'], "receiver": "pager", "continue": True},
    ...     {"matchers": ['team="data"'], "receiver": "data"}]},
    ...     "receivers": [{"name": n, "type": "email", "topic_arn": "env:T"} for n in ("all", "pager", "data")]})
    >>> labels = {"alertname": "X", "severity": "critical", "team": "data"}
    >>> [(m.receiver, m.group_key) for m in match_routes(cfg, labels)]
    [('pager', '0.0:{alertname="X"}'), ('data', '0.1:{alertname="X"}')]
    >>> [m.receiver for m in match_routes(cfg, {"alertname": "X", "severity": "info"})]
    ['all']
    """
    key = tuple(sorted(labels.items()))
    cache = config.route_cache
    hit = cache.get(key)
    if hit is None:
        hit = tuple(_route_match(node, labels) for node in _walk(config.tree, labels) or [config.tree])
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[key] = hit
    return list(hit)


def fallback_match(config: AlertingConfig, labels: Mapping[str, str] | None = None) -> RouteMatch:
    """The route of unrecognised events: the fallback receiver, grouped by alertname, sent at once (group_wait 0),
    with the root route's group_interval and repeat_interval.

    >>> from safejob_ops.alerting.config import parse_config
    >>> cfg = parse_config({"route": {"receiver": "all"}, "fallback_receiver": "ops",
    ...     "receivers": [{"name": n, "type": "email", "topic_arn": "env:T"} for n in ("all", "ops")]})
    >>> m = fallback_match(cfg)
    >>> m.receiver, m.group_key, m.group_wait.total_seconds()
    ('ops', 'fallback:{alertname="UnrecognisedEvent"}', 0.0)
    """
    alertname = (labels or {}).get("alertname", UNRECOGNISED_ALERTNAME)
    group_labels = {"alertname": alertname}
    root = config.tree
    return RouteMatch(
        route_id=FALLBACK_ROUTE_ID,
        receiver=config.fallback,
        group_by=("alertname",),
        group_labels=group_labels,
        group_key=group_key_of(FALLBACK_ROUTE_ID, group_labels),
        group_wait=timedelta(0),
        group_interval=root.group_interval,
        repeat_interval=root.repeat_interval,
    )


def group_key_of(route_id: str, group_labels: Mapping[str, str]) -> str:
    """`route_id:{name="value",...}` with the labels sorted by name and values quoted like Alertmanager's.

    >>> group_key_of("0.1", {"service": "api", "alertname": "X"})
    '0.1:{alertname="X",service="api"}'
    """
    inner = ",".join(f"{k}={_quote(group_labels[k])}" for k in sorted(group_labels))
    return f"{route_id}:{{{inner}}}"


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _walk(node: ResolvedRoute, labels: Mapping[str, str]) -> list[ResolvedRoute]:
    if not all(m.matches(labels) for m in node.matchers):
        return []
    found: list[ResolvedRoute] = []
    for child in node.children:
        matched = _walk(child, labels)
        found.extend(matched)
        if matched and not child.continue_:
            break
    return found or [node]


def _route_match(node: ResolvedRoute, labels: Mapping[str, str]) -> RouteMatch:
    if node.group_by_all:
        group_labels = dict(labels)
    else:
        # As Alertmanager: a group_by label the alert does not have is left out of the group key.
        group_labels = {name: labels[name] for name in node.group_by if name in labels}
    return RouteMatch(
        route_id=node.id,
        receiver=node.receiver,
        group_by=node.group_by,
        group_labels=group_labels,
        group_key=group_key_of(node.id, group_labels),
        group_wait=node.group_wait,
        group_interval=node.group_interval,
        repeat_interval=node.repeat_interval,
        mute_time_intervals=node.mute_time_intervals,
        active_time_intervals=node.active_time_intervals,
    )
