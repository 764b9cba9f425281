"""``paglets events``: a host's event history, read back (its earlier runs included).

The host answers from the ``events`` table of its store (``HostClient.list_events``);
``--store DIR`` reads that table straight from a host's persistence dir instead, with
no host running (after a crash, say), read-only.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from paglets.cli.entry import ClientOptions, local_entry, resolve_entry
from paglets.cli.fitted_table import Column, print_fitted
from paglets.cli.options import ApiKeyEnv, Insecure, Json
from paglets.cli.output import fail, print_json
from paglets.core.errors import PagletError
from paglets.net.endpoint import looks_like_address
from paglets.runtime.persistence.event_history import select_events
from paglets.runtime.persistence.host_store import DATABASE_NAME
from paglets.wire.event_query import EventQuery

DEFAULT_LAST = 50
"""Events shown when neither ``--last`` nor ``--since`` is given."""

COLUMNS = (
    Column("seq", priority=1, justify="right"),
    Column("time", priority=2, min_width=8),
    Column("kind", priority=1, min_width=6),
    Column("agent", priority=3, min_width=8),
    Column("detail", priority=4, min_width=10),
)


def events(
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            "--entry",
            envvar="PAGLETS_ENTRY",
            help="Host: an address or a name (default: $PAGLETS_ENTRY, else the host on "
            "127.0.0.1 at 8765 or $PAGLETS_PORT).",
        ),
    ] = None,
    agent: Annotated[str | None, typer.Option("--agent", help="Only this paglet's events.")] = None,
    kind: Annotated[
        str | None, typer.Option("--kind", help="Only events of this kind (dispatch, ...).")
    ] = None,
    last: Annotated[
        int | None,
        typer.Option("--last", min=1, help=f"The newest N events (default {DEFAULT_LAST})."),
    ] = None,
    since: Annotated[
        int | None, typer.Option("--since", min=0, help="Only events after this seq.")
    ] = None,
    store: Annotated[
        Path | None,
        typer.Option("--store", help="Read a host's persistence dir instead (no host needed)."),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the answer.")] = 10.0,
    api_key_env: ApiKeyEnv = None,
    insecure: Insecure = False,
    json_output: Json = False,
) -> None:
    """List a host's event history, oldest first (it survives the host's restarts)."""
    if last is None and since is None:
        last = DEFAULT_LAST
    query = EventQuery(since=since or 0, last=last, agent_id=agent or "", kind=kind or "")
    options = ClientOptions(timeout=timeout, api_key_env=api_key_env, insecure=insecure)
    if store is not None:
        where, found = str(store), _read_store(store, query)
    else:
        where, found = _ask_host(host, query, options)
    if json_output:
        print_json(found)
        return
    rows = [
        [
            event.get("seq", ""),
            time.strftime("%m-%d %H:%M:%S", time.localtime(float(event.get("timestamp", 0)))),
            event.get("kind", ""),
            event.get("agent_id", ""),
            _detail(event),
        ]
        for event in found
    ]
    caption = "" if found else "no events match"
    print_fitted(f"events of {where}", COLUMNS, rows, caption=caption)


def _ask_host(
    host: str | None, query: EventQuery, options: ClientOptions
) -> tuple[str, list[dict[str, Any]]]:
    try:
        if host is None:
            address = local_entry()
        elif looks_like_address(host):
            address = host
        else:
            address = resolve_entry(host, options)
        with options.client(address) as client:
            found = client.list_events(
                since=query.since,
                last=query.last,
                agent_id=query.agent_id or None,
                kind=query.kind or None,
            )
    except ValueError as exc:
        fail(str(exc))
    except PagletError as exc:
        fail(
            f"{type(exc).__name__}: {exc} (is the host running? --store DIR reads the "
            f"history of a stopped host)"
        )
    return address, found


def _read_store(store: Path, query: EventQuery) -> list[dict[str, Any]]:
    database = store / DATABASE_NAME
    if not database.is_file():
        fail(f"no host store at {store} (no {DATABASE_NAME} in it)")
    try:
        db = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error as exc:
        fail(f"cannot open {database}: {exc}")
    try:
        return select_events(lambda sql, params: db.execute(sql, params).fetchall(), query)
    except sqlite3.Error as exc:
        fail(f"cannot read the history in {database}: {exc}")
    finally:
        db.close()
    raise AssertionError("unreachable")


def _detail(event: dict[str, Any]) -> str:
    data = event.get("data") or {}
    parts = (
        [f"{key}={value}" for key, value in sorted(data.items())] if isinstance(data, dict) else []
    )
    if event.get("error"):
        parts.append(f"error: {event['error']}")
    return " ".join(parts)
