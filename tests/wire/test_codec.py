"""Tests for paglets.wire.codec: exact round trips, named failures, hostile input."""

from __future__ import annotations

import enum
import random
import re
import sys
import textwrap
import threading
import uuid
import zoneinfo
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import msgpack
import pytest

from paglets.artifacts import ArtifactRef
from paglets.core.agent import PagletState
from paglets.core.classes import class_path
from paglets.core.errors import (
    ClassNotAllowedError,
    ClassResolutionError,
    PagletError,
    PayloadTooLargeError,
    SerializationError,
)
from paglets.core.refs import PagletProxyRef
from paglets.wire.classpath import ClassPolicy
from paglets.wire.codec import (
    DEFAULT_MAX_STATE_SIZE,
    DEFAULT_MAX_VALUE_SIZE,
    MAX_EXT_DEPTH,
    ExtCode,
    decode_state,
    decode_value,
    encode_state,
    encode_value,
)

POLICY = ClassPolicy()
"""The hosts' default policy: this test module's classes resolve once encoded here."""
TEST_MODULE_POLICY = ClassPolicy(("paglets.examples", __name__))
"""A policy that allows this test module, as --allow-module would."""


class Color(enum.Enum):
    RED = "red"
    GREEN = (0, 255, 0)


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Mode(enum.StrEnum):
    COPY = "copy"
    MOVE = "move"


class Perm(enum.Flag):
    READ = 1
    WRITE = 2


@dataclass
class Point:
    x: int
    y: int = 0


@dataclass(frozen=True)
class FrozenPoint:
    x: int
    label: str = ""


@dataclass(slots=True)
class SlotsPoint:
    x: int
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class FrozenSlots:
    x: int
    doubled: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "doubled", self.x * 2)


@dataclass
class WithLateField:
    x: int
    seen: int = field(init=False, default=0)


@dataclass
class Job:
    name: str
    when: Any = None
    parent: Job | None = None


class Plain:
    """A class that is neither a dataclass nor an Enum."""


@dataclass
class Validated:
    x: int

    def __post_init__(self) -> None:
        if self.x < 0:
            raise ValueError("x must not be negative")


UTC_PLUS_5_30 = timezone(timedelta(hours=5, minutes=30))
ODD_OFFSET = timezone(-timedelta(hours=3, seconds=7, microseconds=11), "ODD")


def assert_same(got: Any, want: Any) -> None:
    """Assert equal values with the same types all the way down."""
    assert type(got) is type(want), (got, want)
    assert got == want
    if isinstance(want, list | tuple):
        for got_item, want_item in zip(got, want, strict=True):
            assert_same(got_item, want_item)
    elif isinstance(want, dict):
        assert list(got) == list(want)
        for got_key, want_key in zip(got, want, strict=True):
            assert_same(got_key, want_key)
            assert_same(got[got_key], want[want_key])
    elif isinstance(want, set | frozenset):
        assert sorted(map(repr, got)) == sorted(map(repr, want))
    elif is_dataclass(want) and not isinstance(want, type):
        for spec in fields(want):
            assert_same(getattr(got, spec.name), getattr(want, spec.name))
    elif isinstance(want, datetime | time):
        assert got.tzinfo == want.tzinfo
        assert got.tzname() == want.tzname()
        assert got.fold == want.fold


def round_trip(value: Any) -> Any:
    return decode_value(encode_value(value), POLICY)


