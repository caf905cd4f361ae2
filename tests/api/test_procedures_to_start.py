"""The start form offers what a user starts by hand: their role's lane holds a start event."""

from __future__ import annotations


def _startable(api, username: str) -> list[str]:
    reply = api(username).get("/api/v1/procedures")
    assert reply.status == 200, reply.body
    assert {p["procedure"] for p in reply.body["procedures"]} >= {"collection", "query"}
    return sorted(p["procedure"] for p in reply.body["procedures"] if p["startable"])


def test_each_role_is_offered_the_procedures_it_starts(api):
    assert _startable(api, "frontdesk") == ["access", "collection", "deletion", "update"]
    assert _startable(api, "dept") == ["query"]
    # The reviewer may start nothing; the owner's periodic review starts from its procedure.
    assert _startable(api, "reviewer") == []
    assert _startable(api, "owner") == []


def test_starting_what_another_role_starts_is_refused_in_words(api):
    reply = api("dept").post("/api/v1/cases", {"procedure": "collection"})
    assert reply.status == 403
    assert reply.body["error"]["message"].endswith("needs the role front_desk")
