"""A traveller paglet that measures every directed pair of hosts of the mesh.

``paglets examples mesh-benchmark`` (classic ``paglets-mesh-benchmark``) puts one
:class:`MeshProbePaglet` on every online host the entry host knows (created on the
entry host, cloned to the others), then creates one :class:`MeshBenchmarkPaglet` on
the entry host with the list of stops. On each stop the traveller measures, from that
host to every other host's probe:

- ``rtt_ms`` / ``rtt_min_ms``: median and fastest round trip of ``--pings`` small
  synchronous messages, one after the other;
- ``mb_s``: ``--transfers`` messages of ``--payload-kb`` KiB sent as futures at once,
  bytes delivered per second from the first send to the last reply.

It reports the rows of each stop to the probe on the entry host and moves on with
``dispatch``; at the last stop it reports that it is done and disposes itself. A pair
that fails is a row with its ``error``; a hop that fails ends the trip with the error.
``n`` hosts give ``n * (n - 1)`` rows. The command prints them as a table (``--json``
for the rows) and disposes the probes.
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer

from paglets.cli.embedded import Entry
from paglets.cli.jobs import EntryOption, Timeout, hosts_of, print_table, run_on_entry
from paglets.cli.options import ApiKeyEnv, Insecure, Json
from paglets.cli.output import print_json
from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import PagletError, ReplyTimeoutError
from paglets.core.messages import Message

MAX_PINGS = 10_000
MAX_TRANSFERS = 1_000
MAX_PAYLOAD_KB = 64 * 1024
POLL_SECONDS = 0.05


def context_proxy(paglet: Paglet[Any], agent_id: str, address: str) -> Any:
    """A proxy to ``agent_id`` at ``address``, made by the paglet's own host.

    The API of the original spells it ``context.get_proxy(agent_id, host_url)``; the
    compute branch this was written on still spells it ``context.proxy``. Both are
    accepted here, in this one place, until the two meet.
    """
    context = paglet.context
    make = getattr(context, "get_proxy", None) or getattr(context, "proxy")  # noqa: B009
    return make(agent_id, address)


@dataclass
class MeshProbeState(PagletState):
    """What the traveller reported to the probe on the entry host."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False
    error: str = ""


class MeshProbePaglet(Paglet[MeshProbeState]):
    """The far end of each measurement, and the collector of the traveller's reports.

    Kinds: ``ping`` (reply None), ``sink`` (``data``: bytes; reply their length),
    ``report`` (``rows``, ``done``, ``error``: appended and kept), ``results`` (reply
    ``{"rows", "done", "error"}``).
    """

    State = MeshProbeState

    def handle_message(self, message: Message) -> Any:
        kind, args = message.kind, message.args
        if kind == "ping":
            return None
        if kind == "sink":
            return len(args["data"])
        if kind == "report":
            with self.locked_state() as state:
                state.rows.extend(dict(row) for row in args.get("rows", ()))
                state.done = state.done or bool(args.get("done", False))
                state.error = state.error or str(args.get("error", ""))
            return len(self.state.rows)
        if kind == "results":
            with self.locked():
                state = self.state
                return {"rows": list(state.rows), "done": state.done, "error": state.error}
        return self.not_handled()


@dataclass
class MeshBenchmarkState(PagletState):
    """The trip: every stop (``name``, ``address``, ``probe`` id), where it is, how much to send.

    Attributes:
        stops: the hosts in visiting order; the first is the entry host.
        index: the stop the traveller is on.
        pings, transfers, payload_bytes: the size of each measurement.
        timeout: seconds each message may take.
    """

    stops: list[dict[str, str]] = field(default_factory=list)
    index: int = 0
    pings: int = 20
    transfers: int = 16
    payload_bytes: int = 1024 * 1024
    timeout: float = 30.0


class MeshBenchmarkPaglet(Paglet[MeshBenchmarkState]):
    """Visits every stop, measures to every other stop, reports home, moves on."""

    State = MeshBenchmarkState

    def run(self) -> None:
        """Measure from this stop, report, and leave for the next stop (or finish)."""
        with self.locked():
            state = self.state
            stops, index = list(state.stops), state.index
        if not stops:
            return
        here = stops[index]
        home = stops[0]
        rows = [self.measure(here, other) for other in stops if other is not here]
        last = index + 1 >= len(stops)
        error = ""
        if not last:
            with self.locked_state() as state:
                state.index = index + 1
            try:
                self.report(home, rows, False, "")
                self.dispatch(stops[index + 1]["address"])
                return
            except PagletError as exc:
                error = f"leaving {here['name']} for {stops[index + 1]['name']}: {exc}"
                rows = []
        try:
            self.report(home, rows, True, error)
        finally:
            self.dispose()  # the trip is over: nothing is left to ask it

    def report(
        self, home: dict[str, str], rows: list[dict[str, Any]], done: bool, error: str
    ) -> None:
        """Send this stop's rows to the probe on the entry host."""
        args = {"rows": rows, "done": done, "error": error}
        probe = context_proxy(self, home["probe"], home["address"])
        probe.send("report", args=args, timeout=self.state.timeout)

    def measure(self, here: dict[str, str], other: dict[str, str]) -> dict[str, Any]:
        """The row of the directed pair ``here -> other``."""
        state = self.state
        row: dict[str, Any] = {"source": here["name"], "target": other["name"]}
        try:
            probe = context_proxy(self, other["probe"], other["address"])
            probe.send("ping", timeout=state.timeout)  # connects before anything is timed
            trips = []
            for _ in range(state.pings):
                started = time.perf_counter()
                probe.send("ping", timeout=state.timeout)
                trips.append(time.perf_counter() - started)
            payload = b"\x5a" * state.payload_bytes
            probe.send("sink", args={"data": payload}, timeout=state.timeout)  # warms buffers
            started = time.perf_counter()
            futures = [
                probe.send_future("sink", args={"data": payload}, timeout=state.timeout)
                for _ in range(state.transfers)
            ]
            delivered = sum(int(f.get_reply(state.timeout + 5)) for f in futures)
            elapsed = time.perf_counter() - started
        except PagletError as exc:
            row["error"] = f"{type(exc).__name__}: {exc}"
            return row
        row["rtt_ms"] = round(statistics.median(trips) * 1000, 3)
        row["rtt_min_ms"] = round(min(trips) * 1000, 3)
        row["mb_s"] = round(delivered / elapsed / 1e6, 1)
        row["bytes"] = delivered
        return row


