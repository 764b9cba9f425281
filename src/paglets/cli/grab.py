"""``paglets grab`` (and the classic ``paglets-file-grabber``): one file between two hosts.

Both commands are built from a paglet, a
:class:`~paglets.patterns.file_mobility.SingleFileTransferPaglet` created on the entry
host:

``push SOURCE --remote HOST --dest PATH``
    SOURCE is a file on the entry host (this machine). The paglet registers it and
    dispatches itself to HOST, which saves it at PATH on arrival.
``pull SOURCE --remote HOST --dest PATH``
    SOURCE is a file on HOST. The paglet goes to HOST, registers it there and comes
    back; the entry host saves it at PATH (on this machine).

Before anything moves the paglet checks both ends (``--dry`` stops there and prints
the plan). The bytes move peer to peer in verified chunks; the destination shows the
whole file or nothing. ``--mode move`` deletes the source only after the file was
saved; a failed save of a move carries the file back.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from paglets.cli.entry import ClientOptions, resolve_entry
from paglets.cli.options import ApiKeyEnv, Entry, Insecure, Json
from paglets.cli.output import console, fail, print_json
from paglets.cli.stream_progress import bars_enabled, stream_bar
from paglets.core.errors import PagletError
from paglets.core.messages import Message
from paglets.core.sizes import human_size
from paglets.remote.client import HostClient
from paglets.remote.proxy import PagletProxy

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Copy or move one file between the entry host and a remote host.",
)

TRANSFER_CLASS = "paglets.patterns.file_mobility:SingleFileTransferPaglet"
_MIN_RATE = 2 * 1024 * 1024
"""Bytes per second a transfer is granted before the command stops waiting."""

Remote = Annotated[str, typer.Option("--remote", help="The other host: a name or an address.")]
Dest = Annotated[str, typer.Option("--dest", help="Where the file is saved.")]
Mode = Annotated[str, typer.Option("--mode", help="copy (keep the source) or move.")]
Dry = Annotated[bool, typer.Option("--dry", help="Check both ends and print the plan only.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace an existing destination.")]
Timeout = Annotated[float, typer.Option(help="Seconds to wait for each step (plus transfer time).")]


@app.command()
def push(
    source: Annotated[str, typer.Argument(help="A file on the entry host (this machine).")],
    remote: Remote,
    dest: Dest,
    entry: Entry = None,
    mode: Mode = "copy",
    dry: Dry = False,
    overwrite: Overwrite = False,
    json_output: Json = False,
    timeout: Timeout = 30.0,
    api_key_env: ApiKeyEnv = None,
    insecure: Insecure = False,
) -> None:
    """Send a file of the entry host to --dest on --remote."""
    _grab(
        "push",
        str(Path(source).expanduser().absolute()),
        dest,
        remote,
        entry,
        mode,
        dry,
        overwrite,
        json_output,
        ClientOptions(timeout, api_key_env, insecure),
    )


@app.command()
def pull(
    source: Annotated[str, typer.Argument(help="A file on the remote host (absolute path).")],
    remote: Remote,
    dest: Dest,
    entry: Entry = None,
    mode: Mode = "copy",
    dry: Dry = False,
    overwrite: Overwrite = False,
    json_output: Json = False,
    timeout: Timeout = 30.0,
    api_key_env: ApiKeyEnv = None,
    insecure: Insecure = False,
) -> None:
    """Fetch a file of --remote to --dest on the entry host (this machine)."""
    _grab(
        "pull",
        source,
        str(Path(dest).expanduser().absolute()),
        remote,
        entry,
        mode,
        dry,
        overwrite,
        json_output,
        ClientOptions(timeout, api_key_env, insecure),
    )


def _grab(
    direction: str,
    source: str,
    dest: str,
    remote: str,
    entry: str | None,
    mode: str,
    dry: bool,
    overwrite: bool,
    json_output: bool,
    options: ClientOptions,
) -> None:
    if mode not in ("copy", "move"):
        raise typer.BadParameter("must be copy or move", param_hint="--mode")
    try:
        address = resolve_entry(entry, options)
        with options.client(address) as client:
            report = _run(
                client,
                direction,
                source,
                dest,
                remote,
                mode,
                dry,
                overwrite,
                json_output,
                options.timeout,
            )
    except ValueError as exc:
        fail(str(exc))
        return
    except PagletError as exc:
        fail(f"{type(exc).__name__}: {exc}")
        return
    if json_output:
        print_json(report)
    elif report.get("dry"):
        _print_plan(report)
    else:
        rate = report["size"] / max(report["seconds"], 1e-9) / (1024 * 1024)
        console.print(
            f"{report['mode']}: {source} -> {report['saved']} on "
            f"{report['dest_host']} ({human_size(report['size'])} in "
            f"{report['seconds']:.2f}s, {rate:.1f} MiB/s)",
            highlight=False,
        )
    if report.get("problems") or report.get("error"):
        raise typer.Exit(1)


def _run(
    client: HostClient,
    direction: str,
    source: str,
    dest: str,
    remote: str,
    mode: str,
    dry: bool,
    overwrite: bool,
    json_output: bool,
    timeout: float,
) -> dict[str, Any]:
    hosts = (client.address, remote) if direction == "push" else (remote, client.address)
    entry_name = str(client.health().get("name") or client.address)
    shown = (entry_name, remote) if direction == "push" else (remote, entry_name)
    state = {
        "source": source,
        "dest": dest,
        "source_host": hosts[0],
        "dest_host": hosts[1],
        "mode": mode,
        "overwrite": overwrite,
    }
    proxy = client.create(TRANSFER_CLASS, state)
    report: dict[str, Any] = {
        "direction": direction,
        "source": source,
        "dest": dest,
        "source_host": shown[0],
        "dest_host": shown[1],
        "mode": mode,
    }
    keep = False
    try:
        plan = proxy.send("plan", timeout=timeout)
        size = int(plan["source"]["size"])
        report.update(size=size, problems=plan["problems"], plan=plan)
        if dry or plan["problems"]:
            report["dry"] = dry
            if plan["problems"] and not dry:
                raise PagletError("; ".join(plan["problems"]))
            return report
        limit = timeout + size / _MIN_RATE
        if direction == "pull":
            proxy.send(Message("go", arg=remote), timeout=limit)
        started = time.monotonic()
        future = proxy.send_future("carry", timeout=limit)
        with stream_bar(
            f"{direction} {Path(source).name}", size, bars_enabled(json_output)
        ) as update:
            while not future.wait_for_reply(0.2):
                update(_done(client, proxy.agent_id))
            future.get_reply(0)
        result = proxy.send("result", timeout=timeout)
        report.update(
            seconds=time.monotonic() - started, saved=result["saved"], error=result["error"]
        )
        if result["error"]:
            keep = not _recover(proxy, mode, timeout + size / _MIN_RATE, report)
            raise PagletError(
                f"the file arrived but could not be saved: {result['error']}"
                + report.get("recovery", "")
            )
        return report
    finally:
        if not keep:
            try:
                proxy.dispose(timeout=timeout)
            except PagletError:
                pass


def _done(client: HostClient, agent_id: str) -> int:
    try:
        return max(
            (int(t["done"]) for t in client.streams() if t.get("agent_id") == agent_id),
            default=0,
        )
    except PagletError:
        return 0


def _recover(proxy: PagletProxy, mode: str, limit: float, report: dict[str, Any]) -> bool:
    """After a failed save: bring a moved file back; return whether the paglet may go."""
    if mode != "move":
        return True  # the source is intact; the paglet's copy can go
    try:
        proxy.send("return", timeout=limit)
        result = proxy.send("result", timeout=limit)
    except PagletError as exc:
        result = {"error": str(exc)}
    if result.get("error"):
        report["recovery"] = (
            f"; the file is kept by paglet {proxy.agent_id} (it could not be put back: "
            f"{result['error']})"
        )
        return False
    report["recovery"] = f"; the source {result['saved']} was put back"
    return True


def _print_plan(report: dict[str, Any]) -> None:
    plan = report["plan"]
    source, dest = plan["source"], plan["dest"]
    console.print(f"[bold]dry run[/] ({report['direction']}, mode {report['mode']})")
    console.print(
        f"  source  {source['path']} on {report['source_host']}: "
        + (human_size(source["size"]) if source["is_file"] else "not a file"),
        highlight=False,
    )
    console.print(
        f"  dest    {dest['path']} on {report['dest_host']}: "
        + ("exists" if dest["exists"] else "new")
        + f", {human_size(dest['free'])} free",
        highlight=False,
    )
    for problem in report["problems"]:
        console.print(f"  [red]problem:[/] {problem}", highlight=False)
    if not report["problems"]:
        console.print("  nothing moved; run without --dry to transfer", highlight=False)


def main() -> None:
    """Entry point of ``paglets-file-grabber``."""
    app()


if __name__ == "__main__":
    main()
