"""``paglets agents``: list, create, message, move and dispose paglets from the shell."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from paglets.cli.options import Json
from paglets.cli.output import fail, print_json, print_table
from paglets.core.agent import ACTIVE, INACTIVE
from paglets.core.errors import PagletError
from paglets.remote.client import HostClient

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Work with paglets on a host.")
_api_key_env: str | None = None


@app.callback()
def options(
    api_key_env: Annotated[
        str | None,
        typer.Option(help="Read the mesh secret from this variable (default PAGLETS_API_KEY)."),
    ] = None,
) -> None:
    """Work with paglets on a host."""
    global _api_key_env
    _api_key_env = api_key_env


Entry = Annotated[
    str, typer.Option("--entry", help="Address of the host to talk to (tcp://H:P or H:P).")
]
Timeout = Annotated[float, typer.Option(help="Seconds to wait for each reply.")]

DEFAULT_ENTRY = "tcp://127.0.0.1:8765"
T = TypeVar("T")


def _parse_json(text: str | None, option: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint=option) from None


def _with_client(entry: str, timeout: float, action: Callable[[HostClient], T]) -> T:
    try:
        with HostClient(address=entry, timeout=timeout, api_key_env=_api_key_env) as client:
            return action(client)
    except ValueError as exc:
        fail(str(exc))
    except PagletError as exc:
        fail(f"{type(exc).__name__}: {exc}")
    raise AssertionError("unreachable")


@app.command("list")
def list_agents(
    entry: Entry = DEFAULT_ENTRY, timeout: Timeout = 10.0, json_output: Json = False
) -> None:
    """List the paglets of a host, active and inactive."""
    infos = _with_client(entry, timeout, lambda client: client.list_agents(flags=ACTIVE | INACTIVE))
    if json_output:
        print_json(infos)
        return
    print_table(
        f"paglets on {entry}",
        ["agent id", "class", "status", "handled", "queued"],
        [
            [i["agent_id"], i["class"], i["status"], i.get("handled", ""), i.get("queued", "")]
            for i in infos
        ],
    )


@app.command()
def create(
    class_path: Annotated[str, typer.Argument(help="Paglet class, module:QualName.")],
    state: Annotated[str | None, typer.Option(help="State fields as a JSON object.")] = None,
    init: Annotated[str | None, typer.Option(help="Creation argument as JSON.")] = None,
    entry: Entry = DEFAULT_ENTRY,
    timeout: Timeout = 10.0,
    json_output: Json = False,
) -> None:
    """Create a paglet; print its agent id."""
    fields = _parse_json(state, "--state")
    if fields is not None and not isinstance(fields, dict):
        raise typer.BadParameter("must be a JSON object", param_hint="--state")
    init_value = _parse_json(init, "--init")
    proxy = _with_client(entry, timeout, lambda c: c.create(class_path, fields, init_value))
    if json_output:
        print_json(proxy.to_wire())
    else:
        print(proxy.agent_id)


@app.command()
def send(
    agent_id: Annotated[str, typer.Argument(help="The paglet's id.")],
    kind: Annotated[str, typer.Argument(help="Message kind.")],
    args: Annotated[str | None, typer.Option(help="Message args as a JSON object.")] = None,
    entry: Entry = DEFAULT_ENTRY,
    timeout: Timeout = 10.0,
) -> None:
    """Send a message and print the reply as JSON."""
    values = _parse_json(args, "--args")
    if values is not None and not isinstance(values, dict):
        raise typer.BadParameter("must be a JSON object", param_hint="--args")
    reply = _with_client(
        entry,
        timeout,
        lambda c: c.get_proxy(agent_id).send(kind, args=values or {}, timeout=timeout),
    )
    print_json(reply)


@app.command()
def dispatch(
    agent_id: Annotated[str, typer.Argument(help="The paglet's id.")],
    target: Annotated[str, typer.Argument(help="Target host name or address.")],
    entry: Entry = DEFAULT_ENTRY,
    timeout: Timeout = 30.0,
) -> None:
    """Move a paglet to another host; print its new address."""
    proxy = _with_client(
        entry, timeout, lambda c: c.get_proxy(agent_id).dispatch(target, timeout=timeout)
    )
    print(proxy.host_url)


@app.command()
def info(
    agent_id: Annotated[str, typer.Argument(help="The paglet's id.")],
    entry: Entry = DEFAULT_ENTRY,
    timeout: Timeout = 10.0,
) -> None:
    """Print facts about a paglet as JSON (follows it if it moved)."""
    print_json(_with_client(entry, timeout, lambda c: c.get_proxy(agent_id).info(timeout=timeout)))


@app.command()
def dispose(
    agent_id: Annotated[str, typer.Argument(help="The paglet's id.")],
    entry: Entry = DEFAULT_ENTRY,
    timeout: Timeout = 10.0,
) -> None:
    """Destroy a paglet."""
    _with_client(entry, timeout, lambda c: c.get_proxy(agent_id).dispose(timeout=timeout))
    print(f"disposed {agent_id}")


@app.command()
def health(entry: Entry = DEFAULT_ENTRY, timeout: Timeout = 5.0) -> None:
    """Check that a host answers; print its facts as JSON."""
    print_json(_with_client(entry, timeout, lambda c: c.health(timeout=timeout)))
