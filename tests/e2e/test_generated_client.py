"""A client generated from /v1/openapi.json with openapi-python-client runs README's walk-through on real processes."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import requests

from shared.settings import REPO_ROOT, Settings
from tests.processes import BIN, Process, settings_env, start_api, start_beat, start_worker, wait_for
from tests.servers import HttpSink

PACKAGE = "punctual_generated_client"


@pytest.fixture()
def system(settings: Settings, log_dir: Path, clean: None) -> Iterator[str]:
    api, base = start_api(settings, log_dir)
    procs: list[Process] = [api, start_beat(settings, log_dir), start_worker(settings, log_dir)]
    try:
        yield base
    finally:
        for proc in procs:
            proc.stop()


def _generate_client(base: str, where: Path) -> Any:
    spec = where / "openapi.json"
    spec.write_text(requests.get(f"{base}/v1/openapi.json", timeout=10).text)
    config = where / "config.yml"
    config.write_text("post_hooks: []\n")  # no formatter run on the output: nothing but the generator
    done = subprocess.run([str(BIN / "openapi-python-client"), "generate", "--path", str(spec), "--meta", "none",
                           "--output-path", str(where / PACKAGE), "--config", str(config)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    # Any warning means part of the document could not be turned into code.
    assert "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr
    sys.path.insert(0, str(where))
    try:
        return importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(where))


def _readme_schedule_body() -> dict[str, Any]:
    """The JSON body of README's `curl ... /v1/schedules -d '...'` line."""
    readme = (REPO_ROOT / "README.md").read_text()
    match = re.search(r"localhost:8000/v1/schedules -d '(\{.*?\})'", readme)
    assert match, "README's walk-through no longer creates a schedule with curl -d '{...}'"
    return json.loads(match.group(1))  # type: ignore[no-any-return]


def _punctual(settings: Settings, *args: str) -> dict[str, Any]:
    done = subprocess.run([str(BIN / "punctual"), *args], env=settings_env(settings), cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_generated_client_runs_the_readme_walk_through(system: str, settings: Settings, http_sink: HttpSink,
                                                       tmp_path: Path) -> None:
    client_package = _generate_client(system, tmp_path)
    models = importlib.import_module(f"{PACKAGE}.models")
    schedules = importlib.import_module(f"{PACKAGE}.api.schedules.post_v1_schedules")
    read_schedule = importlib.import_module(f"{PACKAGE}.api.schedules.get_v1_schedules_schedule_id")
    trigger = importlib.import_module(f"{PACKAGE}.api.schedule_actions.post_v1_schedules_schedule_id_trigger")
    runs = importlib.import_module(f"{PACKAGE}.api.schedule_actions.get_v1_schedules_schedule_id_runs")
    run_detail = importlib.import_module(f"{PACKAGE}.api.runs.get_v1_runs_run_id")
    # A nullable reference is the referenced model or None, not a second, empty model beside it.
    generated = sorted(p.stem for p in (tmp_path / PACKAGE / "models").glob("*.py"))
    assert [name for name in generated if "type_0" in name or name == "pagination_metadata"] == []

    org = _punctual(settings, "orgs", "create", "Acme")["id"]
    token = _punctual(settings, "tokens", "create", "--org", org)["token"]
    client = client_package.AuthenticatedClient(base_url=system, token=token, raise_on_unexpected_status=True)
    body = _readme_schedule_body()
    body["destination"]["url"] = f"{http_sink.url}/hook"  # README's example.com, here a receiver on loopback

    created = schedules.sync(client=client, body=models.ScheduleCreate.from_dict(body))
    assert isinstance(created, models.ScheduleOut), created
    assert created.name == body["name"] and created.alert is None and created.warnings == []
    shown = read_schedule.sync(schedule_id=created.id, client=client)
    assert isinstance(shown, models.ScheduleOut) and shown.next_run_time is not None

    fired = trigger.sync(schedule_id=created.id, client=client)
    assert isinstance(fired, models.Success) and fired.success is True

    def complete() -> Any:
        page = runs.sync(schedule_id=created.id, client=client)
        assert isinstance(page, models.RunPage), page
        return [r for r in page.records if r.status == "complete"]

    [run] = wait_for(complete, timeout=60)
    assert run.trigger == "manual" and len(http_sink.requests) == 1
    detail = run_detail.sync(run_id=run.id, client=client)
    assert isinstance(detail, models.RunDetailOut) and detail.deliveries[0].status == "delivered"

    missing = read_schedule.sync(schedule_id=UUID(int=1), client=client)
    assert isinstance(missing, models.Error) and missing.status == 404
