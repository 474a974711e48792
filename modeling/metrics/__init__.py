"""Classification metrics through `evaluate`, from modules shipped in this folder so they load with no network.

`evaluate.load("accuracy")` fetches its module from the hub; `evaluate.load(<local folder>)` does not. This package
ships the modules the project needs (single-label, multi-label and regression) and the `compute_metrics` the Trainer
calls.
"""

from functools import cache
from pathlib import Path

import evaluate
import numpy as np
from transformers import EvalPrediction

from ..problem_types import DEFAULT_THRESHOLD, MULTI_LABEL, REGRESSION, SINGLE_LABEL, scores_from_logits

METRICS_DIR = Path(__file__).resolve().parent
# The scalar metrics `compute_metrics` reports for each problem type (what --metric_for_best_model may name, with
# the loss).
METRIC_NAMES = {
    SINGLE_LABEL: ("accuracy", "precision_macro", "recall_macro", "f1_macro", "precision_weighted",
                   "recall_weighted", "f1_weighted"),
    MULTI_LABEL: ("subset_accuracy", "precision_micro", "recall_micro", "f1_micro", "precision_macro", "recall_macro",
                  "f1_macro", "precision_weighted", "recall_weighted", "f1_weighted"),
    REGRESSION: ("mse", "mae", "pearson", "spearman"),
}  # fmt: skip


@cache
def load_metric(name: str) -> evaluate.EvaluationModule:
    """Load one of the shipped metric modules: `accuracy`, `precision_recall_f1`, `confusion_matrix`, `multi_label`
    or `regression`."""
    return evaluate.load(str(METRICS_DIR / name))


def classification_metrics(predictions: np.ndarray, references: np.ndarray, num_labels: int) -> dict:
    """Accuracy, macro/weighted precision, recall and F1, per-class figures and the confusion matrix."""
    predictions, references = np.asarray(predictions).tolist(), np.asarray(references).tolist()
    results = load_metric("accuracy").compute(predictions=predictions, references=references)
    results.update(
        load_metric("precision_recall_f1").compute(
            predictions=predictions, references=references, num_labels=num_labels
        )
    )
    results.update(
        load_metric("confusion_matrix").compute(predictions=predictions, references=references, num_labels=num_labels)
    )
    return results


def multi_label_metrics(
    probabilities: np.ndarray, references: np.ndarray, threshold: float = DEFAULT_THRESHOLD
) -> dict:
    """Subset accuracy, micro/macro/weighted precision, recall and F1, per-label figures; `(n, num_labels)` inputs."""
    return load_metric("multi_label").compute(
        predictions=np.asarray(probabilities).tolist(),
        references=np.asarray(references).round().astype(int).tolist(),
        threshold=threshold,
    )


def regression_metrics(predictions: np.ndarray, references: np.ndarray) -> dict:
    """MSE, MAE, Pearson and Spearman correlation of `(n,)` predicted and reference values."""
    return load_metric("regression").compute(
        predictions=np.asarray(predictions).reshape(-1).tolist(),
        references=np.asarray(references).reshape(-1).tolist(),
    )


def metrics_from_logits(
    logits: np.ndarray,
    labels: np.ndarray,
    num_labels: int,
    problem_type: str = SINGLE_LABEL,
    threshold: float = DEFAULT_THRESHOLD,
) -> dict:
    """The metrics of `problem_type` for `(n, num_labels)` logits against the labels the model trained on."""
    scores = scores_from_logits(logits, problem_type)
    if problem_type == REGRESSION:
        return regression_metrics(scores, labels)
    if problem_type == MULTI_LABEL:
        return multi_label_metrics(scores, labels, threshold)
    return classification_metrics(scores.argmax(-1), labels, num_labels)


def build_compute_metrics(num_labels: int, problem_type: str = SINGLE_LABEL, threshold: float = DEFAULT_THRESHOLD):
    """The Trainer's `compute_metrics`: the scalar metrics only (per-class figures go to the reports)."""

    def compute_metrics(eval_prediction: EvalPrediction) -> dict[str, float]:
        logits = eval_prediction.predictions
        logits = logits[0] if isinstance(logits, tuple) else logits
        results = metrics_from_logits(logits, eval_prediction.label_ids, num_labels, problem_type, threshold)
        return {key: value for key, value in results.items() if isinstance(value, float)}

    return compute_metrics
