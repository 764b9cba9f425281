"""``paglets examples file``: a courier carries a file around the mesh and home again.

With no ``PATH`` it carries a sample file of ``--size`` random bytes, written on this
machine (so the entry host must run here: a local host or the in-process one). With
no ``--via`` it visits every other online host; on an in-process host with no mesh it
starts a second in-process host to visit, and says so. Each hop's row shows the host, the
size that arrived, the seconds the hop took and whether the SHA-256 matched.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from paglets.cli.embedded import open_entry
from paglets.cli.entry import ClientOptions
from paglets.cli.fitted_table import Column, print_fitted
from paglets.cli.options import ApiKeyEnv, EmbeddedEntry, Insecure, Json
from paglets.cli.output import console, fail, print_json
from paglets.cli.sizes import parse_size
from paglets.core.errors import PagletError
from paglets.core.sizes import human_size
from paglets.examples.file_courier import carry_around
from paglets.runtime.host import Host

Source = Annotated[
    Path | None, typer.Argument(help="The file to carry (default: a sample of --size bytes).")
]
Size = Annotated[str, typer.Option("--size", help="Size of the sample file, e.g. 8MiB.")]
Via = Annotated[
    list[str] | None,
    typer.Option("--via", help="A host to visit, in order; repeatable (default: every host)."),
]
Timeout = Annotated[float, typer.Option(help="Seconds the whole tour may take.")]


def file_tour(
    path: Source = None,
    size: Size = "8MiB",
    via: Via = None,
    entry: EmbeddedEntry = None,
    timeout: Timeout = 120.0,
    api_key_env: ApiKeyEnv = None,
    insecure: Insecure = False,
    json_output: Json = False,
) -> None:
    """Carry a file to every host and home again, checking it on each arrival."""
    try:
        sample_bytes = parse_size(size)
    except ValueError as exc:
        fail(f"--size: {exc}", 2)
    if path is not None and not path.is_file():
        fail(f"{path} is not a file", 2)
    options = ClientOptions(timeout=timeout, api_key_env=api_key_env, insecure=insecure)
    with tempfile.TemporaryDirectory(prefix="paglets-courier-") as scratch:
        cargo = path.resolve() if path is not None else _sample(Path(scratch), sample_bytes)
        try:
            with open_entry(entry, options) as found, ExitStack() as stack:
                tour = via if via is not None else _other_hosts(found.client.mesh())
                if found.host is not None and not tour:
                    tour = [stack.enter_context(_second_host(found.host, Path(scratch))).name]
                result = carry_around(found.client, cargo, tour, timeout)
        except (PagletError, ValueError) as exc:
            fail(f"{type(exc).__name__}: {exc}")
    if json_output:
        print_json(result)
    else:
        _print(result)
    if result["error"] or not all(hop["verified"] for hop in result["hops"]):
        raise typer.Exit(1)


def _sample(folder: Path, size: int) -> Path:
    sample = folder / "sample.bin"
    with sample.open("wb") as handle:
        left = size
        while left > 0:
            block = os.urandom(min(left, 1 << 20))
            handle.write(block)
            left -= len(block)
    return sample


@contextmanager
def _second_host(home: Host, scratch: Path) -> Iterator[Host]:
    """A second in-process host beside ``home``, so the courier has somewhere to go."""
    peer = Host(
        name=f"{home.config.name}-peer",
        host="127.0.0.1",
        port=0,
        peers=[home.address],
        mesh_lan_discovery=False,
        persistence_dir=scratch / "peer-store",
        insecure=True,
    )
    peer.start_background()
    print(f"no other host: touring a second in-process host ({peer.config.name})", file=sys.stderr)
    try:
        yield peer
    finally:
        peer.stop()


def _other_hosts(view: dict[str, Any]) -> list[str]:
    return sorted(peer["name"] for peer in view.get("peers", ()) if peer.get("online"))


def _print(result: dict[str, Any]) -> None:
    columns = [
        Column("hop", 3, 3, "right"),
        Column("host", 1, 8),
        Column("size", 2, 8, "right"),
        Column("seconds", 2, 7, "right"),
        Column("MiB/s", 4, 6, "right"),
        Column("sha256", 1, 6),
    ]
    rows = [
        [
            str(number),
            hop["host"],
            human_size(hop["size"]),
            f"{hop['seconds']:.3f}",
            f"{hop['size'] / max(hop['seconds'], 1e-9) / (1 << 20):.0f}",
            "ok" if hop["verified"] else "MISMATCH",
        ]
        for number, hop in enumerate(result["hops"], 1)
    ]
    verified = sum(1 for hop in result["hops"] if hop["verified"])
    caption = f"{human_size(result['size'])}: whole on {verified} of {len(rows)} arrivals"
    print_fitted("The courier's tour", columns, rows, caption=caption)
    console.print(f"sha256 {result['sha256']}", soft_wrap=True)
    if result["error"]:
        console.print(f"stopped: {result['error']}", soft_wrap=True)
