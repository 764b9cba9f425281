"""``paglets artifacts`` (and the classic ``paglets-artifacts``): the entry host's artifacts.

``list`` and ``info ID`` show metadata, ``get ID DEST`` downloads one (verified, with a
progress bar, resuming an interrupted download), ``put PATH`` uploads a file (content
the host holds already is not sent again), ``rm ID`` deletes one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from paglets.cli.entry import ClientOptions, on_entry
from paglets.cli.options import ApiKeyEnv, Entry, Insecure, Json
from paglets.cli.output import console, fail, print_json, print_table
from paglets.cli.stream_progress import bars_enabled, stream_bar
from paglets.core.sizes import human_size
from paglets.remote.client import HostClient

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="List, inspect, download, upload and delete the artifacts of a host.",
)

Timeout = Annotated[float, typer.Option(help="Seconds to wait for each reply.")]
ArtifactId = Annotated[str, typer.Argument(help="The artifact's id.")]
T = TypeVar("T")


def _with_client(
    entry: str | None,
    timeout: float,
    api_key_env: str | None,
    insecure: bool,
    action: Callable[[HostClient], T],
) -> T:
    return on_entry(entry, ClientOptions(timeout, api_key_env, insecure), action)


def _when(seconds: Any) -> str:
    if not seconds:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(seconds)))


@app.command("list")
def list_artifacts(
    entry: Entry = None,
    timeout: Timeout = 10.0,
    api_key_env: ApiKeyEnv = None,
    insecure: Insecure = False,
    json_output: Json = False,
) -> None:
    """List the host's artifacts, newest first."""
    infos = _with_client(entry, timeout, api_key_env, insecure, lambda c: c.list_artifacts())
    if json_output:
        print_json(infos)
        return
    print_table(
        "artifacts",
        ["id", "name", "size", "sha256", "owner", "created", "expires"],
        [
            [
                i["artifact_id"],
                i["name"],
                human_size(i["size"]),
                i["sha256"][:16],
                i["owner"][:12],
                _when(i["created_at"]),
                _when(i["expires_at"]),
            ]
            for i in infos
        ],
    )


@app.command()
def info(
    artifact_id: ArtifactId,
    entry: Entry = None,
    timeout: Timeout = 10.0,
    api_key_env: ApiKeyEnv = None,
    insecure: Insecure = False,
) -> None:
    """Print one artifact's metadata as JSON."""
    print_json(
        _with_client(
            entry, timeout, api_key_env, insecure, lambda c: c.artifact_metadata(artifact_id)
        )
    )


@app.command()
def get(
    artifact_id: ArtifactId,
    dest: Annotated[Path, typer.Argument(help="Local file to write.")],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace dest.")] = False,
    entry: Entry = None,
    timeout: Timeout = 30.0,
    api_key_env: ApiKeyEnv = None,
    insecure: Insecure = False,
    json_output: Json = False,
) -> None:
    """Download an artifact to DEST (nothing appears there until it is verified)."""

    def download(client: HostClient) -> dict[str, Any]:
        facts = client.artifact_metadata(artifact_id)
        started = time.monotonic()
        with stream_bar(
            f"get {facts['name']}", int(facts["size"]), bars_enabled(json_output)
        ) as update:
            path = client.download_artifact(artifact_id, dest, overwrite=overwrite, progress=update)
        return {**facts, "path": str(path), "seconds": time.monotonic() - started}

    result = _with_client(entry, timeout, api_key_env, insecure, download)
    if json_output:
        print_json(result)
    else:
        console.print(
            f"{result['path']} ({human_size(result['size'])}, sha256 verified)", highlight=False
        )


@app.command()
def put(
    path: Annotated[Path, typer.Argument(help="Local file to upload.")],
    name: Annotated[str | None, typer.Option(help="Artifact name (default: file name).")] = None,
    ttl: Annotated[float | None, typer.Option(help="Seconds until it expires.")] = None,
    entry: Entry = None,
    timeout: Timeout = 30.0,
    api_key_env: ApiKeyEnv = None,
    insecure: Insecure = False,
    json_output: Json = False,
) -> None:
    """Upload a file as an artifact; print its id."""

    def upload(client: HostClient) -> Any:
        size = path.stat().st_size if path.is_file() else 0
        with stream_bar(f"put {path.name}", size, bars_enabled(json_output)) as update:
            return client.upload_artifact(
                None,
                path,
                expires_at=None if ttl is None else time.time() + ttl,
                name=name,
                progress=update,
            )

    ref = _with_client(entry, timeout, api_key_env, insecure, upload)
    if json_output:
        print_json(
            {
                "artifact_id": ref.artifact_id,
                "name": ref.name,
                "size": ref.size_bytes,
                "sha256": ref.sha256,
                "host": ref.host_url,
            }
        )
    else:
        print(ref.artifact_id)


@app.command()
def rm(
    artifact_id: ArtifactId,
    entry: Entry = None,
    timeout: Timeout = 10.0,
    api_key_env: ApiKeyEnv = None,
    insecure: Insecure = False,
) -> None:
    """Delete an artifact."""
    if not _with_client(
        entry, timeout, api_key_env, insecure, lambda c: c.delete_artifact(artifact_id)
    ):
        fail(f"no artifact {artifact_id}")
    print(f"deleted {artifact_id}")


def main() -> None:
    """Entry point of ``paglets-artifacts``."""
    app()


if __name__ == "__main__":
    main()
