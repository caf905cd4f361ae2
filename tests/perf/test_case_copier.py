"""The bench grows its database with copies of a real case: each copy is another person."""

from __future__ import annotations

from sqlalchemy import func, select

from service.access.service import Actor
from service.bench.flows import run_collection
from service.bench.storage import CaseCopier
from service.vault.models import BlindIndexEntry, Subject
from tests.conftest import add_user


def test_copies_are_live_records_of_distinct_people(deps):
    desk_id = add_user(deps, "bench_desk", ["front_desk"])
    reviewer_id = add_user(deps, "bench_reviewer", ["reviewer"])
    desk = Actor(desk_id, "bench_desk", frozenset({"front_desk"}))
    reviewer = Actor(reviewer_id, "bench_reviewer", frozenset({"reviewer"}))
    template = run_collection(deps, desk, reviewer)
    CaseCopier(deps, template["id"]).copy(30)
    with deps.unit_of_work() as uow:
        live = uow.session.scalar(
            select(func.count()).select_from(Subject).where(Subject.status == "active")
        )
        rows, distinct = uow.session.execute(
            select(func.count(), func.count(func.distinct(BlindIndexEntry.digest)))
        ).one()
    assert live == 31
    assert rows == distinct == 2 * 31  # an ID number and a mobile each, none shared