ROUND_TRIPS: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**63 - 1,
    -(2**63),
    2**64 - 1,
    2**64,
    -(2**63) - 1,
    2**1000,
    -(2**1000) + 17,
    0.0,
    -2.5,
    float("inf"),
    1e300,
    "",
    "héllo ✓",
    b"",
    b"\x00\xff",
    bytearray(),
    bytearray(b"\x00mutable"),
    [],
    [1, "two", 3.0, None],
    (),
    (1,),
    (1, (2, (3, [4, (5,)]))),
    {},
    {"a": 1, "b": "x"},
    {1: "int key", 2.5: "float key", None: "none key", False: "bool key"},
    {(1, 2): "tuple key", ("a", (b"b",)): [1, 2], frozenset({1, 2}): "frozenset key"},
    set(),
    {1, "a", (2, 3)},
    frozenset(),
    frozenset({1, frozenset({2})}),
    Color.RED,
    Color.GREEN,
    Level.HIGH,
    Mode.MOVE,
    Perm.READ,
    Perm.READ | Perm.WRITE,
    Path("/tmp/some dir/file.txt"),
    Path("relative/x"),
    Path("/tmp/undecodable-\udcff"),
    PurePosixPath("/etc/hosts"),
    PureWindowsPath("C:\\Users\\me\\file.txt"),
    datetime(2024, 2, 29, 23, 59, 58, 123456),
    datetime(2024, 2, 29, 23, 59, 58, 1, tzinfo=UTC),
    datetime(1, 1, 1, tzinfo=UTC_PLUS_5_30),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=ODD_OFFSET),
    datetime(2024, 10, 27, 2, 30, fold=1),
    date(2024, 2, 29),
    date.min,
    time(),
    time(23, 59, 59, 999999),
    time(12, 0, tzinfo=UTC_PLUS_5_30),
    time(1, 30, fold=1),
    timedelta(),
    timedelta(days=-3, seconds=5, microseconds=7),
    timedelta.max,
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    uuid.uuid4(),
    PagletProxyRef(host_url="tcp://127.0.0.1:5555", agent_id="abc"),
    ArtifactRef(
        host_url="tcp://10.0.0.1:8765",
        artifact_id="a1",
        name="data.csv",
        size_bytes=12,
        sha256="0" * 64,
        created_at=1.5,
        expires_at=9.5,
        owner_agent_id="owner",
    ),
    Point(1, 2),
    FrozenPoint(3, "label"),
    SlotsPoint(4, ["a", "b"]),
    FrozenSlots(5),
    Job("outer", when=datetime(2024, 1, 1), parent=Job("inner", when=(1, 2))),
    [Point(1), {"p": FrozenPoint(2)}, (SlotsPoint(3),), {FrozenPoint(4): Level.LOW}],
    {"deep": [{"deeper": [(Point(1, 2), Color.RED, Path("/x"), uuid.UUID(int=5))]}]},
]


@pytest.mark.parametrize("value", ROUND_TRIPS, ids=lambda v: type(v).__name__)
def test_round_trip_keeps_type_and_value(value: Any) -> None:
    assert_same(round_trip(value), value)


def test_nan_round_trips() -> None:
    result = round_trip(float("nan"))
    assert type(result) is float and result != result


@pytest.mark.skipif(
    not zoneinfo.available_timezones(), reason="no time zone database on this machine"
)
def test_zoneinfo_round_trips() -> None:
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    value = datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=paris)
    result = round_trip(value)
    assert_same(result, value)
    assert result.tzinfo is paris
    assert result.utcoffset() == timedelta(hours=1)


def test_other_tzinfo_travels_as_its_fixed_offset() -> None:
    class Custom(tzinfo):
        def utcoffset(self, dt: datetime | None) -> timedelta:
            return timedelta(hours=2)

        def tzname(self, dt: datetime | None) -> str:
            return "CUSTOM"

        def dst(self, dt: datetime | None) -> timedelta:
            return timedelta(0)

    value = datetime(2024, 5, 1, 12, tzinfo=Custom())
    result = round_trip(value)
    assert result == value
    assert result.tzinfo == timezone(timedelta(hours=2))
    assert result.tzname() == "CUSTOM"


def test_dataclass_with_init_false_field_keeps_its_value() -> None:
    value = WithLateField(1)
    value.seen = 42
    assert_same(round_trip(value), value)


def test_bytearray_keeps_its_type_where_the_codec_sees_it() -> None:
    value = Job("j", when=bytearray(b"in a field"), parent=None)
    assert_same(round_trip(value), value)
    assert_same(round_trip((bytearray(b"in a tuple"), 1)), (bytearray(b"in a tuple"), 1))


def test_bytearray_inside_a_list_or_dict_arrives_as_bytes() -> None:
    # msgpack writes bytearray as bin without asking the codec: documented limitation.
    assert_same(round_trip([bytearray(b"x")]), [b"x"])
    assert_same(round_trip({"k": bytearray(b"x")}), {"k": b"x"})


