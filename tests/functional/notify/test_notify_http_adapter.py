"""The urllib JSON adapter against the local sink (real HTTP on loopback)."""

from __future__ import annotations

import socket
import urllib.error

import pytest

from safejob_ops.adapters.http import UrllibHttp
from safejob_tools.localaws.sink import HttpSink


def test_posts_json_and_returns_the_status(sink: HttpSink) -> None:
    # WHEN a body with non-ASCII text and a datetime-like value is posted
    status = UrllibHttp().post_json(sink.url("/webhook/a"), {"text": "déploiement 🔥", "n": [1, 2]})

    # THEN the sink got it as UTF-8 JSON, with our user agent
    assert status == 200
    [recorded] = sink.requests()
    assert recorded.body == {"text": "déploiement 🔥", "n": [1, 2]}
    assert recorded.headers["User-Agent"] == "safejob-alarm-route/1.0"


@pytest.mark.parametrize("status", [400, 404, 429, 500, 503, 307])
def test_http_errors_and_redirects_are_returned_not_raised(sink: HttpSink, status: int) -> None:
    # GIVEN a sink failing with `status`
    sink.fail("/webhook/", status=status)

    # WHEN something is posted, THEN the status comes back (a redirect is never followed)
    assert UrllibHttp().post_json(sink.url("/webhook/a"), {}) == status
    assert len(sink.requests()) == 1


def test_connection_errors_raise() -> None:
    # GIVEN a loopback port where nobody listens
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    # WHEN something is posted there, THEN the connection error is raised
    with pytest.raises(urllib.error.URLError):
        UrllibHttp().post_json(f"http://127.0.0.1:{port}/slack/x", {}, timeout=2)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "not a url"])
def test_only_http_urls_are_accepted(url: str) -> None:
    # WHEN a URL of another scheme is given, THEN it is refused without naming it
    with pytest.raises(ValueError, match="only http") as caught:
        UrllibHttp().post_json(url, {})
    assert url not in str(caught.value)
