"""Classification metrics through `evaluate`, from modules shipped in this folder so they load with no network.

`evaluate.load("accuracy")` fetches its module from the hub; `evaluate.load(<local folder>)` does not. This package
ships the three modules the project needs and the `compute_metrics` the Trainer calls.
"""

from functools import cache
from pathlib import Path

import evaluate
import numpy as np
from transformers import EvalPrediction

METRICS_DIR = Path(__file__).resolve().parent
# The scalar metrics `compute_metrics` returns: with `loss`, the names --metric_for_best_model can take.
SCALAR_METRICS = (
    "accuracy", "f1_macro", "f1_weighted", "precision_macro", "precision_weighted", "recall_macro", "recall_weighted",
)  # fmt: skip


@cache
def load_metric(name: str) -> evaluate.EvaluationModule:
    """Load one of the shipped metric modules: `accuracy`, `precision_recall_f1` or `confusion_matrix`."""
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


def build_compute_metrics(num_labels: int):
    """The Trainer's `compute_metrics`: the scalar metrics only (per-class figures go to the reports)."""

    def compute_metrics(eval_prediction: EvalPrediction) -> dict[str, float]:
        logits = eval_prediction.predictions
        logits = logits[0] if isinstance(logits, tuple) else logits
        results = classification_metrics(np.argmax(logits, axis=-1), eval_prediction.label_ids, num_labels)
        return {key: float(results[key]) for key in SCALAR_METRICS}

    return compute_metrics
