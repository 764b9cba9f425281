"""Tests for paglets.core.runtime_values: members in, values on the wire, clear errors."""

from __future__ import annotations

from typing import Any

import pytest

from paglets.core.runtime_values import (
    ArrivalMode,
    EnvelopeKind,
    ResidentLifecycle,
    ServiceScope,
    enum_from_wire,
    require_enum,
)
from paglets.wire.classpath import ClassPolicy
from paglets.wire.codec import decode_value, encode_value


def test_wire_values() -> None:
    assert [member.value for member in ServiceScope] == ["local", "mesh"]
    assert [member.value for member in ResidentLifecycle] == ["lazy", "eager"]
    assert [member.value for member in ArrivalMode] == ["activate", "inactive"]
    assert [member.value for member in EnvelopeKind] == ["dispatch", "clone", "retract"]


def test_require_enum_passes_a_member() -> None:
    assert require_enum(ArrivalMode.INACTIVE, ArrivalMode, "arrival_mode") is ArrivalMode.INACTIVE


def test_require_enum_refuses_the_raw_value_and_says_which_member() -> None:
    with pytest.raises(TypeError) as caught:
        require_enum("inactive", ArrivalMode, "arrival_mode")
    text = str(caught.value)
    assert "arrival_mode" in text
    assert "ArrivalMode.ACTIVATE, ArrivalMode.INACTIVE" in text
    assert "use ArrivalMode.INACTIVE" in text


@pytest.mark.parametrize("value", ["nowhere", 3, None, ResidentLifecycle.LAZY])
def test_require_enum_refuses_other_values(value: Any) -> None:
    with pytest.raises(TypeError, match="scope must be one of ServiceScope.LOCAL"):
        require_enum(value, ServiceScope, "scope")


def test_enum_from_wire() -> None:
    assert enum_from_wire("eager", ResidentLifecycle) is ResidentLifecycle.EAGER
    assert enum_from_wire(EnvelopeKind.CLONE, EnvelopeKind) is EnvelopeKind.CLONE
    with pytest.raises(ValueError, match="lifecycle must be one of 'lazy', 'eager'"):
        enum_from_wire("sometimes", ResidentLifecycle, "lifecycle")


def test_members_round_trip_through_the_codec_without_any_import_allowed() -> None:
    nothing = ClassPolicy(allowed_prefixes=())
    for member in (ServiceScope.MESH, ArrivalMode.INACTIVE, EnvelopeKind.RETRACT):
        assert decode_value(encode_value(member), nothing) is member
