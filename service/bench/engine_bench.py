"""The engine's own limit: the shipped collection diagram run in memory, no database.

Each case takes the same steps as a real one: start, then at each wait state
serialize, restore and complete the next task with the same task data the
service hands the engine (personal values replaced by the subject pseudonym).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from service.access.service import ROLES
from service.bench.flows import APPROVE, CONSENT
from service.definitions.service import read_procedure_folder
from service.engine import CompiledDiagram, ConnectorRegistry, Engine


def _entered(_ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
    # The vault write is the service's cost, not the engine's.
    return {"entered": True, "subject": params.get("subject")}


def collection_engine(processes_dir: str) -> tuple[Engine, CompiledDiagram]:
    registry = ConnectorRegistry()
    registry.register("vault.enter_subject", _entered, touches_personal_data=True)
    engine = Engine(registry)
    files = read_procedure_folder(Path(processes_dir) / "collection")
    diagram = engine.compile(files.bpmn.encode("utf-8"), roles=set(ROLES), forms=set(files.forms))
    return engine, diagram


def one_case(engine: Engine, diagram: CompiledDiagram) -> None:
    run = engine.start(diagram, {"case_id": str(uuid.uuid4())}, None)
    subject = "sub_" + uuid.uuid4().hex
    for data in (CONSENT, {"subject": subject}, APPROVE):
        run = engine.restore(diagram, run.serialize())
        (task,) = run.ready_tasks()
        run.complete(task.id, data, None)
    run.serialize()
    if not run.completed:
        raise RuntimeError("the engine bench case did not complete")


def engine_cases_per_s(processes_dir: str, cases: int) -> float:
    engine, diagram = collection_engine(processes_dir)
    for _ in range(min(20, cases)):
        one_case(engine, diagram)  # warm caches, as a running service has them
    began = time.perf_counter()
    for _ in range(cases):
        one_case(engine, diagram)
    return cases / (time.perf_counter() - began)
