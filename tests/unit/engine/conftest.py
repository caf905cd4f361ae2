from collections.abc import Callable

import pytest

from service.engine import CompiledDiagram, ConnectorRegistry, Engine
from service.engine.specs import build_diagram
from tests.unit.engine.engine_helpers import FORMS, ROLES, condition_diagram, diagram_bytes


@pytest.fixture
def connector_calls() -> list[tuple]:
    return []


@pytest.fixture
def registry(connector_calls: list[tuple]) -> ConnectorRegistry:
    registry = ConnectorRegistry()

    def vault_store(ctx, params):
        connector_calls.append((ctx, params))
        return {"record": "vault-ref-1"}

    registry.register("vault_store", vault_store, touches_personal_data=True)
    return registry


@pytest.fixture
def engine(registry: ConnectorRegistry) -> Engine:
    return Engine(connectors=registry)


@pytest.fixture
def compile_diagram(engine: Engine) -> Callable[[str], CompiledDiagram]:
    def compile_named(name: str) -> CompiledDiagram:
        return engine.compile(diagram_bytes(name), roles=ROLES, forms=FORMS)

    return compile_named


@pytest.fixture
def unchecked_condition_diagram() -> Callable[[str], CompiledDiagram]:
    """Build without the lint rules, to prove the runtime evaluator refuses on its own."""

    def build(condition: str) -> CompiledDiagram:
        return build_diagram(condition_diagram(condition))

    return build
