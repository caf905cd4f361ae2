"""Hostile-input-safe XML reading: the only way diagram bytes become a tree.

Diagrams are uploaded by process owners, so they are untrusted. The size limit
is checked before any parsing, DOCTYPE/ENTITY declarations are refused before
and after parsing (so entity tricks never expand), and the parser itself has
entities, DTD loading, network access and huge trees switched off.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from lxml import etree

MAX_DIAGRAM_BYTES = 2 * 1024 * 1024
MAX_DEPTH = 200
_DECLARATIONS = (b"<!DOCTYPE", b"<!ENTITY")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a diagram, named so a process owner can fix it."""

    element_id: str | None
    element_name: str | None
    line: int | None
    reason: str

    def as_dict(self) -> dict:
        return asdict(self)


class DiagramError(Exception):
    """The diagram is unreadable, hostile or fails validation."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        summary = "; ".join(p.reason for p in self.problems[:3])
        super().__init__(f"diagram has {len(self.problems)} problem(s): {summary}")


def problem_at(element: etree._Element | None, reason: str) -> Problem:
    """A Problem located at an element of the parsed diagram."""
    if element is None:
        return Problem(None, None, None, reason)
    return Problem(element.get("id"), element.get("name"), element.sourceline, reason)


def _refuse(reason: str) -> DiagramError:
    return DiagramError([Problem(None, None, None, reason)])


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _depth_exceeds(root: etree._Element, limit: int) -> bool:
    # Iterative walk: a recursive one is itself a stack-exhaustion risk.
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in element)
    return False


def parse_diagram_xml(xml: bytes) -> etree._Element:
    """Parse untrusted diagram bytes into an lxml element, or raise DiagramError."""
    if not isinstance(xml, bytes | bytearray):
        raise _refuse("the diagram must be given as bytes")
    if len(xml) > MAX_DIAGRAM_BYTES:
        raise _refuse(f"the diagram is {len(xml)} bytes; the limit is {MAX_DIAGRAM_BYTES} bytes")
    if any(marker in xml for marker in _DECLARATIONS):
        raise _refuse("DOCTYPE and ENTITY declarations are not allowed in a diagram")
    try:
        root = etree.fromstring(bytes(xml), parser=_parser())
    except etree.XMLSyntaxError as err:
        line = err.lineno if isinstance(err.lineno, int) else None
        raise DiagramError([Problem(None, None, line, f"not well-formed XML: {err.msg}")]) from None
    # Catches declarations hidden by an encoding the byte scan cannot see (UTF-16).
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise _refuse("DOCTYPE and ENTITY declarations are not allowed in a diagram")
    if _depth_exceeds(root, MAX_DEPTH):
        raise _refuse(f"the diagram nests elements deeper than {MAX_DEPTH} levels")
    return root
