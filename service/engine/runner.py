"""Engine (compile + cache + start/restore) and Run (one case's workflow)."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.spiff.specs.event_definitions import (
    MessageEventDefinition as SpiffMessageEventDefinition,
)
from SpiffWorkflow.util.task import TaskState

from .clock import step_time
from .connectors import ConnectorRegistry
from .environment import SafeScriptEngine
from .specs import (
    SERIALIZER_VERSION,
    CompiledDiagram,
    SafeBpmnWorkflow,
    content_hash_of,
    make_serializer,
    user_task_meta,
)
from .validation import check_and_build, validate_diagram
from .xml import DiagramError, Problem

_FORMAT = "datasteward-instance/1"


class TaskNotReady(Exception):
    """The task id is unknown, or the task is not waiting for a person."""


@dataclass(frozen=True)
class HumanTask:
    id: str
    spec_name: str
    label: str
    lane: str
    form: str | None
    data: dict


T = TypeVar("T")


class Engine:
    """The project's only door to SpiffWorkflow."""

    def __init__(self, connectors: ConnectorRegistry) -> None:
        self.connectors = connectors
        self._serializer = make_serializer()
        self._by_hash: dict[str, CompiledDiagram] = {}
        self._validated: dict[tuple[str, frozenset[str], frozenset[str]], CompiledDiagram] = {}
        self._by_version: dict[str, CompiledDiagram] = {}
        self.live = LiveRuns()

    def resume(self, diagram: CompiledDiagram, case_id: str, state: str) -> Run:
        """The case's run: the one this process last advanced and kept, else restored."""
        return self.live.take(case_id, diagram, state) or self.restore(diagram, state)

    def inspect(
        self, diagram: CompiledDiagram, case_id: str, state: str, look: Callable[[Run], T]
    ) -> T:
        """What `look` reads from the case's run, which it must not change.

        The run is lent: a kept one goes back, and one restored here is kept,
        so the step that usually follows a look at a task (in this process)
        need not restore the case again.
        """
        run = self.resume(diagram, case_id, state)
        try:
            return look(run)
        finally:
            if not run.completed:
                self.live.keep(case_id, diagram, state, run)

    def for_version(self, content_hash: str) -> CompiledDiagram | None:
        """The diagram compiled earlier for a stored version's content hash, if any.

        A version's content hash covers its diagram and forms, so a hit spares
        reading, hashing and checking the diagram on every step of a case.
        """
        return self._by_version.get(content_hash)

    def remember_version(self, content_hash: str, diagram: CompiledDiagram) -> None:
        self._by_version[content_hash] = diagram

    def validate(self, xml: bytes, *, roles: set[str], forms: set[str]) -> list[Problem]:
        """Every problem with a diagram; never raises for bad input."""
        return validate_diagram(xml, roles=roles, forms=forms, connectors=self.connectors)

    def compile(self, xml: bytes, *, roles: set[str], forms: set[str]) -> CompiledDiagram:
        """Validated spec objects for a diagram, cached by the sha256 of its bytes.

        The validation verdict is cached per (hash, roles, forms), so a later compile
        against other roles or forms is checked again but reuses the same spec objects.
        """
        digest = content_hash_of(bytes(xml)) if isinstance(xml, bytes | bytearray) else ""
        key = (digest, frozenset(roles), frozenset(forms))
        cached = self._validated.get(key)
        if cached is not None:
            return cached
        problems, diagram = check_and_build(
            xml, roles=roles, forms=forms, connectors=self.connectors
        )
        if diagram is None:
            raise DiagramError(problems)
        diagram = self._by_hash.setdefault(digest, diagram)
        self._validated[key] = diagram
        return diagram

    def start(self, diagram: CompiledDiagram, data: dict, ctx: Any) -> Run:
        """Create a case's workflow, seed its data on the start task and run to the first wait."""
        workflow = SafeBpmnWorkflow(
            diagram._spec, diagram._subprocess_specs, script_engine=self._script_engine()
        )
        # Workflow-level data is not passed into tasks; the start task's data is.
        workflow.task_tree.set_data(**data)
        run = Run(diagram, workflow, self._serializer)
        run._advance(ctx)
        return run

    def restore(self, diagram: CompiledDiagram, state: str) -> Run:
        """Rebuild a Run from Run.serialize() output on the cached spec objects."""
        dct = json.loads(state)
        if dct.pop("format", None) != _FORMAT or dct.pop("diagram", None) != diagram.content_hash:
            raise ValueError("the state does not belong to this diagram")
        version = dct.pop(self._serializer.VERSION_KEY, None)
        if version != SERIALIZER_VERSION:
            raise ValueError(
                f"the state was written by serializer {version}, not {SERIALIZER_VERSION}"
            )
        workflow = self._serializer.from_dict(
            dct, diagram=diagram, script_engine=self._script_engine()
        )
        return Run(diagram, workflow, self._serializer)

    def _script_engine(self) -> SafeScriptEngine:
        # One per run: the engine holds the ctx of the call in progress.
        return SafeScriptEngine(self.connectors)