def test_classes_defined_in_a_function_round_trip() -> None:
    @dataclass(frozen=True)
    class LocalKey:
        name: str

    class LocalEnum(enum.Enum):
        ONE = 1

    @dataclass
    class LocalValue:
        key: LocalKey
        kind: LocalEnum
        by_key: dict[LocalKey, list[LocalEnum]]

    value = LocalValue(LocalKey("k"), LocalEnum.ONE, {LocalKey("x"): [LocalEnum.ONE]})
    assert "<locals>" in class_path(LocalValue)
    assert_same(decode_value(encode_value(value), ClassPolicy(allowed_prefixes=())), value)


def test_plain_payloads_are_plain_msgpack() -> None:
    value = {"kind": "increment", "args": {"by": 1}, "list": [1, "x", None, 2.5, b"b"]}
    encoded = encode_value(value)
    assert encoded == msgpack.packb(value, use_bin_type=True)
    assert decode_value(msgpack.packb(value, use_bin_type=True), POLICY) == value


def test_memoryview_input_decodes() -> None:
    data = encode_value({"a": (1, 2)})
    assert decode_value(memoryview(data), POLICY) == {"a": (1, 2)}


def test_encoding_works_after_a_failure_on_the_same_thread() -> None:
    with pytest.raises(SerializationError):
        encode_value({"a": [1, 2, threading.Lock()]})
    assert encode_value({"a": 1, "b": "x"}) == msgpack.packb({"a": 1, "b": "x"})


def test_large_values_encode_repeatedly() -> None:
    value = {"blob": b"x" * (3 * 1024 * 1024), "items": list(range(1000))}
    assert encode_value(value) == encode_value(value)
    assert round_trip(value) == value


def test_encoding_from_many_threads() -> None:
    def work(index: int) -> bool:
        value = {"i": index, "p": Point(index, -index), "t": (index, str(index))}
        return all(round_trip(value) == value for _ in range(50))

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(work, range(64)))


def test_value_class_is_recorded_when_encoded() -> None:
    @dataclass
    class OnlyHere:
        x: int

    path = class_path(OnlyHere)
    payload = msgpack.packb(
        msgpack.ExtType(ExtCode.DATACLASS, msgpack.packb([path, {"x": 1}])), use_bin_type=True
    )
    with pytest.raises(ClassNotAllowedError, match="never encoded by this process"):
        decode_value(payload, POLICY)
    encode_value(OnlyHere(0))
    assert decode_value(payload, POLICY) == OnlyHere(1)


# states ---------------------------------------------------------------------------------


@dataclass
class EveryFieldState(PagletState):
    nothing: None = None
    flag: bool = False
    count: int = 0
    huge: int = 2**70
    ratio: float = 0.0
    name: str = ""
    raw: bytes = b""
    buffer: bytearray = field(default_factory=bytearray)
    items: list[Any] = field(default_factory=list)
    pair: tuple[int, str] = (0, "")
    mapping: dict[Any, Any] = field(default_factory=dict)
    tags: set[str] = field(default_factory=set)
    frozen: frozenset[int] = frozenset()
    color: Color = Color.RED
    level: Level = Level.LOW
    mode: Mode = Mode.COPY
    where: Path = Path("/")
    when: datetime = datetime(2000, 1, 1)
    day: date = date(2000, 1, 1)
    at: time = time(0)
    wait: timedelta = timedelta(0)
    ident: uuid.UUID = uuid.UUID(int=0)
    peer: PagletProxyRef | None = None
    artifact: ArtifactRef | None = None
    point: Point | None = None
    jobs: list[Job] = field(default_factory=list)
    computed: int = field(init=False, default=0)


def full_state() -> EveryFieldState:
    state = EveryFieldState(
        flag=True,
        count=-7,
        huge=-(2**90),
        ratio=0.25,
        name="név",
        raw=b"\x01\x02",
        buffer=bytearray(b"buf"),
        items=[1, "x", (2, 3), None],
        pair=(1, "one"),
        mapping={1: "a", (2, 3): {"nested": [Point(1)]}},
        tags={"a", "b"},
        frozen=frozenset({1, 2}),
        color=Color.GREEN,
        level=Level.HIGH,
        mode=Mode.MOVE,
        where=Path("/var/lib/x"),
        when=datetime(2024, 6, 1, 12, 30, 15, 999, tzinfo=UTC),
        day=date(2024, 6, 1),
        at=time(8, 15),
        wait=timedelta(minutes=5),
        ident=uuid.UUID(int=99),
        peer=PagletProxyRef("tcp://127.0.0.1:1", "id1"),
        artifact=ArtifactRef("tcp://h:1", "a", "n", 1, "f" * 64),
        point=Point(3, 4),
        jobs=[Job("a"), Job("b", when=date(2024, 1, 2), parent=Job("c"))],
    )
    state.computed = 123
    return state


