"""The child process of an isolated paglet: one paglet behind a ZeroMQ ROUTER on ``ipc://``.

Started by :mod:`paglets.runtime.isolation.runner` as ``python -m
paglets.runtime.isolation.child``. The host writes one length-prefixed msgpack map on
stdin (see :func:`read_launch`) and keeps stdin open: its end means the host is gone,
and the child exits. The child answers the host's ``msg`` and ``state`` requests
with the same frames hosts use between each other, and writes one JSON line per event
on stdout (``ready`` first, then ``run-done`` or ``run-failed``).
"""

from __future__ import annotations

import faulthandler
import importlib
import json
import os
import signal
import sys
import threading
import traceback
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import msgpack

from paglets.core.agent import NOT_HANDLED, Paglet, PagletState, overrides_run
from paglets.core.errors import HostError, NotHandledError, PagletError, ProtocolError
from paglets.net.security import Identity, MeshKeys
from paglets.net.transport import IncomingRequest, Transport, TransportConfig
from paglets.wire import protocol
from paglets.wire.classpath import ClassPolicy, resolve_class
from paglets.wire.codec import decode_state, encode_state, encode_value
from paglets.wire.message_body import decode_message_body

_UNSUPPORTED = "is not available to an isolated paglet (it runs in a child process)"
HANDLER_THREADS = 256
"""Handlers that may run at once in the child (a blocked one holds a thread; the
host delivers queued messages one at a time, unqueued ones beside them)."""


def read_launch(stream: Any) -> dict[str, Any] | None:
    """Read the launch map: a 4-byte big-endian length, then that many msgpack bytes.

    Returns:
        The map, or None when the stream ended before it began: a warm spare whose
        host went away before it had a paglet to run.

    Raises:
        ProtocolError: the stream ended inside the map, or does not hold a map.
    """
    head = stream.read(4)
    if not head:
        return None
    if len(head) != 4:
        raise ProtocolError("the host closed stdin before the launch map")
    body = stream.read(int.from_bytes(head, "big"))
    launch = msgpack.unpackb(body, raw=False)
    if not isinstance(launch, dict):
        raise ProtocolError("the launch map is not a map")
    return launch


def pin_to(cpus: Sequence[int] | None) -> str:
    """Pin this process to ``cpus``; return ``pinned``, ``none`` or why it could not."""
    if not cpus:
        return "none"
    setter = getattr(os, "sched_setaffinity", None)
    try:
        if setter is not None:
            setter(0, set(cpus))
        else:
            import psutil

            psutil.Process().cpu_affinity(list(cpus))
    except (OSError, AttributeError, ValueError) as exc:
        return f"unsupported: {exc}"
    return "pinned"


class ChildContext:
    """What an isolated paglet sees of its host: names and tags; no host operations."""

    def __init__(self, launch: Mapping[str, Any]) -> None:
        self._launch = launch

    @property
    def name(self) -> str:
        return str(self._launch["host_name"])

    @property
    def host(self) -> str:
        return str(self._launch["host_name"])

    @property
    def address(self) -> str:
        return str(self._launch["host_address"])

    @property
    def agent_id(self) -> str:
        return str(self._launch["agent_id"])

    @property
    def properties(self) -> Mapping[str, str]:
        return dict(self._launch.get("properties", {}))

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(self._launch.get("tags", ()))

    def __getattr__(self, name: str) -> Any:
        raise PagletError(f"context.{name} {_UNSUPPORTED}")


class ChildControl:
    """The self-operations of an isolated paglet: waiting, its work dir; moves are the host's."""

    def __init__(self, work_dir: str) -> None:
        self._work_dir = work_dir
        self._messages = threading.Condition()
        self._pending = 0

    def work_dir(self) -> Path:
        path = Path(self._work_dir)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def wait_message(self, timeout: float | None) -> bool:
        with self._messages:
            return self._messages.wait(timeout)

    def notify_message(self) -> None:
        with self._messages:
            self._messages.notify()

    def notify_all_messages(self) -> None:
        with self._messages:
            self._messages.notify_all()

    def registered_files(self) -> dict[str, Path]:
        return {}

    def __getattr__(self, name: str) -> Any:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise PagletError(f"{name}() {_UNSUPPORTED}; ask its host through a proxy")

        return refuse


def _wire_error(exc: BaseException) -> PagletError:
    if isinstance(exc, PagletError):
        return exc
    cls = type(exc)
    name = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__name__}"
    return HostError(name, str(exc))


