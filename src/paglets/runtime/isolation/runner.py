"""The host side of an isolated paglet: its child process and the link to it.

A paglet class with ``ISOLATED = True`` keeps a slot on its host like any paglet (its
mailbox, its place in the registry, its hooks); only its handlers and ``run()`` run in
a child process (:mod:`paglets.runtime.isolation.child`), a ZeroMQ peer on an
``ipc://`` socket. The host forwards each message as a ``msg`` request and the reply
back. Before any operation that needs the state (dispatch, clone, deactivate), the
state comes back with a ``state`` request (the verb hosts use for a paglet's state),
and the usual path runs on it.

A child that ends on its own (a crash, ``sys.exit``, ``os._exit``) marks only its paglet
crashed: its exit code shows in ``info()``, later messages fail with
``PagletCrashedError`` and a ``paglet-crashed`` context event is recorded.
"""

from __future__ import annotations

import json
import logging
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack

from paglets.core.agent import NOT_HANDLED, Paglet, overrides_run
from paglets.core.context_events import PAGLET_CRASHED
from paglets.core.errors import (
    HostStoppedError,
    NotHandledError,
    PagletCrashedError,
    PagletError,
    ReplyTimeoutError,
)
from paglets.core.messages import Message
from paglets.net.transport import Transport
from paglets.runtime.event_log import EventLog
from paglets.runtime.execution.local_paglet import LocalPaglet
from paglets.runtime.files.work_area import WorkArea
from paglets.runtime.host_identity import HostIdentity
from paglets.runtime.isolation.spares import refill_spares, spawn_child, take_spare
from paglets.wire import protocol
from paglets.wire.classpath import ClassPolicy
from paglets.wire.codec import decode_state, decode_value, encode_state
from paglets.wire.message_body import encode_message_body

log = logging.getLogger(__name__)

START_TIMEOUT = 30.0
"""Seconds a child may take to import the paglet's modules and listen."""
STOP_GRACE = 1.0
"""Seconds a child gets after SIGTERM before it is killed."""
STATE_TIMEOUT = 30.0
"""Seconds a state request waits (the state is small; the child answers it on its I/O
thread, whatever its handlers do, so only a wedged child misses this)."""
_LONG = 7 * 24 * 3600.0  # a handler may compute for days; a dead child fails it at once


def is_isolated(cls: type[Paglet[Any]]) -> bool:
    """Whether paglets of ``cls`` run in a child process."""
    return getattr(cls, "ISOLATED", False) is True


