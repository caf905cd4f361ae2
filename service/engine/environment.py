"""The script engine attached to every workflow: safe evaluation, no scripts.

SpiffWorkflow's stock engine runs diagram text through eval/exec. These
subclasses route every evaluation through expressions.evaluate, refuse scripts
outright and dispatch service tasks to the ConnectorRegistry.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from .connectors import ConnectorError, ConnectorRegistry
from .expressions import ExpressionError, check_expression, evaluate


class SafeEnvironment(BasePythonScriptEngineEnvironment):
    """Evaluates with the safe evaluator; carries the caller's ctx during a call."""

    def __init__(self, connectors: ConnectorRegistry) -> None:
        super().__init__({})
        self.connectors = connectors
        self.ctx: Any = None

    @contextmanager
    def calling_with(self, ctx: Any) -> Iterator[None]:
        """Make ctx visible to connectors for the duration of one engine call."""
        previous, self.ctx = self.ctx, ctx
        try:
            yield
        finally:
            self.ctx = previous

    def evaluate(self, expression: str, context: dict, external_context: dict | None = None) -> Any:
        names = {**(external_context or {}), **context}
        return evaluate(expression, names)

    def execute(self, script: str, context: dict, external_context: dict | None = None) -> bool:
        raise ExpressionError(script or "", "scripts are not allowed")

    def call_service(self, context: dict, **kwargs: Any) -> str:
        name = kwargs.get("operation_name") or ""
        raw = kwargs.get("operation_params") or {}
        params = {key: spec.get("value") for key, spec in raw.items()}
        result = self.connectors.call(name, self.ctx, params)
        try:
            return json.dumps(result)
        except (TypeError, ValueError) as err:
            raise ConnectorError(name, f"returned data that is not JSON: {err}") from None


class SafeScriptEngine(PythonScriptEngine):
    """A PythonScriptEngine whose every path goes through SafeEnvironment."""

    environment: SafeEnvironment

    def __init__(self, connectors: ConnectorRegistry) -> None:
        super().__init__(environment=SafeEnvironment(connectors))

    def validate(self, expression: str) -> None:
        check_expression(expression)

    def evaluate(self, task: Any, expression: str, external_context: dict | None = None) -> Any:
        # Errors stay ours (not wrapped in WorkflowTaskException) so callers see why.
        return self.environment.evaluate(expression, task.data, external_context)

    def execute(self, task: Any, script: str, external_context: dict | None = None) -> bool:
        raise ExpressionError(script or "", "scripts are not allowed")

    def call_service(self, task: Any, **kwargs: Any) -> str:
        # 3.2.0's version hides the real error behind a NameError; ours surfaces it.
        return self.environment.call_service(task.data, **kwargs)
