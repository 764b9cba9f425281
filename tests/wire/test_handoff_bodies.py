"""Tests for paglets.wire.handoff_bodies: the transfer record, ids and answers."""

from __future__ import annotations

from typing import Any

import pytest

from paglets.core.errors import ArtifactError, ProtocolError, TransferError
from paglets.wire.classpath import ClassPolicy
from paglets.wire.codec import decode_value, encode_value
from paglets.wire.handoff_bodies import (
    ANSWERS,
    INACTIVE,
    MAX_ID,
    CarriedFile,
    HandoffRecord,
    checked_answer,
    transfer_id,
)
from paglets.wire.protocol import (
    VERB_ABORT,
    VERB_TRANSFER,
    VERB_TRANSFER_COMMIT,
    VERB_TRANSFER_STATUS,
)

POLICY = ClassPolicy()
DIGEST = "ab" * 32


def through_the_codec(value: Any) -> Any:
    return decode_value(encode_value(value), POLICY)


def plain_map(**changes: Any) -> dict[str, Any]:
    """A well-formed record map as a source sends it, with ``changes`` applied."""
    record: dict[str, Any] = {
        "tid": "t1",
        "agent_id": "a1",
        "source_agent_id": "a0",
        "class": "pkg.mod:Box",
        "state_class": "pkg.mod:BoxState",
        "state": b"\x80",
        "reason": "clone",
        "source_name": "alpha",
        "source_address": "tcp://127.0.0.1:1",
    }
    record.update(changes)
    return record


def test_a_plain_record_keeps_the_wire_shape_of_this_release() -> None:
    record = HandoffRecord.from_wire(through_the_codec(plain_map()))
    assert (record.tid, record.class_path, record.state_class_path) == (
        "t1",
        "pkg.mod:Box",
        "pkg.mod:BoxState",
    )
    assert (record.files, record.arrival, record.timeout) == ((), "activate", None)
    assert record.to_wire() == plain_map()  # optional fields only when set


def test_a_full_record_round_trips() -> None:
    sent = HandoffRecord(
        tid="t2",
        agent_id="a2",
        source_agent_id="a2",
        class_path="pkg.mod:Box",
        state_class_path="pkg.mod:BoxState",
        state=b"\x81\xa1n\x01",
        reason="dispatch",
        source_name="alpha",
        source_address="tcp://127.0.0.1:1",
        files=(CarriedFile("data.bin", 10, DIGEST, "move"), CarriedFile("b", 0, DIGEST)),
        arrival=INACTIVE,
    ).with_timeout(4.5)
    wire = through_the_codec(sent.to_wire())
    assert wire["files"] == [
        {"name": "data.bin", "size": 10, "sha256": DIGEST, "mode": "move"},
        {"name": "b", "size": 0, "sha256": DIGEST, "mode": "copy"},
    ]
    assert (wire["arrival"], wire["timeout"]) == ("inactive", 4.5)
    assert HandoffRecord.from_wire(wire) == sent
    assert sent.file_maps() == wire["files"]


def test_a_dispatch_record_without_source_agent_id_is_its_own() -> None:
    value = plain_map(reason="dispatch")
    del value["source_agent_id"]
    assert HandoffRecord.from_wire(value).source_agent_id == "a1"


def test_an_integer_timeout_is_a_number() -> None:
    assert HandoffRecord.from_wire(plain_map(timeout=3)).timeout == 3.0


@pytest.mark.parametrize(
    "key", ["tid", "agent_id", "class", "state_class", "state", "reason", "source_name"]
)
def test_a_record_lacking_a_field_says_which(key: str) -> None:
    value = plain_map()
    del value[key]
    with pytest.raises(TransferError, match=f"lacks '{key}'"):
        HandoffRecord.from_wire(value)


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"tid": 3}, "'tid' must be a string"),
        ({"class": None}, "'class' must be a string"),
        ({"source_address": b"x"}, "'source_address' must be a string"),
        ({"source_agent_id": 1}, "'source_agent_id' must be a string"),
        ({"state": "text"}, "'state' must be bytes"),
        ({"files": {"name": "x"}}, "'files' must be a list"),
        ({"arrival": "later"}, "arrival"),
        ({"timeout": "soon"}, "timeout"),
        ({"timeout": True}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
        ({"tid": "../up"}, "tid '../up' is not a plain id"),
        ({"agent_id": "a/b"}, "agent_id 'a/b' is not a plain id"),
        ({"tid": ""}, "tid '' is not a plain id"),
        ({"agent_id": "x" * (MAX_ID + 1)}, f"over {MAX_ID} characters"),
        ({"source_agent_id": ""}, "clone lacks 'source_agent_id'"),
    ],
)
def test_a_malformed_record_is_a_transfer_error_that_says_what(
    changes: dict[str, Any], says: str
) -> None:
    with pytest.raises(TransferError, match=says.replace("(", r"\(")):
        HandoffRecord.from_wire(plain_map(**changes))


@pytest.mark.parametrize("value", [None, [1, 2], "record", b"\x80", 7])
def test_a_record_that_is_no_map_is_a_transfer_error(value: Any) -> None:
    with pytest.raises(TransferError, match="must be a map"):
        HandoffRecord.from_wire(value)


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("data.bin", "must be a map"),
        ({"name": "../escape", "size": 4, "sha256": DIGEST}, "not a plain file name"),
        ({"size": 4, "sha256": DIGEST}, "non-empty string"),
        ({"name": "f", "size": -1, "sha256": DIGEST}, "integer size and a sha256"),
        ({"name": "f", "size": "4", "sha256": DIGEST}, "integer size and a sha256"),
        ({"name": "f", "size": 4, "sha256": "AB" * 32}, "integer size and a sha256"),
        ({"name": "f", "size": 4}, "integer size and a sha256"),
        ({"name": "f", "size": 4, "sha256": DIGEST, "mode": 1}, "mode"),
    ],
)
def test_a_malformed_file_entry_is_an_artifact_error(entry: Any, says: str) -> None:
    with pytest.raises(ArtifactError, match=says):
        HandoffRecord.from_wire(plain_map(files=[entry]))


def test_transfer_ids() -> None:
    assert transfer_id(through_the_codec("t-1")) == "t-1"
    for bad, says in [(None, "string"), (3, "string"), ("a/b", "plain id"), ("..", "plain id")]:
        with pytest.raises(TransferError, match=says):
            transfer_id(bad)
    with pytest.raises(TransferError, match="characters"):
        transfer_id("t" * (MAX_ID + 1))


def test_each_hand_off_verb_has_its_answers() -> None:
    assert ANSWERS[VERB_TRANSFER] == {"prepared", "committed"}
    assert ANSWERS[VERB_TRANSFER_COMMIT] == {"started"}
    assert ANSWERS[VERB_TRANSFER_STATUS] == {"committed", "aborted", "pending"}
    assert ANSWERS[VERB_ABORT] == {"committed", "aborted"}
    for verb, answers in ANSWERS.items():
        for answer in answers:
            assert checked_answer(verb, answer, "beta") == answer


@pytest.mark.parametrize(
    ("verb", "answer"),
    [
        (VERB_TRANSFER, "started"),
        (VERB_TRANSFER, True),
        (VERB_TRANSFER_COMMIT, "prepared"),
        (VERB_TRANSFER_STATUS, None),
        (VERB_ABORT, "pending"),
    ],
)
def test_another_answer_is_a_protocol_error_naming_the_peer(verb: str, answer: Any) -> None:
    with pytest.raises(ProtocolError, match=f"beta answered .* to {verb}"):
        checked_answer(verb, answer, "beta")
