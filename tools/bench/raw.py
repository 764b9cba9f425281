"""The raw limit: the same request/reply work with pyzmq and msgpack and nothing else.

Server (a child process): ``python raw.py`` binds a ROUTER on 127.0.0.1, prints
``{"address", "pid", "server_key"}`` and serves until stdin closes. In a secured run
(:mod:`mode`) the ROUTER is a CURVE server and ``server_key`` its public key. Client:
:class:`RawClient`, one DEALER in the driver.

Frames have the shapes paglets puts on the wire for a message to a paglet:

* request ``[header, body]``, header ``{"v": 1, "id": n, "verb": "msg", "to": id,
  "p": 5}`` (plus ``"ow": True`` for oneway), body ``[kind, args, arg]``;
* reply ``[header, body]``, header ``{"v": 1, "id": n, "ok": True}``, body the result.

Kinds: ``echo`` answers ``{"n": args["n"]}``; oneway requests are counted; ``count``
answers ``{"n": count}``; ``reset`` zeroes it; ``blob`` answers the size of
``args["blob"]`` (a request with a large payload and a small reply).
"""

from __future__ import annotations

import os
import time
from typing import Any

import msgpack
import zmq
from mode import is_secure
from procs import emit, exit_when_driver_goes

HIGH_WATER_MARK = 50_000
AGENT_ID = "0" * 32


def _reply_body(kind: str, args: dict[str, Any], count: int) -> Any:
    if kind == "echo":
        return {"n": args.get("n")}
    if kind == "count":
        return {"n": count}
    if kind == "blob":
        return {"bytes": len(args.get("blob", b""))}
    return {"n": 0}


def serve(router: zmq.Socket[Any]) -> None:
    """Answer requests on ``router`` forever (the process exits when the driver goes)."""
    packb, unpackb = msgpack.packb, msgpack.unpackb
    count = 0
    while True:
        frames = router.recv_multipart(copy=False)
        if len(frames) < 3:
            continue
        header = unpackb(frames[1].buffer)
        if header.get("v") != 1 or header.get("verb") != "msg":
            continue
        body = frames[2].buffer
        kind, args, _arg = unpackb(body) if len(body) else ("", {}, None)
        if header.get("ow") is True:
            count += 1
            continue
        if kind == "reset":
            count = 0
        reply = packb({"v": 1, "id": header["id"], "ok": True})
        router.send_multipart([frames[0], reply, packb(_reply_body(kind, args, count))], copy=False)


class RawClient:
    """One DEALER to a raw server; every method bounded in count and time."""

    def __init__(self, address: str, server_key: str = "") -> None:
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.DEALER)
        for option in (zmq.SNDHWM, zmq.RCVHWM):
            self.socket.setsockopt(option, HIGH_WATER_MARK)
        self.socket.setsockopt(zmq.LINGER, 0)
        if server_key:
            public, secret = zmq.curve_keypair()
            self.socket.curve_serverkey = server_key.encode()
            self.socket.curve_publickey = public
            self.socket.curve_secretkey = secret
        self.socket.connect(address)
        self._ids = 0
        self.call("reset", {}, timeout=10.0)

    def close(self) -> None:
        """Close the socket and the context."""
        self.socket.close(0)
        self.context.term()

    def _header(self, oneway: bool = False) -> bytes:
        self._ids += 1
        header: dict[str, Any] = {"v": 1, "id": self._ids, "verb": "msg", "to": AGENT_ID, "p": 5}
        if oneway:
            header["ow"] = True
        return bytes(msgpack.packb(header))

    def _receive(self, timeout: float) -> Any:
        if not self.socket.poll(int(timeout * 1000)):
            raise TimeoutError(f"raw server gave no reply within {timeout}s")
        header_frame, body = self.socket.recv_multipart()
        header = msgpack.unpackb(header_frame)
        if header.get("ok") is not True:
            raise RuntimeError(f"raw server failed: {header}")
        return msgpack.unpackb(body)

    def call(self, kind: str, args: dict[str, Any], timeout: float = 10.0) -> Any:
        """One synchronous request; return the decoded reply body."""
        self.socket.send_multipart([self._header(), msgpack.packb([kind, args, None])])
        return self._receive(timeout)

    def round_trips(
        self, count: int, budget: float, args: dict[str, Any] | None = None, kind: str = "echo"
    ) -> list[int]:
        """Time up to ``count`` synchronous calls within ``budget`` seconds; nanoseconds."""
        samples: list[int] = []
        deadline = time.monotonic() + budget
        clock = time.perf_counter_ns
        for index in range(count):
            call_args = args if args is not None else {"n": index}
            started = clock()
            self.call(kind, call_args)
            samples.append(clock() - started)
            if time.monotonic() > deadline:
                break
        return samples

    def oneway(self, count: int, budget: float) -> tuple[int, float]:
        """Send up to ``count`` oneway messages; time until the server counted them all.

        Returns:
            (messages counted, seconds from the first send to the last one counted).
        """
        self.call("reset", {})
        body_of = msgpack.packb
        deadline = time.monotonic() + budget
        started = time.perf_counter()
        sent = 0
        for index in range(count):
            self.socket.send_multipart([self._header(True), body_of(["tick", {"n": index}, None])])
            sent += 1
            if index % 1024 == 0 and time.monotonic() > deadline:
                break
        counted = self._wait_count(sent, deadline + 30.0)
        return counted, time.perf_counter() - started

    def _wait_count(self, expected: int, deadline: float) -> int:
        counted = 0
        while time.monotonic() < deadline:
            counted = int(self.call("count", {})["n"])
            if counted >= expected:
                break
        return counted

    def windowed(self, count: int, window: int, budget: float) -> tuple[int, float]:
        """Up to ``count`` requests with at most ``window`` awaiting a reply.

        Returns:
            (replies received, seconds from the first send to the last reply).
        """
        socket = self.socket
        deadline = time.monotonic() + budget
        started = time.perf_counter()
        sent = received = 0
        while received < count:
            while sent < count and sent - received < window and time.monotonic() < deadline:
                socket.send_multipart([self._header(), msgpack.packb(["echo", {"n": sent}, None])])
                sent += 1
            if received == sent:
                break
            self._receive(30.0)
            received += 1
        return received, time.perf_counter() - started


def main() -> None:
    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    for option in (zmq.SNDHWM, zmq.RCVHWM):
        router.setsockopt(option, HIGH_WATER_MARK)
    router.setsockopt(zmq.LINGER, 0)
    server_key = ""
    if is_secure():
        public, secret = zmq.curve_keypair()
        router.curve_server = True
        router.curve_secretkey = secret
        server_key = public.decode()
    router.bind("tcp://127.0.0.1:0")
    address = router.getsockopt_string(zmq.LAST_ENDPOINT)
    emit({"address": address, "pid": os.getpid(), "server_key": server_key})
    exit_when_driver_goes()
    serve(router)


if __name__ == "__main__":
    main()
