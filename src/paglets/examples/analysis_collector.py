"""The analysis campaign's collector: it writes the jobs' rows into the SQLite file.

An :class:`AnalysisCollectorPaglet` is the job group's
:class:`~paglets.system.compute_groups.ResultCollectorPaglet`, created on the home
host (the entry host of ``paglets examples analysis``). Each job's placement and
each job's end reach it (the end from the compute slots that ran the job, exactly
once per job), and it writes them to the results file ``db`` on that host: a row
when the job is placed (``status`` = the slots' decision), completed when the job
ends (``status`` = its outcome, with its figures). The command that submitted the
campaign only reads the file.

Table ``analysis_results`` (one campaign per run, ``campaign`` a uuid hex):
``campaign, task, job_id, host, status, error, rows, features, trees, train_accuracy,
test_accuracy, accuracy_std, bootstrap_rounds, top_feature, seconds, cpus,
submitted_at, finished_at``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paglets.system.compute_groups import ResultCollectorPaglet, ResultCollectorState

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS analysis_results (
    campaign TEXT NOT NULL,
    task INTEGER NOT NULL,
    job_id TEXT NOT NULL,
    host TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT '',
    rows INTEGER,
    features INTEGER,
    trees INTEGER,
    train_accuracy REAL,
    test_accuracy REAL,
    accuracy_std REAL,
    bootstrap_rounds INTEGER,
    top_feature INTEGER,
    seconds REAL,
    cpus TEXT,
    submitted_at REAL NOT NULL,
    finished_at REAL,
    PRIMARY KEY (campaign, task)
)
"""
FIGURES = (
    "rows", "features", "trees", "train_accuracy", "test_accuracy", "accuracy_std",
    "bootstrap_rounds", "top_feature", "seconds",
)  # fmt: skip


@contextmanager
def results_db(path: Path) -> Iterator[sqlite3.Connection]:
    """The results file, its table created; each ``with conn:`` block is one transaction.

    Raises:
        sqlite3.Error: it cannot be opened or is not an SQLite file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path, timeout=30.0)) as conn:
        with conn:
            conn.execute(SCHEMA)
        yield conn


def campaign_rows(path: Path, campaign: str) -> list[dict[str, Any]]:
    """The rows of ``campaign`` in the results file, by task."""
    with results_db(path) as conn:
        cursor = conn.execute(
            "SELECT * FROM analysis_results WHERE campaign = ? ORDER BY task", (campaign,)
        )
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@dataclass
class AnalysisCollectorState(ResultCollectorState):
    """A campaign's collector: where its rows go.

    Attributes:
        db: the results file's path on the collector's host.
        campaign: the campaign's id.
        db_error: why a row could not be written ('' : every row was).
    """

    db: str = ""
    campaign: str = ""
    db_error: str = ""


class AnalysisCollectorPaglet(ResultCollectorPaglet):
    """Collects an analysis campaign and writes its rows (see the module docstring)."""

    State = AnalysisCollectorState

    def _own(self) -> AnalysisCollectorState:
        state = self.state
        assert isinstance(state, AnalysisCollectorState)
        return state

    def summary(self, results: bool = True) -> dict[str, Any]:
        """The group's summary, with the results file and any write failure."""
        answer = super().summary(results)
        with self.locked():
            answer.update(db=self._own().db, db_error=self._own().db_error)
        return answer

    def on_job_placed(self, job_id: str, entry: dict[str, Any]) -> None:
        """Write the job's row with the slots' decision (a row already there stays)."""
        status = str(entry.get("decision") or "rejected")
        self._write(job_id, status, lambda conn: None)

    def on_job_ended(self, job_id: str, outcome: str, error: str, result: Any) -> None:
        """Complete the job's row with its outcome and figures."""
        figures = result if isinstance(result, dict) else {}

        def complete(conn: sqlite3.Connection) -> None:
            conn.execute(
                f"UPDATE analysis_results SET status = ?, error = ?, host = ?, "
                f"{', '.join(f'{name} = ?' for name in FIGURES)}, cpus = ?, finished_at = ? "
                "WHERE campaign = ? AND job_id = ?",
                (
                    outcome, error, self._host_of(job_id),
                    *[figures.get(name) for name in FIGURES],
                    json.dumps(figures.get("cpus", [])), time.time(), self._own().campaign, job_id,
                ),
            )  # fmt: skip

        self._write(job_id, outcome, complete)

    def _host_of(self, job_id: str) -> str:
        with self.locked():
            return str(self.state.jobs.get(job_id, {}).get("host", ""))

    def _write(self, job_id: str, status: str, then: Any) -> None:
        """Insert the job's row if it is not there yet, then run ``then`` in one transaction."""
        state = self._own()
        with self.locked():
            task = int(state.jobs.get(job_id, {}).get("index", -1))
        try:
            with results_db(Path(state.db)) as conn, conn:
                conn.execute(
                    "INSERT OR IGNORE INTO analysis_results (campaign, task, job_id, host, "
                    "status, submitted_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (state.campaign, task, job_id, self._host_of(job_id), status, time.time()),
                )
                then(conn)
        except (sqlite3.Error, OSError) as exc:
            log.error("analysis campaign %s: row of job %s not written: %s",
                      state.campaign, job_id, exc)  # fmt: skip
            with self.locked():
                state.db_error = f"{state.db}: {exc}"
