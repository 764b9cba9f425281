"""Tests for paglets.wire.artifact_bodies: ``art.begin`` and its answer."""

from __future__ import annotations

from typing import Any

import pytest

from paglets.artifacts import ArtifactRef
from paglets.core.errors import ArtifactError, ProtocolError
from paglets.wire.artifact_bodies import BeginAnswer, UploadBegin, is_sha256
from paglets.wire.classpath import ClassPolicy
from paglets.wire.codec import decode_value, encode_value

POLICY = ClassPolicy()
DIGEST = "0f" * 32


def through_the_codec(value: Any) -> Any:
    return decode_value(encode_value(value), POLICY)


def test_a_begin_round_trips_in_the_shape_of_this_release() -> None:
    sent = UploadBegin("data.bin", 12, DIGEST, "agent-1", 60.0)
    wire = through_the_codec(sent.to_wire())
    assert wire == {
        "name": "data.bin",
        "size": 12,
        "sha256": DIGEST,
        "owner": "agent-1",
        "ttl": 60.0,
    }
    assert UploadBegin.from_wire(wire) == sent
    assert UploadBegin.from_wire({"name": "d", "size": 0, "sha256": DIGEST}).owner == ""


@pytest.mark.parametrize(
    ("body", "error", "says"),
    [
        (None, ProtocolError, "needs a map"),
        (["data.bin", 12], ProtocolError, "needs a map"),
        ({"name": "../x", "size": 1, "sha256": DIGEST}, ArtifactError, "plain file name"),
        ({"size": 1, "sha256": DIGEST}, ArtifactError, "non-empty string"),
        ({"name": "d", "size": -1, "sha256": DIGEST}, ProtocolError, "integer size"),
        ({"name": "d", "size": 1.5, "sha256": DIGEST}, ProtocolError, "integer size"),
        ({"name": "d", "size": 1, "sha256": "xyz"}, ProtocolError, "hex sha256"),
        ({"name": "d", "size": 1, "sha256": DIGEST, "owner": 3}, ProtocolError, "owner"),
        ({"name": "d", "size": 1, "sha256": DIGEST, "ttl": "1h"}, ProtocolError, "ttl"),
        ({"name": "d", "size": 1, "sha256": DIGEST, "ttl": True}, ProtocolError, "ttl"),
    ],
)
def test_a_malformed_begin_gets_a_clear_error(body: Any, error: type[Exception], says: str) -> None:
    with pytest.raises(error, match=says):
        UploadBegin.from_wire(body)


def test_both_answers_round_trip() -> None:
    ref = ArtifactRef("tcp://127.0.0.1:1", "id-1", "data.bin", 12, DIGEST, 1.0, None, "")
    held = through_the_codec(BeginAnswer(ref=ref).to_wire())
    assert held == {"ref": ref}
    assert BeginAnswer.from_wire(held, "beta") == BeginAnswer(ref=ref)
    resume = through_the_codec(BeginAnswer(upload_id="up-1", offset=4096).to_wire())
    assert resume == {"upload": "up-1", "offset": 4096}
    assert BeginAnswer.from_wire(resume, "beta") == BeginAnswer(upload_id="up-1", offset=4096)


@pytest.mark.parametrize(
    "answer",
    [None, [], {}, {"ref": "id-1"}, {"upload": ""}, {"upload": "u", "offset": -1}, {"upload": 3}],
)
def test_a_malformed_answer_is_a_protocol_error_naming_the_host(answer: Any) -> None:
    with pytest.raises(ProtocolError, match="malformed art.begin reply from beta"):
        BeginAnswer.from_wire(answer, "beta")


def test_is_sha256() -> None:
    assert is_sha256(DIGEST)
    assert not is_sha256(DIGEST.upper()) and not is_sha256(DIGEST[:-1]) and not is_sha256(None)
