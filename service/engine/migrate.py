"""Moving a waiting case onto a newer version of its diagram.

Built on SpiffWorkflow's spec diff: a case can move only where nothing it has
already done changed. Steps it is waiting at may change (they are reset and
predicted again on the new spec); a step it already did that changed or
disappeared, or a step it waits at that the new version removes, pins it to
its old version, and the reason says which step and what changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn.util.diff import diff_workflow, migrate_workflow
from SpiffWorkflow.util.task import TaskState

from .runner import Engine, Run
from .specs import CompiledDiagram

# Serialized-spec keys that describe layout or documentation, not behaviour.
_COSMETIC = frozenset({"bpmn_name", "documentation", "position"})
_DONE = TaskState.COMPLETED | TaskState.ERROR | TaskState.CANCELLED
_ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED


class MigrationRefused(Exception):
    """The case cannot move; `reasons` says why."""

    def __init__(self, reasons: list[str]) -> None:
        self.reasons = reasons
        super().__init__("; ".join(reasons))


@dataclass(frozen=True)
class MigrationCheck:
    can_move: bool
    waiting_at: list[str]
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"can_move": self.can_move, "waiting_at": self.waiting_at, "reasons": self.reasons}


def check_migration(
    engine: Engine, state: str, old: CompiledDiagram, new: CompiledDiagram
) -> MigrationCheck:
    """Whether a case in `state` (on `old`) can move to `new`, and why not."""
    run = engine.restore(old, state)
    reasons = _blocking_reasons(engine, run, new)[0]
    return MigrationCheck(not reasons, _waiting_at(run), reasons)


def migrate_state(
    engine: Engine, state: str, old: CompiledDiagram, new: CompiledDiagram, ctx: Any
) -> Run:
    """The case's workflow moved onto `new` and run to its next wait; raises MigrationRefused."""
    run = engine.restore(old, state)
    reasons, top_diff, sub_diffs = _blocking_reasons(engine, run, new)
    if reasons:
        raise MigrationRefused(reasons)
    workflow = run._workflow
    migrate_workflow(top_diff, workflow, new._spec)
    for sub_id, sub_diff in sub_diffs.items():
        sub = workflow.subprocesses[sub_id]
        migrate_workflow(sub_diff, sub, new._subprocess_specs[sub.spec.name])
    workflow.subprocess_specs = new._subprocess_specs
    moved = Run(new, workflow, engine._serializer)
    moved._advance(ctx)
    return moved


def _blocking_reasons(engine: Engine, run: Run, new: CompiledDiagram) -> tuple[list[str], Any, Any]:
    registry = engine._serializer.registry
    workflow = run._workflow
    top_diff, sub_diffs = diff_workflow(registry, workflow, new._spec, new._subprocess_specs)
    spec_diff_changes = _changed_specs(registry, workflow.spec, new._spec)
    reasons = [_removed_reason(t) for t in top_diff.removed if _definite(t)]
    for task in top_diff.changed:
        what = spec_diff_changes.get(task.task_spec.name, [])
        if task.state & _DONE and what:
            reasons.append(
                f"step {_label(task)!r} was already done and the new version changes it "
                f"({', '.join(what)})"
            )
    for sub_id, sub_diff in sub_diffs.items():
        if sub_diff is None:
            reasons.append(f"sub-process {sub_id} has no counterpart in the new version")
    return sorted(set(reasons)), top_diff, sub_diffs


def _changed_specs(registry: Any, old_spec: Any, new_spec: Any) -> dict[str, list[str]]:
    from SpiffWorkflow.bpmn.util.diff import SpecDiff

    diff = SpecDiff(registry, old_spec, new_spec)
    return {spec.name: sorted(set(changes) - _COSMETIC) for spec, changes in diff.changed.items()}


def _definite(task: Any) -> bool:
    return bool(task.state & (_DONE | _ACTIVE))


def _removed_reason(task: Any) -> str:
    if task.state & _ACTIVE:
        return f"the case waits at step {_label(task)!r}, which the new version removes"
    return f"step {_label(task)!r} was already done and the new version removes it"


def _label(task: Any) -> str:
    return task.task_spec.bpmn_id or task.task_spec.name


def _waiting_at(run: Run) -> list[str]:
    return sorted(
        {
            t.task_spec.bpmn_id or t.task_spec.name
            for t in run._workflow.tasks.values()
            if t.state & _ACTIVE and getattr(t.task_spec, "bpmn_id", None)
        }
    )


__all__ = ["MigrationCheck", "MigrationRefused", "check_migration", "migrate_state"]
