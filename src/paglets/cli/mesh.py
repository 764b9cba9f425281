"""``paglets mesh`` (and the classic ``paglets-mesh-info``): the mesh as its entry host sees it.

``summary`` lists every host the entry host knows (itself first) with liveness, tags,
properties, paglet counts, load and free resources, then the hosts it ignores (another
mesh or protocol version) and the name clashes. ``targets`` ranks the online hosts for
placement, with filters, and says why the others are left out. Both take ``--json``.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from paglets.cli.entry import ClientOptions, fetch_mesh_view, resolve_entry
from paglets.cli.options import ApiKeyEnv, Entry, Insecure, Json
from paglets.cli.output import fail, print_json, print_table
from paglets.cli.sizes import parse_size
from paglets.core.errors import PagletError
from paglets.core.sizes import human_size
from paglets.net.peers import PeerInfo
from paglets.runtime.mesh.host_facts import TargetFilter, rank_targets

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="The mesh as the entry host sees it: hosts, liveness, facts, ranked targets.",
)

Timeout = Annotated[float, typer.Option(help="Seconds to wait for each reply.")]


def _view(entry: str | None, timeout: float, api_key_env: str | None, insecure: bool) -> Any:
    options = ClientOptions(timeout=timeout, api_key_env=api_key_env, insecure=insecure)
    try:
        address = resolve_entry(entry, options)
        with options.client(address) as client:
            return fetch_mesh_view(client)
    except ValueError as exc:
        fail(str(exc))
    except PagletError as exc:
        fail(f"{type(exc).__name__}: {exc}")
    raise AssertionError("unreachable")


def _hosts(view: dict[str, Any]) -> list[tuple[PeerInfo, dict[str, Any]]]:
    """The entry host first, then its peers, each as facts and as the raw map."""
    own = {**view["self"], "online": True}
    rows = [own, *[peer for peer in view.get("peers") or () if isinstance(peer, dict)]]
    hosts = []
    for raw in rows:
        try:
            hosts.append((PeerInfo.from_wire(raw), raw))
        except ValueError:
            continue
    return hosts


def _seen(raw: dict[str, Any], is_self: bool) -> str:
    if is_self:
        return "now (entry)"
    age = float(raw.get("age") or 0.0)
    return f"{age:.1f}s ago"


@app.command()
def summary(
    entry: Entry = None,
    timeout: Timeout = 10.0,
    api_key_env: ApiKeyEnv = None,
    insecure: Insecure = False,
    json_output: Json = False,
) -> None:
    """Every host the entry host knows, with liveness and facts."""
    view = _view(entry, timeout, api_key_env, insecure)
    if json_output:
        print_json(view)
        return
    own = view["self"]
    rows = []
    for index, (host, raw) in enumerate(_hosts(view)):
        rows.append(
            [
                host.name,
                host.address,
                "online" if host.online else "OFFLINE",
                _seen(raw, index == 0),
                ", ".join(host.tags),
                ", ".join(f"{k}={v}" for k, v in sorted(host.properties.items())),
                f"{host.active}/{host.inactive}",
                f"{host.load_per_cpu:.2f}",
                human_size(host.memory_free),
                human_size(host.work_free),
                f"{host.cores_free}/{host.cpu_count}",
            ]
        )
    columns = [
        "host",
        "address",
        "status",
        "last seen",
        "tags",
        "properties",
        "paglets a/i",
        "load/cpu",
        "free mem",
        "free work",
        "free cores",
    ]
    title = f"mesh {own.get('mesh_version')!r} seen from {own.get('name')} ({own.get('address')})"
    print_table(title, columns, rows)
    ignored = view.get("ignored") or []
    if ignored:
        print_table(
            "ignored hosts (another mesh or protocol version)",
            ["host", "address", "mesh", "protocol", "reason"],
            [
                [
                    i.get("name"),
                    i.get("address"),
                    i.get("mesh_version"),
                    i.get("protocol"),
                    i.get("reason"),
                ]
                for i in ignored
            ],
        )
    clashes = view.get("clashes") or []
    if clashes:
        print_table(
            "name clashes (each name used by more than one online host)",
            ["name", "addresses"],
            [[c.get("name"), ", ".join(c.get("addresses") or [])] for c in clashes],
        )


@app.command()
def targets(
    max_load_per_cpu: Annotated[
        float | None, typer.Option(help="Leave out hosts with a higher load per core.")
    ] = None,
    min_memory: Annotated[str | None, typer.Option(help="Least free RAM, e.g. 2G.")] = None,
    min_work_free: Annotated[
        str | None, typer.Option(help="Least free work storage, e.g. 10G.")
    ] = None,
    require_tag: Annotated[
        list[str] | None, typer.Option(help="Tag a host must have; repeatable.")
    ] = None,
    exclude_self: Annotated[
        bool, typer.Option("--exclude-self", help="Leave the entry host out.")
    ] = False,
    entry: Entry = None,
    timeout: Timeout = 10.0,
    api_key_env: ApiKeyEnv = None,
    insecure: Insecure = False,
    json_output: Json = False,
) -> None:
    """Online hosts ranked for placement: most free cores, then lowest load, then RAM."""
    wanted = TargetFilter(
        max_load_per_cpu=max_load_per_cpu,
        min_memory=parse_size(min_memory) if min_memory else 0,
        min_work_free=parse_size(min_work_free) if min_work_free else 0,
        require_tags=tuple(require_tag or ()),
    )
    view = _view(entry, timeout, api_key_env, insecure)
    hosts = [host for host, _ in _hosts(view)]
    if exclude_self:
        hosts = hosts[1:]  # the entry host comes first
    chosen, refused = rank_targets(hosts, wanted)
    if json_output:
        print_json(
            {
                "entry": view["self"].get("name"),
                "targets": [
                    {"rank": rank, **_target_fields(host)}
                    for rank, host in enumerate(chosen, start=1)
                ],
                "excluded": [
                    {"name": h.name, "address": h.address, "reason": why} for h, why in refused
                ],
            }
        )
        return
    print_table(
        f"placement targets seen from {view['self'].get('name')}",
        ["rank", "host", "address", "free cores", "load/cpu", "free mem", "free work", "tags"],
        [
            [
                rank,
                h.name,
                h.address,
                f"{h.cores_free}/{h.cpu_count}",
                f"{h.load_per_cpu:.2f}",
                human_size(h.memory_free),
                human_size(h.work_free),
                ", ".join(h.tags),
            ]
            for rank, h in enumerate(chosen, start=1)
        ],
    )
    if refused:
        print_table(
            "not targets",
            ["host", "address", "why"],
            [[h.name, h.address, why] for h, why in refused],
        )


def _target_fields(host: PeerInfo) -> dict[str, Any]:
    return {
        "name": host.name,
        "address": host.address,
        "cores_free": host.cores_free,
        "cpu_count": host.cpu_count,
        "load": host.load,
        "load_per_cpu": round(host.load_per_cpu, 3),
        "memory_free": host.memory_free,
        "work_free": host.work_free,
        "tags": list(host.tags),
        "properties": dict(host.properties),
    }


def main() -> None:
    """Entry point of ``paglets-mesh-info``."""
    app()


if __name__ == "__main__":
    main()
