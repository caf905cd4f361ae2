"""The connector registry: a connector's fault is a ConnectorError naming it, unless the
caller declared the error its own (a refusal the user can put right)."""

from __future__ import annotations

import pytest

from service.engine import ConnectorError, ConnectorRegistry


class Refused(Exception):
    pass


def _raising(error: Exception):
    def connector(_ctx, _params):
        raise error

    return connector


def test_a_fault_becomes_a_connector_error_naming_the_connector():
    registry = ConnectorRegistry(passthrough=(Refused,))
    registry.register("x.broken", _raising(KeyError("boom")))
    with pytest.raises(ConnectorError, match="'x.broken': failed: KeyError"):
        registry.call("x.broken", None, {})


def test_a_declared_refusal_reaches_the_caller_as_it_is():
    registry = ConnectorRegistry(passthrough=(Refused,))
    refusal = Refused("taken meanwhile")
    registry.register("x.refuses", _raising(refusal))
    with pytest.raises(Refused) as raised:
        registry.call("x.refuses", None, {})
    assert raised.value is refusal


def test_without_passthrough_every_error_is_a_connector_error():
    registry = ConnectorRegistry()
    registry.register("x.refuses", _raising(Refused("no")))
    with pytest.raises(ConnectorError):
        registry.call("x.refuses", None, {})
