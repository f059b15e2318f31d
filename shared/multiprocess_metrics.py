"""Turn on prometheus-client's multiprocess mode for a process tree (gunicorn, a prefork worker).

prometheus-client picks its mode from PROMETHEUS_MULTIPROC_DIR when it is imported, and the
`celery` command has often imported it already (Flower's plugin does). So call
prepare_multiprocess_dir first thing in the parent, before anything imports shared.metrics: it sets
the variable and, if the library is loaded, switches the value class the metrics are built with.
The children forked from that parent then write their values where its exporter sums them.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess_dir(prefix: str) -> tuple[str, bool]:
    """Use PROMETHEUS_MULTIPROC_DIR, or create a fresh folder and export it; return it and whether it is ours."""
    if "shared.metrics" in sys.modules and not os.environ.get(MULTIPROC_ENV):
        raise RuntimeError("prepare_multiprocess_dir must run before shared.metrics is imported")
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        directory, ours = given, False
    else:
        directory, ours = tempfile.mkdtemp(prefix=prefix), True
        os.environ[MULTIPROC_ENV] = directory
    values = sys.modules.get("prometheus_client.values")
    if values is not None:
        # Imported before the variable was set: metrics built from now on use the files.
        values.ValueClass = values.get_value_class()  # type: ignore[attr-defined]
    return directory, ours


def clear_multiprocess_dir(directory: str) -> None:
    """Empty the folder before a process tree starts writing to it (a previous run's files would add up)."""
    for path in Path(directory).glob("*.db"):
        path.unlink(missing_ok=True)
