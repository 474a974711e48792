"""The three kinds of task a data config can declare (`problem_type`), as transformers names them in
`config.problem_type`, and what differs between them outside the model: how logits become scores and predictions,
which metric picks the best checkpoint, and whether class-id tricks (label smoothing, class weights) apply.

The models already choose their loss from `config.problem_type` (cross-entropy, binary cross-entropy per label, or
mean squared error); this module holds the rest, so that scripts never compare the strings themselves.
"""

import numpy as np
from scipy.special import expit, softmax

SINGLE_LABEL = "single_label_classification"
MULTI_LABEL = "multi_label_classification"
REGRESSION = "regression"
PROBLEM_TYPES = (SINGLE_LABEL, MULTI_LABEL, REGRESSION)
DEFAULT_THRESHOLD = 0.5

# The default --metric_for_best_model of each problem type, and whether more is better.
BEST_METRIC = {SINGLE_LABEL: ("f1_macro", True), MULTI_LABEL: ("f1_macro", True), REGRESSION: ("mse", False)}
# Metrics where less is better; the Trainer assumes more is better for every name not ending in "loss".
LOWER_IS_BETTER = ("loss", "mse", "mae")


def saved_problem_type(config) -> str:
    """A trained model's problem type; single-label for folders saved before it was recorded."""
    return getattr(config, "problem_type", None) or SINGLE_LABEL


def saved_threshold(config) -> float:
    """The probability above which a multi-label model's label counts as predicted (saved at training)."""
    return float(getattr(config, "multi_label_threshold", None) or DEFAULT_THRESHOLD)


def greater_is_better(metric: str) -> bool:
    """Whether a larger value of `metric` (with or without an `eval_` prefix) is better."""
    return metric.removeprefix("eval_") not in LOWER_IS_BETTER


def scores_from_logits(logits: np.ndarray, problem_type: str) -> np.ndarray:
    """
    `(n, num_labels)` logits -> class probabilities (softmax, rows sum to 1), per-label probabilities (sigmoid), or
    for regression the predicted values `(n,)`.
    """
    logits = np.asarray(logits, dtype=np.float64)
    if problem_type == REGRESSION:
        return logits.reshape(len(logits), -1)[:, 0]
    if problem_type == MULTI_LABEL:
        return expit(logits)
    return softmax(logits, axis=-1)


def predictions_from_scores(scores: np.ndarray, problem_type: str, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """Class ids `(n,)`, multi-hot 0/1 rows `(n, num_labels)` (probability >= threshold), or the values `(n,)`."""
    if problem_type == MULTI_LABEL:
        return (np.asarray(scores) >= threshold).astype(np.int64)
    if problem_type == REGRESSION:
        return np.asarray(scores)
    return np.asarray(scores).argmax(-1)
