"""The paglets wire protocol: the frames hosts and clients exchange over ZeroMQ.

Transport
    A host binds one ROUTER socket (requests in). Callers (other hosts and
    ``HostClient``) open one DEALER per host they talk to. Every message is a ZeroMQ
    multipart message; the ROUTER's routing-id frame is not part of the protocol.
    Each host also binds a PUB socket for gossip of its host facts; those frames are
    documented in :mod:`paglets.net.gossip`.

Request  ``[header, body, blob*]``
    ``header`` is a msgpack map::

        {"v": PROTOCOL_VERSION, "id": int, "verb": str, "ow": bool?, ...verb fields}

    ``id`` is chosen by the caller, unique among its pending requests; ``ow`` (oneway)
    asks for no reply. ``body`` is a value encoded by :mod:`paglets.wire.codec` (an
    empty frame stands for None). ``blob`` frames carry raw bytes (zero-copy).

Reply  ``[header, body, blob*]``
    ``{"v": PROTOCOL_VERSION, "id": <request id>, "ok": True}`` with the result in
    ``body``, or ``{"v", "id", "ok": False, "err": type name, "msg": text}`` and an empty
    body. ``err`` names a class of :mod:`paglets.core.errors` to raise on the caller's
    side (any other name becomes ``HostError``). A paglet that moved answers
    ``{"ok": False, "err": "AgentMovedError", "to": address}``: the caller's proxy
    re-sends there.

Verbs (header fields besides ``v``/``id``/``verb``; body; reply body)

=================  =============================  =========================================
verb               header / body                  reply body
=================  =============================  =========================================
``hello``          body: caller's host facts       this host's facts; with ``want_peers``
                   (``want_peers``: also list      in the body also ``peers``: ``[{name,
                   the peers)                     address, pub}]`` of online peers
``ping``           -                              ``{"name", "address", "mesh_version",
                                                  "active", "time"}``
``msg``            ``to``: agent id; ``p``:        the handler's return value
                   priority; ``nd``: no_delay;
                   body: ``[kind, args, arg,
                   meta]``, meta ``[type,
                   sender, reply_to, time, id]``
``create``         body: ``[class path, state      the new agent id
                   class path ('' = declared),
                   state bytes, init]``
``transfer``       body: transfer record (class,  ``"prepared"``: checked, staged and
                   state, ids, reason, source,    recorded, not started (``"committed"``
                   ``timeout``)                   if it started already); a refusal
                                                  changes nothing
``transfer.commit`` body: transfer id             ``"started"`` once the paglet runs here
                                                  (sent by the source after it committed)
``transfer.status`` body: transfer id             the source's decision: ``"committed"``,
                                                  ``"aborted"`` or ``"pending"`` (asked by
                                                  a prepared target; docs/durability.md)
``abort``          body: transfer id               ``"committed"`` or ``"aborted"``; a
                                                  transfer not yet seen is refused later
``control``        ``to``; body: ``[op, args]``    op result: ``dispatch``/``clone``
                   with op in dispatch, clone,     return the new address/agent id
                   retract, deactivate, activate,
                   dispose
``info``           ``to``                         the paglet's info map
``list``           body: flags                    list of info maps
``state``          ``to``                         ``[state class path, state bytes]``
``mesh``           -                              this host's view of the mesh: ``{self,
                                                  peers, ignored, clashes, discovery,
                                                  gossip, time}`` (see ``docs/mesh.md``)
``events``         body: ``{since, last,          the host's event history, oldest first:
                   agent_id, kind, limit}``       event maps with their ``seq`` (see
                   (all optional)                 ``paglets.wire.event_query``)
``svc``            body: ``{op: "lookup", name}``  lookup: this host's service records
                   or ``{op: "ensure", name,      (``[{contract, version, operations,
                   key}``                         host_name, address, agent_id, key,
                                                  lifecycle, metadata}]``); ensure: the
                                                  record, its lazy provider started
                                                  (see ``runtime/serving/service_registry.py``)
``art.begin``      body: ``{name, size, sha256,   ``{"ref": ArtifactRef}`` when the host
                   owner, ttl}``                  has the content already (nothing to
                                                  send), else ``{"upload": id, "offset":
                                                  bytes already received}`` (resume)
``art.chunk``      ``up``: upload id, ``off``:    the next offset expected; chunks of one
                   offset; one blob frame         upload are written in arrival order
``art.commit``     ``up``: upload id               the new ``ArtifactRef`` once size and
                                                  sha256 check out (else IntegrityError)
``art.read``       ``a``: artifact id, or ``t``:  empty body and one blob frame holding
                   transfer id + ``n``: file      up to ``len`` bytes from ``off`` (read on
                   name; ``off``, ``len``         a worker thread)
``art.stat``       body: artifact id              ``{artifact_id, name, size, sha256,
                                                  owner, created_at, expires_at, host}``
``art.list``       -                              list of those maps
``art.delete``     body: artifact id              whether it was there
``art.fetch``      body: an ArtifactRef on        this host's ``ArtifactRef`` of the same
                   another host                   content (pulled in chunks unless held)
``art.progress``   -                              byte streams in flight here: ``[{direction,
                                                  agent_id, name, size, done, started}]``
=================  =============================  =========================================

Bodies
    Each verb's body (and the answers of the hand-off verbs) has one typed definition,
    which both the side that builds it and the side that checks it use; a malformed
    body is refused with the error that definition names, and the host keeps serving:

    ==========================================  =======================================
    verbs                                       definition
    ==========================================  =======================================
    ``msg``                                     :mod:`paglets.wire.message_body`
    ``create``                                  :mod:`paglets.wire.create_body`
    ``transfer``, ``transfer.commit``,          :mod:`paglets.wire.handoff_bodies`
    ``transfer.status``, ``abort``              (``HandoffRecord``, ``transfer_id``)
    ``control``, ``list``, ``state``            :mod:`paglets.wire.control_bodies`
    ``svc``                                     :mod:`paglets.wire.service_body`
    ``art.begin``                               :mod:`paglets.wire.artifact_bodies`
    ==========================================  =======================================

Artifacts (see ``docs/artifacts.md``)
    Chunk bytes always travel as raw blob frames, never inside a msgpack body. A
    sender keeps a window of a few chunk requests in flight (credit), so neither side
    holds more than ``window x chunk`` bytes. Uploads from a client are pushes
    (``art.begin``/``art.chunk``/``art.commit``); moves between hosts are pulls by the
    receiver (``art.read``), including the files a paglet carries in a ``transfer``,
    which the source serves by transfer id until the transfer ends. A transfer record
    may carry ``files``: ``[{name, size, sha256, mode}]``.

Security
    With a mesh secret, every socket uses CURVE (:mod:`paglets.net.security`): binding
    sockets are CURVE servers, connecting ones CURVE clients, all keys derived from the
    secret, and a ZAP handler admits only the mesh's client key. A failed handshake is
    reported to the caller as ``AuthenticationError``. Limits: ``MAX_HEADER_SIZE`` for
    headers, the transport's ``max_message_size`` (ZMQ ``MAXMSGSIZE``) for whole
    messages, the codec's size and depth limits for bodies, and a per-peer limit of
    requests in flight (``OverloadedError``).

Versioning
    ``hello`` carries the protocol version and the mesh version; a host answers a
    request of another protocol version with ``ProtocolError`` and refuses a ``hello``
    of another mesh version. Frames that are not valid msgpack maps with ``v``/``id``/
    ``verb`` are dropped and logged (there is no request id to answer).
"""

