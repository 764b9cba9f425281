"""The host's file roots: the directories paglets may touch the host's files under.

Holding the mesh secret lets a peer run paglets here; it should not let it read or
overwrite every file the host's user can reach. So every paglet that touches host
files by path (the file patterns' grab and probe, the search paglet, ``register_file``)
asks :func:`check_path` first. A path is resolved before the check (``~``, ``..`` and
every symlink), so neither a link inside a root pointing out nor a ``..`` walk gets
past it. The default roots are the user's home and the system temp dir; a root of
``/`` lifts the limit (the host warns at start).

What the check cannot stop: a path swapped for a symlink between the check and its
use by a process that can write under a root. Roots bound what a remote peer can name;
they are no sandbox against local users.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable
from os import PathLike
from pathlib import Path

from paglets.core.errors import ForbiddenError

log = logging.getLogger(__name__)


def default_roots() -> tuple[Path, ...]:
    """The user's home and the system temp dir, resolved."""
    return _unique(Path(p) for p in (Path.home(), tempfile.gettempdir()))


def resolve_roots(roots: Iterable[str | PathLike[str]] | None) -> tuple[Path, ...]:
    """The roots a host enforces: ``roots`` resolved, or :func:`default_roots` for None.

    Raises:
        ForbiddenError: ``roots`` is given but empty, or names a relative path.
    """
    if roots is None:
        return default_roots()
    given = [Path(root).expanduser() for root in roots]
    if not given:
        raise ForbiddenError("give at least one files root (or none to take the defaults)")
    relative = [str(root) for root in given if not root.is_absolute()]
    if relative:
        raise ForbiddenError(f"files roots must be absolute paths: {', '.join(relative)}")
    return _unique(given)


def unrestricted(roots: Iterable[Path]) -> bool:
    """Whether the roots include a filesystem root (``/``): no limit at all."""
    return any(root == Path(root.anchor) for root in roots)


def check_path(path: str | PathLike[str], roots: Iterable[Path]) -> Path:
    """Resolve ``path`` and return it if it lies under one of ``roots``.

    Args:
        path: a path on this host (``~`` expanded; relative to the process's cwd).
        roots: resolved roots, as :func:`resolve_roots` returns them.

    Returns:
        The resolved absolute path (use it, not ``path``, from then on).

    Raises:
        ForbiddenError: the resolved path is under none of the roots.
    """
    resolved = Path(os.path.realpath(Path(path).expanduser()))
    roots = tuple(roots)
    if any(resolved == root or resolved.is_relative_to(root) for root in roots):
        return resolved
    shown = ", ".join(str(root) for root in roots) or "none"
    raise ForbiddenError(
        f"{path} is outside this host's files roots ({shown}); "
        "the host's --files-root options allow more"
    )


def warn_if_unrestricted(host_name: str, roots: Iterable[Path]) -> None:
    """Log a warning when ``roots`` lift the limit (a root of ``/``)."""
    if unrestricted(roots):
        log.warning(
            "host %s: files root / lifts the file limit: any peer holding the mesh secret "
            "may read and write every file this user can",
            host_name,
        )


def _unique(paths: Iterable[Path]) -> tuple[Path, ...]:
    seen: dict[Path, None] = {}
    for path in paths:
        seen.setdefault(Path(os.path.realpath(path)), None)
    return tuple(seen)
