"""JSON over HTTP with the standard library only (no `requests` in the Lambda layer)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import IO, Any
from urllib.parse import urlsplit

USER_AGENT = "safejob-alarm-route/1.0"
_MAX_RESPONSE_BYTES = 64 * 1024


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Never follow redirects: urllib would turn a POST into a GET without body, and report a false success."""

    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
                         headers: Any, newurl: str) -> None:
        return None


class UrllibHttp:
    """`HttpPort` on urllib. A status code is returned for every HTTP answer (4xx, 5xx and 3xx included);
    connection errors and timeouts raise (`urllib.error.URLError`, `TimeoutError`, `OSError`).

    Exception messages never include the URL, which may be a secret (a Slack webhook)."""

    def __init__(self, user_agent: str = USER_AGENT) -> None:
        self._user_agent = user_agent
        self._opener = urllib.request.build_opener(_NoRedirect())

    def post_json(self, url: str, body: dict[str, Any], headers: dict[str, str] | None = None,
                  timeout: float = 5.0) -> int:
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError("only http:// and https:// URLs can be posted to")
        request = urllib.request.Request(
            url,
            data=json.dumps(body, separators=(",", ":"), default=str).encode(),
            method="POST",
            headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": self._user_agent,
                     **(headers or {})},
        )
        try:
            with self._opener.open(request, timeout=timeout) as response:
                response.read(_MAX_RESPONSE_BYTES)  # drain a little, so that the connection closes cleanly
                return int(response.status)
        except urllib.error.HTTPError as error:
            with error:
                return int(error.code)
