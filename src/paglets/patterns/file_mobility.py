"""File mobility: paglets that carry a file from one host to another.

A file-moving paglet reads as *stat, (dry run), register, dispatch, save on arrival*:

* :meth:`FileMobilityMixin.probe` says what a path looks like on any host (a
  :class:`FileProbePaglet` created there answers for remote hosts);
* :meth:`FileMobilityMixin.carry_file` registers the file and dispatches the paglet:
  the runtime moves the file peer to peer, verified, into the paglet's work dir on the
  target before ``on_arrival``;
* :meth:`FileMobilityMixin.save_file` moves it from the work dir to its destination
  without ever showing a partial file there, and refuses to replace one unless told.

Every path is checked against the host's files roots first (``context.files_roots``,
see :mod:`paglets.runtime.files.roots`): outside them, ``ForbiddenError``.

:class:`SingleFileTransferPaglet` puts these together for one file between two hosts
(``paglets grab`` drives it). Message kinds, sent by whoever drives it:

- ``plan``: the facts of the source file and the destination, and the problems that
  would stop the transfer (a dry run: nothing moves);
- ``go`` (arg: host): move there without the file (to fetch a file from that host);
- ``carry``: on the source host, register the file and dispatch to the destination
  host, which saves it in ``on_arrival``; answers once the move committed;
- ``return``: after a failed save of a ``move``, carry the file back to its source
  path (so a failed move leaves the source as it was);
- ``result``: ``{saved, error, size, seconds, host}``.
"""

from __future__ import annotations

import errno
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import (
    ArtifactError,
    ArtifactNotFoundError,
    DestinationExistsError,
    ForbiddenError,
    HostError,
    PagletError,
)
from paglets.core.events import CreationEvent, MobilityEvent
from paglets.core.messages import Message
from paglets.disk.partial_file import fsync_directory, storage_error
from paglets.runtime.files.roots import check_path

PAYLOAD = "payload"


def stat_path(path: str, roots: tuple[Path, ...] | None = None) -> dict[str, Any]:
    """What ``path`` looks like on this host: existence, size, its directory's room.

    Args:
        path: a path on this host.
        roots: the host's files roots (``context.files_roots``); None: no check.

    Raises:
        ForbiddenError: ``path``, resolved, is outside ``roots`` (nothing is said of it).
    """
    target = Path(path).expanduser() if roots is None else check_path(path, roots)
    facts: dict[str, Any] = {"path": str(target), "exists": target.exists()}
    facts["is_file"] = target.is_file()
    facts["size"] = target.stat().st_size if facts["is_file"] else 0
    parent = target.parent
    facts["dir_exists"] = parent.is_dir()
    facts["dir_writable"] = facts["dir_exists"] and os.access(parent, os.W_OK | os.X_OK)
    facts["free"] = shutil.disk_usage(parent).free if facts["dir_exists"] else 0
    return facts


def is_refusal(error: BaseException) -> bool:
    """Whether ``error`` is a files-roots refusal, raised here or by another host's handler."""
    if isinstance(error, ForbiddenError):
        return True
    return isinstance(error, HostError) and error.remote_type.endswith("ForbiddenError")


class FileMobilityMixin:
    """Helpers for paglets that carry files. Mix in before :class:`Paglet`."""

    def _here(self, host: str | None) -> bool:
        paglet: Any = self
        context = paglet.context
        return not host or host in (context.name, context.address)

    def probe(self, path: str, host: str | None = None) -> dict[str, Any]:
        """The facts of ``path`` on ``host`` (None: here); see :func:`stat_path`.

        Raises:
            ForbiddenError: ``path`` is outside that host's files roots.
        """
        if self._here(host):
            paglet_here: Any = self
            return stat_path(path, paglet_here.context.files_roots)
        paglet: Any = self
        proxy = paglet.context.create_paglet(
            FileProbePaglet, FileProbeState(path=path), host_url=host
        )
        try:
            facts: dict[str, Any] = proxy.send("facts")
        finally:
            proxy.dispose()
        return facts

    def carry_file(self, path: str, target: str, *, name: str = PAYLOAD, mode: str = "copy") -> Any:
        """Register ``path`` under ``name`` and dispatch to ``target``; return the proxy.

        Raises:
            ArtifactNotFoundError: ``path`` is not a regular file.
            TransferError: the move did not commit; paglet and file stayed here.
        """
        paglet: Any = self
        paglet.register_file(path, name, mode)
        try:
            return paglet.dispatch(target)
        except PagletError:
            paglet.unregister_file(name)
            raise

    def save_file(self, name: str, dest: str, *, overwrite: bool = False) -> Path:
        """Move the registered file ``name`` to ``dest``; stop carrying it.

        ``dest`` shows either nothing or the whole file: the bytes go to a hidden
        temporary name in its directory first (a rename when on the same filesystem,
        else a synced copy), then are renamed over it.

        Raises:
            ForbiddenError: ``dest``, resolved, is outside the host's files roots.
            DestinationExistsError: ``dest`` exists and ``overwrite`` is False.
            StorageQuotaError: the disk is full; ArtifactError: any other failure.
            In every case the registered file is still carried.
        """
        paglet: Any = self
        source = paglet.file_path(name)
        target = check_path(dest, paglet.context.files_roots)
        if target.is_dir():
            raise ArtifactError(f"{target} is a directory; give a file path")
        if target.exists() and not overwrite:
            raise DestinationExistsError(f"{target} exists; overwrite was not asked")
        temporary = target.with_name(f".{target.name}.{paglet.agent_id[:12]}.part")
        renamed = False
        try:
            try:
                os.rename(source, temporary)
                renamed = True
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                _copy_synced(source, temporary)
            _place(temporary, target, overwrite)
        except BaseException as exc:
            if renamed:
                os.rename(temporary, source)
            else:
                temporary.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise storage_error(exc, str(target)) from None
            raise
        fsync_directory(target.parent)
        paglet.unregister_file(name, delete=not renamed)
        return target