class IsolatedRunner:
    """One isolated paglet's child process, seen from its host."""

    in_process = False
    """Its code runs in the child (the execution seam's flag)."""

    def __init__(self, host: IsolationHost, slot: LocalPaglet) -> None:
        self._identity = host.identity
        self._transport = host.transport
        self._policy = host.policy
        self._events = host.events
        self._work_area = host.work_area
        self._host = host
        self._slot = slot
        self._dir = tempfile.mkdtemp(prefix="pgl-")
        self.endpoint = f"ipc://{self._dir}/p"
        self._proc: subprocess.Popen[bytes] | None = None
        self._lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._stopping = False
        self._kill_at = 0.0
        self.crashed = False
        self.exit_code: int | None = None
        self.affinity = "none"
        self.cpus: list[int] = []
        self.run_state = "none"
        self.run_failure = ""
        self.started_at = 0.0
        self._ended = threading.Event()
        self.on_end: Callable[[], None] | None = None  # run() ended or the process did

    @property
    def pid(self) -> int | None:
        """The child's process id (None before start)."""
        return None if self._proc is None else self._proc.pid

    @property
    def ended(self) -> bool:
        """Whether the child process has ended."""
        return self._ended.is_set()

    def start(self, cpus: list[int] | None = None, timeout: float = START_TIMEOUT) -> None:
        """Start the child with the paglet's current state; return once it listens.

        Raises:
            PagletError: the child did not start or did not get ready within ``timeout``.
        """
        slot = self._slot
        with slot.paglet.locked():
            state = encode_state(slot.paglet.state)
        cls = type(slot.paglet)
        modules = {cls.__module__, type(slot.paglet.state).__module__}
        self.cpus = list(cpus or [])
        launch = {
            "agent_id": slot.agent_id,
            "class": slot.class_path,
            "state_class": slot.state_class_path,
            "state": state,
            "modules": sorted(modules | set(self._policy.allowed_prefixes)),
            "endpoint": self.endpoint,
            "host_name": self._identity.name,
            "host_address": self._identity.address,
            "tags": list(self._host.tags),
            "properties": dict(self._host.properties),
            "sys_path": [entry for entry in sys.path if entry],
            "cpus": self.cpus,
            "work_dir": str(self._work_area.dir_of(slot.agent_id)),
        }
        keys = self._transport.config.keys
        if keys is not None:  # the pipe is private to the child, as the host's memory is
            launch["keys"] = [keys.server_public, keys.server_secret, keys.fingerprint]
            identity = self._transport.config.identity
            if identity is not None:  # the child speaks for its host: the host's own key
                launch["identity"] = [identity.public, identity.secret]
        blob = msgpack.packb(launch, use_bin_type=True)
        self.run_state = "running" if overrides_run(cls) else "none"
        proc = take_spare(self._identity.address) or spawn_child()
        self._proc = proc
        assert proc.stdin is not None
        proc.stdin.write(len(blob).to_bytes(4, "big") + blob)
        proc.stdin.flush()
        self.started_at = time.time()
        tag = slot.agent_id[:8]
        threading.Thread(target=self._read_events, name=f"isolated-out-{tag}", daemon=True).start()
        threading.Thread(target=self._wait_exit, name=f"isolated-wait-{tag}", daemon=True).start()
        try:
            ready = self._lines.get(timeout=timeout)
        except queue.Empty:
            ready = None
        finally:
            refill_spares(self._identity.address)  # once this child's launch is done
        if ready is None or ready.get("event") != "ready":
            self.stop()
            code = self.exit_code
            raise PagletError(
                f"the child process of paglet {slot.agent_id} did not start"
                + (f" (exit code {code})" if code is not None else f" within {timeout}s")
            )
        self.affinity = str(ready.get("affinity", "none"))
        if self.affinity.startswith("unsupported"):
            log.warning("paglet %s runs unpinned: affinity %s", slot.agent_id, self.affinity)

    def _read_events(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        ready_seen = False
        for raw in self._proc.stdout:
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            if not ready_seen:
                ready_seen = True
                self._lines.put(event)
                continue
            if event.get("event") == "run-done":
                self.run_state = "done"
            elif event.get("event") == "run-failed":
                self.run_state = "failed"
                self.run_failure = str(event.get("error", ""))
                self._events.record(
                    PAGLET_CRASHED,
                    self._slot.agent_id,
                    class_name=self._slot.class_path,
                    error=self.run_failure,
                )
            self._notify_end()
        if not ready_seen:
            self._lines.put(None)

    def _wait_exit(self) -> None:
        assert self._proc is not None
        code = self._proc.wait()
        with self._lock:
            self.exit_code = code
            crashed = not self._stopping
            self.crashed = crashed
        self._ended.set()
        error: PagletError
        if crashed:
            error = PagletCrashedError(self._crash_text())
            self._events.record(
                PAGLET_CRASHED,
                self._slot.agent_id,
                class_name=self._slot.class_path,
                error=f"child process exited with code {code}",
                exit_code=code,
            )
            log.warning("isolated paglet %s: child exited with %s", self._slot.agent_id, code)
        else:
            error = HostStoppedError(
                f"paglet {self._slot.agent_id} left host {self._identity.name}"
            )
        self._transport.forget_link(self.endpoint, error)
        if self._proc.stdin is not None:
            try:
                self._proc.stdin.close()
            except OSError:
                pass
        shutil.rmtree(self._dir, ignore_errors=True)
        self._notify_end()

    def _notify_end(self) -> None:
        callback = self.on_end
        if callback is not None:
            try:
                callback()
            except Exception:
                log.exception("isolated paglet %s: end callback failed", self._slot.agent_id)

    def _crash_text(self) -> str:
        return (
            f"paglet {self._slot.agent_id} crashed: its process exited with code {self.exit_code}"
        )

    def _check_alive(self) -> None:
        if self.crashed:
            raise PagletCrashedError(self._crash_text())
        if self._stopping:
            raise HostStoppedError(f"paglet {self._slot.agent_id} left host {self._identity.name}")

    def _ask(self, verb: str, body: bytes, fields: dict[str, Any], timeout: float = _LONG) -> Any:
        self._check_alive()
        future = self._transport.request(
            self.endpoint, verb, body, fields=fields, timeout=timeout, ordered=False
        )
        deadline = time.monotonic() + timeout
        while not future.wait_for_reply(0.25):
            self._check_alive()  # covers a request sent just as the child ended
            if time.monotonic() > deadline:
                raise ReplyTimeoutError(f"no {verb} reply from the child within {timeout}s")
        try:
            return future.get_reply(0)
        except PagletError:
            self._check_alive()
            raise

    # what the slot calls ------------------------------------------------------------

    def handle(self, message: Message) -> Any:
        """Forward ``message`` to the child; return its handler's result.

        Raises:
            PagletCrashedError: the child has ended (or ends while handling it).
        """
        fields = {"to": self._slot.agent_id, "p": message.priority}
        try:
            reply = self._ask(protocol.VERB_MESSAGE, encode_message_body(message), fields)
        except NotHandledError:
            return NOT_HANDLED
        return decode_value(reply.body, self._policy) if len(reply.body) else None

    def snapshot(self, timeout: float = STATE_TIMEOUT) -> None:
        """Bring the child's current state into the host's copy of the paglet.

        One request, no retry: nothing is lost on the link to a live child, and a
        child that ends fails the request at once with ``PagletCrashedError``.

        Raises:
            PagletCrashedError: the child has ended.
            ReplyTimeoutError: no answer within ``timeout`` (a wedged child).
        """
        reply = self._ask(protocol.VERB_STATE, b"", {"to": self._slot.agent_id}, timeout)
        paglet = self._slot.paglet
        state = decode_state(reply.body, type(paglet.state), self._policy)
        with paglet.locked():
            paglet.state = state

    def refresh(self, timeout: float) -> bool:
        """Take the child's state if it answers within ``timeout`` (False: it did not)."""
        if self.ended:
            return False
        try:
            self.snapshot(timeout)
        except PagletError as exc:
            log.warning("paglet %s: its child gave no state: %s", self._slot.agent_id, exc)
            return False
        return True

    def synced(self, action: Callable[[], Any]) -> Callable[[], Any]:
        """``action`` run on a fresh snapshot (or on the last known state once crashed)."""

        def run() -> Any:
            if not self.ended:
                self.snapshot()
            return action()

        return run

    def begin_stop(self, grace: float = STOP_GRACE) -> None:
        """Send the child SIGTERM and return; it is killed if not gone ``grace`` s later.

        Its exit is then no crash.
        """
        with self._lock:
            if self._stopping or self._proc is None:
                return
            self._stopping = True
            self._kill_at = time.monotonic() + grace
        if self._proc.poll() is None:
            self._proc.terminate()

    def stop(self, grace: float = STOP_GRACE) -> None:
        """End the child (SIGTERM, then SIGKILL ``grace`` s after the SIGTERM); wait for it."""
        self.begin_stop(grace)
        proc = self._proc
        if proc is None:
            return
        try:
            proc.wait(max(0.0, self._kill_at - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(grace)
        self._ended.wait(grace)

    def info(self) -> dict[str, Any]:
        """Facts ``PagletProxy.info()`` adds for an isolated paglet."""
        return {
            "isolated": True,
            "pid": self.pid,
            "exit_code": self.exit_code,
            "crashed": self.crashed,
            "affinity": self.affinity,
            "cpus": self.cpus,
            "running": self.run_state == "running" and not self.ended,
            "failed": self.run_failure or (self._crash_text() if self.crashed else ""),
        }


@dataclass(frozen=True)
class IsolationHost:
    """What an isolated child needs of its host, the same for every child.

    Args:
        identity: the host's name and address.
        transport: the host's transport (the child's link, and the mesh keys).
        policy: the host's class policy.
        events: the host's event log.
        work_area: the host's work area (the paglet's work dir).
        tags, properties: the host's configured tags and properties.
    """

    identity: HostIdentity
    transport: Transport
    policy: ClassPolicy
    events: EventLog
    work_area: WorkArea
    tags: tuple[str, ...]
    properties: dict[str, str]


def start_isolated(host: IsolationHost, slot: LocalPaglet) -> IsolatedRunner:
    """Start ``slot``'s child process and attach it to the slot.

    The paglet may name CPU ids to pin its process to with an ``isolation_cpus()``
    method (compute jobs pass their lease's).

    Raises:
        PagletError: the child did not start.
    """
    runner = IsolatedRunner(host, slot)
    chooser = getattr(slot.paglet, "isolation_cpus", None)
    cpus = list(chooser()) if callable(chooser) else None
    runner.start(cpus)
    slot.execution = runner
    return runner


__all__ = ["IsolatedRunner", "is_isolated", "start_isolated"]
