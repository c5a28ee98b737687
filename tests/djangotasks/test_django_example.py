"""examples/django_project end to end: `goodjob migrate` and `goodjob start` under
DJANGO_SETTINGS_MODULE, a view enqueueing through Django's ASGI app, the dashboard mounted beside it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "django_project"

CLIENT = r"""
import base64, json, sys, time
from starlette.testclient import TestClient
from mysite.asgi import application

auth = {"Authorization": "Basic " + base64.b64encode(b"admin:admin").decode()}
with TestClient(application) as client:
    first = client.get("/orders/7/checkout?email=ada@example.com")
    second = client.get("/orders/8/checkout-async")
    assert first.status_code == 200 and second.status_code == 200, (first.text, second.text)
    ids = [first.json()["task"], second.json()["task"]]
    deadline = time.monotonic() + 60
    while True:
        states = [client.get(f"/receipts/{i}").json() for i in ids]
        if all(s["status"] == "SUCCESSFUL" for s in states) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    page = client.get("/goodjob/jobs", headers=auth)
    missing = client.get("/receipts/01a2310a-19ac-757f-8ebf-a18cfd289cea")
    print(json.dumps({"states": states, "dashboard": page.status_code,
                      "listed": "shop.tasks.send_receipt" in page.text, "missing": missing.status_code}))
"""


def test_the_example_project_runs_its_task_and_serves_the_dashboard(
    make_database: Callable[..., str], tmp_path: Path
) -> None:
    import json

    url = make_database(migrated=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOOD_JOB_")}
    env.update(DATABASE_URL=url, DJANGO_SETTINGS_MODULE="mysite.settings", PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join([str(EXAMPLE), str(EXAMPLE.parents[1])]))
    migrated = subprocess.run([sys.executable, "-m", "goodjob", "migrate"], env=env, cwd=EXAMPLE,
                              capture_output=True, text=True, timeout=60)
    assert migrated.returncode == 0 and "applied migration(s)" in migrated.stdout, migrated.stderr
    log = open(tmp_path / "worker.log", "w+")
    worker = subprocess.Popen([sys.executable, "-m", "goodjob", "start"], env=env, cwd=EXAMPLE,
                              stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        client = subprocess.run([sys.executable, "-c", CLIENT], env=env, cwd=EXAMPLE,
                                capture_output=True, text=True, timeout=120)
    finally:
        worker.terminate()
        worker.wait(timeout=15)
    assert client.returncode == 0, client.stderr + (tmp_path / "worker.log").read_text()
    report = json.loads(client.stdout.strip().splitlines()[-1])
    assert [s["return_value"] for s in report["states"]] == [
        {"order": 7, "sent_to": "ada@example.com"}, {"order": 8, "sent_to": "ada@example.com"}]
    assert report["dashboard"] == 200 and report["listed"] and report["missing"] == 404
