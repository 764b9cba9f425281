"""Both search engines against one tree: ripgrep itself and the pure-Python scanner agree."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paglets.system import search_engine, search_rg
from paglets.system.search_engine import choose_engine, run_search, validate
from paglets.system.search_query import SearchQuery, SearchQueryError
from search_tree import build_tree, lock, unlock

CASES: list[dict[str, Any]] = [
    {"pattern": "TODO"},
    {"pattern": "TODO", "paths": ["."]},
    {"pattern": "TODO", "paths": ["src", "docs/guide.md", "missing.txt"]},
    {"pattern": "TODO", "hidden": True},
    {"pattern": "TODO", "no_ignore": True},
    {"pattern": "TODO", "no_ignore": True, "hidden": True},
    {"pattern": "todo", "ignore_case": True},
    {"pattern": "todo", "smart_case": True},
    {"pattern": "ToDo", "smart_case": True},
    {"pattern": "foo", "word_regexp": True},
    {"pattern": "foo.", "word_regexp": True},
    {"pattern": "(foo)", "fixed_strings": True},
    {"pattern": "fo+", "only_matching": True},
    {"pattern": "TODO", "count": True},
    {"pattern": "foo", "count": True, "only_matching": True},
    {"pattern": "TODO", "files_with_matches": True},
    {"pattern": "TODO", "after_context": 1, "before_context": 2},
    {"pattern": "TODO", "max_count": 1, "after_context": 2, "paths": ["ctx.txt"]},
    {"pattern": "TODO", "max_count": 2, "after_context": 3},
    {"pattern": "TODO", "max_count": 1},
    {"pattern": "TODO", "globs": ["*.py"]},
    {"pattern": "TODO", "globs": ["*.log"]},
    {"pattern": "TODO", "globs": ["!src", "!*.md"]},
    {"pattern": "TODO", "globs": [".env"]},
    {"pattern": "TODO", "types": ["py"]},
    {"pattern": "TODO", "types": ["rust", "md"]},
    {"pattern": "TODO", "max_depth": 1},
    {"pattern": "TODO", "max_depth": 2, "paths": ["."]},
    {"pattern": "TODO", "max_filesize": "1K"},
    {"pattern": "été", "ignore_case": True},
    {"mode": "find"},
    {"mode": "find", "pattern": "py$"},
    {"mode": "find", "pattern": "GEN", "ignore_case": True},
    {"mode": "find", "pattern": "", "hidden": True, "no_ignore": True},
    {"mode": "find", "pattern": "^src/", "full_path": True},
    {"mode": "find", "pattern": "", "types": ["py"], "max_depth": 2},
]


def _key(record: dict[str, Any]) -> tuple[Any, ...]:
    return (record.get("path", ""), record.get("line") or 0, record["type"], str(record))


def _results(engine: str, **options: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    outcome = run_search(SearchQuery.from_wire(options), found.append, engine=engine)
    assert outcome.engine == engine and not outcome.cancelled
    return sorted(found, key=_key)  # rg walks in parallel: its order is not fixed


@pytest.fixture
def tree(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    # not tmp_path: the unreadable-dir test searches it as another user, who needs +rx
    root = Path(tempfile.mkdtemp(prefix="paglets-search-tree-"))
    root.chmod(0o755)
    build_tree(root)
    monkeypatch.chdir(root)
    yield root
    unlock(root)
    shutil.rmtree(root)


def test_the_rg_binary_comes_from_the_ripgrep_package() -> None:
    rg = search_rg.find_rg()
    assert rg is not None, "the ripgrep dependency is installed with paglets"
    assert Path(sys.prefix) in rg.parents or Path(sys.base_prefix) in rg.parents
    assert choose_engine("auto") == "rg"


@pytest.mark.parametrize("options", CASES, ids=lambda o: json.dumps(o, sort_keys=True))
def test_both_engines_give_the_same_records(tree: Path, options: dict[str, Any]) -> None:
    assert _results("python", **options) == _results("rg", **options)


def test_what_is_skipped_and_what_is_found(tree: Path) -> None:
    found = {r["path"] for r in _results("rg", pattern="TODO") if r["type"] == "match"}
    assert {"a.txt", "keep.log", "deep/rooted.txt", "src/generated_keep.py"} <= found
    skipped = {
        "noise.log",  # *.log
        "build/out.txt",  # build/
        "rooted.txt",  # /rooted.txt
        "docs/a/b/secret.md",  # docs/**/secret.md
        "src/generated_a.py",  # nested .gitignore
        "excluded.txt",  # .git/info/exclude
        "ignored_by_dot_ignore.txt",  # .ignore
        ".env",  # hidden
        ".config/settings.txt",
        ".git/HEAD",
        "binary.dat",  # NUL byte
        "link_to_a.txt",  # symlinks are not followed
    }
    assert not found & skipped
    late = [r for r in _results("python", pattern="TODO") if r["path"] == "late_binary.dat"]
    assert late and all(r["text"] == "TODO before the nul" for r in late)


def test_a_file_named_explicitly_is_searched_whatever_the_filters(tree: Path) -> None:
    for engine in ("rg", "python"):
        got = _results(engine, pattern="TODO", paths=["noise.log", "big.txt"], max_filesize="1")
        assert [r["path"] for r in got] == ["big.txt", "noise.log"]


def test_a_missing_path_is_an_error_record_worded_like_ripgrep(tree: Path) -> None:
    for engine in ("rg", "python"):
        [error] = [r for r in _results(engine, pattern="x", paths=["nope"]) if r]
        assert error == {
            "type": "error",
            "path": "nope",
            "message": "nope: IO error for operation on nope: "
            "No such file or directory (os error 2)",
        }


def _search_as_nobody(root: Path) -> dict[str, list[dict[str, Any]]]:
    """Both engines' records for TODO in ``root``, searched by a process that is not root."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop root, search, report, exit without cleanup
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            os.chdir(root)
            report = {
                engine + suffix: _results(engine, pattern="TODO", paths=paths)
                for engine in ("rg", "python")
                for suffix, paths in (("", []), (" .", ["."]))
            }
            os.write(write, json.dumps(report).encode())
        except BaseException:
            os.write(write, json.dumps({"child failed": traceback.format_exc()}).encode())
        finally:
            os._exit(0)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 65536):
        chunks.append(chunk)
    os.close(read)
    os.waitpid(pid, 0)
    return json.loads(b"".join(chunks))


