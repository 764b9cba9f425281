"""What a search asks for: one value shared by the CLI, the paglets and both engines.

A :class:`SearchQuery` is ripgrep's command line as data. ``grep`` searches file
contents for a regex; ``find`` lists files whose *name* matches a regex (fd-like),
with the same file filters (ignore files, hidden files, globs, types, depth, size).

The query also owns the two things both engines must agree on: the argument list
given to ``rg`` (:meth:`SearchQuery.rg_arguments`) and the Python regex the
fallback scanner uses (:meth:`SearchQuery.compile`), so a flag means one thing.

Records a search produces are plain dicts (they travel in messages as they are):

==========  ===========================================  ===========================
``type``    fields                                       produced by
==========  ===========================================  ===========================
match       ``path``, ``line``, ``text``                 grep (one per line, or one
                                                         per match with ``-o``)
context     ``path``, ``line``, ``text``                 grep ``-A/-B/-C``
count       ``path``, ``count``                          grep ``-c``
file        ``path``                                     grep ``-l``, find
error       ``path`` (may be ""), ``message``            unreadable dirs, bad paths
==========  ===========================================  ===========================
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from typing import Any

from paglets.core.errors import PagletError

MODES = ("grep", "find")
_SIZE = re.compile(r"^\s*(\d+)\s*([KMG]?)\s*$", re.IGNORECASE)
_ESCAPE = re.compile(r"\\.")
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}


class SearchQueryError(PagletError):
    """A search was asked for with a bad pattern or a bad option; it names which."""


@dataclass(frozen=True)
class SearchQuery:
    """One search, as ripgrep's flags (see the module docstring for the records).

    Attributes:
        mode: ``"grep"`` (file contents) or ``"find"`` (file names).
        pattern: the regex (a literal with ``fixed_strings``); ``find`` accepts "".
        paths: where to search, on the host that searches ("" or none: its cwd).
        ignore_case, smart_case, fixed_strings, word_regexp: ``-i -S -F -w``.
        count, files_with_matches, only_matching: ``-c -l -o``.
        before_context, after_context: ``-B`` and ``-A`` (``-C`` sets both).
        max_count: ``-m``, matching lines per file.
        globs, types: ``-g`` (``!`` excludes) and ``-t``.
        hidden, no_ignore: ``--hidden`` and ``--no-ignore``.
        max_depth: ``--max-depth`` (0: only the paths given).
        max_filesize: ``--max-filesize`` such as ``"10M"``.
        full_path: ``find`` matches the whole path, not only the file name.
    """

    mode: str = "grep"
    pattern: str = ""
    paths: tuple[str, ...] = ()
    ignore_case: bool = False
    smart_case: bool = False
    fixed_strings: bool = False
    word_regexp: bool = False
    count: bool = False
    files_with_matches: bool = False
    only_matching: bool = False
    before_context: int = 0
    after_context: int = 0
    max_count: int | None = None
    globs: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    hidden: bool = False
    no_ignore: bool = False
    max_depth: int | None = None
    max_filesize: str | None = None
    full_path: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "paths", tuple(str(p) for p in self.paths))
        object.__setattr__(self, "globs", tuple(str(g) for g in self.globs))
        object.__setattr__(self, "types", tuple(str(t) for t in self.types))
        self.validate()

    def validate(self) -> None:
        """Check the options (not the regex: see :meth:`compile` and the engines).

        Raises:
            SearchQueryError: naming the option that is wrong.
        """
        if self.mode not in MODES:
            raise SearchQueryError(f"search mode must be grep or find, not {self.mode!r}")
        if self.mode == "grep" and not self.pattern:
            raise SearchQueryError("grep needs a PATTERN")
        for name in ("before_context", "after_context", "max_count", "max_depth"):
            value = getattr(self, name)
            if value is not None and (type(value) is not int or value < 0):
                raise SearchQueryError(f"{name} must be a non-negative integer, not {value!r}")
        if self.count and self.files_with_matches:
            raise SearchQueryError("-c/--count and -l/--files-with-matches exclude each other")
        self.max_filesize_bytes()

    def max_filesize_bytes(self) -> int | None:
        """``max_filesize`` in bytes (None: no limit).

        Raises:
            SearchQueryError: it is not a number with an optional K, M or G suffix.
        """
        if self.max_filesize is None:
            return None
        found = _SIZE.match(self.max_filesize)
        if found is None:
            raise SearchQueryError(
                f"--max-filesize must be a number with an optional K, M or G suffix, "
                f"not {self.max_filesize!r}"
            )
        return int(found.group(1)) * _UNITS[found.group(2).upper()]

    # the two engines' views of the flags -------------------------------------------------

    def case_insensitive(self) -> bool:
        """Whether the pattern ignores case (``-i``, or ``-S`` with no upper-case letter)."""
        if self.ignore_case:
            return True
        smart = self.smart_case or self.mode == "find"  # fd's default is smart case
        literal = self.pattern if self.fixed_strings else _ESCAPE.sub("", self.pattern)
        return smart and not any(char.isupper() for char in literal)

    def compile(self) -> re.Pattern[str]:
        """The Python regex the fallback scanner (and ``find``'s name filter) uses.

        Raises:
            SearchQueryError: the pattern is not a valid regex (named in the message).
        """
        source = re.escape(self.pattern) if self.fixed_strings else self.pattern
        if self.word_regexp:
            source = rf"(?<!\w)(?:{source})(?!\w)"
        try:
            return re.compile(source, re.IGNORECASE if self.case_insensitive() else 0)
        except re.error as exc:
            raise SearchQueryError(f"invalid regex {self.pattern!r}: {exc}") from None

    def rg_arguments(self) -> list[str]:
        """The ``rg`` arguments for this query, paths included (no program name).

        ``grep`` uses ``--json`` (matches and context) except with ``-c`` and ``-l``,
        which ripgrep prints itself (``--null`` separated); ``find`` lists files with
        ``--files`` and leaves the name filter to :meth:`compile`.
        """
        args = ["--no-config"]
        if self.mode == "find":
            args.append("--files")
        elif self.count:
            args += ["--count-matches" if self.only_matching else "--count", "--with-filename"]
        elif self.files_with_matches:
            args.append("--files-with-matches")
        else:
            args.append("--json")
        if self.mode == "grep":
            if self.ignore_case:
                args.append("--ignore-case")
            elif self.smart_case:
                args.append("--smart-case")
            for flag, on in (
                ("--fixed-strings", self.fixed_strings),
                ("--word-regexp", self.word_regexp),
                ("--only-matching", self.only_matching and not self.count),
            ):
                if on:
                    args.append(flag)
            if self.before_context:
                args.append(f"--before-context={self.before_context}")
            if self.after_context:
                args.append(f"--after-context={self.after_context}")
            if self.max_count is not None:
                args.append(f"--max-count={self.max_count}")
        if self.count or self.files_with_matches or self.mode == "find":
            args.append("--null")
        args += [f"--glob={glob}" for glob in self.globs]
        args += [f"--type={name}" for name in self.types]
        if self.hidden:
            args.append("--hidden")
        if self.no_ignore:
            args.append("--no-ignore")
        if self.max_depth is not None:
            args.append(f"--max-depth={self.max_depth}")
        limit = self.max_filesize_bytes()
        if limit is not None:
            args.append(f"--max-filesize={limit}")
        if self.mode == "grep":
            args += ["--regexp", self.pattern]
        return [*args, "--", *self.paths]

    # wire ---------------------------------------------------------------------------------

    def to_wire(self) -> dict[str, Any]:
        """The query as a plain dict (for states and messages)."""
        data = asdict(self)
        for name in ("paths", "globs", "types"):
            data[name] = list(data[name])
        return data

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> SearchQuery:
        """Rebuild a query from :meth:`to_wire` output.

        Raises:
            SearchQueryError: unknown fields or bad values.
        """
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise SearchQueryError(f"unknown search option(s): {', '.join(sorted(unknown))}")
        values = dict(data)
        for name in ("paths", "globs", "types"):
            values[name] = tuple(values.get(name) or ())
        try:
            return cls(**values)
        except TypeError as exc:
            raise SearchQueryError(f"bad search options: {exc}") from None