def test_state_with_every_field_type_round_trips() -> None:
    state = full_state()
    assert_same(decode_state(encode_state(state), EveryFieldState, POLICY), state)


def test_default_state_round_trips() -> None:
    state = EveryFieldState()
    assert_same(decode_state(encode_state(state), EveryFieldState, POLICY), state)


def test_state_is_a_plain_top_level_map() -> None:
    decoded = msgpack.unpackb(encode_state(full_state()), strict_map_key=False)
    assert isinstance(decoded, dict)
    assert list(decoded) == [spec.name for spec in fields(EveryFieldState)]
    assert decoded["count"] == -7


def test_state_with_no_fields_round_trips() -> None:
    assert decode_state(encode_state(PagletState()), PagletState, POLICY) == PagletState()


def test_encode_state_rejects_a_non_dataclass() -> None:
    with pytest.raises(SerializationError, match="cannot encode state"):
        encode_state(object())  # type: ignore[arg-type]


def test_decode_state_fills_missing_fields_from_defaults() -> None:
    data = msgpack.packb({"count": 1}, use_bin_type=True)
    decoded = decode_state(data, EveryFieldState, POLICY)
    assert decoded == EveryFieldState(count=1)


@dataclass
class RequiredFieldState(PagletState):
    needed: int
    optional: int = 0


def test_decode_state_names_missing_and_unknown_fields() -> None:
    required = class_path(RequiredFieldState)
    data = msgpack.packb({"optional": 1}, use_bin_type=True)
    with pytest.raises(SerializationError, match=rf"{re.escape(required)}: missing field 'needed'"):
        decode_state(data, RequiredFieldState, POLICY)
    path = class_path(EveryFieldState)
    values = msgpack.unpackb(encode_state(EveryFieldState()), ext_hook=msgpack.ExtType)
    values["extra"] = 1
    with pytest.raises(SerializationError, match=rf"{re.escape(path)}: unknown field 'extra'"):
        decode_state(msgpack.packb(values), EveryFieldState, POLICY)


def test_decode_state_rejects_a_non_map() -> None:
    with pytest.raises(SerializationError, match="want a map"):
        decode_state(msgpack.packb([1, 2]), EveryFieldState, POLICY)


# encode errors name the field path ------------------------------------------------------


@dataclass
class ItemsState(PagletState):
    items: list[Job] = field(default_factory=list)


def test_state_error_names_the_field_path() -> None:
    state = ItemsState(items=[Job("a"), Job("b"), Job("c", when=threading.Lock())])
    with pytest.raises(SerializationError) as caught:
        encode_state(state)
    assert str(caught.value) == "cannot encode state.items[2].when: unsupported type _thread.lock"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (object(), "cannot encode value: unsupported type object"),
        ({"a": [1, {"b": object()}]}, "cannot encode value['a'][1]['b']: unsupported type object"),
        ((1, (2, object())), "cannot encode value[1][1]: unsupported type object"),
        ({(1, object()): 2}, "cannot encode value[<key 0>][1]: unsupported type object"),
        (Point(1, y=object()), "cannot encode value.y: unsupported type object"),  # type: ignore[arg-type]
        (
            [Job("a", parent=Job("b", when={3j}))],
            "cannot encode value[0].parent.when[0]: unsupported type complex",
        ),
        ({"s": "bad \udc80"}, "cannot encode value['s']: string is not valid UTF-8"),
        (OrderedDict(a=1), "cannot encode value: unsupported type collections.OrderedDict"),
        (Point, "cannot encode value: unsupported type type"),
    ],
)
def test_value_error_names_the_path(value: Any, message: str) -> None:
    with pytest.raises(SerializationError) as caught:
        encode_value(value)
    assert str(caught.value).startswith(message)


