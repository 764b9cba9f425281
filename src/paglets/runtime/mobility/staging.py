"""Where the files of a prepared arrival wait, so that they outlive a restart of the target.

``prepare`` pulls the files an arriving paglet carries into ``work/.incoming/<tid>``
under the host's files root (its ``persistence_dir`` when it has one) and names that
dir in the ``in`` record it writes (key ``staging``). The commit adopts the dir into
the paglet's work dir, in this run or, from the record, after a restart; an abort (or a
prepare its source aborted) removes it. At start-up a dir no open record names is an
arrival cut short before it was recorded, and is removed.

The dir is always the one the host itself derives from the transfer id: a record
naming anything else (a hostile source may send a ``staging`` key) is ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from paglets.artifacts import check_name
from paglets.core.errors import ArtifactError
from paglets.runtime.files.work_area import INCOMING, WorkArea, remove_tree

log = logging.getLogger(__name__)

STAGING_KEY = "staging"
"""The key of an ``in`` record that names its staging dir."""


def naming_staging(record: dict[str, Any], staging: Path | None) -> dict[str, Any]:
    """Return ``record`` to write as the ``in`` record: naming ``staging``, if any.

    A ``staging`` key that came with the record from the source is dropped.
    """
    if staging is None and STAGING_KEY not in record:
        return record
    named = {key: value for key, value in record.items() if key != STAGING_KEY}
    if staging is not None:
        named[STAGING_KEY] = str(staging)
    return named


def staged_dir(work_area: WorkArea, tid: str, record: dict[str, Any]) -> Path | None:
    """The staging dir the ``in`` record of ``tid`` names, if it is still there.

    Returns:
        The dir, or None when the record names none (no files), names another one
        than this host's own for ``tid``, or the dir is gone.
    """
    named = record.get(STAGING_KEY)
    if not isinstance(named, str):
        return None
    try:
        own = work_area.root / INCOMING / check_name(tid)
    except ArtifactError:
        return None
    if named != str(own):
        log.warning("transfer %s names a staging dir %r that is not its own", tid, named)
        return None
    return own if own.is_dir() else None


def sweep_staging(work_area: WorkArea, open_tids: Iterable[str], before: float) -> int:
    """Remove the staging dirs of no open arrival (cut short before they were recorded).

    Args:
        work_area: the host's work area.
        open_tids: the arrivals still prepared or committed here: their dirs stay.
        before: only dirs last changed before this time (seconds since the epoch) go;
            a newer one belongs to an arrival of this run, still pulling its files.

    Returns:
        How many dirs were removed.
    """
    incoming = work_area.root / INCOMING
    if not incoming.is_dir():
        return 0
    keep = set(open_tids)
    removed = 0
    for path in incoming.iterdir():
        try:
            old = path.stat().st_mtime < before
        except OSError:
            continue  # gone meanwhile
        if old and path.name not in keep:
            remove_tree(path)
            removed += 1
    if removed:
        log.info("removed %d staging dirs of arrivals that never prepared", removed)
    return removed
