"""Which files a search skips, decided as ripgrep decides it (for the fallback scanner).

Three kinds of rule, checked in this order for every entry the walk meets (the paths
the user gave are never filtered):

1. **Overrides** (``-g``): gitignore-style globs relative to the working directory,
   inverted: a plain glob *includes*, ``!glob`` excludes, the last glob that matches
   decides. Once any plain glob is given, a file that matches none is skipped
   (directories are still entered). A decision here is final: it beats ignore files
   and hidden-file rules.
2. **Ignore files**: ``.rgignore``, then ``.ignore``, then ``.gitignore``, then
   ``.git/info/exclude`` (that order of precedence). ``.gitignore`` and the exclude
   file count only inside a git repository (a directory with ``.git`` in it or above
   it). For one kind the deepest directory with a matching rule decides; within one
   file the last matching rule does; ``!rule`` re-includes. ``--no-ignore`` drops them.
3. **Types** (``-t``): a file whose name matches none of the types' globs is skipped.

An entry that no rule included is then skipped if hidden (its name starts with a
dot), unless ``--hidden``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

IGNORE_FILES = (".rgignore", ".ignore", ".gitignore")
"""Per-directory ignore files, highest precedence first."""

FILE_TYPES: dict[str, tuple[str, ...]] = {
    "c": ("*.[chH]", "*.[chH].in", "*.cats"),
    "config": ("*.cfg", "*.conf", "*.config", "*.ini"),
    "cpp": ("*.[ChH]", "*.[ChH].in", "*.[ch]pp", "*.[ch]pp.in", "*.[ch]xx", "*.[ch]xx.in")
    + ("*.cc", "*.cc.in", "*.hh", "*.hh.in", "*.inl"),
    "css": ("*.css", "*.scss"),
    "csv": ("*.csv",),
    "go": ("*.go",),
    "html": ("*.ejs", "*.htm", "*.html"),
    "java": ("*.java", "*.jsp", "*.jspx", "*.properties"),
    "js": ("*.cjs", "*.js", "*.jsx", "*.mjs", "*.vue"),
    "json": ("*.json", "*.sarif", "composer.lock"),
    "jsonl": ("*.jsonl",),
    "log": ("*.log",),
    "md": ("*.markdown", "*.md", "*.mdown", "*.mdwn", "*.mdx", "*.mkd", "*.mkdn"),
    "py": ("*.py", "*.pyi"),
    "rust": ("*.rs",),
    "sql": ("*.psql", "*.sql"),
    "toml": ("*.toml", "Cargo.lock"),
    "ts": ("*.cts", "*.mts", "*.ts", "*.tsx"),
    "txt": ("*.txt",),
    "yaml": ("*.yaml", "*.yml"),
}
"""The ripgrep file types the fallback knows (``rg --type-list`` has them all)."""
FILE_TYPES["markdown"] = FILE_TYPES["md"]

IGNORE, INCLUDE = "ignore", "include"


def glob_to_regex(glob: str) -> re.Pattern[str]:
    """Compile one gitignore-style glob (already stripped of ``!`` and a trailing ``/``).

    A glob with a ``/`` before its end is anchored to its base directory; any other
    matches a name at any depth. ``*`` and ``?`` stop at ``/``; ``**`` crosses it.
    """
    anchored = "/" in glob
    body = glob[1:] if glob.startswith("/") else glob
    if not anchored and not body.startswith("**/"):
        body = "**/" + body
    out: list[str] = []
    i = 0
    while i < len(body):
        if body.startswith("**/", i) and (i == 0 or body[i - 1] == "/"):
            out.append("(?:.*/)?")
            i += 3
        elif body.startswith("**", i) and i + 2 == len(body) and (i == 0 or body[i - 1] == "/"):
            out.append(".*")
            i += 2
        elif body[i] == "*":
            out.append("[^/]*")
            i += 1
        elif body[i] == "?":
            out.append("[^/]")
            i += 1
        elif body[i] == "[" and "]" in body[i + 2 :]:
            end = body.index("]", i + 2)
            inner = body[i + 1 : end]
            if inner.startswith("!"):
                inner = "^" + inner[1:]
            out.append("[" + inner.replace("\\", "\\\\") + "]")
            i = end + 1
        elif body[i] == "\\" and i + 1 < len(body):
            out.append(re.escape(body[i + 1]))
            i += 2
        else:
            out.append(re.escape(body[i]))
            i += 1
    return re.compile("".join(out) + "$", re.DOTALL)


@dataclass(frozen=True)
class Rule:
    """One line of an ignore file (or one ``-g`` glob)."""

    regex: re.Pattern[str]
    negated: bool
    dir_only: bool

    def matches(self, relative: str, is_dir: bool) -> bool:
        """Whether the rule matches ``relative`` (a ``/``-separated path below its base)."""
        return (is_dir or not self.dir_only) and self.regex.match(relative) is not None


def parse_rule(line: str) -> Rule | None:
    """Parse one gitignore line; None for blanks and comments."""
    line = line.rstrip("\n").rstrip("\r")
    while line.endswith(" ") and not line.endswith("\\ "):
        line = line[:-1]
    if not line or line.startswith("#"):
        return None
    negated = line.startswith("!")
    if negated or line.startswith("\\!") or line.startswith("\\#"):
        line = line[1:]
    dir_only = line.endswith("/")
    line = line.rstrip("/")
    if not line:
        return None
    return Rule(glob_to_regex(line), negated, dir_only)


def decide(rules: list[Rule], relative: str, is_dir: bool) -> str | None:
    """The last matching rule's verdict: IGNORE, INCLUDE (a ``!`` rule) or None."""
    for rule in reversed(rules):
        if rule.matches(relative, is_dir):
            return INCLUDE if rule.negated else IGNORE
    return None


