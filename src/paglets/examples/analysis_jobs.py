"""A synthetic analysis job: a small random forest in pure Python, as a compute job.

What one :class:`AnalysisJobPaglet` computes, in its isolated job process:

1. a deterministic synthetic binary classification data set from its ``seed``:
   ``rows`` samples of ``features`` standard-normal values, labelled by the sign of a
   weighted sum of the first few features plus noise (the other features are noise);
2. an 80/20 train/test split;
3. ``trees`` decision trees of depth ``max_depth``, each grown on a bootstrap sample
   of the training rows, each split chosen by Gini impurity among ``sqrt(features)``
   randomly drawn features (a random forest, hand-written, no numpy);
4. the forest's majority-vote accuracy on the training and the test rows;
5. padding up to ``target_runtime`` seconds, with useful work: bootstrap resamples of
   the test predictions, whose spread is reported as ``accuracy_std``.

It is CPU-bound on one core. Its memory is its data set, held as Python lists (about
32 bytes per value, so ``rows * features * 32`` bytes plus the interpreter); the
``memory`` and ``temp_storage`` estimates of the state are what the compute slots
admit it by, and it writes no scratch files. No pandas, no scikit-learn.

The jobs are a job group: each one's end goes to the campaign's collector on the
home host (:mod:`paglets.examples.analysis_collector`), which writes it to the SQLite
file. The command that submits them is :mod:`paglets.examples.analysis_jobs_run`.
"""

from __future__ import annotations

import math
import os
import random
import time
from dataclasses import dataclass
from typing import Any

from paglets.system.compute_groups import CollectingComputeJobPaglet, CollectingComputeJobState

INFORMATIVE = 4
"""How many leading features the label depends on."""

Matrix = list[list[float]]
Tree = tuple[Any, ...]  # ("leaf", p) or ("split", feature, threshold, left, right)


def synthetic_data(rows: int, features: int, seed: int) -> tuple[Matrix, list[int]]:
    """``rows`` samples and their 0/1 labels, the same for the same arguments."""
    rng = random.Random(seed)
    weights = [rng.uniform(0.5, 1.5) * rng.choice((-1, 1)) for _ in range(INFORMATIVE)]
    data: Matrix = []
    labels: list[int] = []
    for _ in range(rows):
        sample = [rng.gauss(0.0, 1.0) for _ in range(features)]
        score = sum(w * x for w, x in zip(weights, sample, strict=False))
        data.append(sample)
        labels.append(1 if score + rng.gauss(0.0, 0.5) > 0 else 0)
    return data, labels


def _best_split(
    data: Matrix, labels: list[int], rows: list[int], feature: int
) -> tuple[float, float]:
    """``(weighted gini, threshold)`` of the best split of ``rows`` on ``feature``."""
    ordered = sorted(rows, key=lambda r: data[r][feature])
    total = len(ordered)
    positives = sum(labels[r] for r in ordered)
    best = (math.inf, 0.0)
    left_pos = 0
    for count, row in enumerate(ordered[:-1], start=1):
        left_pos += labels[row]
        here, after = data[row][feature], data[ordered[count]][feature]
        if here == after:
            continue
        right_pos = positives - left_pos
        right = total - count
        gini = (
            count * (1 - (left_pos / count) ** 2 - (1 - left_pos / count) ** 2)
            + right * (1 - (right_pos / right) ** 2 - (1 - right_pos / right) ** 2)
        ) / total
        if gini < best[0]:
            best = (gini, (here + after) / 2)
    return best


def grow_tree(
    data: Matrix, labels: list[int], rows: list[int], depth: int, rng: random.Random
) -> Tree:
    """A tree over ``rows``, ``depth`` levels at most, splits on random feature subsets."""
    positive = sum(labels[r] for r in rows) / len(rows)
    if depth == 0 or len(rows) < 4 or positive in (0.0, 1.0):
        return ("leaf", positive)
    features = len(data[0])
    tried = rng.sample(range(features), max(1, round(math.sqrt(features))))
    best = min((_best_split(data, labels, rows, f), f) for f in tried)
    (gini, threshold), feature = best
    if gini == math.inf:
        return ("leaf", positive)
    left = [r for r in rows if data[r][feature] <= threshold]
    right = [r for r in rows if data[r][feature] > threshold]
    return (
        "split",
        feature,
        threshold,
        grow_tree(data, labels, left, depth - 1, rng),
        grow_tree(data, labels, right, depth - 1, rng),
    )


def tree_vote(tree: Tree, sample: list[float]) -> float:
    """The tree's probability of label 1 for ``sample``."""
    while tree[0] == "split":
        tree = tree[3] if sample[tree[1]] <= tree[2] else tree[4]
    return float(tree[1])


def split_features(tree: Tree) -> list[int]:
    """The features a tree splits on, once per split."""
    if tree[0] == "leaf":
        return []
    return [tree[1], *split_features(tree[3]), *split_features(tree[4])]


def run_analysis(
    rows: int, features: int, trees: int, target_runtime: float, seed: int, max_depth: int = 3
) -> dict[str, Any]:
    """Generate, train, score and pad (module docstring); return the figures."""
    started = time.monotonic()
    data, labels = synthetic_data(rows, features, seed)
    cut = max(1, int(rows * 0.8))
    train, test = list(range(cut)), list(range(cut, rows))
    rng = random.Random(seed + 1)
    forest = [
        grow_tree(data, labels, [rng.choice(train) for _ in train], max_depth, rng)
        for _ in range(trees)
    ]

    def predict(row: int) -> int:
        votes = sum(tree_vote(tree, data[row]) for tree in forest)
        return 1 if votes / len(forest) > 0.5 else 0

    train_hits = sum(predict(r) == labels[r] for r in train) / len(train)
    correct = [1 if predict(r) == labels[r] else 0 for r in test]
    test_accuracy = sum(correct) / len(correct)
    trained = time.monotonic() - started
    resampled: list[float] = []
    deadline = started + target_runtime
    while time.monotonic() < deadline or len(resampled) < 2:
        resampled.append(sum(rng.choice(correct) for _ in correct) / len(correct))
    used = [f for tree in forest for f in split_features(tree)]
    return {
        "rows": rows,
        "features": features,
        "trees": trees,
        "train_accuracy": round(train_hits, 4),
        "test_accuracy": round(test_accuracy, 4),
        "accuracy_std": round(_std(resampled), 4),
        "bootstrap_rounds": len(resampled),
        "top_feature": max(set(used), key=used.count) if used else -1,
        "train_seconds": round(trained, 3),
        "seconds": round(time.monotonic() - started, 3),
        "cpus": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [],
        "pid": os.getpid(),
    }


def _std(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


@dataclass
class AnalysisJobState(CollectingComputeJobState):
    """One task of a campaign: its number, seed and workload size.

    Attributes:
        task: its number in the campaign (0, 1, ...).
        seed: the data set's seed.
        rows, features, trees, max_depth: the workload size.
        target_runtime: seconds the job runs at least (padding included).
    """

    task: int = 0
    seed: int = 0
    rows: int = 4000
    features: int = 16
    trees: int = 40
    max_depth: int = 3
    target_runtime: float = 150.0


class AnalysisJobPaglet(CollectingComputeJobPaglet):
    """Runs :func:`run_analysis` on its state's workload; the figures are its result."""

    State = AnalysisJobState

    def run_compute_job(self) -> Any:
        state = self.state
        assert isinstance(state, AnalysisJobState)
        figures = run_analysis(
            state.rows, state.features, state.trees, state.target_runtime, state.seed,
            state.max_depth,
        )  # fmt: skip
        return {"task": state.task, **figures}