from __future__ import annotations

from typing import Any

import msgpack

from paglets.core.errors import ProtocolError

PROTOCOL_VERSION = 1
MAX_HEADER_SIZE = 64 * 1024

VERB_HELLO = "hello"
VERB_PING = "ping"
VERB_MESSAGE = "msg"
VERB_CREATE = "create"
VERB_TRANSFER = "transfer"
VERB_ABORT = "abort"
VERB_TRANSFER_COMMIT = "transfer.commit"
VERB_TRANSFER_STATUS = "transfer.status"
VERB_CONTROL = "control"
VERB_SERVICE = "svc"
VERB_INFO = "info"
VERB_LIST = "list"
VERB_STATE = "state"
VERB_MESH = "mesh"
VERB_ART_BEGIN = "art.begin"
VERB_ART_CHUNK = "art.chunk"
VERB_ART_COMMIT = "art.commit"
VERB_ART_READ = "art.read"
VERB_ART_STAT = "art.stat"
VERB_ART_LIST = "art.list"
VERB_ART_DELETE = "art.delete"
VERB_ART_FETCH = "art.fetch"
VERB_ART_PROGRESS = "art.progress"
VERB_EVENTS = "events"

ARTIFACT_VERBS = frozenset(
    {
        VERB_ART_BEGIN,
        VERB_ART_CHUNK,
        VERB_ART_COMMIT,
        VERB_ART_READ,
        VERB_ART_STAT,
        VERB_ART_LIST,
        VERB_ART_DELETE,
        VERB_ART_FETCH,
        VERB_ART_PROGRESS,
    }
)

