"""A case survives the service stopping: a new process continues where it was."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict

from service.access.service import Actor, roles_of
from service.cases import service as cases
from tests.api.conftest import CONSENT, VALID_FORM
from tests.conftest import ROOT

CONTINUE_IN_NEW_PROCESS = """
import json, sys
from service.access.service import Actor
from service.bootstrap import build_deps
from service.cases import service as cases
from service.config import Settings
args = json.loads(sys.argv[1])
deps = build_deps(Settings(**args["settings"]))
desk = Actor(args["desk"], "frontdesk", frozenset({"front_desk"}))
reviewer = Actor(args["reviewer"], "reviewer", frozenset({"reviewer"}))
case = cases.complete_task(deps, desk, args["task"], args["form"])
review = [t for t in case["tasks"] if t["name"] == "review"][0]
done = cases.complete_task(deps, reviewer, review["id"], {"decision": "approve"})
print(json.dumps(done))
"""


def test_a_new_process_continues_a_case_mid_way(deps, users):
    with deps.unit_of_work() as uow:
        desk = Actor(users["frontdesk"], "frontdesk", roles_of(uow.session, users["frontdesk"]))
    case = cases.start_case(deps, desk, "collection")
    case = cases.complete_task(deps, desk, case["tasks"][0]["id"], CONSENT)
    deps.db.dispose()  # this "service" stops here
    settings = {k: v for k, v in asdict(deps.settings).items() if k != "extra"}
    args = {
        "settings": settings,
        "desk": users["frontdesk"],
        "reviewer": users["reviewer"],
        "task": case["tasks"][0]["id"],
        "form": VALID_FORM,
    }
    result = subprocess.run(
        [sys.executable, "-c", CONTINUE_IN_NEW_PROCESS, json.dumps(args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=os.environ,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    done = json.loads(result.stdout.strip().splitlines()[-1])
    assert (done["id"], done["status"], done["outcome"]) == (case["id"], "completed", "entered")
