"""Hello: create a paglet, send it a message, read the reply.

Two hosts start in this process on 127.0.0.1 (OS-chosen ports, no discovery). A
greeter paglet is created on alpha and another, from alpha, on beta; both answer a
``hello`` message with a greeting that names the host they live on and how many
greetings they gave.

Run it with ``uv run python demos/hello.py``.
"""

from __future__ import annotations

import faulthandler
from dataclasses import dataclass
from typing import Any

from paglets.core.agent import Paglet, PagletState
from paglets.core.messages import Message
from paglets.runtime.host import Host


@dataclass
class GreeterState(PagletState):
    greeted: int = 0


class GreeterPaglet(Paglet[GreeterState]):
    State = GreeterState

    def handle_message(self, message: Message) -> Any:
        if message.kind == "hello":
            self.state.greeted += 1
            name = message.get_arg("name", "stranger")
            return f"Hello, {name}, from {self.context.name} (greeting number {self.state.greeted})"
        return self.not_handled()


def main() -> None:
    # A demo must end: if anything hangs, print where and exit.
    faulthandler.dump_traceback_later(45, exit=True)
    with (
        Host(name="alpha", port=0) as alpha,
        Host(name="beta", port=0, peers=[alpha.address]) as beta,
    ):
        alpha.wait_for_host("beta", timeout=5)
        print(f"hosts up: alpha at {alpha.address}, beta at {beta.address}")

        local = alpha.create(GreeterPaglet)
        print(f"created a greeter on alpha: {local.agent_id}")
        print("reply:", local.send("hello", args={"name": "Ada"}))
        print("reply:", local.send("hello", args={"name": "Grace"}))

        remote = alpha.create_remote("beta", GreeterPaglet)
        print(f"created a greeter on beta from alpha: {remote.agent_id}")
        print("reply:", remote.send(Message("hello", {"name": "Alan"})))
    print("hosts stopped")


if __name__ == "__main__":
    main()
