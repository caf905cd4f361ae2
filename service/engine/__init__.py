"""The only package that imports SpiffWorkflow: parse, validate, run and store diagrams safely."""

from importlib.metadata import version as _version

from .connectors import ConnectorError, ConnectorRegistry
from .expressions import ExpressionError
from .runner import Engine, HumanTask, Run, TaskNotReady
from .specs import SERIALIZER_VERSION, CompiledDiagram, UserTaskMeta, choose_process
from .xml import DiagramError, Problem, parse_diagram_xml

SPIFF_VERSION: str = _version("SpiffWorkflow")

__all__ = [
    "SERIALIZER_VERSION",
    "SPIFF_VERSION",
    "CompiledDiagram",
    "ConnectorError",
    "ConnectorRegistry",
    "DiagramError",
    "Engine",
    "ExpressionError",
    "HumanTask",
    "Problem",
    "Run",
    "TaskNotReady",
    "UserTaskMeta",
    "choose_process",
    "parse_diagram_xml",
]
