"""Tests for paglets.wire.classpath: class paths resolve only within the policy."""

from __future__ import annotations

import enum
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from paglets.core.agent import Paglet, PagletState
from paglets.core.classes import class_path
from paglets.core.errors import ClassNotAllowedError, ClassResolutionError
from paglets.core.refs import PagletProxyRef
from paglets.wire.classpath import (
    ClassPolicy,
    remember_value_class,
    resolve_class,
    resolve_value_class,
)

DEFAULT_POLICY = ClassPolicy()


@dataclass
class SampleState(PagletState):
    count: int = 0


class SamplePaglet(Paglet[SampleState]):
    State = SampleState


class Outer:
    @dataclass
    class Inner:
        value: int = 0


class Color(enum.Enum):
    RED = "red"


class PlainClass:
    pass


MakeModule = Callable[[str], str]


@pytest.fixture
def make_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakeModule]:
    """Write uniquely named top-level modules under tmp_path; forget them afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    names: list[str] = []

    def make(body: str) -> str:
        name = f"paglets_test_{uuid.uuid4().hex}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(body))
        names.append(name)
        return name

    yield make
    for name in names:
        sys.modules.pop(name, None)


def marker_module(make_module: MakeModule, tmp_path: Path) -> tuple[str, Path]:
    """A module whose import writes a marker file; it defines a Paglet and a dataclass."""
    marker = tmp_path / f"imported-{uuid.uuid4().hex}"
    name = make_module(
        f"""
        from dataclasses import dataclass
        from pathlib import Path

        from paglets.core.agent import Paglet, PagletState

        Path({str(marker)!r}).write_text("imported")

        @dataclass
        class MarkerState(PagletState):
            count: int = 0

        class MarkerPaglet(Paglet[MarkerState]):
            State = MarkerState

        @dataclass
        class MarkerValue:
            value: int = 0
        """
    )
    return name, marker


# ClassPolicy ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "allowed"),
    [
        ("paglets.examples", True),
        ("paglets.examples.counter", True),
        ("paglets.examples.deep.er", True),
        ("paglets.examplesevil", False),
        ("paglets", False),
        ("paglets.core.agent", False),
        ("os", False),
        ("", False),
    ],
)
def test_default_policy_allows_only_the_examples(module: str, allowed: bool) -> None:
    assert DEFAULT_POLICY.allows_import(module) is allowed


def test_policy_with_no_prefixes_allows_nothing() -> None:
    policy = ClassPolicy(allowed_prefixes=())
    assert not policy.allows_import("paglets.examples")
    assert not policy.allows_import("")


def test_policy_with_several_prefixes() -> None:
    policy = ClassPolicy(allowed_prefixes=("myapp", "other.pkg"))
    assert policy.allows_import("myapp.jobs")
    assert policy.allows_import("other.pkg")
    assert not policy.allows_import("other")
    assert not policy.allows_import("myapp_evil")


# malformed paths ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "",
        "no_colon",
        ":Name",
        "module:",
        "module:1Name",
        "module:Name.",
        "module:.Name",
        "a..b:Name",
        "1module:Name",
        "module:Name:Extra",
        "module: Name",
        "mod-ule:Name",
        "module:Name()",
        "module:<lambda>",
        "os:" + "A" * 2000,
    ],
)
def test_malformed_paths_are_rejected(path: str) -> None:
    with pytest.raises(ClassResolutionError, match="malformed class path"):
        resolve_class(path, object, DEFAULT_POLICY)
    with pytest.raises(ClassResolutionError, match="malformed class path"):
        resolve_value_class(path, DEFAULT_POLICY)


def test_a_path_that_is_not_a_string_is_rejected() -> None:
    with pytest.raises(ClassResolutionError, match="malformed class path"):
        resolve_class(123, object, DEFAULT_POLICY)  # type: ignore[call-overload]


# lookups without import -----------------------------------------------------------------


def test_registered_paglet_class_resolves() -> None:
    path = class_path(SamplePaglet)
    assert resolve_class(path, Paglet, DEFAULT_POLICY) is SamplePaglet
    assert resolve_class(class_path(SampleState), PagletState, DEFAULT_POLICY) is SampleState


def test_paglet_defined_in_a_function_resolves_through_the_registry() -> None:
    @dataclass
    class LocalState(PagletState):
        name: str = ""

    class LocalPaglet(Paglet[LocalState]):
        State = LocalState

    path = class_path(LocalPaglet)
    assert "<locals>" in path
    assert resolve_class(path, Paglet, ClassPolicy(allowed_prefixes=())) is LocalPaglet
    assert resolve_value_class(class_path(LocalState), DEFAULT_POLICY) is LocalState


def test_paglet_class_in_a_loaded_module_resolves_outside_the_prefixes() -> None:
    policy = ClassPolicy(allowed_prefixes=())
    assert resolve_class("paglets.core.agent:PagletState", PagletState, policy) is PagletState


def test_value_class_in_a_loaded_module_outside_the_prefixes_is_refused() -> None:
    policy = ClassPolicy(allowed_prefixes=())
    with pytest.raises(ClassNotAllowedError, match="outside the allowed module prefixes"):
        resolve_value_class("paglets.core.refs:PagletProxyRef", policy)
    with pytest.raises(ClassNotAllowedError):
        resolve_value_class("dataclasses:Field", policy)


def test_value_class_in_an_allowed_module_resolves() -> None:
    policy = ClassPolicy(allowed_prefixes=("paglets.core",))
    assert resolve_value_class("paglets.core.refs:PagletProxyRef", policy) is PagletProxyRef


def test_nested_class_resolves_by_walking_the_qualname() -> None:
    policy = ClassPolicy(allowed_prefixes=(__name__,))
    assert resolve_value_class(class_path(Outer.Inner), policy) is Outer.Inner


def test_tuple_of_bases() -> None:
    bases = (Paglet, PagletState)
    assert resolve_class(class_path(SampleState), bases, DEFAULT_POLICY) is SampleState
    with pytest.raises(ClassResolutionError, match="not a Paglet or PagletState subclass"):
        resolve_class(class_path(PlainClass), bases, DEFAULT_POLICY)


def test_unknown_class_in_a_loaded_module() -> None:
    with pytest.raises(ClassResolutionError, match="no such class") as caught:
        resolve_class("paglets.core.agent:NoSuchPaglet", Paglet, DEFAULT_POLICY)
    assert not isinstance(caught.value, ClassNotAllowedError)


def test_local_class_that_no_registry_knows_is_not_found() -> None:
    class Unregistered:
        pass

    with pytest.raises(ClassResolutionError, match="no such class"):
        resolve_class(class_path(Unregistered), object, DEFAULT_POLICY)


# kind checks ----------------------------------------------------------------------------


def test_non_subclass_is_rejected() -> None:
    with pytest.raises(ClassResolutionError, match="is not a Paglet subclass"):
        resolve_class(class_path(SampleState), Paglet, DEFAULT_POLICY)
    with pytest.raises(ClassResolutionError, match="is not a Paglet subclass"):
        resolve_class("builtins:object", Paglet, DEFAULT_POLICY)


def test_non_class_is_rejected() -> None:
    with pytest.raises(ClassResolutionError, match="does not name a class"):
        resolve_class("os:getcwd", object, DEFAULT_POLICY)


def test_attribute_of_a_non_class_is_not_walked() -> None:
    with pytest.raises(ClassResolutionError, match="no such class"):
        resolve_class("os:path.join", object, DEFAULT_POLICY)


def test_value_class_must_be_a_dataclass_or_enum() -> None:
    policy = ClassPolicy(allowed_prefixes=(__name__,))
    assert resolve_value_class(class_path(Color), policy) is Color
    with pytest.raises(ClassResolutionError, match="neither a dataclass nor an Enum"):
        resolve_value_class(class_path(PlainClass), policy)
    with pytest.raises(ClassResolutionError, match="neither a dataclass nor an Enum"):
        resolve_value_class(class_path(SamplePaglet), policy)


# the value-class registry ---------------------------------------------------------------


def test_remembered_local_value_classes_resolve() -> None:
    @dataclass
    class LocalValue:
        x: int

    class LocalColor(enum.Enum):
        BLUE = 1

    with pytest.raises(ClassNotAllowedError, match="never encoded by this process"):
        resolve_value_class(class_path(LocalValue), DEFAULT_POLICY)
    remember_value_class(LocalValue)
    remember_value_class(LocalColor)
    assert resolve_value_class(class_path(LocalValue), DEFAULT_POLICY) is LocalValue
    assert resolve_value_class(class_path(LocalColor), DEFAULT_POLICY) is LocalColor


def test_remembered_value_classes_do_not_resolve_as_paglet_classes() -> None:
    @dataclass
    class LocalValue:
        x: int

    remember_value_class(LocalValue)
    with pytest.raises(ClassResolutionError, match="no such class"):
        resolve_class(class_path(LocalValue), object, DEFAULT_POLICY)


def test_value_registry_is_safe_across_threads() -> None:
    def define_and_resolve(index: int) -> bool:
        cls: type = dataclass(type(f"Threaded{index}", (), {"__annotations__": {"x": "int"}}))
        remember_value_class(cls)
        return resolve_value_class(class_path(cls), DEFAULT_POLICY) is cls

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(define_and_resolve, range(200)))


# importing under the policy -------------------------------------------------------------


def test_disallowed_module_is_never_imported(make_module: MakeModule, tmp_path: Path) -> None:
    name, marker = marker_module(make_module, tmp_path)
    for resolve in (
        lambda: resolve_class(f"{name}:MarkerPaglet", Paglet, DEFAULT_POLICY),
        lambda: resolve_value_class(f"{name}:MarkerValue", DEFAULT_POLICY),
    ):
        with pytest.raises(ClassNotAllowedError) as caught:
            resolve()
        message = str(caught.value)
        assert name in message
        assert "'paglets.examples'" in message
    assert not marker.exists()
    assert name not in sys.modules


def test_disallowed_message_says_when_nothing_is_allowed(make_module: MakeModule) -> None:
    name = make_module("class Thing:\n    pass\n")
    with pytest.raises(ClassNotAllowedError, match="none"):
        resolve_class(f"{name}:Thing", object, ClassPolicy(allowed_prefixes=()))
    assert name not in sys.modules


def test_prefix_is_matched_on_module_boundaries(make_module: MakeModule, tmp_path: Path) -> None:
    name, marker = marker_module(make_module, tmp_path)
    policy = ClassPolicy(allowed_prefixes=(name[:-4],))
    with pytest.raises(ClassNotAllowedError):
        resolve_class(f"{name}:MarkerPaglet", Paglet, policy)
    assert not marker.exists()


def test_allowed_module_is_imported(make_module: MakeModule, tmp_path: Path) -> None:
    name, marker = marker_module(make_module, tmp_path)
    policy = ClassPolicy(allowed_prefixes=(name,))
    cls = resolve_class(f"{name}:MarkerPaglet", Paglet, policy)
    assert marker.read_text() == "imported"
    assert cls is sys.modules[name].MarkerPaglet
    assert resolve_value_class(f"{name}:MarkerValue", policy) is sys.modules[name].MarkerValue


def test_allowed_module_is_imported_for_value_classes(
    make_module: MakeModule, tmp_path: Path
) -> None:
    name, marker = marker_module(make_module, tmp_path)
    cls = resolve_value_class(f"{name}:MarkerValue", ClassPolicy(allowed_prefixes=(name,)))
    assert marker.exists()
    assert cls.__name__ == "MarkerValue"


def test_allowed_module_that_fails_to_import(make_module: MakeModule) -> None:
    name = make_module("raise RuntimeError('broken module')\n")
    with pytest.raises(ClassResolutionError, match="broken module") as caught:
        resolve_class(f"{name}:Thing", object, ClassPolicy(allowed_prefixes=(name,)))
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert not isinstance(caught.value, ClassNotAllowedError)


def test_allowed_module_that_does_not_exist() -> None:
    policy = ClassPolicy(allowed_prefixes=("paglets_no_such_package",))
    with pytest.raises(ClassResolutionError, match="cannot import") as caught:
        resolve_class("paglets_no_such_package.mod:Thing", object, policy)
    assert isinstance(caught.value.__cause__, ImportError)


def test_class_missing_from_an_allowed_module(make_module: MakeModule) -> None:
    name = make_module("class Thing:\n    pass\n")
    with pytest.raises(ClassResolutionError, match="no such class"):
        resolve_class(f"{name}:Other", object, ClassPolicy(allowed_prefixes=(name,)))
