"""Finding a case by the reference a customer quotes, and the cases I started: only what
the caller may see, and bad input a 422 naming the field."""

from __future__ import annotations

from tests.api.conftest import CONSENT, VALID_FORM


def _collection(api, desk_name: str = "frontdesk") -> str:
    desk = api(desk_name)
    case = desk.start()
    desk.complete(desk.task_of(case["id"], "record_consent"), CONSENT)
    assert desk.complete(desk.task_of(case["id"], "fill_form"), VALID_FORM).status == 200
    return case["id"]


def test_a_reference_finds_the_case_for_whoever_may_see_it(api, users):
    case_id = _collection(api)
    reference = case_id[:8]
    for who in ("frontdesk", "reviewer", "auditor"):  # starter, its review lane, oversight
        found = api(who).get(f"/api/v1/cases?reference={reference}")
        assert found.status == 200, (who, found.body)
        assert [c["id"] for c in found.body["cases"]] == [case_id], who
    upper = api("frontdesk").get(f"/api/v1/cases?reference={reference.upper()}")
    assert [c["id"] for c in upper.body["cases"]] == [case_id]
    # No role in the case: the same answer as a reference nobody has.
    assert api("dept").get(f"/api/v1/cases?reference={reference}").body["cases"] == []
    other = "0" * 8 if not case_id.startswith("0" * 8) else "f" * 8
    assert api("frontdesk").get(f"/api/v1/cases?reference={other}").body["cases"] == []


def test_the_cases_i_started_newest_first(api, users, clock):
    first = _collection(api)
    clock.advance(minutes=5)
    second = _collection(api)
    _collection(api, "frontdesk2")
    mine = api("frontdesk").get("/api/v1/cases?mine=true").body["cases"]
    assert [c["id"] for c in mine] == [second, first]
    assert [c["status"] for c in mine] == ["running", "running"]
    assert len(api("frontdesk").get("/api/v1/cases?mine=true&limit=1").body["cases"]) == 1


def test_bad_searches_are_refused_naming_the_field(api, users):
    desk = api("frontdesk")
    for query, field in (
        ("", "reference"),
        ("?reference=12345", "reference"),
        ("?reference=zzzzzzzz", "reference"),
        ("?reference=1234567890", "reference"),
        ("?mine=maybe", "mine"),
        ("?mine=true&limit=0", "limit"),
    ):
        refused = desk.get(f"/api/v1/cases{query}")
        assert refused.status == 422, (query, refused.body)
        assert refused.body["error"]["details"][0]["field"] == field, query
