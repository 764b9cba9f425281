"""``paglets search`` (and the classic ``paglets-search``): grep and find across hosts.

``grep PATTERN [PATHS...]`` searches file contents with ripgrep's flags; ``find
[PATTERN] [PATHS...]`` lists files whose name matches a regex (fd-like). Both run on
every online host (or each ``--host``), by paglets created there: paths are that
host's, so ``.`` is the working directory of that host's process. Hits stream back as
they are found (see :mod:`paglets.cli.search_output` for the formats).

With no host to talk to, the search runs on an in-process host for this machine and
says so on stderr. Exit codes follow ripgrep: 0 something was found, 1 nothing was,
2 an error (a bad pattern, a failed or partial host, an unreadable path).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Annotated

import typer

from paglets.cli.embedded import open_entry
from paglets.cli.entry import ClientOptions
from paglets.cli.options import ApiKeyEnv, EmbeddedEntry, Insecure, Json
from paglets.cli.output import fail
from paglets.cli.search_output import SearchPrinter
from paglets.core.errors import HostError, PagletError
from paglets.system.search_client import SearchRun
from paglets.system.search_engine import ENGINES, validate
from paglets.system.search_query import SearchQuery, SearchQueryError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Search files on every host: grep contents, find names; hits stream back.",
)

Paths = Annotated[
    list[str] | None, typer.Argument(help="Paths on each host (default: its working dir).")
]
IgnoreCase = Annotated[bool, typer.Option("-i", "--ignore-case", help="Ignore case.")]
SmartCase = Annotated[
    bool, typer.Option("-S", "--smart-case", help="Ignore case unless PATTERN has upper case.")
]
Fixed = Annotated[bool, typer.Option("-F", "--fixed-strings", help="PATTERN is a literal.")]
Word = Annotated[bool, typer.Option("-w", "--word-regexp", help="Match whole words only.")]
Globs = Annotated[
    list[str] | None,
    typer.Option("-g", "--glob", help="Include files matching GLOB (!GLOB excludes); repeatable."),
]
Types = Annotated[
    list[str] | None, typer.Option("-t", "--type", help="Only files of this type (rg's names).")
]
Hidden = Annotated[bool, typer.Option("--hidden", help="Search hidden files and dirs too.")]
NoIgnore = Annotated[
    bool, typer.Option("--no-ignore", help="Do not honour .gitignore/.ignore files.")
]
MaxDepth = Annotated[int | None, typer.Option("--max-depth", help="Descend at most N levels.")]
MaxSize = Annotated[
    str | None, typer.Option("--max-filesize", help="Skip files larger than this (10K, 5M).")
]
Hosts = Annotated[
    list[str] | None, typer.Option("--host", help="Search only this host; repeatable.")
]
Timeout = Annotated[float, typer.Option(help="Seconds each host's search may take.")]
Jsonl = Annotated[bool, typer.Option("--jsonl", help="Print one JSON object per line.")]
Engine = Annotated[str, typer.Option("--engine", help="auto, rg or python.", hidden=True)]


@app.command()
def grep(
    pattern: Annotated[str, typer.Argument(help="A regex (ripgrep syntax).")],
    paths: Paths = None,
    ignore_case: IgnoreCase = False,
    smart_case: SmartCase = False,
    fixed_strings: Fixed = False,
    word_regexp: Word = False,
    line_number: Annotated[
        bool, typer.Option("-n", "--line-number", help="Show line numbers.")
    ] = False,
    count: Annotated[
        bool, typer.Option("-c", "--count", help="Count matching lines per file.")
    ] = False,
    files_with_matches: Annotated[
        bool, typer.Option("-l", "--files-with-matches", help="Only the names of files.")
    ] = False,
    only_matching: Annotated[
        bool, typer.Option("-o", "--only-matching", help="Only the matched parts.")
    ] = False,
    after_context: Annotated[int, typer.Option("-A", "--after-context", help="Lines after.")] = 0,
    before_context: Annotated[
        int, typer.Option("-B", "--before-context", help="Lines before.")
    ] = 0,
    context: Annotated[int, typer.Option("-C", "--context", help="Lines around.")] = 0,
    max_count: Annotated[
        int | None, typer.Option("-m", "--max-count", help="At most N matching lines per file.")
    ] = None,
    glob: Globs = None,
    file_type: Types = None,
    hidden: Hidden = False,
    no_ignore: NoIgnore = False,
    max_depth: MaxDepth = None,
    max_filesize: MaxSize = None,
    host: Hosts = None,
    entry: EmbeddedEntry = None,
    timeout: Timeout = 30.0,
    api_key_env: ApiKeyEnv = None,
    insecure: Insecure = False,
    json_output: Json = False,
    jsonl: Jsonl = False,
    engine: Engine = "auto",
) -> None:
    """Search file contents for PATTERN on every host."""
    query = _query(
        mode="grep",
        pattern=pattern,
        paths=tuple(paths or ()),
        ignore_case=ignore_case,
        smart_case=smart_case,
        fixed_strings=fixed_strings,
        word_regexp=word_regexp,
        count=count,
        files_with_matches=files_with_matches,
        only_matching=only_matching,
        before_context=before_context or context,
        after_context=after_context or context,
        max_count=max_count,
        globs=tuple(glob or ()),
        types=tuple(file_type or ()),
        hidden=hidden,
        no_ignore=no_ignore,
        max_depth=max_depth,
        max_filesize=max_filesize,
    )
    _search(
        query, host, entry, timeout, api_key_env, insecure, json_output, jsonl, engine, line_number
    )


@app.command()
def find(
    pattern: Annotated[str, typer.Argument(help="A regex on file names (empty: all).")] = "",
    paths: Paths = None,
    ignore_case: IgnoreCase = False,
    fixed_strings: Fixed = False,
    full_path: Annotated[
        bool, typer.Option("-p", "--full-path", help="Match the whole path, not the name.")
    ] = False,
    glob: Globs = None,
    file_type: Types = None,
    hidden: Hidden = False,
    no_ignore: NoIgnore = False,
    max_depth: MaxDepth = None,
    max_filesize: MaxSize = None,
    host: Hosts = None,
    entry: EmbeddedEntry = None,
    timeout: Timeout = 30.0,
    api_key_env: ApiKeyEnv = None,
    insecure: Insecure = False,
    json_output: Json = False,
    jsonl: Jsonl = False,
    engine: Engine = "auto",
) -> None:
    """List files whose name matches PATTERN (smart case) on every host."""
    query = _query(
        mode="find",
        pattern=pattern,
        paths=tuple(paths or ()),
        ignore_case=ignore_case,
        fixed_strings=fixed_strings,
        full_path=full_path,
        globs=tuple(glob or ()),
        types=tuple(file_type or ()),
        hidden=hidden,
        no_ignore=no_ignore,
        max_depth=max_depth,
        max_filesize=max_filesize,
    )
    _search(query, host, entry, timeout, api_key_env, insecure, json_output, jsonl, engine, False)


def _query(**options: object) -> SearchQuery:
    try:
        return SearchQuery(**options)  # type: ignore[arg-type]
    except SearchQueryError as exc:
        fail(str(exc), 2)
    raise AssertionError("unreachable")


def _search(
    query: SearchQuery,
    hosts: list[str] | None,
    entry: str | None,
    timeout: float,
    api_key_env: str | None,
    insecure: bool,
    json_output: bool,
    jsonl: bool,
    engine: str,
    line_numbers: bool,
) -> None:
    if json_output and jsonl:
        fail("--json and --jsonl exclude each other", 2)
    if engine not in ENGINES:
        fail(f"--engine must be one of {', '.join(ENGINES)}", 2)
    try:
        validate(query, engine)  # here first: a bad pattern costs no fan-out
    except SearchQueryError as exc:
        fail(str(exc), 2)
    printer = SearchPrinter("json" if json_output else "jsonl" if jsonl else "plain", line_numbers)
    options = ClientOptions(timeout=timeout, api_key_env=api_key_env, insecure=insecure)
    started = time.monotonic()
    try:
        with (
            open_entry(entry, options) as found,
            SearchRun(
                found.client, query, tuple(hosts or ()), timeout=timeout, engine=engine
            ) as run,
        ):
            run.start()
            for batch in run.batches():
                for record in batch:
                    printer.record(record)
                printer.hosts(run.hosts)
            statuses = run.hosts
    except KeyboardInterrupt:
        fail("interrupted", 130)
        return
    except BrokenPipeError:
        # the reader went away (``| head``): stop quietly, as ripgrep does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(0) from None
    except HostError as exc:
        fail(exc.remote_message if exc.remote_type.endswith("SearchQueryError") else str(exc), 2)
        return
    except ValueError as exc:
        fail(str(exc), 2)
        return
    except PagletError as exc:
        fail(f"{type(exc).__name__}: {exc}", 2)
        return
    printer.end(statuses, time.monotonic() - started, query.to_wire())
    failed = any(s["state"] != "done" or s["partial"] for s in statuses)
    if failed or printer.errors:
        raise typer.Exit(2)
    if not printer.found:
        raise typer.Exit(1)


def main() -> None:
    """Entry point of ``paglets-search``."""
    app()


if __name__ == "__main__":
    main()
