"""One sender's messages to one paglet keep their order, whatever call styles it mixes."""

from __future__ import annotations

from dataclasses import dataclass

from conftest import HostFactory
from helpers import TIMEOUT
from paglets.core.agent import Paglet, PagletState
from paglets.core.messages import Message


@dataclass
class TallyState(PagletState):
    count: int = 0


class TallyPaglet(Paglet[TallyState]):
    State = TallyState

    def handle_message(self, message: Message) -> object:
        if message.kind == "add":
            self.state.count += 1
            return self.state.count
        return self.not_handled()


def test_one_senders_messages_keep_their_order_across_hosts(make_host: HostFactory) -> None:
    alpha = make_host("alpha")
    beta = make_host("beta")
    for _ in range(50):
        proxy = alpha.create_remote(beta.address, TallyPaglet)
        proxy.send_oneway("add")
        assert proxy.send("add", timeout=TIMEOUT) == 2
        future = proxy.send_future("add")
        assert proxy.send("add", timeout=TIMEOUT) == 4
        assert future.get_reply(TIMEOUT) == 3