def test_an_unreadable_dir_is_reported_and_the_rest_is_searched(tree: Path) -> None:
    lock(tree)
    if os.geteuid() == 0:
        report = _search_as_nobody(tree)
    else:
        report = {
            engine + suffix: _results(engine, pattern="TODO", paths=paths)
            for engine in ("rg", "python")
            for suffix, paths in (("", []), (" .", ["."]))
        }
    assert "rg" in report, report
    assert report["rg ."] == report["python ."]
    assert ["./locked"] == [r["path"] for r in report["rg ."] if r["type"] == "error"]
    assert report["rg"] == report["python"]
    errors = [r for r in report["rg"] if r["type"] == "error"]
    assert errors == [
        {
            "type": "error",
            "path": "./locked",
            "message": "./locked: Permission denied (os error 13)",
        }
    ]
    assert any(r["path"] == "a.txt" for r in report["rg"])


def test_without_the_binary_the_python_scanner_runs(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _results("rg", pattern="TODO")
    monkeypatch.setattr(search_engine, "find_rg", lambda: None)
    assert choose_engine("auto") == "python"
    with pytest.raises(SearchQueryError, match="not installed"):
        choose_engine("rg")
    found: list[dict[str, Any]] = []
    assert run_search(SearchQuery(pattern="TODO"), found.append).engine == "python"
    assert sorted(found, key=_key) == expected


@pytest.mark.parametrize("engine", ["rg", "python"])
def test_an_invalid_regex_is_refused_naming_it(engine: str) -> None:
    with pytest.raises(SearchQueryError, match=r"invalid regex '\(unclosed'"):
        validate(SearchQuery(pattern="(unclosed"), engine)


def test_bad_options_are_refused() -> None:
    with pytest.raises(SearchQueryError, match="max_filesize|max-filesize"):
        SearchQuery(pattern="x", max_filesize="lots")
    with pytest.raises(SearchQueryError, match="max_count"):
        SearchQuery(pattern="x", max_count=-1)
    with pytest.raises(SearchQueryError, match="PATTERN"):
        SearchQuery(pattern="")
    with pytest.raises(SearchQueryError, match="unknown search option"):
        SearchQuery.from_wire({"pattern": "x", "colour": True})
    with pytest.raises(SearchQueryError, match="unrecognized file type"):
        validate(SearchQuery(pattern="x", types=("nosuchtype",)), "python")
