"""The http command: ask a product's own renderer for the content (any bytes, any content type)."""

from __future__ import annotations

import json
from typing import Any

import requests

from shared.errors import InvalidInput
from shared.outbound import check_url
from shared.settings import Settings
from workers.commands.base import Blob, CommandError, CommandRequest, Content


def request_payload(request: CommandRequest) -> dict[str, Any]:
    """The documented payload an http command receives (pure)."""
    return {
        "schedule_id": str(request.schedule_id),
        "run_id": str(request.run_id),
        "filters": request.filters,
        "subscriber": request.subscriber.as_json() if request.subscriber else None,
    }


class HttpCommand:
    """POSTs (or GETs) the run's payload to a URL; the response body is the content."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def run(self, request: CommandRequest) -> Content:
        """Call the renderer; raises CommandError on a refused URL, a network error or a non-2xx answer."""
        url = str(request.config.get("url", ""))
        try:
            check_url(url, self.settings.outbound_allowlist, field="command url")
        except InvalidInput as exc:
            raise CommandError(exc.detail) from None
        method = str(request.config.get("method", "POST")).upper()
        # Headers are credentials: stored encrypted with the command's secrets, never in its config.
        headers = {str(k): str(v) for k, v in (request.secrets.get("headers") or {}).items()}
        payload = request_payload(request)
        timeout = (self.settings.http_connect_timeout_s, self.settings.http_read_timeout_s)
        try:
            if method == "GET":
                # Nested values travel as JSON text, so a GET carries the same information as a POST.
                params = {k: v if isinstance(v, str) or v is None else json.dumps(v) for k, v in payload.items()}
                response = requests.get(url, params=params, headers=headers, timeout=timeout,
                                        allow_redirects=False, stream=True)
            else:
                response = requests.post(url, json=payload, headers=headers, timeout=timeout,
                                         allow_redirects=False, stream=True)
            body = _read_limited(response, self.settings.command_max_output_bytes)
        except requests.RequestException as exc:
            raise CommandError(f"http command: {type(exc).__name__}: {exc}") from None
        if not 200 <= response.status_code < 300:
            raise CommandError(f"http command: HTTP {response.status_code} from {url}")
        content_type = response.headers.get("Content-Type") or "application/octet-stream"
        return Blob(body, content_type)


def _read_limited(response: requests.Response, cap: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(65536):
        size += len(chunk)
        if size > cap:
            response.close()
            raise CommandError(f"http command: response larger than {cap} bytes (PUNCTUAL_COMMAND_MAX_OUTPUT_BYTES)")
        chunks.append(chunk)
    return b"".join(chunks)
