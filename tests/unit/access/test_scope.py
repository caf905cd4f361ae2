"""The scope rule on its own: which case a branch- or department-scoped role may act on."""

from __future__ import annotations

from service.access.scope import out_of_scope_reason
from service.access.service import Actor, RoleScope


def _actor(*scopes: RoleScope, break_glass: int | None = None) -> Actor:
    roles = frozenset(s.role for s in scopes)
    return Actor(1, "someone", roles, role_scopes=scopes, break_glass_id=break_glass)


def test_an_unscoped_role_acts_on_every_case():
    actor = _actor(RoleScope("reviewer"))
    assert out_of_scope_reason(actor, "reviewer", "retail", "south") is None
    assert out_of_scope_reason(actor, "reviewer", None, None) is None


def test_a_branch_scoped_role_acts_only_on_its_branch():
    actor = _actor(RoleScope("reviewer", branch="north"))
    assert out_of_scope_reason(actor, "reviewer", None, "north") is None
    reason = out_of_scope_reason(actor, "reviewer", None, "south")
    assert reason == (
        "this case belongs to another branch; your reviewer role covers branch 'north'"
    )
    assert out_of_scope_reason(actor, "reviewer", None, None) is not None


def test_a_role_scoped_to_department_and_branch_needs_both():
    actor = _actor(RoleScope("reviewer", department="retail", branch="north"))
    assert out_of_scope_reason(actor, "reviewer", "retail", "north") is None
    assert "another department" in (out_of_scope_reason(actor, "reviewer", "corp", "north") or "")
    assert "another branch" in (out_of_scope_reason(actor, "reviewer", "retail", "south") or "")


def test_break_glass_lifts_the_scope():
    actor = _actor(RoleScope("reviewer", branch="north"), break_glass=7)
    assert out_of_scope_reason(actor, "reviewer", None, "south") is None


def test_only_the_scoped_role_is_limited():
    actor = _actor(RoleScope("front_desk"), RoleScope("reviewer", branch="north"))
    assert out_of_scope_reason(actor, "front_desk", None, "south") is None
    assert out_of_scope_reason(actor, "reviewer", None, "south") is not None
