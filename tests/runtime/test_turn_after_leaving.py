"""A self-operation from ``run()`` after the paglet left gets an error, not a wait."""

from __future__ import annotations

from dataclasses import dataclass

from conftest import HostFactory
from helpers import TIMEOUT, gate, new_gate, wait_for
from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import PagletError

OUTCOMES: dict[str, str] = {}


@dataclass
class LateState(PagletState):
    run_gate: str = ""


class DisposesItselfLate(Paglet[LateState]):
    """Its ``run()`` waits at a gate, then disposes itself, as a finished job does."""

    State = LateState

    def run(self) -> None:
        gate(self.state.run_gate).pass_through()
        try:
            self.dispose()
        except PagletError as exc:
            OUTCOMES[self.agent_id] = f"{type(exc).__name__}: {exc}"
        else:
            OUTCOMES[self.agent_id] = "disposed"


def test_a_dispose_from_run_after_the_paglet_was_disposed_fails_at_once(
    make_host: HostFactory,
) -> None:
    host = make_host("alpha")
    held = new_gate()
    proxy = host.create(DisposesItselfLate, LateState(run_gate=held.key))
    held.wait_entered()
    proxy.dispose(timeout=TIMEOUT)  # by someone else, while run() waits at its gate
    held.open()
    outcome = wait_for(lambda: OUTCOMES.get(proxy.agent_id), timeout=TIMEOUT)
    assert (
        outcome
        == f"InvalidAgentError: paglet {proxy.agent_id} was disposed meanwhile; nothing was done"
    )
