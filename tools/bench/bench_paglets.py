"""The paglet classes the benchmarks create, importable by every benchmark process.

Hosts in child processes import this module by name (``bench_paglets``, with
``tools/bench`` on ``sys.path``) under ``allowed_modules=["bench_paglets"]``, so class
paths are ``bench_paglets:QualName`` in every process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from paglets.core.agent import Paglet, PagletState
from paglets.core.messages import Message


@dataclass
class EchoState(PagletState):
    """What an :class:`EchoPaglet` keeps: how many ``tick`` messages it has counted."""

    count: int = 0


class EchoPaglet(Paglet[EchoState]):
    """Answers ``echo`` with its argument, counts ``tick`` messages, reports ``count``.

    The shapes match the raw limit's echo server (:mod:`raw`): args ``{"n": int}``, reply
    ``{"n": int}``.
    """

    State = EchoState

    def handle_message(self, message: Message) -> Any:
        kind = message.kind
        if kind == "echo":
            return {"n": message.args.get("n")}
        if kind == "tick":
            self.state.count += 1
            return None
        if kind == "count":
            return {"n": self.state.count}
        if kind == "reset":
            self.state.count = 0
            return {"n": 0}
        return self.not_handled()


@dataclass
class BlobState(PagletState):
    """A state of a chosen size: ``blob`` is what makes a dispatch small or large."""

    blob: bytes = b""
    hops: int = 0


class MoverPaglet(Paglet[BlobState]):
    """A paglet that is only moved around; counts its arrivals."""

    State = BlobState

    def on_arrival(self, event: Any) -> None:
        self.state.hops += 1

    def handle_message(self, message: Message) -> Any:
        if message.kind == "size":
            return {"bytes": len(self.state.blob), "hops": self.state.hops}
        return self.not_handled()


@dataclass
class IdleState(PagletState):
    """A small state, as a typical idle paglet holds."""

    label: str = ""
    number: int = 0


class IdlePaglet(Paglet[IdleState]):
    """A paglet that just exists (the scale scenario creates thousands of them)."""

    State = IdleState

    def handle_message(self, message: Message) -> Any:
        if message.kind == "ping":
            return self.state.number
        return self.not_handled()