def _copy_synced(source: Path, target: Path) -> None:
    with source.open("rb") as reader, target.open("wb") as writer:
        shutil.copyfileobj(reader, writer, 4 * 1024 * 1024)
        writer.flush()
        os.fsync(writer.fileno())


def _place(temporary: Path, target: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(temporary, target)
        return
    try:
        os.link(temporary, target)
    except FileExistsError:
        raise DestinationExistsError(f"{target} exists; overwrite was not asked") from None
    os.unlink(temporary)


@dataclass
class FileProbeState(PagletState):
    """The path to look at, and what was seen there."""

    path: str = ""
    facts: dict[str, Any] | None = None
    refused: str = ""


class FileProbePaglet(Paglet[FileProbeState]):
    """Created on a host to report what a path looks like there (``facts``).

    A path outside the host's files roots is refused: ``facts`` raises
    ``ForbiddenError``.
    """

    State = FileProbeState

    def on_creation(self, event: CreationEvent) -> None:
        try:
            self.state.facts = stat_path(self.state.path, self.context.files_roots)
        except ForbiddenError as exc:
            self.state.refused = str(exc)

    def handle_message(self, message: Message) -> Any:
        if message.kind == "facts":
            if self.state.refused:
                raise ForbiddenError(self.state.refused)
            return self.state.facts
        return self.not_handled()


@dataclass
class SingleFileTransferState(PagletState):
    """One file's trip: where it is, where it goes, how it ended."""

    source: str = ""
    dest: str = ""
    source_host: str = ""
    dest_host: str = ""
    mode: str = "copy"
    overwrite: bool = False
    phase: str = "new"
    size: int = 0
    saved: str = ""
    error: str = ""
    started_at: float = 0.0
    finished_at: float = 0.0


class SingleFileTransferPaglet(FileMobilityMixin, Paglet[SingleFileTransferState]):
    """Carries one file from ``source_host`` to ``dest_host`` (see the module docstring)."""

    State = SingleFileTransferState

    def handle_message(self, message: Message) -> Any:
        state = self.state
        if message.kind == "plan":
            return self.plan()
        if message.kind == "go":
            return self.dispatch(str(message.arg)).host_url
        if message.kind == "carry":
            facts = stat_path(state.source, self.context.files_roots)
            if not facts["is_file"]:
                raise ArtifactNotFoundError(f"{state.source} is not a file on {self.context.name}")
            state.size, state.started_at, state.phase = facts["size"], time.time(), "carrying"
            return self.carry_file(state.source, state.dest_host, mode=state.mode).host_url
        if message.kind == "return":
            state.phase = "returning"
            return self.dispatch(state.source_host).host_url
        if message.kind == "result":
            return {
                "saved": state.saved,
                "error": state.error,
                "size": state.size,
                "seconds": max(0.0, state.finished_at - state.started_at),
                "host": self.context.name,
                "phase": state.phase,
            }
        return self.not_handled()

    def plan(self) -> dict[str, Any]:
        """The dry run: both ends' facts and what would stop the transfer."""
        state = self.state
        problems: list[str] = []
        source = self._probe_end(state.source, state.source_host, "source", problems)
        dest = self._probe_end(state.dest, state.dest_host, "destination", problems)
        if problems:  # outside a host's roots: nothing is known of that end
            return {"source": source, "dest": dest, "mode": state.mode, "problems": problems}
        if not source["is_file"]:
            problems.append(f"source {state.source} is not a file")
        if dest["exists"] and not state.overwrite:
            problems.append(f"destination {state.dest} exists (use overwrite)")
        if not dest["dir_writable"]:
            problems.append(f"destination directory of {state.dest} is missing or read-only")
        elif dest["free"] < source["size"]:
            problems.append(f"{source['size']} bytes do not fit in {dest['free']} free")
        return {"source": source, "dest": dest, "mode": state.mode, "problems": problems}

    def _probe_end(self, path: str, host: str, end: str, problems: list[str]) -> dict[str, Any]:
        try:
            return self.probe(path, host)
        except PagletError as exc:
            if not is_refusal(exc):
                raise
            problems.append(f"{end} refused: {exc}")
            facts = dict.fromkeys(("exists", "is_file", "dir_exists", "dir_writable"), False)
            return {**facts, "path": path, "size": 0, "free": 0, "refused": True}

    def on_arrival(self, event: MobilityEvent) -> None:
        state = self.state
        if state.phase == "carrying":
            self._settle(state.dest, state.overwrite, "saved")
        elif state.phase == "returning":
            self._settle(state.source, False, "returned")

    def _settle(self, path: str, overwrite: bool, done: str) -> None:
        state = self.state
        try:
            state.saved = str(self.save_file(PAYLOAD, path, overwrite=overwrite))
            state.error = ""
            state.phase = done
        except PagletError as exc:
            state.error = f"{type(exc).__name__}: {exc}"
            state.phase = "failed"
        state.finished_at = time.time()
