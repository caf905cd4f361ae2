"""Every UI string the pages and scripts name exists in both languages (no Chromium needed)."""

from __future__ import annotations

import re

from service.web.i18n import CATALOGUE, TERMS
from tests.conftest import ROOT

WEB = ROOT / "service" / "web"
# t("key") in scripts and templates; keys built at run time (t(`tasks.${verb}`)) are not seen.
KEY = re.compile(r"""\bt\(\s*["']([A-Za-z_][\w.]*)["']""")


def _used_keys() -> dict[str, str]:
    used = {}
    for path in [*WEB.glob("static/js/*.js"), *WEB.glob("templates/*.html")]:
        for key in KEY.findall(path.read_text(encoding="utf-8")):
            used.setdefault(key, path.name)
    return used


def test_every_named_string_is_in_the_catalogue():
    used = _used_keys()
    assert len(used) > 100  # the pattern still finds the keys
    known = {**CATALOGUE, **TERMS}
    missing = {key: where for key, where in used.items() if key not in known}
    assert not missing, missing


def test_every_string_has_a_chinese_and_an_english_text():
    han = re.compile(r"[\u3400-\u9fff]")
    for key, (zh, en) in {**CATALOGUE, **TERMS}.items():
        assert zh.strip() and en.strip(), key
        assert not han.search(en), (key, en)
        # The Chinese text is Chinese, unless it is a name or symbol kept as is.
        words = re.sub(r"\{\w+\}", "", zh)
        assert han.search(words) or zh == en or not re.search(r"[a-z]{4,}", words), (key, zh)


def test_every_role_has_a_name_in_both_languages():
    from service.access.service import ROLES

    missing = [role for role in ROLES if f"role.{role}" not in TERMS]
    assert not missing, missing


# Audit actions as the service writes them: Event("x.y", ...), action="x.y", _event("x.y", ...).
ACTION = re.compile(
    r"""(?:\baction\s*=\s*|\bEvent\(\s*|\b_event\(\s*|\brefused\(\s*)"([a-z_]+\.[a-z_.]+)\""""
)


def test_every_audit_action_has_a_name_in_both_languages():
    written = {
        action
        for path in (ROOT / "service").rglob("*.py")
        for action in ACTION.findall(path.read_text(encoding="utf-8"))
    }
    assert len(written) > 40  # the pattern still finds them
    # The bench's own records live in its scratch database only.
    missing = sorted(a for a in written - {"bench.append"} if f"action.{a}" not in TERMS)
    assert not missing, missing
