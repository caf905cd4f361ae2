"""A number in a URL that no column can hold is no such URL (404/405), never a 500.

Every route with a numeric part is tried, for each of its methods, by users
whose roles reach it: with the largest number its column holds (the view runs
and answers, never with a 500) and with one past it (no route matches).
"""

from __future__ import annotations

import pytest

from service.app import BigIntegerIdConverter, IntegerIdConverter
from tests.conftest import PASSWORD

WHO = ("admin", "owner", "compliance", "auditor")


def _numeric_routes(app):
    for rule in app.url_map.iter_rules():
        converters = {
            name: converter
            for name, converter in rule._converters.items()
            if isinstance(converter, IntegerIdConverter)
        }
        if converters:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield rule, method, converters


def _path(rule, converters, past: bool) -> str:
    values = {name: "x" for name in rule.arguments}
    for name, converter in converters.items():
        values[name] = converter.max + 1 if past else converter.max
    return rule.build(values, append_unknown=False)[1]


def _headers(client, username: str) -> dict[str, str]:
    reply = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert reply.status_code == 200, reply.get_json()
    return {"Authorization": f"Bearer {reply.get_json()['token']}"}


def test_the_converters_bound_numbers_to_the_columns_they_look_up(app):
    kinds = {type(c) for _, _, found in _numeric_routes(app) for c in found.values()}
    assert kinds == {IntegerIdConverter, BigIntegerIdConverter}
    assert IntegerIdConverter(app.url_map).max == 2**31 - 1
    assert BigIntegerIdConverter(app.url_map).max == 2**63 - 1


@pytest.mark.parametrize("who", WHO)
def test_numbers_past_a_column_match_no_route_and_none_is_a_500(app, client, who):
    headers = _headers(client, who)
    routes = list(_numeric_routes(app))
    assert len(routes) >= 15
    for rule, method, converters in routes:
        for past in (True, False):
            path = _path(rule, converters, past)
            reply = client.open(path, method=method, headers=headers, json={})
            if past:  # werkzeug may say 405 when another method's rule has the same shape
                assert reply.status_code in (404, 405), (method, path, reply.get_json())
            else:
                assert reply.status_code < 500, (method, path, reply.get_json())
