"""The case's clock inside SpiffWorkflow's timers.

SpiffWorkflow reads the wall clock itself when it arms and checks timers.
Datasteward's use cases run on an injected clock (so deadlines are testable and
one step sees one time), so while the engine advances a case, SpiffWorkflow's
timer module is handed a `datetime` whose ``now()`` is the step's time. Outside
an engine call, or when no time is given, it is the wall clock as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, tzinfo

from SpiffWorkflow.bpmn.specs.event_definitions import timer as _timer_module

_step_time: ContextVar[datetime | None] = ContextVar("datasteward_step_time", default=None)


class _StepDatetime(datetime):
    """`datetime` whose ``now`` answers with the step's time while one is set."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
        moment = _step_time.get()
        if moment is None:
            return datetime.now(tz)
        return moment.astimezone(tz) if tz is not None else moment.replace(tzinfo=None)


_timer_module.datetime = _StepDatetime


@contextmanager
def step_time(moment: datetime | None) -> Iterator[None]:
    """Let SpiffWorkflow's timers see ``moment`` as now, for the duration of one step."""
    token = _step_time.set(moment)
    try:
        yield
    finally:
        _step_time.reset(token)
