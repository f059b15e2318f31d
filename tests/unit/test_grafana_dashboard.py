"""deploy/grafana-dashboard.json names only metrics Punctual exports, and shows every one of them."""

from __future__ import annotations

import json
import re

from shared.metrics import exported_metric_names
from shared.settings import REPO_ROOT

DASHBOARD = REPO_ROOT / "deploy" / "grafana-dashboard.json"
METRIC = re.compile(r"\bpunctual_[a-z0-9_]+")
# Sample suffixes Prometheus derives from a family: counters' _total, histograms' _bucket/_sum/_count.
SUFFIX = re.compile(r"_(total|bucket|sum|count|created)$")


def _panels(node: dict) -> list[dict]:
    found = []
    for panel in node.get("panels", []):
        found.append(panel)
        found.extend(_panels(panel))
    return found


def test_every_panel_expression_names_an_exported_metric() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exported = exported_metric_names()
    shown: set[str] = set()
    panels = [p for p in _panels(dashboard) if p["type"] != "row"]
    assert panels
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            names = METRIC.findall(target["expr"])
            assert names, (panel["title"], target["expr"])
            for name in names:
                family = name if name in exported else SUFFIX.sub("", name)
                assert family in exported, f"{panel['title']}: {name} is not a metric Punctual exports"
                shown.add(family)
    assert shown == exported, f"not on the dashboard: {sorted(exported - shown)}"
    ids = [p["id"] for p in _panels(dashboard)]
    assert len(ids) == len(set(ids))
