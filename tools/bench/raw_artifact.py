"""The raw limit of an artifact transfer: file to file over pyzmq, chunked, hashed, windowed.

Two programs, each in a child process of the driver:

``python raw_artifact.py sink --dest PATH [--fsync]``
    binds a ROUTER, prints ``{"address", "pid"}``, receives one file and exits. Each
    ``[header {"verb": "chunk", "id", "off"}, bytes]`` is written at its offset, fed to
    sha256 and acknowledged (one credit back). ``{"verb": "end", "sha256"}`` is answered
    with the receiver's hash; the file becomes visible under ``PATH`` (atomic rename)
    only when both hashes match. With ``--fsync`` the file is on disk before the
    rename, as a store that must not lose a committed file does it.

``python raw_artifact.py source --src PATH --to ADDRESS [--chunk BYTES] [--window N]``
    prints ``{"pid"}``, sends the file with at most ``N`` unacknowledged chunks, then
    prints ``{"seconds", "bytes", "sha256", "match", "rss_growth", "receiver": {...}}``.

Both report their peak RSS growth: the peak resident size during the transfer
(``VmHWM`` after a reset, on Linux) minus the resident size when it started.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import msgpack
import psutil
import zmq
from procs import emit, exit_when_driver_goes

CHUNK = 1024 * 1024
WINDOW = 8
REPLY_TIMEOUT_MS = 30_000


def reset_peak_rss() -> int:
    """Start a fresh peak-RSS window where the OS allows it; return the RSS now.

    Linux resets ``VmHWM`` when ``5`` is written to ``/proc/self/clear_refs``.
    ``ru_maxrss`` cannot serve: Linux carries the forking parent's peak across
    ``execve`` into the child, so a child of a big driver would report the driver's size.
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return int(psutil.Process().memory_info().rss)


def peak_rss() -> int:
    """The peak resident size since :func:`reset_peak_rss` (``VmHWM``), in bytes."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # only a fallback, see above
    return int(peak if sys.platform == "darwin" else peak * 1024)


def sink(dest: Path, fsync: bool = False) -> None:
    """Receive one file into ``dest``; answer each chunk with a credit."""
    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 2000)
    router.bind("tcp://127.0.0.1:0")
    emit({"address": router.getsockopt_string(zmq.LAST_ENDPOINT), "pid": os.getpid()})
    exit_when_driver_goes()
    baseline = reset_peak_rss()
    partial = dest.with_name(dest.name + ".partial")
    digest = hashlib.sha256()
    written = 0
    with partial.open("wb") as out:
        while True:
            frames = router.recv_multipart(copy=False)
            routing_id, header = frames[0], msgpack.unpackb(frames[1].buffer)
            if header["verb"] == "chunk":
                if header["off"] != written:
                    raise RuntimeError(f"chunk at {header['off']}, expected {written}")
                data = frames[2].buffer
                out.write(data)
                digest.update(data)
                written += len(data)
                router.send_multipart([routing_id, msgpack.packb({"id": header["id"], "ok": True})])
                continue
            out.flush()
            if fsync:
                os.fsync(out.fileno())
            break
    match = digest.hexdigest() == header.get("sha256")
    if match:
        partial.rename(dest)
    else:
        partial.unlink()
    answer = {
        "id": header["id"],
        "ok": True,
        "match": match,
        "sha256": digest.hexdigest(),
        "bytes": written,
        "rss_growth": peak_rss() - baseline,
    }
    router.send_multipart([routing_id, msgpack.packb(answer)])
    router.close()
    context.term()


def source(src: Path, address: str, chunk: int, window: int) -> dict[str, Any]:
    """Send ``src`` to the sink at ``address``; return the figures of the transfer."""
    context = zmq.Context()
    dealer = context.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(address)
    baseline = reset_peak_rss()
    digest = hashlib.sha256()
    offset = sent = acknowledged = 0

    def await_reply() -> dict[str, Any]:
        if not dealer.poll(REPLY_TIMEOUT_MS):
            raise TimeoutError("the sink stopped answering")
        reply: dict[str, Any] = msgpack.unpackb(dealer.recv())
        return reply

    started = time.perf_counter()
    with src.open("rb") as data:
        while True:
            while sent - acknowledged < window:
                block = data.read(chunk)
                if not block:
                    break
                digest.update(block)
                header = msgpack.packb({"verb": "chunk", "id": sent, "off": offset})
                dealer.send_multipart([header, block], copy=False)
                offset += len(block)
                sent += 1
            if sent == acknowledged:
                break
            await_reply()
            acknowledged += 1
    dealer.send(msgpack.packb({"verb": "end", "id": sent, "sha256": digest.hexdigest()}))
    receiver = await_reply()
    seconds = time.perf_counter() - started
    dealer.close()
    context.term()
    return {
        "seconds": seconds,
        "bytes": offset,
        "chunks": sent,
        "sha256": digest.hexdigest(),
        "match": bool(receiver.get("match")) and receiver.get("sha256") == digest.hexdigest(),
        "rss_growth": peak_rss() - baseline,
        "receiver": receiver,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=["sink", "source"])
    parser.add_argument("--dest", type=Path)
    parser.add_argument("--src", type=Path)
    parser.add_argument("--to", default="")
    parser.add_argument("--chunk", type=int, default=CHUNK)
    parser.add_argument("--window", type=int, default=WINDOW)
    parser.add_argument("--fsync", action="store_true", help="sink: fsync before the rename")
    options = parser.parse_args()
    if options.role == "sink":
        sink(options.dest, options.fsync)
        return
    emit({"pid": os.getpid()})
    exit_when_driver_goes()
    emit(source(options.src, options.to, options.chunk, options.window))


if __name__ == "__main__":
    main()
