"""A host process under user load, for the control-lane test.

Usage: ``python loaded_host.py BLOCKED MAX_WORKERS PER_PAGLET PER_HOST`` with the mesh
secret in ``PAGLETS_API_KEY``. It starts a host on loopback (discovery off), creates
``BLOCKED`` paglets whose ``block`` handler waits until released, blocks each of
them, then prints ``ready ADDRESS AGENT_ID...``. Each line ``info`` on stdin is
answered with one JSON line (workers and queued counts); ``release`` lets every
handler go; end of input stops the host and exits. The test stops it by PID too.
"""

from __future__ import annotations

import json
import sys
import threading

from paglets.core.agent import Paglet, PagletState
from paglets.core.messages import Message
from paglets.runtime.host import Host

_RELEASE = threading.Event()
_blocked = threading.Semaphore(0)
_LONGEST_BLOCK = 120.0


class Blocker(Paglet[PagletState]):
    """Its ``block`` handler waits until the host is told ``release``."""

    def handle_message(self, message: Message) -> object:
        if message.kind == "block":
            _blocked.release()
            _RELEASE.wait(_LONGEST_BLOCK)
            return True
        if message.kind == "noop":
            return True
        return self.not_handled()


def main() -> None:
    blocked, max_workers, per_paglet, per_host = (int(arg) for arg in sys.argv[1:5])
    host = Host(
        name="alpha",
        port=0,
        mesh_lan_discovery=False,
        max_workers=max_workers,
        max_queued_messages=per_paglet,
        max_host_queued_messages=per_host,
        heartbeat_interval=0.25,
        offline_after=1.0,
    ).start_background()
    try:
        proxies = [host.create(Blocker) for _ in range(blocked)]
        for proxy in proxies:
            proxy.send_oneway("block")
        for _ in proxies:
            if not _blocked.acquire(timeout=10.0):
                raise SystemExit("the handlers did not all block")
        print("ready", host.address, *(proxy.agent_id for proxy in proxies), flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "info":
                info = host.info()
                print(
                    json.dumps({"workers": info["workers"], "queued": info["queued"]}), flush=True
                )
            elif command == "release":
                _RELEASE.set()
    finally:
        _RELEASE.set()
        host.stop()


if __name__ == "__main__":
    main()
