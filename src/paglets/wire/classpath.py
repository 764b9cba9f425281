"""Resolving class paths that arrive from the network, under a class-loading policy.

A class path is ``module:QualName`` (built by :func:`paglets.core.classes.class_path`).
Resolution never imports a module outside the policy's allowed prefixes. In order:

1. a malformed path is rejected;
2. a class this process registered is used: ``Paglet``/``PagletState`` subclasses
   (:mod:`paglets.core.classes`) and, for values, every dataclass or Enum the codec has
   encoded here (:func:`remember_value_class`); this is how classes defined inside a
   function (``<locals>`` in their qualname) resolve;
3. a module already imported is searched by attribute, without importing anything;
4. a module not imported yet is imported, then searched, only when it lies inside the
   allowed prefixes; any other module raises
   :class:`~paglets.core.errors.ClassNotAllowedError` and is never imported.

The class found must then be of the required kind, else
:class:`~paglets.core.errors.ClassResolutionError`.
"""

from __future__ import annotations

import functools
import importlib
import sys
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, is_dataclass
from enum import Enum
from types import ModuleType
from typing import TypeVar, overload

from paglets.core.classes import class_path, known_class
from paglets.core.errors import ClassNotAllowedError, ClassResolutionError

MAX_CLASS_PATH_LENGTH = 1000
"""Longer class paths are rejected before any lookup."""

_LOCALS = "<locals>"
_T = TypeVar("_T")

_value_classes: weakref.WeakValueDictionary[str, type] = weakref.WeakValueDictionary()
_value_classes_lock = threading.Lock()


@dataclass(frozen=True)
class ClassPolicy:
    """Which modules a class path may cause to be imported.

    Attributes:
        allowed_prefixes: module names whose modules, and submodules, may be imported.
    """

    allowed_prefixes: tuple[str, ...] = ("paglets.examples",)

    def allows_import(self, module: str) -> bool:
        """Return whether ``module`` is one of the allowed prefixes or lies below one."""
        return any(
            module == prefix or module.startswith(prefix + ".") for prefix in self.allowed_prefixes
        )


def remember_value_class(cls: type) -> None:
    """Record a dataclass or Enum class the codec encoded, so it resolves without import."""
    path = class_path(cls)
    with _value_classes_lock:
        _value_classes[path] = cls


@overload
def resolve_class(path: str, base: type[_T], policy: ClassPolicy) -> type[_T]: ...


@overload
def resolve_class(path: str, base: tuple[type, ...], policy: ClassPolicy) -> type: ...


def resolve_class(path: str, base: type | tuple[type, ...], policy: ClassPolicy) -> type:
    """Resolve a class path to a subclass of ``base``.

    Args:
        path: the class path, ``module:QualName``.
        base: the class, or classes, the result must subclass.
        policy: which modules may be imported.

    Returns:
        The class.

    Raises:
        ClassNotAllowedError: the class is not loaded and its module is not allowed.
        ClassResolutionError: the path is malformed, the class cannot be found or
            imported, or it is not a subclass of ``base``.
    """
    cls = _find_class(path, policy, known_class)
    if not issubclass(cls, base):
        raise ClassResolutionError(f"class path {path!r} is not a {_kind_name(base)} subclass")
    return cls


def resolve_value_class(path: str, policy: ClassPolicy) -> type:
    """Resolve the class path of a dataclass or Enum carried inside an encoded value.

    Args:
        path: the class path, ``module:QualName``.
        policy: which modules may be imported.

    Returns:
        The dataclass or Enum class.

    Raises:
        ClassNotAllowedError: the class is not loaded and its module is not allowed.
        ClassResolutionError: the path is malformed, the class cannot be found or
            imported, or it is neither a dataclass nor an Enum.
    """
    registered = _known_class_or_value_class(path)
    if registered is None:
        module_name, _ = _split_path(path)
        if not policy.allows_import(module_name):
            # Only classes this process registered or encoded, or classes of allowed
            # modules, may be built from the network: not any dataclass that happens
            # to be loaded (the standard library has plenty, with __post_init__ code).
            raise ClassNotAllowedError(
                f"class path {path!r} is outside the allowed module prefixes "
                f"{list(policy.allowed_prefixes)} and was never encoded by this process"
            )
    cls = _find_class(path, policy, _known_class_or_value_class)
    if not (is_dataclass(cls) or issubclass(cls, Enum)):
        raise ClassResolutionError(f"class path {path!r} is neither a dataclass nor an Enum")
    return cls


def _known_class_or_value_class(path: str) -> type | None:
    found = known_class(path)
    if found is not None:
        return found
    with _value_classes_lock:
        return _value_classes.get(path)


def _find_class(path: str, policy: ClassPolicy, registered: Callable[[str], type | None]) -> type:
    module_name, qualname = _split_path(path)
    found: object = registered(path)
    if found is None:
        module = sys.modules.get(module_name)
        if module is None:
            module = _import_allowed(path, module_name, policy)
        elif getattr(getattr(module, "__spec__", None), "_initializing", False):
            # another thread is still running its body: the import waits until it is done
            module = importlib.import_module(module_name)
        found = _walk(module, qualname)
    if found is None:
        raise ClassResolutionError(f"class path {path!r}: no such class")
    if not isinstance(found, type):
        raise ClassResolutionError(f"class path {path!r} does not name a class")
    return found


def _import_allowed(path: str, module_name: str, policy: ClassPolicy) -> ModuleType:
    if not policy.allows_import(module_name):
        allowed = ", ".join(repr(prefix) for prefix in policy.allowed_prefixes)
        raise ClassNotAllowedError(
            f"class path {path!r} is not allowed: module {module_name!r} is not loaded "
            f"and only modules under these prefixes may be imported: {allowed or 'none'}"
        )
    try:
        return importlib.import_module(module_name)
    except Exception as exc:
        raise ClassResolutionError(
            f"class path {path!r}: cannot import module {module_name!r}: {exc}"
        ) from exc


def _split_path(path: str) -> tuple[str, str]:
    if not isinstance(path, str) or len(path) > MAX_CLASS_PATH_LENGTH:
        raise ClassResolutionError(f"malformed class path {_short(path)}")
    return _split_valid_length_path(path)


@functools.lru_cache(maxsize=1024)
def _split_valid_length_path(path: str) -> tuple[str, str]:
    module_name, colon, qualname = path.partition(":")
    module_ok = all(part.isidentifier() for part in module_name.split("."))
    qualname_ok = all(part.isidentifier() or part == _LOCALS for part in qualname.split("."))
    if not (colon and module_ok and qualname_ok):
        raise ClassResolutionError(f"malformed class path {_short(path)}: want 'module:QualName'")
    return module_name, qualname


def _walk(module: object, qualname: str) -> object:
    """Follow ``qualname`` from ``module`` through classes only; None when not found."""
    found = module
    for index, part in enumerate(qualname.split(".")):
        if part == _LOCALS or (index > 0 and not isinstance(found, type)):
            return None
        try:
            found = getattr(found, part)
        except Exception:
            return None
    return found


def _kind_name(base: type | tuple[type, ...]) -> str:
    if isinstance(base, tuple):
        return " or ".join(cls.__name__ for cls in base)
    return base.__name__


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
