"""The http command: ask a product's own renderer for the content (any bytes, any content type)."""

from __future__ import annotations

import json
import threading
from typing import Any

from shared.errors import InvalidInput
from shared.outbound import check_url
from shared.settings import Settings
from workers.commands.base import Blob, CommandError, CommandRequest, Content
from workers.outbound import HttpClient, OutboundError, OutboundRefused, ResponseTooLarge


def request_payload(request: CommandRequest) -> dict[str, Any]:
    """The documented payload an http command receives (pure)."""
    return {
        "schedule_id": str(request.schedule_id),
        "run_id": str(request.run_id),
        "filters": request.filters,
        "subscriber": request.subscriber.as_json() if request.subscriber else None,
        # What the schedule asked for, so a renderer may skip the work: Punctual keeps only that anyway.
        "query_key": request.query_key,
        "max_rows": request.max_rows,
    }


class HttpCommand:
    """POSTs (or GETs) the run's payload to a URL on the outbound client; the response body is the content."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def run(self, request: CommandRequest) -> Content:
        """Call the renderer; raises CommandError on a refused URL, a network error, a non-2xx answer, an
        answer past the byte cap or one not whole within the read timeout."""
        url = str(request.config.get("url", ""))
        try:
            check_url(url, self.settings.outbound_allowlist, field="command url", resolve=False)
        except InvalidInput as exc:
            raise CommandError(exc.detail) from None
        method = str(request.config.get("method", "POST")).upper()
        # Headers are credentials: stored encrypted with the command's secrets, never in its config.
        headers = {str(k): str(v) for k, v in (request.secrets.get("headers") or {}).items()}
        payload = request_payload(request)
        cap = self.settings.command_max_output_bytes
        timeout = (self.settings.http_connect_timeout_s, self.settings.http_read_timeout_s)
        client = http_client(self.settings)
        try:
            if method == "GET":
                # Nested values travel as JSON text, so a GET carries the same information as a POST.
                params = {k: v if isinstance(v, str) or v is None else json.dumps(v) for k, v in payload.items()}
                answer = client.request("GET", url, headers=headers, params=params, timeout=timeout, max_bytes=cap)
            else:
                answer = client.request("POST", url, headers={**headers, "Content-Type": "application/json"},
                                        data=json.dumps(payload).encode(), timeout=timeout, max_bytes=cap)
        except OutboundRefused as exc:
            raise CommandError(f"http command: {exc.detail}") from None
        except ResponseTooLarge as exc:
            raise CommandError(f"http command: response larger than {exc.cap} bytes "
                               "(PUNCTUAL_COMMAND_MAX_OUTPUT_BYTES)") from None
        except OutboundError as exc:
            raise CommandError(f"http command: {exc}") from None
        if not 200 <= answer.status_code < 300:
            raise CommandError(f"http command: HTTP {answer.status_code} from {url}")
        content_type = answer.headers.get("Content-Type") or "application/octet-stream"
        return Blob(answer.body, content_type)


_clients: dict[tuple[str, ...], HttpClient] = {}
_clients_lock = threading.Lock()


def http_client(settings: Settings) -> HttpClient:
    """This process's outbound client for commands (its sessions keep connections between runs)."""
    key = tuple(settings.outbound_allowlist)
    with _clients_lock:
        if key not in _clients:
            _clients[key] = HttpClient(key)
        return _clients[key]