class ChildServer:
    """Serves one paglet's requests; every handler runs on a pooled thread of its own.

    Threads are reused: starting one per message was a sixth of an isolated round trip.
    """

    def __init__(self, paglet: Paglet[Any], policy: ClassPolicy) -> None:
        self.paglet = paglet
        self.policy = policy
        self._out = threading.Lock()
        self._workers = ThreadPoolExecutor(HANDLER_THREADS, thread_name_prefix="isolated-handler")

    def emit(self, event: str, **fields: Any) -> None:
        """Write one event line for the host."""
        with self._out:
            sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
            sys.stdout.flush()

    def on_request(self, request: IncomingRequest) -> None:
        """Route a request (I/O thread: never blocks)."""
        if request.verb == protocol.VERB_MESSAGE:
            body = bytes(request.body)
            args = (request, body)
            self._workers.submit(self._message, *args)
        elif request.verb == protocol.VERB_STATE:  # a handler may hold the state lock
            self._workers.submit(self._state, request)
        elif request.verb == protocol.VERB_PING:
            request.reply(encode_value({"pid": os.getpid()}))
        else:
            request.fail(
                ProtocolError(f"an isolated paglet's process does not take {request.verb}")
            )

    def _state(self, request: IncomingRequest) -> None:
        try:
            with self.paglet.locked():
                request.reply(encode_state(self.paglet.state))
        except PagletError as exc:
            request.fail(exc)

    def _message(self, request: IncomingRequest, body: bytes) -> None:
        try:
            message = decode_message_body(body, int(request.header.get("p", 5)), self.policy)
            result = self.paglet.handle_message(message)
            if result is NOT_HANDLED:
                raise NotHandledError(f"{type(self.paglet).__qualname__} does not handle it")
            request.reply(b"" if result is None else encode_value(result))
        except SystemExit as exc:  # sys.exit in a handler ends the process, as in a script
            code = exc.code if isinstance(exc.code, int) else 1
            sys.stdout.flush()
            os._exit(code)
        except BaseException as exc:
            request.fail(_wire_error(exc))

    def run(self) -> None:
        """Run the paglet's ``run()``; report how it ended."""
        try:
            self.paglet.run()
        except SystemExit as exc:
            sys.stdout.flush()
            os._exit(exc.code if isinstance(exc.code, int) else 1)
        except BaseException as exc:
            self.emit("run-failed", error=f"{type(exc).__name__}: {exc}")
            traceback.print_exc()
        else:
            self.emit("run-done")


def _build(launch: Mapping[str, Any]) -> tuple[Paglet[Any], ClassPolicy]:
    policy = ClassPolicy(tuple(launch["modules"]))
    cls = resolve_class(str(launch["class"]), Paglet, policy)
    state_cls = resolve_class(str(launch["state_class"]), PagletState, policy)
    state = decode_state(launch["state"], state_cls, policy)
    paglet = cls()
    paglet._bind(
        str(launch["agent_id"]),
        state,
        ChildContext(launch),
        ChildControl(str(launch.get("work_dir", ""))),  # type: ignore[arg-type]
    )
    return paglet, policy


def main() -> None:
    """Serve one isolated paglet until the host ends this process or goes away."""
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 PID`: where its threads wait
    for module in sys.argv[1:]:  # a warm spare's preload
        try:
            importlib.import_module(module)
        except Exception as exc:  # the launch imports what it needs all the same
            print(f"isolated child: preload {module} failed: {exc}", file=sys.stderr)
    launch = read_launch(sys.stdin.buffer)
    if launch is None:
        os._exit(0)  # nothing to serve, nobody to tell
    for entry in reversed(launch.get("sys_path", [])):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    affinity = pin_to(launch.get("cpus"))
    paglet, policy = _build(launch)
    server = ChildServer(paglet, policy)
    wire_keys = launch.get("keys")
    keys = None if wire_keys is None else MeshKeys(*wire_keys)
    wire_identity = launch.get("identity")
    identity = None if wire_identity is None else Identity(*wire_identity)
    transport = Transport(
        f"isolated-{str(launch['agent_id'])[:8]}",
        TransportConfig(
            bind_host=str(launch["endpoint"]), default_timeout=30.0, keys=keys, identity=identity
        ),
    )
    transport.serve(server.on_request)
    transport.start()
    server.emit("ready", pid=os.getpid(), affinity=affinity)
    if overrides_run(type(paglet)):
        threading.Thread(target=server.run, name="isolated-run", daemon=True).start()
    sys.stdin.buffer.read()  # returns when the host closes the pipe or dies
    os._exit(0)


if __name__ == "__main__":
    main()
