"""Diagram -> cached spec objects, and instance state serialized without the spec."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from lxml import etree
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SERIALIZER_VERSION
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

from .xml import DiagramError, Problem, parse_diagram_xml

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
HUMAN_TASK_TAGS = ("userTask", "manualTask")
# Far beyond any real case, but finite: a loop taken thousands of times still runs.
MAX_TREE_DEPTH = 1_000_000


@dataclass(frozen=True)
class UserTaskMeta:
    spec_name: str
    label: str
    lane: str
    form: str | None
    due_in: str | None


@dataclass
class CompiledDiagram:
    content_hash: str
    process_id: str
    name: str
    user_tasks: dict[str, UserTaskMeta]
    # The lanes its start events sit in: the roles that start a case of it by hand.
    start_lanes: frozenset[str] = frozenset()
    _spec: Any = field(repr=False, default=None)
    _subprocess_specs: dict[str, Any] = field(repr=False, default_factory=dict)


def content_hash_of(xml: bytes) -> str:
    return hashlib.sha256(xml).hexdigest()


def bpmn_tag(local: str) -> str:
    return f"{{{BPMN_NS}}}{local}"


def choose_process(root: etree._Element) -> etree._Element:
    """The one executable process of a diagram, or DiagramError saying why not."""
    processes = root.findall(bpmn_tag("process"))
    if len(processes) > 1:
        processes = [p for p in processes if p.get("isExecutable") == "true"]
    if len(processes) != 1:
        reason = "a diagram must hold exactly one executable process"
        raise DiagramError([Problem(None, None, None, f"{reason}; found {len(processes)}")])
    if not processes[0].get("id"):
        raise DiagramError([Problem(None, None, processes[0].sourceline, "the process has no id")])
    return processes[0]


def build_diagram(xml: bytes) -> CompiledDiagram:
    """Parse (safely) and build spec objects, without the project's lint rules."""
    root = parse_diagram_xml(xml)
    process = choose_process(root)
    process_id = process.get("id", "")
    try:
        parser = SpiffBpmnParser(validator=VALIDATOR)
        parser.add_bpmn_xml(root.getroottree())
        spec = parser.get_spec(process_id)
        subprocess_specs = parser.get_subprocess_specs(process_id)
    except ValidationException as err:
        raise DiagramError([_problem_from_validation(err)]) from None
    except Exception as err:  # noqa: BLE001 - any parser crash on foreign input is a Problem
        reason = f"SpiffWorkflow could not read the diagram: {type(err).__name__}: {err}"
        raise DiagramError([Problem(None, None, None, reason)]) from None
    return CompiledDiagram(
        content_hash=content_hash_of(bytes(xml)),
        process_id=process_id,
        name=process.get("name") or process_id,
        user_tasks=_user_tasks(spec, subprocess_specs),
        start_lanes=frozenset(start.lane for start in spec.start.outputs if start.lane),
        _spec=spec,
        _subprocess_specs=subprocess_specs,
    )


def _problem_from_validation(err: ValidationException) -> Problem:
    line = err.line_number if isinstance(err.line_number, int) else None
    return Problem(err.id or None, err.name or None, line, f"invalid BPMN: {err}")


def _user_tasks(spec: Any, subprocess_specs: dict[str, Any]) -> dict[str, UserTaskMeta]:
    metas: dict[str, UserTaskMeta] = {}
    for wf_spec in [spec, *(s for s in subprocess_specs.values() if s is not None)]:
        for task_spec in wf_spec.task_specs.values():
            if getattr(task_spec, "manual", False):
                metas[task_spec.name] = user_task_meta(task_spec)
    return metas


def user_task_meta(task_spec: Any) -> UserTaskMeta:
    properties = (getattr(task_spec, "extensions", None) or {}).get("properties", {})
    return UserTaskMeta(
        spec_name=task_spec.name,
        label=task_spec.bpmn_name or task_spec.name,
        lane=task_spec.lane or "",
        form=properties.get("form"),
        due_in=properties.get("due"),
    )


class SafeBpmnWorkflow(BpmnWorkflow):
    """A BpmnWorkflow that insists on a script engine and does not stop at depth 1000."""

    completed: bool

    def __init__(
        self, spec: Any, subprocess_specs: Any = None, script_engine: Any = None, **kw: Any
    ):
        if script_engine is None:
            # Never let SpiffWorkflow fall back to its eval/exec engine.
            raise ValueError("a safe script engine is required")
        super().__init__(spec, subprocess_specs, script_engine=script_engine, **kw)

    def get_tasks_iterator(self, first_task: Any = None, **kwargs: Any) -> Any:
        kwargs.setdefault("max_depth", MAX_TREE_DEPTH)
        return super().get_tasks_iterator(first_task, **kwargs)

    def is_completed(self) -> bool:
        if not self.completed:
            self.completed = not any(
                t.state & TaskState.NOT_FINISHED_MASK for t in self.tasks.values()
            )
        return self.completed


class SpeclessWorkflowConverter(BpmnWorkflowConverter):
    """Leaves the spec out of the state; restores onto the cached spec objects."""

    def to_dict(self, workflow: Any) -> dict:
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(
        self, dct: dict, diagram: CompiledDiagram | None = None, script_engine: Any = None
    ) -> Any:
        if diagram is None:
            raise ValueError("restoring needs the compiled diagram")
        workflow = self.target_class(
            diagram._spec,
            diagram._subprocess_specs,
            script_engine=script_engine,
            deserializing=True,
        )
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def make_serializer() -> BpmnWorkflowSerializer:
    config = dict(SPIFF_CONFIG)
    config.pop(BpmnWorkflow)
    config[SafeBpmnWorkflow] = SpeclessWorkflowConverter
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))


__all__ = [
    "SERIALIZER_VERSION",
    "CompiledDiagram",
    "SafeBpmnWorkflow",
    "UserTaskMeta",
    "build_diagram",
    "make_serializer",
]
