"""A link closed just as its peer leaves must not stall the transport's I/O thread.

libzmq sends a socket's monitor events (here: the disconnect) from its own I/O thread
with a blocking send; a monitor reader closed before the monitor was stopped left that
thread waiting for good, and no request of the transport ever left again. An isolated
paglet's child that ends does exactly this to its host's link: the peer goes away and
the host forgets the link at the same moment.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq

from helpers import TIMEOUT
from paglets.core.errors import HostStoppedError
from paglets.net.transport import Transport, TransportConfig
from paglets.wire.protocol import VERB_PING, pack_ok_header, unpack_header

ROUNDS = 100


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="pgl-mon-") as name:
        yield Path(name)


def _answer_one(router: zmq.Socket[Any]) -> None:
    assert router.poll(int(TIMEOUT * 1000)), "no request reached the peer"
    routing_id, header, _body = router.recv_multipart()
    router.send_multipart([routing_id, pack_ok_header(unpack_header(header)["id"]), b"pong"])


def test_links_forgotten_as_their_peers_leave_keep_the_transport_working(
    workdir: Path, zmq_context: zmq.Context[Any]
) -> None:
    client = Transport("client", TransportConfig(bind_host=None, default_timeout=TIMEOUT))
    client.start(TIMEOUT)
    try:
        for round_number in range(ROUNDS + 1):
            endpoint = f"ipc://{workdir}/p{round_number}"
            router = zmq_context.socket(zmq.ROUTER)
            router.setsockopt(zmq.LINGER, 0)
            router.bind(endpoint)
            try:
                future = client.request(endpoint, VERB_PING, timeout=TIMEOUT)
                _answer_one(router)
                reply = future.get_reply(TIMEOUT)  # fails once the I/O thread is stuck
                assert bytes(reply.body) == b"pong", f"round {round_number}"
            finally:
                router.close(0)  # the peer leaves (a child ends) ...
            client.forget_link(endpoint, HostStoppedError("the peer left"))  # ... as it's forgotten
    finally:
        client.stop(TIMEOUT)
