"""A peer process that floods a host with one-way messages for a bounded time.

Usage: ``python flood_peer.py ADDRESS SECONDS AGENT_ID...`` with the mesh secret in
``PAGLETS_API_KEY``. For each agent id in turn it sends an ``UNQUEUED_PRIORITY`` ``block``
(handled at once on a worker: it blocks there) and a queued ``noop``, from a raw
authenticated DEALER as fast as the host takes them (a send waits when the host is
behind, so the flood costs this process little CPU). It prints how many messages it
sent, then exits. Run by tests, which stop it by PID.
"""

from __future__ import annotations

import os
import sys
import time

import zmq

from paglets.core.messages import UNQUEUED_PRIORITY, Message
from paglets.net.security import configure_socket, derive_keys
from paglets.remote.proxy_backend import message_body, message_fields
from paglets.wire.protocol import VERB_MESSAGE, pack_request_header


def _frames(agent_id: str, message: Message) -> list[bytes]:
    fields = {**message_fields(agent_id, message, False), "ow": True}
    return [pack_request_header(0, VERB_MESSAGE, fields), message_body(message)]


def main() -> None:
    address, seconds, agent_ids = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
    context = zmq.Context()
    dealer = context.socket(zmq.DEALER)
    configure_socket(dealer, derive_keys(os.environ["PAGLETS_API_KEY"]), server=False)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.setsockopt(zmq.SNDTIMEO, 200)
    dealer.connect(address)
    batches = [
        (
            _frames(agent_id, Message("block", {}, None, UNQUEUED_PRIORITY)),
            _frames(agent_id, Message("noop", {"pad": b"x" * 512})),
        )
        for agent_id in agent_ids
    ]
    deadline = time.monotonic() + seconds
    sent = 0
    print("flooding", flush=True)
    try:
        while time.monotonic() < deadline:
            for block, noop in batches:
                try:
                    dealer.send_multipart(block)
                    dealer.send_multipart(noop)
                except zmq.Again:
                    continue  # the host is behind: keep the deadline in sight
                sent += 2
    finally:
        print(f"sent {sent}", flush=True)
        dealer.close(0)
        context.term()


if __name__ == "__main__":
    main()
