"""HostClient: talk to a host you do not run (CLIs, scripts, tests).

The client has no ROUTER of its own, so it is not a peer: it never appears in any
host's peer table. Paglets it creates and proxies it hands out are reached over the
wire; a proxy follows its paglet when it moves, as any proxy does.
"""

from __future__ import annotations

import builtins
import time
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import Any

from paglets.artifacts import ArtifactRef
from paglets.core.agent import ACTIVE, INACTIVE, Paglet, PagletState
from paglets.core.classes import class_path
from paglets.core.errors import PagletError
from paglets.core.messages import Message
from paglets.net.endpoint import normalize_address
from paglets.remote.artifacts import ArtifactClient
from paglets.remote.blob_stream import Progress
from paglets.remote.default_backend import open_backend
from paglets.remote.proxy import PagletProxy
from paglets.remote.proxy_args import as_message
from paglets.wire.create_body import CreateBody
from paglets.wire.event_query import MAX_EVENTS, EventQuery
from paglets.wire.protocol import VERB_CREATE, VERB_EVENTS, VERB_LIST, VERB_MESH, VERB_PING


class HostClient:
    """A connection to the hosts of a mesh; every call takes the target host's address.

    The secret is found as a host finds it (``api_key``, ``api_key_env``,
    ``PAGLETS_API_KEY``, the config dir), except that a client never creates one: with
    none it connects with plain sockets, which a secured host refuses with
    ``AuthenticationError`` naming the variable to set.

    Args:
        api_key: the mesh secret.
        address: a default host address, used by calls given none.
        timeout: default seconds each call waits.
        allowed_modules: module prefixes whose classes replies may name.
        api_key_env: the name of the environment variable holding the secret.
        insecure: use plain sockets even if a secret is configured.

    Raises:
        ValueError: ``api_key_env`` names an unset or empty variable, or the address
            is not an address.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        address: str | None = None,
        timeout: float = 30.0,
        allowed_modules: tuple[str, ...] = (),
        api_key_env: str | None = None,
        insecure: bool = False,
    ) -> None:
        if api_key is not None and not isinstance(api_key, str):
            raise TypeError(f"api_key must be a str or None, not {type(api_key).__name__}")
        self.address = None if address is None else normalize_address(address)
        self.timeout = timeout
        self._transport, self.backend = open_backend(
            api_key, timeout, allowed_modules, api_key_env=api_key_env, insecure=insecure
        )

    def _target(self, host_url: str | None) -> str:
        if host_url is not None:
            return normalize_address(host_url)
        if self.address is None:
            raise TypeError("give the host's address (host_url): this client has no default")
        return self.address

    def close(self) -> None:
        """Close the connection; calls still waiting fail with HostStoppedError."""
        self._transport.stop()

    def __enter__(self) -> HostClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def health(self, host_url: str | None = None, timeout: float | None = None) -> dict[str, Any]:
        """The host's name, address, mesh version, active paglet count and clock.

        Raises:
            PeerNotFoundError: nobody answers at the address.
        """
        address = self._target(host_url)
        facts = self.backend.call(address, VERB_PING, timeout=timeout or self.timeout)
        if not isinstance(facts, dict):
            raise PagletError(f"malformed ping reply from {address}")
        return facts

    def mesh(self, host_url: str | None = None, timeout: float | None = None) -> dict[str, Any]:
        """The host's view of the mesh: ``self``, ``peers``, ``ignored``, ``clashes``, ...

        See ``docs/mesh.md`` for the fields.

        Raises:
            PagletError: the host did not answer, or answered something else than a map.
        """
        address = self._target(host_url)
        view = self.backend.call(address, VERB_MESH, timeout=timeout or self.timeout)
        if not isinstance(view, dict) or not isinstance(view.get("self"), dict):
            raise PagletError(f"malformed mesh view from {address}")
        return view

    def list_agents(
        self, host_url: str | None = None, flags: int = ACTIVE | INACTIVE
    ) -> builtins.list[dict[str, Any]]:
        """Info maps of the host's paglets in the given state flags."""
        infos = self.backend.call(self._target(host_url), VERB_LIST, flags, timeout=self.timeout)
        return list(infos or [])

    def list_events(
        self,
        host_url: str | None = None,
        since: int = 0,
        limit: int | None = None,
        *,
        last: int | None = None,
        agent_id: str | None = None,
        kind: str | None = None,
        timeout: float | None = None,
    ) -> builtins.list[dict[str, Any]]:
        """The host's event history, oldest first: its kept events numbered above ``since``.

        A host with a store answers from its history, which keeps its newest 100,000
        events across restarts; one without answers from the events of this run.

        Args:
            host_url: the host (default: this client's address).
            since: only events whose ``seq`` is above this: pass the last ``seq`` seen
                to page forward (``seq`` goes on across restarts; ``event_id`` does not).
            limit: at most this many (the oldest matching; default and cap 10,000).
            last: only the newest ``last`` matching events.
            agent_id: only the events of this paglet.
            kind: only events of this kind (``dispatch``, ``arrival``, ...).
            timeout: seconds to wait for the answer (default: the client's).

        Returns:
            Each event as a map of the ``ContextEvent`` fields plus its ``seq``.

        Raises:
            ProtocolError: a bad filter (a negative number, ``last`` below 1).
            PeerNotFoundError: nobody answers at the address.
        """
        query = EventQuery(
            since=since,
            last=last,
            agent_id=agent_id or "",
            kind=kind or "",
            limit=MAX_EVENTS if limit is None else limit,
        )
        address = self._target(host_url)
        found = self.backend.call(
            address, VERB_EVENTS, query.to_wire(), timeout=timeout or self.timeout
        )
        if not isinstance(found, list):
            raise PagletError(f"malformed events reply from {address}")
        return found

    def create(
        self,
        cls: type[Paglet[Any]] | str,
        state: PagletState | dict[str, Any] | None = None,
        init: Any = None,
        *,
        host_url: str | None = None,
    ) -> PagletProxy:
        """Create a paglet on the host at ``host_url``.

        Args:
            cls: the paglet class, or its class path ``module:QualName``.
            state: a state instance, or a dict of state fields (the host fills the
                rest from the class's declared state defaults); None for defaults.
            init: the creation argument passed to ``on_creation``.
            host_url: the host (default: this client's address).
        """
        address = self._target(host_url)
        path = cls if isinstance(cls, str) else class_path(cls)
        body = CreateBody.of(path, state, init)
        agent_id = self.backend.call(address, VERB_CREATE, body.to_wire(), timeout=self.timeout)
        return self.get_proxy(str(agent_id), address)

    def get_proxy(self, agent_id: str, host_url: str | None = None) -> PagletProxy:
        """A proxy for the paglet ``agent_id`` at ``host_url`` (default: this client's)."""
        return PagletProxy(self._target(host_url), agent_id, self.backend)

    def send(
        self,
        agent_id: str,
        message: Message | str,
        host_url: str | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Send a message to a paglet of the host and return the reply."""
        return self.get_proxy(agent_id, host_url).send(as_message(message), timeout=timeout)

    # artifacts ------------------------------------------------------------------------

    @property
    def artifacts(self) -> ArtifactClient:
        """The artifact verbs, for callers that need more than the methods below."""
        return self.backend.artifacts

    def upload_artifact(
        self,
        host_url: str | None,
        path: str | PathLike[str],
        owner_agent_id: str | None = None,
        expires_at: float | None = None,
        *,
        name: str | None = None,
        progress: Progress | None = None,
    ) -> ArtifactRef:
        """Store a local file on the host at ``host_url`` as an artifact; return its ref.

        Content the host already holds is not sent again. An interrupted upload resumes
        where it stopped when called again.

        Args:
            host_url: the host (None: this client's address).
            path: the file to upload.
            owner_agent_id: the paglet the artifact belongs to, if any.
            expires_at: when the host may delete it (seconds since the epoch; None:
                never).
            name: the artifact's name (default: the file's name); a plain file name.
            progress: called with the bytes sent so far.

        Raises:
            ArtifactError: the file is unreadable or the host refused it; its subclasses
                StorageQuotaError (no room) and IntegrityError (bytes changed) say why.
        """
        ttl = None if expires_at is None else max(0.0, float(expires_at) - time.time())
        return self.artifacts.upload(
            self._target(host_url),
            path,
            name,
            owner=owner_agent_id or "",
            ttl=ttl,
            progress=progress,
        )

    def _locate(self, ref: ArtifactRef | str, host_url: str | None) -> tuple[str, str]:
        if isinstance(ref, ArtifactRef):
            return ref.host_url or self._target(host_url), ref.artifact_id
        if isinstance(ref, str) and ref:
            return self._target(host_url), ref
        raise TypeError(f"ref must be an ArtifactRef or an artifact id, not {ref!r}")

    def download_artifact(
        self,
        ref: ArtifactRef | str,
        target: str | PathLike[str],
        move: bool = False,
        *,
        overwrite: bool = False,
        host_url: str | None = None,
        progress: Progress | None = None,
    ) -> Path:
        """Copy an artifact to the local file ``target``; return that path.

        A ref is fetched from its own host; a bare id from ``host_url`` (or this
        client's address). With ``move=True`` the artifact is deleted from its host
        once the copy here is verified.

        Raises:
            DestinationExistsError: the file exists and ``overwrite`` is False.
            ArtifactNotFoundError: no such artifact on its host.
            IntegrityError: the bytes received are not the announced ones.
            StorageQuotaError: no room for the file.
        """
        if not isinstance(move, bool):
            raise TypeError(f"move must be True or False, not {move!r}")
        address, artifact_id = self._locate(ref, host_url)
        path = self.artifacts.download(
            address, artifact_id, target, overwrite=overwrite, progress=progress
        )
        if move:
            self.artifacts.delete(address, artifact_id)
        return path

    def list_artifacts(
        self, host_url: str | None = None, owner_agent_id: str | None = None
    ) -> builtins.list[dict[str, Any]]:
        """The metadata of the artifacts stored on the host (of one owner, if given)."""
        found = self.artifacts.list_all(self._target(host_url))
        if owner_agent_id is None:
            return found
        return [meta for meta in found if meta.get("owner") == owner_agent_id]

    def artifact_metadata(
        self, ref: ArtifactRef | str, host_url: str | None = None
    ) -> dict[str, Any]:
        """The metadata of one artifact (ArtifactNotFoundError if there is none)."""
        address, artifact_id = self._locate(ref, host_url)
        return self.artifacts.info(address, artifact_id)

    def delete_artifact(self, ref: ArtifactRef | str, host_url: str | None = None) -> bool:
        """Delete an artifact from its host; return whether it was there."""
        address, artifact_id = self._locate(ref, host_url)
        return self.artifacts.delete(address, artifact_id)

    def fetch_artifact(
        self, ref: ArtifactRef, host_url: str | None = None, timeout: float | None = None
    ) -> ArtifactRef:
        """Have the host at ``host_url`` pull an artifact from another host; return its ref."""
        return self.artifacts.fetch(self._target(host_url), ref, timeout)

    def streams(self, host_url: str | None = None) -> builtins.list[dict[str, Any]]:
        """The artifact and file byte streams in flight on the host, with bytes done."""
        return self.artifacts.progress(self._target(host_url))