def test_enum_with_unencodable_value() -> None:
    class Odd(enum.Enum):
        LOCK = threading.Lock()

    with pytest.raises(SerializationError, match=r"value\['e'\]\.value: unsupported type"):
        encode_value({"e": Odd.LOCK})


def test_subclasses_of_native_types_are_rejected() -> None:
    class MyInt(int):
        pass

    class MyList(list[int]):
        pass

    with pytest.raises(SerializationError, match="unsupported type .*MyInt"):
        encode_value([MyInt(1)])
    with pytest.raises(SerializationError, match="unsupported type .*MyList"):
        encode_value({"x": MyList()})


def test_reference_cycles_are_reported() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(SerializationError, match="nested deeper than .* reference cycle"):
        encode_value({"loop": loop})
    job = Job("a")
    job.parent = job
    with pytest.raises(SerializationError, match=r"value\.parent\.parent.*reference cycle"):
        encode_value(job)


def test_extension_nesting_limit_on_encode() -> None:
    ok: Any = 0
    for _ in range(MAX_EXT_DEPTH):
        ok = (ok,)
    assert round_trip(ok) == ok
    with pytest.raises(SerializationError, match=f"nested deeper than {MAX_EXT_DEPTH}"):
        encode_value((ok,))


# hostile and malformed input ------------------------------------------------------------


def decode_raises_cleanly(data: bytes) -> None:
    try:
        decode_value(data, POLICY)
    except PagletError:
        pass


def test_random_junk_never_crashes() -> None:
    rng = random.Random(1234)
    for _ in range(3000):
        decode_raises_cleanly(rng.randbytes(rng.randrange(1, 64)))


