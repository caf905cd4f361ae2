import time

import pytest

from service.engine import DiagramError
from service.engine.xml import MAX_DEPTH, MAX_DIAGRAM_BYTES, parse_diagram_xml
from tests.unit.engine.engine_helpers import FORMS, ROLES, diagram_bytes

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<lolz>&lol9;</lolz>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<d>&xxe;</d>"""


def reasons(xml: bytes) -> str:
    with pytest.raises(DiagramError) as caught:
        parse_diagram_xml(xml)
    return " ".join(p.reason for p in caught.value.problems)


def test_billion_laughs_is_refused_without_expanding():
    started = time.perf_counter()
    assert "DOCTYPE" in reasons(BILLION_LAUGHS)
    assert time.perf_counter() - started < 2  # refused by size, not parsed


def test_external_entity_is_refused():
    assert "DOCTYPE" in reasons(EXTERNAL_ENTITY)


def test_doctype_hidden_in_utf16_is_refused():
    assert "DOCTYPE" in reasons(
        EXTERNAL_ENTITY.replace(b'"1.0"?>', b'"1.0" encoding="UTF-16"?>', 1)
        .decode()
        .encode("utf-16")
    )


def test_fifty_megabytes_are_refused_by_size_before_parsing():
    huge = b"<a>" + b" " * (50 * 1024 * 1024) + b"</a>"
    started = time.perf_counter()
    assert f"limit is {MAX_DIAGRAM_BYTES}" in reasons(huge)
    assert time.perf_counter() - started < 0.5


def test_deep_nesting_is_refused():
    deep = b"<a>" * (MAX_DEPTH + 1) + b"</a>" * (MAX_DEPTH + 1)
    assert "deeper" in reasons(deep)


def test_malformed_xml_is_a_problem_with_a_line():
    with pytest.raises(DiagramError) as caught:
        parse_diagram_xml(b"<a>\n<b></a>")
    assert caught.value.problems[0].line == 2


def test_validate_turns_hostile_xml_into_problems_instead_of_raising(engine):
    for hostile in (BILLION_LAUGHS, EXTERNAL_ENTITY, b"", b"not xml", b"\xff\xfe\x00"):
        problems = engine.validate(hostile, roles=ROLES, forms=FORMS)
        assert problems and all(p.reason for p in problems)


def test_compile_of_hostile_xml_raises_diagram_error(engine):
    with pytest.raises(DiagramError) as caught:
        engine.compile(BILLION_LAUGHS, roles=ROLES, forms=FORMS)
    assert caught.value.problems[0].as_dict()["reason"].startswith("DOCTYPE")


def test_a_clean_diagram_parses(engine):
    assert parse_diagram_xml(diagram_bytes("collection.bpmn")).tag.endswith("definitions")
