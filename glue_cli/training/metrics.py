"""GLUE metrics on numpy arrays, from scikit-learn and scipy."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats
from sklearn import metrics as skm

MetricFn = Callable[[np.ndarray, np.ndarray], float]

METRICS: dict[str, MetricFn] = {
    "accuracy": lambda y, p: float(skm.accuracy_score(y, p)),
    "f1": lambda y, p: float(skm.f1_score(y, p)),
    "macro_f1": lambda y, p: float(skm.f1_score(y, p, average="macro")),
    "matthews_correlation": lambda y, p: float(skm.matthews_corrcoef(y, p)),
    "pearson": lambda y, p: float(stats.pearsonr(y, p)[0]),
    "spearmanr": lambda y, p: float(stats.spearmanr(y, p)[0]),
}


def predictions_from_logits(logits: np.ndarray, regression: bool) -> np.ndarray:
    """Class ids (argmax) for classification, the single output for regression."""
    logits = np.asarray(logits, dtype=np.float32)
    return logits[:, 0] if regression else logits.argmax(axis=-1)


def loss(logits: np.ndarray, labels: np.ndarray, regression: bool) -> float:
    """Mean cross-entropy (mean squared error for regression), as the engines train on, in float64."""
    logits = np.asarray(logits, dtype=np.float64)
    if regression:
        return float(np.mean(np.square(logits[:, 0] - labels)))
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return float(-np.mean(log_probs[np.arange(len(labels)), labels.astype(np.int64)]))


def compute(names: Sequence[str], labels: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    """Each named metric, plus ``combined_score`` (their mean) when there are several."""
    result = {name: METRICS[name](labels, predictions) for name in names}
    if len(result) > 1:
        result["combined_score"] = float(np.mean(list(result.values())))
    return result