def test_random_mutations_of_valid_payloads_never_crash() -> None:
    rng = random.Random(99)
    valid = encode_value(ROUND_TRIPS)
    for _ in range(2000):
        data = bytearray(valid)
        for _ in range(rng.randrange(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        decode_raises_cleanly(bytes(data))


@pytest.mark.parametrize("value", [ROUND_TRIPS, {"state": full_state()}])
def test_every_truncation_of_a_valid_payload_is_an_error(value: Any) -> None:
    data = encode_value(value)
    for end in range(len(data)):
        with pytest.raises(SerializationError):
            decode_value(data[:end], POLICY)


def test_trailing_bytes_are_an_error() -> None:
    with pytest.raises(SerializationError, match="cannot decode value"):
        decode_value(encode_value({"a": 1}) + b"\x00", POLICY)


def test_truncated_state_is_an_error() -> None:
    data = encode_state(full_state())
    with pytest.raises(SerializationError, match="cannot decode state"):
        decode_state(data[:-3], EveryFieldState, POLICY)


def ext(code: int, payload: Any, *, raw: bool = False) -> bytes:
    data = payload if raw else msgpack.packb(payload, use_bin_type=True)
    return msgpack.packb(msgpack.ExtType(code, data), use_bin_type=True)


@pytest.mark.parametrize("code", [0, 18, 42, 127, -2, -128])
def test_unknown_ext_code(code: int) -> None:
    fixext1 = b"\xd4" + code.to_bytes(1, "big", signed=True) + b"\x00"
    with pytest.raises(SerializationError, match=f"unknown extension type code {code}"):
        decode_value(fixext1, POLICY)
    with pytest.raises(SerializationError, match=f"unknown extension type code {code}"):
        decode_value(b"\x92\x01\x81\xa1k" + fixext1, POLICY)


def test_msgpack_timestamps_decode_as_utc_datetimes() -> None:
    # Code -1 is msgpack's own timestamp, which never reaches the ext hook.
    timestamp = msgpack.packb(msgpack.Timestamp(seconds=1, nanoseconds=5000))
    assert_same(decode_value(timestamp, POLICY), datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=UTC))
    with pytest.raises(SerializationError):
        decode_value(b"\xd4\xff\x00", POLICY)


@pytest.mark.parametrize(
    "data",
    [
        ext(ExtCode.TUPLE, {"not": "a list"}),
        ext(ExtCode.TUPLE, b"\x92\x01", raw=True),
        ext(ExtCode.SET, [[1, 2]]),
        ext(ExtCode.FROZENSET, 5),
        ext(ExtCode.DATACLASS, "no"),
        ext(ExtCode.DATACLASS, [class_path(Point), [1, 2]]),
        ext(ExtCode.ENUM, [class_path(Color)]),
        ext(ExtCode.ENUM, [class_path(Color), "blue"]),
        ext(ExtCode.DATETIME, [2024, 1, 1]),
        ext(ExtCode.DATETIME, [2024, 13, 1, 0, 0, 0, 0, 0, None]),
        ext(ExtCode.DATETIME, [2024, 1, 1, 0, 0, 0, 0, 0, [10**12, None]]),
        ext(ExtCode.DATETIME, [2024, 1, 1, 0, 0, 0, 0, 0, "No/Such_Zone"]),
        ext(ExtCode.DATETIME, [2024, 1, 1, 0, 0, 0, 0, 0, "../../etc/passwd"]),
        ext(ExtCode.DATETIME, [2024, 1, 1, 0, 0, 0, 0, 0, {"tz": 1}]),
        ext(ExtCode.DATE, ["2024", 1, 1]),
        ext(ExtCode.TIME, [25, 0, 0, 0, 0, None]),
        ext(ExtCode.TIMEDELTA, [10**10, 0, 0]),
        ext(ExtCode.UUID, b"short", raw=True),
        ext(ExtCode.PROXY_REF, ["only id"]),
        ext(ExtCode.ARTIFACT_REF, ["h", "a", "n", "not a size", "sha", 0.0]),
        ext(ExtCode.BYTEARRAY, b"", raw=True)[:-1],
    ],
)
def test_malformed_ext_payloads(data: bytes) -> None:
    with pytest.raises(SerializationError):
        decode_value(data, POLICY)


def test_malformed_path_payload_decodes_with_surrogates() -> None:
    # Paths are byte strings to the OS: undecodable bytes survive as surrogate escapes.
    assert decode_value(ext(ExtCode.PATH, b"/tmp/\xff", raw=True), POLICY) == Path("/tmp/\udcff")


def test_dataclass_payload_errors_name_class_and_field() -> None:
    path = class_path(Point)
    policy = TEST_MODULE_POLICY
    with pytest.raises(SerializationError, match=rf"{re.escape(path)}: missing field 'x'"):
        decode_value(ext(ExtCode.DATACLASS, [path, {"y": 1}]), policy)
    assert decode_value(ext(ExtCode.DATACLASS, [path, {"x": 1}]), policy) == Point(1, 0)
    with pytest.raises(SerializationError, match=rf"{re.escape(path)}: unknown field 'z'"):
        decode_value(ext(ExtCode.DATACLASS, [path, {"x": 1, "y": 2, "z": 3}]), policy)
    with pytest.raises(SerializationError, match=rf"{re.escape(path)}: unknown field 1"):
        decode_value(ext(ExtCode.DATACLASS, [path, {"x": 1, "y": 2, 1: 3}]), policy)
    validated = class_path(Validated)
    with pytest.raises(
        SerializationError, match=rf"{re.escape(validated)}: .*x must not be negative"
    ):
        decode_value(ext(ExtCode.DATACLASS, [validated, {"x": -1}]), policy)


def test_ext_payload_naming_the_wrong_kind_of_class() -> None:
    policy = TEST_MODULE_POLICY
    with pytest.raises(SerializationError, match="not an Enum"):
        decode_value(ext(ExtCode.ENUM, [class_path(Point), 1]), policy)
    with pytest.raises(SerializationError, match="not a dataclass"):
        decode_value(ext(ExtCode.DATACLASS, [class_path(Color), {}]), policy)
    with pytest.raises(ClassResolutionError, match="neither a dataclass nor an Enum"):
        decode_value(ext(ExtCode.DATACLASS, [class_path(Plain), {}]), policy)
    with pytest.raises(ClassResolutionError, match="malformed class path"):
        decode_value(ext(ExtCode.DATACLASS, ["not a path", {}]), POLICY)


def test_deeply_nested_arrays_are_an_error() -> None:
    with pytest.raises(SerializationError):
        decode_value(b"\x91" * 100_000 + b"\x01", POLICY)


def nested_tuples(depth: int) -> bytes:
    """Hand-built tuple extensions nested ``depth`` deep around the integer 1."""
    data = msgpack.packb(1)
    for _ in range(depth):
        data = msgpack.packb(msgpack.ExtType(ExtCode.TUPLE, b"\x91" + data))
    return data


def test_extension_nesting_limit_on_decode() -> None:
    value: Any = 1
    for _ in range(MAX_EXT_DEPTH):
        value = (value,)
    assert decode_value(nested_tuples(MAX_EXT_DEPTH), POLICY) == value
    with pytest.raises(SerializationError, match="nested deeper"):
        decode_value(nested_tuples(MAX_EXT_DEPTH + 1), POLICY)


def test_extension_nesting_far_past_the_limit_is_an_error() -> None:
    data = nested_tuples(5000)
    with pytest.raises(SerializationError, match="nested deeper"):
        decode_value(data, POLICY)


# size limits ----------------------------------------------------------------------------


def test_size_limits() -> None:
    assert DEFAULT_MAX_VALUE_SIZE == 64 * 1024 * 1024
    assert DEFAULT_MAX_STATE_SIZE == 256 * 1024 * 1024
    data = encode_value({"blob": b"x" * 1000})
    assert decode_value(data, POLICY, max_size=len(data)) == {"blob": b"x" * 1000}
    with pytest.raises(PayloadTooLargeError, match=f"{len(data)} bytes"):
        decode_value(data, POLICY, max_size=len(data) - 1)
    with pytest.raises(PayloadTooLargeError):
        decode_value(memoryview(data), POLICY, max_size=len(data) - 1)
    state = encode_state(full_state())
    with pytest.raises(PayloadTooLargeError):
        decode_state(state, EveryFieldState, POLICY, max_size=len(state) - 1)


# class policy ---------------------------------------------------------------------------


@pytest.fixture
def side_effect_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Path]]:
    """A module on sys.path whose import writes a marker file; forgotten afterwards."""
    name = f"paglets_codec_test_{uuid.uuid4().hex}"
    marker = tmp_path / "imported"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            f"""
            import enum
            from dataclasses import dataclass
            from pathlib import Path

            Path({str(marker)!r}).write_text("imported")

            @dataclass
            class Remote:
                x: int

            class RemoteColor(enum.Enum):
                BLUE = 1
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name, marker
    sys.modules.pop(name, None)


def test_disallowed_value_class_is_never_imported(side_effect_module: tuple[str, Path]) -> None:
    name, marker = side_effect_module
    for data in (
        ext(ExtCode.DATACLASS, [f"{name}:Remote", {"x": 1}]),
        ext(ExtCode.ENUM, [f"{name}:RemoteColor", 1]),
        msgpack.packb([1, {"k": msgpack.ExtType(ExtCode.ENUM, msgpack.packb([f"{name}:X", 1]))}]),
    ):
        with pytest.raises(ClassNotAllowedError, match=name):
            decode_value(data, POLICY)
        state_data = msgpack.packb(
            {
                "point": msgpack.ExtType(
                    ExtCode.DATACLASS, msgpack.packb([f"{name}:Remote", {"x": 1}])
                )
            }
        )
        with pytest.raises(ClassNotAllowedError, match=name):
            decode_state(state_data, EveryFieldState, POLICY)
    assert not marker.exists()
    assert name not in sys.modules


def test_allowed_value_class_is_imported(side_effect_module: tuple[str, Path]) -> None:
    name, marker = side_effect_module
    policy = ClassPolicy(allowed_prefixes=(name,))
    value = decode_value(ext(ExtCode.DATACLASS, [f"{name}:Remote", {"x": 7}]), policy)
    assert marker.exists()
    assert type(value) is sys.modules[name].Remote
    assert value.x == 7
    color = decode_value(ext(ExtCode.ENUM, [f"{name}:RemoteColor", 1]), policy)
    assert color is sys.modules[name].RemoteColor.BLUE


class UndecoratedState(RequiredFieldState):
    extra: int = 5


def test_state_subclass_without_its_own_dataclass_decorator_is_refused() -> None:
    with pytest.raises(SerializationError, match="not decorated with @dataclass"):
        encode_state(UndecoratedState(needed=1))
