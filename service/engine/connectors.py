"""The registry of operations a service task may name (design rule 6)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Connector = Callable[[Any, dict], dict]


class ConnectorError(Exception):
    """A connector is unknown or failed; the message names the connector."""

    def __init__(self, name: str, reason: str) -> None:
        self.connector = name
        super().__init__(f"connector {name!r}: {reason}")


@dataclass(frozen=True)
class ConnectorEntry:
    name: str
    fn: Connector
    touches_personal_data: bool


class ConnectorRegistry:
    """Named connectors; a connector is called as fn(ctx, params) and returns a dict.

    ``passthrough``: the caller's own error types, which a connector raises for
    something the user can put right (a conflict, a refused value); they reach
    the caller as they are instead of as a ConnectorError (an internal fault).
    """

    def __init__(self, passthrough: tuple[type[Exception], ...] = ()) -> None:
        self._entries: dict[str, ConnectorEntry] = {}
        self._passthrough = passthrough

    def register(self, name: str, fn: Connector, *, touches_personal_data: bool = False) -> None:
        if not name or not isinstance(name, str):
            raise ValueError("a connector needs a non-empty name")
        if name in self._entries:
            raise ValueError(f"connector {name!r} is already registered")
        self._entries[name] = ConnectorEntry(name, fn, touches_personal_data)

    def names(self) -> set[str]:
        return set(self._entries)

    def get(self, name: str) -> ConnectorEntry:
        try:
            return self._entries[name]
        except KeyError:
            raise ConnectorError(name, "no such connector is registered") from None

    def touches_personal_data(self, name: str) -> bool:
        return self.get(name).touches_personal_data

    def call(self, name: str, ctx: Any, params: dict) -> dict:
        """Run a connector, turning any failure into a ConnectorError naming it."""
        entry = self.get(name)
        try:
            result = entry.fn(ctx, params)
        except ConnectorError:
            raise
        except Exception as err:
            if isinstance(err, self._passthrough):
                raise
            raise ConnectorError(name, f"failed: {type(err).__name__}: {err}") from err
        if not isinstance(result, dict):
            raise ConnectorError(name, f"returned {type(result).__name__}, expected a dict")
        return result
