"""``artifact``: moving a large file, ours against the raw limit, plus resume after a cut.

The raw limit (:mod:`raw_artifact`) copies a file between two child processes over
pyzmq in 1 MiB chunks with a credit window of 8, hashing on both sides. Ours is the
same work between two hosts: a blob in host B's artifact store is pulled by host C
(``art.fetch``: C asks ``art.read`` ranges with a window of 8 chunks of 1 MiB), hashed
as it arrives, fsynced and renamed into C's store. The bar is against the raw copy,
which leaves the file in the page cache; a second raw copy that fsyncs before its
rename, as our store must, is shown beside it: where the disk is slower than the
page cache, that one is the real ceiling of a durable transfer. All run in the same
session, alternately. Reported: MiB/s from the request to the verified file, and each side's
peak RSS growth (``VmHWM`` after a reset). 64 MiB always; 1 GiB in full mode.

Resume: host R2 (1 s chunk timeout, 3 retries) pulls 64 MiB from host R1; R1 is
killed (SIGKILL) half-way and restarted on the same port and store. R2's pull retries
and resumes at the last byte it wrote (if it gave up first, a second request resumes
from its partial file). Reported: the time from R1 answering again to bytes flowing
again, and the whole transfer's time with the cut.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from lab import Lab
from measure import MIB, Settings
from mode import host_options
from procs import Child, free_port
from report import Row, ScenarioResult, ratio_at_least, value_at_most

from paglets.remote.client import HostClient

_BLOCK = 4 * MIB


def write_source(path: Path, size: int) -> None:
    """Write ``size`` bytes of incompressible data (a random block, numbered per copy).

    The file is fsynced, so its writeback does not land in the middle of a measurement.
    """
    block = bytearray(os.urandom(_BLOCK))
    with path.open("wb") as out:
        for index, offset in enumerate(range(0, size, _BLOCK)):
            block[:8] = index.to_bytes(8, "little")
            out.write(block[: min(_BLOCK, size - offset)])
        out.flush()
        os.fsync(out.fileno())


def _limit(size: int) -> float:
    return 60.0 + size / (20 * MIB)  # even a slow disk moves 20 MiB/s


def raw_transfer(src: Path, size: int, fsync: bool = False) -> dict[str, Any]:
    """Copy ``src`` with the raw programs; return the source's figures."""
    dest = src.with_name("raw-received.bin")
    sink_args = ["sink", "--dest", str(dest), *(["--fsync"] if fsync else [])]
    with Child("raw_artifact.py", sink_args) as sink:
        args = ["source", "--src", str(src), "--to", str(sink.ready["address"])]
        with Child("raw_artifact.py", args) as sender:
            figures = sender.wait_result(_limit(size))
    if not figures["match"] or dest.stat().st_size != size:
        raise RuntimeError(f"raw transfer of {size} bytes did not arrive intact: {figures}")
    dest.unlink()
    return figures


def client(address: str, timeout: float = 60.0) -> HostClient:
    """A client with this run's socket mode."""
    return HostClient(address=address, timeout=timeout, **host_options())


def our_transfer(b: Child, c: Child, src: Path, size: int) -> dict[str, Any]:
    """Pull ``src`` (stored on B) from B into C's store; time it, weigh both hosts."""
    with client(b.ready["address"]) as to_b, client(c.ready["address"]) as to_c:
        ref = to_b.upload_artifact(None, src)
        baseline_b = b.request({"cmd": "peak_reset"}, 10)["rss"]
        baseline_c = c.request({"cmd": "peak_reset"}, 10)["rss"]
        started = time.perf_counter()
        pulled = to_c.fetch_artifact(ref, timeout=_limit(size))
        seconds = time.perf_counter() - started
        peak_b = b.request({"cmd": "peak"}, 10)["peak"]
        peak_c = c.request({"cmd": "peak"}, 10)["peak"]
        if pulled.sha256 != ref.sha256 or pulled.size_bytes != size:
            raise RuntimeError(f"our transfer of {size} bytes did not arrive intact: {pulled}")
        to_c.delete_artifact(pulled.artifact_id)  # the next round pulls again
        to_b.delete_artifact(ref.artifact_id)
    return {
        "seconds": seconds,
        "bytes": size,
        "rss_growth_source": peak_b - baseline_b,
        "rss_growth_receiver": peak_c - baseline_c,
    }