class LiveRuns:
    """Runs this process advanced last, so a case's next step here need not restore its state.

    Restoring is most of the engine's cost in a step, and it grows with the
    case's history (a long correction loop). A run is kept only after the
    transaction that wrote its state committed, together with that state's
    text, and handed out only while the stored state is still exactly that
    text and the diagram the same: a step taken by another process, a
    migration or a scrub writes other text, and the case is restored as
    before. A run is taken, not shared: a step that fails after taking it
    drops it, since it may be half advanced.
    """

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._runs: OrderedDict[str, tuple[CompiledDiagram, str, Run]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, case_id: str, diagram: CompiledDiagram, state: str) -> Run | None:
        with self._lock:
            kept = self._runs.pop(case_id, None)
        if kept is None or kept[0] is not diagram or kept[1] != state:
            return None
        return kept[2]

    def keep(self, case_id: str, diagram: CompiledDiagram, state: str, run: Run) -> None:
        with self._lock:
            self._runs[case_id] = (diagram, state, run)
            self._runs.move_to_end(case_id)
            while len(self._runs) > self._size:
                self._runs.popitem(last=False)


class Run:
    """One case's workflow between two waits."""

    def __init__(
        self, diagram: CompiledDiagram, workflow: SafeBpmnWorkflow, serializer: Any
    ) -> None:
        self.diagram = diagram
        self._workflow = workflow
        self._serializer = serializer

    def ready_tasks(self) -> list[HumanTask]:
        return [self._human_task(t) for t in self._tasks(TaskState.READY) if t.task_spec.manual]

    def task_data(self, task_id: str) -> dict:
        """A copy of the data a READY human task sees (the case's data at that step)."""
        return dict(self._ready_human_task(task_id).data)

    def complete(self, task_id: str, data: dict, ctx: Any) -> None:
        """Complete a READY human task with its form data and run to the next wait."""
        task = self._ready_human_task(task_id)
        task.set_data(**data)
        with self._environment.calling_with(ctx), step_time(_time_of(ctx)):
            task.run()
        self._advance(ctx)

    def fire_timers(self, ctx: Any, now: datetime | None = None) -> None:
        """Fire every timer due at `now` (default: the current time) and run on."""
        moment = now or _time_of(ctx) or datetime.now(UTC)
        for task in self._waiting_timers():
            due = _due_at(task)
            if due is not None and due <= moment:
                task._set_internal_data(event_fired=True)
        with self._environment.calling_with(ctx), step_time(moment):
            self._workflow.refresh_timers()
        self._advance(ctx)

    def waiting_messages(self) -> set[str]:
        """Names of the messages this case is waiting for (intermediate/boundary catches)."""
        return {
            t.task_spec.event_definition.name
            for t in self._workflow.event_manager.tasks.values()
            if isinstance(t.task_spec.event_definition, MessageEventDefinition)
        }

    def deliver_message(self, name: str, payload: dict, ctx: Any) -> bool:
        """Hand a message (a finished job's result) to the waiting case and run on.

        Returns False, changing nothing, when the case is not waiting for it: a
        redelivered job must not advance a case twice.
        """
        if name not in self.waiting_messages():
            return False
        event = BpmnEvent(SpiffMessageEventDefinition(name), payload=payload)
        with self._environment.calling_with(ctx), step_time(_time_of(ctx)):
            self._workflow.send_event(event)
        self._advance(ctx)
        return True

    def cancel(self) -> None:
        """End the case where it stands (a withdrawn request): nothing further runs."""
        self._workflow.cancel()

    def reschedule_timers(self, variable: str, when: datetime) -> int:
        """Move every waiting timer whose date is the case variable ``variable`` to ``when``.

        Returns how many timers moved (an extended deadline moves its escalation).
        """
        moved = 0
        for task in self._waiting_timers():
            definition = task.task_spec.event_definition
            if getattr(definition, "expression", "").strip() == variable:
                task._set_internal_data(event_value=when.isoformat())
                task.data[variable] = when.isoformat()
                moved += 1
        return moved

    def next_timer_due(self) -> datetime | None:
        dues = [d for d in (_due_at(t) for t in self._waiting_timers()) if d is not None]
        return min(dues, default=None)

    @property
    def completed(self) -> bool:
        return self._workflow.is_completed()

    @property
    def end_event(self) -> str | None:
        """The end event the case's main path reached (the outcome), once it has ended.

        Ends reached from a non-interrupting boundary branch (an escalation) are
        not the outcome; they count only when nothing else ended the case.
        """
        if not (self.completed or self.main_path_finished):
            return None
        ends = self._reached_ends()
        main = [t for t in ends if t.task_spec.name not in _side_ends(self.diagram)]
        chosen = main or ends
        return max(chosen, key=lambda t: t.last_state_change).task_spec.name if chosen else None

    @property
    def main_path_finished(self) -> bool:
        """True once an end event off every boundary branch has been reached."""
        side = _side_ends(self.diagram)
        return any(t.task_spec.name not in side for t in self._reached_ends())

    def _reached_ends(self) -> list[Any]:
        return [t for t in self._tasks(TaskState.COMPLETED) if isinstance(t.task_spec, EndEvent)]

    @property
    def data(self) -> dict:
        if self.completed:
            return dict(self._workflow.data)
        last = self._workflow.last_task
        return dict(last.data) if last is not None else {}

    def completed_steps(self) -> list[str]:
        done = sorted(self._tasks(TaskState.COMPLETED), key=lambda t: t.last_state_change)
        return [t.task_spec.name for t in done if getattr(t.task_spec, "bpmn_id", None)]

    def serialize(self) -> str:
        dct = self._serializer.to_dict(self._workflow)
        dct.update(format=_FORMAT, diagram=self.diagram.content_hash)
        dct[self._serializer.VERSION_KEY] = SERIALIZER_VERSION
        return json.dumps(dct, cls=self._serializer._encoder_cls)

    @property
    def _environment(self) -> Any:
        return self._workflow.script_engine.environment

    def _advance(self, ctx: Any) -> None:
        with self._environment.calling_with(ctx), step_time(_time_of(ctx)):
            self._workflow.do_engine_steps()

    def _tasks(self, state: int) -> list[Any]:
        # The flat task map, not the tree walk: no depth limit, no recursion.
        return [t for t in self._workflow.tasks.values() if t.state & state]

    def _ready_human_task(self, task_id: str) -> Any:
        try:
            task = self._workflow.tasks.get(UUID(str(task_id)))
        except ValueError:
            task = None
        if task is None or task.state != TaskState.READY or not task.task_spec.manual:
            raise TaskNotReady(f"task {task_id} is not a ready human task of this case")
        return task

    def _human_task(self, task: Any) -> HumanTask:
        meta = self.diagram.user_tasks.get(task.task_spec.name) or user_task_meta(task.task_spec)
        return HumanTask(
            str(task.id), meta.spec_name, meta.label, meta.lane, meta.form, dict(task.data)
        )

    def _waiting_timers(self) -> list[Any]:
        return [
            t
            for t in self._workflow.event_manager.tasks.values()
            if isinstance(t.task_spec.event_definition, TimerEventDefinition)
        ]


