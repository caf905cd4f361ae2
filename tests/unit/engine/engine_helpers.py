"""Paths and diagram builders shared by the engine tests."""

from pathlib import Path
from xml.sax.saxutils import escape

REPO_ROOT = Path(__file__).resolve().parents[3]
DATA = REPO_ROOT / "tests" / "data" / "engine"
ROLES = {"front_desk", "reviewer"}
FORMS = {"collection_form", "review_form", "fill_form"}


def diagram_bytes(name: str) -> bytes:
    return (DATA / name).read_bytes()


def condition_diagram(condition: str) -> bytes:
    template = diagram_bytes("gateway_condition.bpmn").decode()
    return template.replace("CONDITION", escape(condition)).encode()