def check_sizes(pings: int, transfers: int, payload_kb: int) -> None:
    """Refuse measurement sizes out of range.

    Raises:
        ValueError: a size is out of its range (the text says which).
    """
    if not 1 <= pings <= MAX_PINGS:
        raise ValueError(f"--pings must be from 1 to {MAX_PINGS}")
    if not 1 <= transfers <= MAX_TRANSFERS:
        raise ValueError(f"--transfers must be from 1 to {MAX_TRANSFERS}")
    if not 1 <= payload_kb <= MAX_PAYLOAD_KB:
        raise ValueError(f"--payload-kb must be from 1 to {MAX_PAYLOAD_KB}")


def run_mesh_benchmark(found: Entry, state: MeshBenchmarkState, timeout: float) -> dict[str, Any]:
    """Place the probes, send the traveller round, wait for its last report.

    Returns:
        ``{"hosts": [...], "rows": [...], "error": str}``, rows in measuring order.

    Raises:
        ReplyTimeoutError: the traveller did not finish within ``timeout``.
    """
    hosts = hosts_of(found, None)
    probe = found.client.create(MeshProbePaglet)
    probes = [probe]
    try:
        stops = [{"name": hosts[0][0], "address": hosts[0][1], "probe": probe.agent_id}]
        for name, address in hosts[1:]:
            copy = probe.clone(address, timeout=state.timeout)
            probes.append(copy)
            stops.append({"name": name, "address": address, "probe": copy.agent_id})
        state.stops = stops
        if len(stops) > 1:
            found.client.create(MeshBenchmarkPaglet, state)
        results = _wait_done(probe, len(stops) > 1, timeout)
    finally:
        for each in reversed(probes):
            try:
                each.dispose(timeout=state.timeout)
            except PagletError:
                pass  # its host went away: nothing left to clean
    return {"hosts": [name for name, _ in hosts], **results}


def _wait_done(probe: Any, travelling: bool, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        results = dict(probe.send("results", timeout=timeout))
        if results["done"] or not travelling:
            return results
        if time.monotonic() >= deadline:
            raise ReplyTimeoutError(f"the traveller did not finish within {timeout:g}s")
        time.sleep(POLL_SECONDS)


COLUMNS = ["from", "to", "rtt ms", "min ms", "MB/s"]


def mesh_benchmark(
    pings: Annotated[int, typer.Option(help="Round trips timed per host pair.")] = 20,
    transfers: Annotated[int, typer.Option(help="Payload messages per host pair.")] = 16,
    payload_kb: Annotated[int, typer.Option(help="KiB per payload message.")] = 1024,
    entry: EntryOption = None, timeout: Timeout = 120.0,
    api_key_env: ApiKeyEnv = None, insecure: Insecure = False, json_output: Json = False,
) -> None:  # fmt: skip
    """Measure latency and throughput of every directed host pair with a traveller."""
    try:
        check_sizes(pings, transfers, payload_kb)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    per_message = min(timeout, 30.0)
    state = MeshBenchmarkState(
        pings=pings, transfers=transfers, payload_bytes=payload_kb * 1024, timeout=per_message
    )
    answer = run_on_entry(
        entry,
        timeout,
        api_key_env,
        insecure,
        lambda found: run_mesh_benchmark(found, state, timeout),
    )
    rows = answer["rows"]
    if json_output:
        print_json(answer)
    else:
        table = [
            [
                r["source"],
                r["target"],
                r.get("rtt_ms", ""),
                r.get("rtt_min_ms", ""),
                r.get("mb_s", ""),
            ]
            for r in rows
        ]
        print_table(f"mesh benchmark: {len(answer['hosts'])} hosts", COLUMNS, table)
    if len(answer["hosts"]) < 2:
        print("one host only: there is no pair to measure", file=sys.stderr)
    failed = [r for r in rows if "error" in r]
    for row in failed:
        print(f"{row['source']} -> {row['target']}: {row['error']}", file=sys.stderr)
    if answer["error"]:
        print(f"error: {answer['error']}", file=sys.stderr)
    if failed or answer["error"]:
        raise typer.Exit(1)


def main() -> None:
    """Entry point of ``paglets-mesh-benchmark``."""
    typer.run(mesh_benchmark)