def read_rules(path: Path) -> list[Rule]:
    """The rules of one ignore file ([] when it is missing or unreadable)."""
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError:
        return []
    return [rule for rule in map(parse_rule, text.splitlines()) if rule is not None]


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


@dataclass(frozen=True)
class IgnoreLevel:
    """The ignore files of one directory: rules per kind, highest precedence first."""

    base: Path
    kinds: tuple[list[Rule], ...]

    @classmethod
    def load(cls, directory: Path, in_repo: bool) -> IgnoreLevel | None:
        """Read ``directory``'s ignore files; None when it has none that count."""
        kinds = [read_rules(directory / name) for name in IGNORE_FILES]
        if not in_repo:
            kinds[2] = []
        exclude: list[Rule] = []
        if in_repo and _is_dir(directory / ".git"):
            exclude = read_rules(directory / ".git" / "info" / "exclude")
        kinds.append(exclude)
        if not any(kinds):
            return None
        return cls(directory, tuple(kinds))


def ignore_verdict(levels: list[IgnoreLevel], path: Path, is_dir: bool) -> str | None:
    """The ignore files' verdict on ``path`` (levels ordered root first).

    Per kind, the deepest level with a matching rule decides; the kinds are then taken
    in precedence order (``.rgignore`` first).
    """
    verdicts: list[str | None] = [None] * 4
    for level in reversed(levels):
        try:
            relative = path.relative_to(level.base).as_posix()
        except ValueError:
            continue
        for kind, rules in enumerate(level.kinds):
            if verdicts[kind] is None and rules:
                verdicts[kind] = decide(rules, relative, is_dir)
    return next((verdict for verdict in verdicts if verdict is not None), None)


class Overrides:
    """The ``-g`` globs, matched against paths relative to the working directory."""

    def __init__(self, globs: tuple[str, ...], cwd: Path) -> None:
        self._cwd = cwd
        self._rules: list[Rule] = []
        for glob in globs:
            negated = glob.startswith("!")
            body = glob[1:] if negated else glob
            dir_only = body.endswith("/")
            # an override glob includes what it names: invert gitignore's sense
            self._rules.append(Rule(glob_to_regex(body.rstrip("/")), not negated, dir_only))
        self._includes = sum(1 for rule in self._rules if rule.negated)  # inverted sense

    def __bool__(self) -> bool:
        return bool(self._rules)

    def verdict(self, path: Path, is_dir: bool) -> str | None:
        """IGNORE, INCLUDE or None (no glob decides) for one walked entry."""
        relative = path.as_posix()
        if path.is_absolute():
            try:
                relative = path.relative_to(self._cwd).as_posix()
            except ValueError:
                pass
        relative = relative.removeprefix("./")
        found = decide(self._rules, relative, is_dir)
        if found is None and self._includes and not is_dir:
            return IGNORE
        return found


class TypeFilter:
    """The ``-t`` file types: a walked file must match one of their globs."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self._rules = [
            Rule(glob_to_regex(glob), False, False) for name in names for glob in FILE_TYPES[name]
        ]

    def __bool__(self) -> bool:
        return bool(self._rules)

    def verdict(self, name: str, is_dir: bool) -> str | None:
        """INCLUDE for a matching file, IGNORE for another file, None for a directory."""
        if is_dir:
            return None
        return INCLUDE if any(rule.matches(name, False) for rule in self._rules) else IGNORE


def unknown_types(names: tuple[str, ...]) -> list[str]:
    """The names among ``names`` the fallback does not know."""
    return [name for name in names if name not in FILE_TYPES]
