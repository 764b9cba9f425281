"""HostClient: talk to a host you do not run (CLIs, scripts, tests).

The client has no ROUTER of its own, so it is not a peer: it never appears in any
host's peer table. Paglets it creates and proxies it hands out are reached over the
wire; a proxy follows its paglet when it moves, as any proxy does.
"""

from __future__ import annotations

import builtins
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
from paglets.net.mesh_secret import resolve_secret
from paglets.net.security import derive_keys
from paglets.net.transport import Transport, TransportConfig
from paglets.remote.artifacts import ArtifactClient
from paglets.remote.blob_stream import Progress
from paglets.remote.proxy import PagletProxy, as_message
from paglets.remote.proxy_backend import RemoteProxyBackend
from paglets.wire.classpath import ClassPolicy
from paglets.wire.codec import encode_state, encode_value
from paglets.wire.protocol import VERB_CREATE, VERB_LIST, VERB_MESH, VERB_PING


class HostClient:
    """A connection to one host.

    The secret is found as a host finds it (``api_key``, ``api_key_env``,
    ``PAGLETS_API_KEY``, the config dir), except that a client never creates one: with
    none it connects with plain sockets, which a secured host refuses with
    ``AuthenticationError`` naming the variable to set.

    Args:
        address: the host's address, in any accepted spelling.
        api_key: the mesh secret.
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
        address: str,
        api_key: str | None = None,
        timeout: float = 30.0,
        allowed_modules: tuple[str, ...] = (),
        *,
        api_key_env: str | None = None,
        insecure: bool = False,
    ) -> None:
        self.address = normalize_address(address)
        self.timeout = timeout
        secret = None if insecure else resolve_secret(api_key, api_key_env, create=False)
        keys = None if secret is None else derive_keys(secret.value)
        self._transport = Transport(
            "client", TransportConfig(bind_host=None, default_timeout=timeout, keys=keys)
        )
        self._transport.start()
        self.backend = RemoteProxyBackend(
            self._transport,
            ClassPolicy(("paglets.examples", "paglets.patterns", *allowed_modules)),
        )

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

    def health(self, timeout: float | None = None) -> dict[str, Any]:
        """The host's name, address, mesh version, active paglet count and clock.

        Raises:
            PeerNotFoundError: nobody answers at the address.
        """
        facts = self.backend.call(self.address, VERB_PING, timeout=timeout or self.timeout)
        if not isinstance(facts, dict):
            raise PagletError(f"malformed ping reply from {self.address}")
        return facts

    def mesh(self, timeout: float | None = None) -> dict[str, Any]:
        """The host's view of the mesh: ``self``, ``peers``, ``ignored``, ``clashes``, ...

        See ``docs/mesh.md`` for the fields.

        Raises:
            PagletError: the host did not answer, or answered something else than a map.
        """
        view = self.backend.call(self.address, VERB_MESH, timeout=timeout or self.timeout)
        if not isinstance(view, dict) or not isinstance(view.get("self"), dict):
            raise PagletError(f"malformed mesh view from {self.address}")
        return view

    def list(self, flags: int = ACTIVE | INACTIVE) -> list[dict[str, Any]]:
        """Info maps of the host's paglets in the given state flags."""
        infos = self.backend.call(self.address, VERB_LIST, flags, timeout=self.timeout)
        return list(infos or [])

    def create(
        self,
        cls: type[Paglet[Any]] | str,
        state: PagletState | dict[str, Any] | None = None,
        init: Any = None,
    ) -> PagletProxy:
        """Create a paglet on the host.

        Args:
            cls: the paglet class, or its class path ``module:QualName``.
            state: a state instance, or a dict of state fields (the host fills the
                rest from the class's declared state defaults); None for defaults.
            init: the creation argument passed to ``on_creation``.
        """
        path = cls if isinstance(cls, str) else class_path(cls)
        if isinstance(state, PagletState):
            state_path, state_bytes = class_path(type(state)), encode_state(state)
        else:
            state_path, state_bytes = "", encode_value(dict(state or {}))
        agent_id = self.backend.call(
            self.address,
            VERB_CREATE,
            [path, state_path, state_bytes, init],
            timeout=self.timeout,
        )
        return self.proxy(str(agent_id))

    def proxy(self, agent_id: str, address: str | None = None) -> PagletProxy:
        """A proxy for a paglet on this host (or at ``address``)."""
        return PagletProxy(agent_id, address or self.address, self.backend)

    def send(
        self,
        agent_id: str,
        message: Message | str,
        args: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Send a message to a paglet of the host and return the reply."""
        return self.proxy(agent_id).send(as_message(message, args), timeout=timeout)

    # artifacts ------------------------------------------------------------------------

    @property
    def artifacts(self) -> ArtifactClient:
        """The artifact verbs, for callers that need more than the methods below."""
        return self.backend.artifacts

    def upload_artifact(
        self,
        path: str | PathLike[str],
        name: str | None = None,
        *,
        owner: str = "",
        ttl: float | None = None,
        progress: Progress | None = None,
    ) -> ArtifactRef:
        """Store a local file on the host as an artifact; return its ref.

        Content the host already holds is not sent again. An interrupted upload resumes
        where it stopped when called again.

        Args:
            path: the file to upload.
            name: the artifact's name (default: the file's name); a plain file name.
            owner: the agent id of the paglet the artifact belongs to, if any.
            ttl: seconds until the host may delete the artifact (None: never).
            progress: called with the bytes sent so far.

        Raises:
            ArtifactError: the file is unreadable or the host refused it; its subclasses
                StorageQuotaError (no room) and IntegrityError (bytes changed) say why.
        """
        return self.artifacts.upload(
            self.address, path, name, owner=owner, ttl=ttl, progress=progress
        )

    def download_artifact(
        self,
        ref_or_id: ArtifactRef | str,
        dest_path: str | PathLike[str],
        overwrite: bool = False,
        *,
        progress: Progress | None = None,
    ) -> Path:
        """Copy an artifact to the local file ``dest_path``; return that path.

        A ref is fetched from its own host; a bare id from this client's host.

        Raises:
            DestinationExistsError: the file exists and ``overwrite`` is False.
            ArtifactNotFoundError: no such artifact on its host.
            IntegrityError: the bytes received are not the announced ones.
            StorageQuotaError: no room for the file.
        """
        if isinstance(ref_or_id, ArtifactRef):
            address, artifact_id = ref_or_id.host or self.address, ref_or_id.artifact_id
        else:
            address, artifact_id = self.address, str(ref_or_id)
        return self.artifacts.download(
            address, artifact_id, dest_path, overwrite=overwrite, progress=progress
        )

    def list_artifacts(self) -> builtins.list[dict[str, Any]]:
        """The metadata of every artifact stored on the host."""
        return self.artifacts.list_all(self.address)

    def artifact_info(self, artifact_id: str) -> dict[str, Any]:
        """The metadata of one artifact (ArtifactNotFoundError if there is none)."""
        return self.artifacts.info(self.address, artifact_id)

    def delete_artifact(self, artifact_id: str | ArtifactRef) -> bool:
        """Delete an artifact of the host; return whether it was there."""
        if isinstance(artifact_id, ArtifactRef):
            artifact_id = artifact_id.artifact_id
        return self.artifacts.delete(self.address, artifact_id)

    def fetch_artifact(self, ref: ArtifactRef, timeout: float | None = None) -> ArtifactRef:
        """Have the host pull an artifact from another host (peer to peer); return its ref."""
        return self.artifacts.fetch(self.address, ref, timeout)

    def transfers(self) -> builtins.list[dict[str, Any]]:
        """The artifact and file transfers in flight on the host, with bytes done."""
        return self.artifacts.progress(self.address)