VERBS = frozenset(
    {
        VERB_HELLO,
        VERB_PING,
        VERB_MESSAGE,
        VERB_CREATE,
        VERB_TRANSFER,
        VERB_ABORT,
        VERB_TRANSFER_COMMIT,
        VERB_TRANSFER_STATUS,
        VERB_CONTROL,
        VERB_INFO,
        VERB_LIST,
        VERB_STATE,
        VERB_MESH,
        VERB_SERVICE,
        VERB_EVENTS,
        *ARTIFACT_VERBS,
    }
)


def pack_request_header(request_id: int, verb: str, fields: dict[str, Any] | None = None) -> bytes:
    """Encode a request header."""
    header: dict[str, Any] = {"v": PROTOCOL_VERSION, "id": request_id, "verb": verb}
    if fields:
        header.update(fields)
    return bytes(msgpack.packb(header, use_bin_type=True))


def pack_ok_header(request_id: int) -> bytes:
    """Encode the header of a successful reply."""
    return bytes(msgpack.packb({"v": PROTOCOL_VERSION, "id": request_id, "ok": True}))


def pack_error_header(
    request_id: int, type_name: str, text: str, extra: dict[str, Any] | None = None
) -> bytes:
    """Encode the header of a failed reply."""
    header: dict[str, Any] = {
        "v": PROTOCOL_VERSION,
        "id": request_id,
        "ok": False,
        "err": type_name,
        "msg": text,
    }
    if extra:
        header.update(extra)
    return bytes(msgpack.packb(header, use_bin_type=True))


def unpack_header(frame: bytes | memoryview) -> dict[str, Any]:
    """Decode and check the shape of a request or reply header.

    Raises:
        ProtocolError: not a msgpack map, too large, or without an integer ``id``.
    """
    if len(frame) > MAX_HEADER_SIZE:
        raise ProtocolError(f"header of {len(frame)} bytes is over {MAX_HEADER_SIZE}")
    try:
        header = msgpack.unpackb(frame, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types on junk
        raise ProtocolError(f"header is not valid msgpack: {exc}") from None
    if type(header) is not dict:
        raise ProtocolError(f"header is a {type(header).__name__}, not a map")
    request_id = header.get("id")
    if type(request_id) is not int:
        raise ProtocolError("header has no integer 'id'")
    return header


def check_request_header(header: dict[str, Any]) -> str:
    """Return the verb of a request header after checking version and verb.

    Raises:
        ProtocolError: another protocol version, or an unknown verb.
    """
    version = header.get("v")
    if version != PROTOCOL_VERSION:
        raise ProtocolError(
            f"protocol version {version!r} is not supported (this host speaks {PROTOCOL_VERSION})"
        )
    verb = header.get("verb")
    if not isinstance(verb, str) or verb not in VERBS:
        raise ProtocolError(f"unknown verb {verb!r}"[:200])
    return str(verb)