def resume_after_cut(folder: Path, src: Path, size: int) -> dict[str, Any]:
    """Kill the source half-way and restart it: how fast does the pull resume?"""
    port, store = free_port(), folder / "r1-store"
    r1_args = ["--name", "bench-r1", "--port", str(port), "--persistence-dir", str(store)]
    r1 = Child("host_server.py", r1_args)
    config = '{"artifact_chunk_timeout": 1.0, "artifact_retries": 3}'
    with Child("host_server.py", ["--name", "bench-r2", "--config", config]) as r2:
        try:
            with client(r1.ready["address"]) as to_r1:
                ref = to_r1.upload_artifact(None, src)
            with client(r2.ready["address"], timeout=10.0) as to_r2:
                outcome: dict[str, Any] = {}
                started = time.perf_counter()
                pulling = threading.Thread(target=_fetch, args=(to_r2, ref, outcome))
                pulling.start()
                cut_at = _wait_done(to_r2, size // 2, 30.0)
                r1.process.kill()
                killed = time.perf_counter()
                r1.stop()
                r1 = Child("host_server.py", r1_args)
                back = time.perf_counter()
                stalled_at = _done(to_r2)
                deadline = time.monotonic() + 30.0
                # still retrying: it resumes by itself, from the last byte it wrote
                while "at" not in outcome and _done(to_r2) <= stalled_at:
                    if time.monotonic() > deadline:
                        raise RuntimeError("the pull neither resumed nor failed in 30s")
                    time.sleep(0.001)
                resumed = time.perf_counter()
                pulling.join(60.0)
                figures = {
                    "cut_at": cut_at,
                    "stalled_at": stalled_at,
                    "restart_seconds": back - killed,
                }
                if "ref" in outcome:
                    return {
                        **figures,
                        "how": "the same pull retried",
                        "resume_seconds": resumed - back,
                        "total_seconds": outcome["at"] - started,
                    }
                again: dict[str, Any] = {"error_before": outcome.get("error")}
                asked = time.perf_counter()
                _fetch(to_r2, ref, again)  # gave up before the peer came back: ask again
                if "ref" not in again:
                    raise RuntimeError(f"the resumed pull failed: {again}")
                return {
                    **figures,
                    "how": "a second request",
                    "resume_seconds": again["at"] - asked,
                    "total_seconds": again["at"] - started,
                }
        finally:
            r1.stop()


def _done(to: HostClient) -> int:
    return max((int(t["done"]) for t in to.streams()), default=0)


def _fetch(to: HostClient, ref: Any, outcome: dict[str, Any]) -> None:
    try:
        outcome["ref"] = to.fetch_artifact(ref, timeout=60.0)
    except Exception as exc:  # reported by the caller
        outcome["error"] = f"{type(exc).__name__}: {exc}"
    outcome["at"] = time.perf_counter()


def _wait_done(to: HostClient, at_least: int, timeout: float) -> int:
    """Poll the receiver's transfers until one has ``at_least`` bytes; return them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = _done(to)
        if done >= at_least:
            return done
        time.sleep(0.001)
    raise RuntimeError(f"no transfer reached {at_least} bytes in {timeout}s")


def run(lab: Lab, settings: Settings) -> ScenarioResult:
    """File transfers of 64 MiB (and 1 GiB in full mode), raw and ours; resume after a cut."""
    result = ScenarioResult("artifact")
    sizes = {"64 MiB": 64 * MIB} if settings.quick else {"64 MiB": 64 * MIB, "1 GiB": 1024 * MIB}
    rounds = settings.count(1, 3)
    with tempfile.TemporaryDirectory(prefix="paglets-bench-artifact-") as name:
        folder = Path(name)
        with (
            Child("host_server.py", ["--name", "bench-art-b"]) as b,
            Child("host_server.py", ["--name", "bench-art-c"]) as c,
        ):
            for label, size in sizes.items():
                src = folder / f"source-{label.replace(' ', '')}.bin"
                write_source(src, size)
                raws, durable, ours = [], [], []
                for _ in range(rounds):
                    raws.append(raw_transfer(src, size))
                    durable.append(raw_transfer(src, size, fsync=True))
                    ours.append(our_transfer(b, c, src, size))
                src.unlink()
                result.details[label] = {"raw": raws, "raw_fsync": durable, "ours": ours}
                result.rows += _rows(label, size, raws, durable, ours)
        src = folder / "resume.bin"
        write_source(src, 64 * MIB)
        resume = resume_after_cut(folder, src, 64 * MIB)
        result.details["resume"] = resume
        result.rows += [
            Row(
                "resume: source killed at",
                resume["cut_at"] / MIB,
                None,
                "MiB",
                note="of 64 MiB; restarted on the same port and store",
            ),
            Row(
                "resume: peer back -> bytes flow again",
                resume["resume_seconds"],
                None,
                "s",
                note=resume["how"] + " (1 s chunk timeout)",
            ),
            Row(
                "resume: whole transfer with the cut",
                resume["total_seconds"],
                None,
                "s",
                note=f"peer restart took {resume['restart_seconds']:.2f}s",
            ),
        ]
    return result


def _rows(
    label: str,
    size: int,
    raws: list[dict[str, Any]],
    durable: list[dict[str, Any]],
    ours: list[dict[str, Any]],
) -> list[Row]:
    raw_rate = max(size / MIB / figures["seconds"] for figures in raws)
    durable_rate = max(size / MIB / figures["seconds"] for figures in durable)
    our_rate = max(size / MIB / figures["seconds"] for figures in ours)
    rss_bar = value_at_most(64.0) if size >= 1024 * MIB else None
    return [
        Row(f"{label} B store -> C store", our_rate, raw_rate, "MiB/s", ratio_at_least(0.8)),
        Row(
            f"{label} against a raw copy that fsyncs",
            our_rate,
            durable_rate,
            "MiB/s",
            note="no bar: the disk's ceiling for a durable copy",
        ),
        Row(
            f"{label} peak RSS growth, source",
            max(f["rss_growth_source"] for f in ours) / MIB,
            max(f["rss_growth"] for f in raws) / MIB,
            "MiB",
            rss_bar,
        ),
        Row(
            f"{label} peak RSS growth, receiver",
            max(f["rss_growth_receiver"] for f in ours) / MIB,
            max(f["receiver"]["rss_growth"] for f in raws) / MIB,
            "MiB",
            rss_bar,
        ),
    ]
