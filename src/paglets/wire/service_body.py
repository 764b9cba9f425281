"""The body of a ``svc`` request: a question about one host's service records.

The body is one encoded map, in one of two forms::

    {"op": "lookup", "name": str | None}    -> list of service record maps
    {"op": "ensure", "name": str, "key": str} -> the record map, its provider running

``name`` is a contract name (None: every record). The record maps are
:class:`~paglets.runtime.serving.service_records.ServiceRecord`'s wire form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from paglets.core.errors import ProtocolError

LOOKUP = "lookup"
ENSURE = "ensure"


@dataclass(frozen=True, slots=True)
class ServiceQuery:
    """A ``svc`` request's body."""

    op: str
    name: str | None = None
    key: str = ""

    @classmethod
    def lookup(cls, name: str | None) -> ServiceQuery:
        """Ask for the records of contract ``name`` (None: all of them)."""
        return cls(LOOKUP, name)

    @classmethod
    def ensure(cls, name: str, key: str) -> ServiceQuery:
        """Ask to start (if lazy) the provider of the record ``key`` of ``name``."""
        return cls(ENSURE, name, key)

    def to_wire(self) -> dict[str, Any]:
        """The plain map sent."""
        if self.op == ENSURE:
            return {"op": ENSURE, "name": self.name, "key": self.key}
        return {"op": LOOKUP, "name": self.name}

    @classmethod
    def from_wire(cls, value: Any) -> ServiceQuery:
        """Check a decoded ``svc`` body.

        Raises:
            ProtocolError: not one of the two forms (says what is wrong).
        """
        if not isinstance(value, dict) or value.get("op") not in (LOOKUP, ENSURE):
            raise ProtocolError("svc needs {op: lookup|ensure, name}")
        name = value.get("name")
        if name is not None and not isinstance(name, str):
            raise ProtocolError("svc name must be a string")
        if value["op"] == LOOKUP:
            return cls.lookup(name)
        key = value.get("key")
        if not isinstance(name, str) or not isinstance(key, str):
            raise ProtocolError("svc ensure needs a name and a key")
        return cls.ensure(name, key)
