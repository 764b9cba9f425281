"""The fallback scanner's directory walk: the files ripgrep would search, in name order.

Paths are shown as ripgrep shows them: joined to the path the user gave (``./a.txt``
under ``.``), or bare (``a.txt``) when no path was given. The paths given are searched
whatever the filters say; below them :mod:`paglets.system.search_ignore` decides.
Symbolic links met during the walk are not followed (ripgrep's default). A directory
that cannot be read becomes an error record worded as ripgrep words it, and the walk
goes on.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paglets.system.search_ignore import (
    IGNORE,
    INCLUDE,
    IgnoreLevel,
    Overrides,
    TypeFilter,
    ignore_verdict,
)
from paglets.system.search_query import SearchQuery


@dataclass(frozen=True)
class WalkedFile:
    """A file to search: how it is shown, where it is, whether the user named it."""

    shown: str
    path: Path
    explicit: bool


def os_error_message(shown: str, exc: OSError, *, given: bool = False) -> dict[str, Any]:
    """An error record worded like ripgrep's (``PATH: Permission denied (os error 13)``).

    ripgrep words an error on the one path the user gave (``given``) as an I/O error.
    """
    code = exc.errno or 0
    reason = f"{os.strerror(code) if code else exc} (os error {code})"
    if given:
        reason = f"IO error for operation on {shown}: {reason}"
    return {"type": "error", "path": shown, "message": f"{shown}: {reason}"}


def _has_git(directory: Path) -> bool:
    try:
        return (directory / ".git").exists()
    except OSError:  # an unreadable directory: the walk reports it when it gets there
        return False


def _in_repo(directory: Path) -> bool:
    return any(_has_git(each) for each in (directory, *directory.parents))


class Walker:
    """Walk the paths of one query (see the module docstring)."""

    def __init__(self, query: SearchQuery, cancel: threading.Event | None = None) -> None:
        self._query = query
        self._cancel = cancel or threading.Event()
        self._cwd = Path.cwd()
        self._overrides = Overrides(query.globs, self._cwd)
        self._types = TypeFilter(query.types)
        self._limit = query.max_filesize_bytes()

    def walk(self) -> Iterator[WalkedFile | dict[str, Any]]:
        """Yield the files to search, and error records, in ripgrep's filtering."""
        roots = self._query.paths or ("",)
        for root in roots:
            path = Path(root or ".")
            shown = root
            try:
                is_dir = path.is_dir()
                exists = is_dir or path.exists()
            except OSError as exc:
                yield os_error_message(shown, exc, given=len(roots) == 1)
                continue
            if not exists:
                error = FileNotFoundError(errno.ENOENT, "", root)
                yield os_error_message(shown, error, given=len(roots) == 1)
            elif not is_dir:
                yield WalkedFile(shown, path, True)
            elif self._query.max_depth != 0:
                yield from self._walk_dir(path, shown, self._parent_levels(path), 1)

    def _parent_levels(self, directory: Path) -> list[IgnoreLevel]:
        if self._query.no_ignore:
            return []
        absolute = directory.absolute()
        levels = []
        for each in reversed((absolute, *absolute.parents)):
            level = IgnoreLevel.load(each, _in_repo(each))
            if level is not None:
                levels.append(level)
        return levels

    def _walk_dir(
        self, directory: Path, shown: str, levels: list[IgnoreLevel], depth: int
    ) -> Iterator[WalkedFile | dict[str, Any]]:
        try:
            with os.scandir(directory) as scan:
                entries = sorted(scan, key=lambda entry: entry.name)
        except OSError as exc:
            # with no path given ripgrep shows paths bare, but not unreadable directories
            yield os_error_message(shown if self._query.paths else os.path.join(".", shown), exc)
            return
        absolute = directory.absolute()
        for entry in entries:
            if self._cancel.is_set():
                return
            child_shown = os.path.join(shown, entry.name) if shown else entry.name
            try:
                if entry.is_symlink():
                    continue
                is_dir = entry.is_dir(follow_symlinks=False)
                is_file = entry.is_file(follow_symlinks=False)
            except OSError as exc:
                yield os_error_message(child_shown, exc)
                continue
            if not (is_dir or is_file):
                continue
            if not self._included(
                entry.name, Path(child_shown), absolute / entry.name, is_dir, levels
            ):
                continue
            if is_file:
                if (
                    self._limit is not None
                    and entry.stat(follow_symlinks=False).st_size > self._limit
                ):
                    continue
                yield WalkedFile(child_shown, Path(entry.path), False)
            elif self._query.max_depth is None or depth < self._query.max_depth:
                child_levels = levels
                if not self._query.no_ignore:
                    level = IgnoreLevel.load(absolute / entry.name, _in_repo(absolute / entry.name))
                    if level is not None:
                        child_levels = [*levels, level]
                yield from self._walk_dir(Path(entry.path), child_shown, child_levels, depth + 1)

    def _included(
        self, name: str, shown: Path, absolute: Path, is_dir: bool, levels: list[IgnoreLevel]
    ) -> bool:
        if self._overrides:
            verdict = self._overrides.verdict(shown, is_dir)
            if verdict is not None:
                return verdict == INCLUDE
        included = False
        if levels:
            verdict = ignore_verdict(levels, absolute, is_dir)
            if verdict == IGNORE:
                return False
            included = verdict == INCLUDE
        if self._types:
            verdict = self._types.verdict(name, is_dir)
            if verdict == IGNORE:
                return False
            included = included or verdict == INCLUDE
        return included or self._query.hidden or not name.startswith(".")
