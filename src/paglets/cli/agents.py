"""``paglets agents``: list, create, message, move and dispose paglets from the shell."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from paglets.cli.entry import ClientOptions, on_entry
from paglets.cli.options import ApiKeyEnv, Entry, Insecure, Json
from paglets.cli.output import print_json, print_table
from paglets.core.agent import ACTIVE, INACTIVE

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Work with paglets on a host.")

Timeout = Annotated[float, typer.Option(help="Seconds to wait for each reply.")]


def _parse_json(text: str | None, option: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint=option) from None


@app.command("list")
def list_agents(
    entry: Entry = None,
    timeout: Timeout = 10.0,
    api_key_env: ApiKeyEnv = None,
    insecure: Insecure = False,
    json_output: Json = False,
) -> None:
    """List the paglets of a host, active and inactive."""
    infos = on_entry(
        entry,
        ClientOptions(timeout, api_key_env, insecure),
        lambda client: client.list_agents(flags=ACTIVE | INACTIVE),
    )
    if json_output:
        print_json(infos)
        return
    print_table(
        f"paglets on {entry or 'the entry host'}",
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
    entry: Entry = None,
    timeout: Timeout = 10.0,
    api_key_env: ApiKeyEnv = None,
    insecure: Insecure = False,
    json_output: Json = False,
) -> None:
    """Create a paglet; print its agent id."""
    fields = _parse_json(state, "--state")
    if fields is not None and not isinstance(fields, dict):
        raise typer.BadParameter("must be a JSON object", param_hint="--state")
    init_value = _parse_json(init, "--init")
    proxy = on_entry(
        entry,
        ClientOptions(timeout, api_key_env, insecure),
        lambda c: c.create(class_path, fields, init_value),
    )
    if json_output:
        print_json(proxy.to_wire())
    else:
        print(proxy.agent_id)


@app.command()
def send(
    agent_id: Annotated[str, typer.Argument(help="The paglet's id.")],
    kind: Annotated[str, typer.Argument(help="Message kind.")],
    args: Annotated[str | None, typer.Option(help="Message args as a JSON object.")] = None,
    entry: Entry = None,
    timeout: Timeout = 10.0,
    api_key_env: ApiKeyEnv = None,
    insecure: Insecure = False,
) -> None:
    """Send a message and print the reply as JSON."""
    values = _parse_json(args, "--args")
    if values is not None and not isinstance(values, dict):
        raise typer.BadParameter("must be a JSON object", param_hint="--args")
    reply = on_entry(
        entry,
        ClientOptions(timeout, api_key_env, insecure),
        lambda c: c.get_proxy(agent_id).send(kind, args=values or {}, timeout=timeout),
    )
    print_json(reply)


@app.command()
def dispatch(
    agent_id: Annotated[str, typer.Argument(help="The paglet's id.")],
    target: Annotated[str, typer.Argument(help="Target host name or address.")],
    entry: Entry = None,
    timeout: Timeout = 30.0,
    api_key_env: ApiKeyEnv = None,
    insecure: Insecure = False,
) -> None:
    """Move a paglet to another host; print its new address."""
    proxy = on_entry(
        entry,
        ClientOptions(timeout, api_key_env, insecure),
        lambda c: c.get_proxy(agent_id).dispatch(target, timeout=timeout),
    )
    print(proxy.host_url)


@app.command()
def info(
    agent_id: Annotated[str, typer.Argument(help="The paglet's id.")],
    entry: Entry = None,
    timeout: Timeout = 10.0,
    api_key_env: ApiKeyEnv = None,
    insecure: Insecure = False,
) -> None:
    """Print facts about a paglet as JSON (follows it if it moved)."""
    print_json(
        on_entry(
            entry,
            ClientOptions(timeout, api_key_env, insecure),
            lambda c: c.get_proxy(agent_id).info(timeout=timeout),
        )
    )


@app.command()
def dispose(
    agent_id: Annotated[str, typer.Argument(help="The paglet's id.")],
    entry: Entry = None,
    timeout: Timeout = 10.0,
    api_key_env: ApiKeyEnv = None,
    insecure: Insecure = False,
) -> None:
    """Destroy a paglet."""
    on_entry(
        entry,
        ClientOptions(timeout, api_key_env, insecure),
        lambda c: c.get_proxy(agent_id).dispose(timeout=timeout),
    )
    print(f"disposed {agent_id}")


@app.command()
def health(
    entry: Entry = None,
    timeout: Timeout = 5.0,
    api_key_env: ApiKeyEnv = None,
    insecure: Insecure = False,
) -> None:
    """Check that a host answers; print its facts as JSON."""
    print_json(
        on_entry(
            entry,
            ClientOptions(timeout, api_key_env, insecure),
            lambda c: c.health(timeout=timeout),
        )
    )
