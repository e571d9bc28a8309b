"""The notifier's production ports, wired once per cold start (clients are still created lazily)."""

from __future__ import annotations

from safejob_ops.adapters.graphs import CloudWatchGraphs
from safejob_ops.adapters.http import UrllibHttp
from safejob_ops.adapters.secrets import ParameterSecrets
from safejob_ops.adapters.sns import SnsPublisher
from safejob_ops.alerting.notify.notifier import NotifierPorts


def default_ports(graphs_bucket: str) -> NotifierPorts:
    return NotifierPorts(
        http=UrllibHttp(),
        secrets=ParameterSecrets(),
        sns=SnsPublisher(),
        graphs=CloudWatchGraphs(graphs_bucket) if graphs_bucket else None,
    )
