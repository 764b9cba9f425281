"""The body of a ``msg`` request: a :class:`~paglets.core.messages.Message` on the wire.

The body is one encoded list::

    [kind, args, arg, meta]
    meta = [message_type, sender, reply_to, timestamp, message_id]

``kind`` is a non-empty string, ``args`` a map, ``arg`` any encodable value. ``meta``
carries what the runtime filled when the message was sent (see
:mod:`paglets.core.messages`); a body of only ``[kind, args, arg]`` is accepted too and
gets fresh defaults. The priority travels in the request header (``p``), not here.
"""

from __future__ import annotations

from paglets.core.errors import SerializationError
from paglets.core.messages import MESSAGE_TYPES, Message
from paglets.wire.classpath import ClassPolicy
from paglets.wire.codec import decode_value, encode_value


def encode_message_body(message: Message) -> bytes:
    """Encode ``message`` (all but its priority) as a ``msg`` body.

    Raises:
        SerializationError: an argument cannot be encoded.
    """
    meta = [
        message.message_type,
        message.sender,
        message.reply_to,
        message.timestamp,
        message.message_id,
    ]
    return encode_value([message.kind, message.args, message.arg, meta])


def decode_message_body(body: bytes | memoryview, priority: int, policy: ClassPolicy) -> Message:
    """Decode a ``msg`` body into a message of ``priority``.

    Raises:
        SerializationError: the body is not a valid message (says which part).
    """
    decoded = decode_value(body, policy)
    if not isinstance(decoded, list) or len(decoded) not in (3, 4):
        raise SerializationError("a message body must be [kind, args, arg, meta]")
    kind, args, arg = decoded[:3]
    if not isinstance(kind, str) or not isinstance(args, dict):
        raise SerializationError("a message needs a string kind and a dict of args")
    try:
        if len(decoded) == 3:
            return Message(kind, args, arg, priority)
        message_type, sender, reply_to, timestamp, message_id = _checked_meta(decoded[3])
        return Message(
            kind, args, arg, priority, sender, reply_to, message_type, timestamp, message_id
        )
    except ValueError as exc:
        raise SerializationError(f"not a valid message: {exc}") from None


def _checked_meta(meta: object) -> tuple[str, str | None, str | None, float, str]:
    if not (
        isinstance(meta, list)
        and len(meta) == 5
        and meta[0] in MESSAGE_TYPES
        and all(value is None or isinstance(value, str) for value in meta[1:3])
        and isinstance(meta[3], int | float)
        and not isinstance(meta[3], bool)
        and isinstance(meta[4], str)
    ):
        raise SerializationError(
            f"message meta must be [type, sender, reply_to, timestamp, id], not {meta!r:.80}"
        )
    return meta[0], meta[1], meta[2], float(meta[3]), meta[4]