def _side_ends(diagram: CompiledDiagram) -> frozenset[str]:
    """End events reachable only through a non-interrupting boundary event, per diagram."""
    cached = _SIDE_ENDS.get(diagram.content_hash)
    if cached is None:
        cached = _SIDE_ENDS[diagram.content_hash] = _find_side_ends(diagram)
    return cached


def _find_side_ends(diagram: CompiledDiagram) -> frozenset[str]:
    specs = diagram._spec.task_specs.values()
    starts = [s for s in specs if isinstance(s, BoundaryEvent) and not s.cancel_activity]
    seen: set[str] = set()
    ends: set[str] = set()
    queue = list(starts)
    while queue:
        spec = queue.pop()
        if spec.name in seen:
            continue
        seen.add(spec.name)
        if isinstance(spec, EndEvent):
            ends.add(spec.name)
        queue.extend(spec.outputs)
    return frozenset(ends)


_SIDE_ENDS: dict[str, frozenset[str]] = {}


def _time_of(ctx: Any) -> datetime | None:
    """The step's time: the use case's injected clock, carried by the connector context."""
    moment = getattr(ctx, "now", None)
    return moment if isinstance(moment, datetime) else None


def _due_at(task: Any) -> datetime | None:
    value = task._get_internal_data("event_value")
    if value is None:
        return None
    definition = task.task_spec.event_definition
    if isinstance(definition, DurationTimerEventDefinition):
        return TimerEventDefinition.get_datetime(value)
    if isinstance(definition, TimeDateEventDefinition):
        return TimerEventDefinition.parse_time_or_duration(value)
    if isinstance(value, dict) and value.get("cycles"):
        return datetime.fromisoformat(value["next"])
    return None
