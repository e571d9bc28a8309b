"""`SmokeHttpPort` on urllib: one GET, redirects not followed (a 3xx is the answer), the body read up to 64 KiB."""

from __future__ import annotations

import urllib.error
import urllib.request
from email.message import Message
from typing import IO, Any

MAX_BODY_BYTES = 64 * 1024


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
                         headers: Message, newurl: str) -> urllib.request.Request | None:
        return None  # urllib then raises HTTPError for the 3xx, which get() returns as the answer


def _read(response: Any) -> str:
    raw: bytes = response.read(MAX_BODY_BYTES)
    return raw.decode("utf-8", errors="replace")


class UrllibSmokeHttp:
    """GET over HTTP(S) with urllib; a status >= 300 is returned, not raised; a connection error is raised."""

    def __init__(self) -> None:
        self._opener = urllib.request.build_opener(_NoRedirect())

    def get(self, url: str, timeout: float) -> tuple[int, str]:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"not an http(s) URL: {url}")
        request = urllib.request.Request(url, headers={"User-Agent": "safejob-deploy-smoke"})
        try:
            with self._opener.open(request, timeout=timeout) as response:
                return int(response.status), _read(response)
        except urllib.error.HTTPError as error:
            with error:
                return int(error.code), _read(error)
