"""gunicorn's configuration for the API: Punctual's log format, metrics summed over workers, a graceful stop.

gunicorn reads ./gunicorn.conf.py from its working directory, which imports this module, so the
Procfile's and the image's `gunicorn api.wsgi:app` pick it up with no flag (or name it with
`-c python:api.gunicorn_config`).
"""

from __future__ import annotations

import logging
import shutil
from typing import Any

from shared.multiprocess_metrics import clear_multiprocess_dir, prepare_multiprocess_dir

# First, before anything imports prometheus-client: gunicorn forks its workers from this process,
# and each worker picks multiprocess mode from PROMETHEUS_MULTIPROC_DIR when it imports the library.
# Without it every worker would keep its own numbers and /metrics would answer those of whichever
# worker took the scrape.
_METRICS_DIR, _OWN_METRICS_DIR = prepare_multiprocess_dir("punctual-api-metrics-")

from gunicorn import glogging  # noqa: E402

from shared.errors import ConfigError  # noqa: E402
from shared.logs import make_formatter  # noqa: E402
from shared.settings import load_settings  # noqa: E402

__all__ = ["child_exit", "graceful_timeout", "logger_class", "on_exit", "on_starting"]

# SIGTERM: stop accepting, let every in-flight request finish for up to this long, then exit. A
# supervisor's grace period (docker's stop_grace_period, Kubernetes' terminationGracePeriodSeconds)
# must be longer, or it kills the workers mid-request.
graceful_timeout = 30


def _log_format() -> str:
    try:
        return load_settings().log_format
    except ConfigError:
        return "json"  # the app's own start reports the bad setting, in this format


class GunicornLogger(glogging.Logger):
    """gunicorn's error and access logs in Punctual's format (JSON events or plain lines)."""

    log_format = _log_format()

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        formatter = make_formatter(self.log_format, "api")
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(formatter)

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if self.log_format != "json":
            super().access(resp, req, environ, request_time)
            return
        if not self.access_log_enabled:
            return
        atoms = self.atoms(resp, req, environ, request_time)
        status = int(str(atoms["s"]))
        # The path without its query string: the query is where a careless client puts secrets.
        self.access_log.info("%s %s %s", atoms["m"], atoms["U"], status, extra={
            "http_method": atoms["m"], "http_path": atoms["U"], "http_status": status,
            "duration_ms": round(request_time.total_seconds() * 1000, 1), "remote_addr": atoms["h"],
        })


logger_class = GunicornLogger


def on_starting(server: Any) -> None:
    # Files left by a previous run would be summed into this one's counters.
    clear_multiprocess_dir(_METRICS_DIR)


def child_exit(server: Any, worker: Any) -> None:
    from shared.metrics import mark_process_dead

    mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    if _OWN_METRICS_DIR:
        shutil.rmtree(_METRICS_DIR, ignore_errors=True)
    logging.shutdown()
