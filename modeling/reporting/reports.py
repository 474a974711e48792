"""What every run leaves for people to read: test predictions, a classification report, a summary table and plots."""

import csv
from pathlib import Path

import numpy as np
from scipy.special import softmax
from sklearn.metrics import classification_report

from ..files import atomic_path, atomic_write_text
from ..metrics import classification_metrics
from .plots import plot_confusion_matrix, plot_per_class_f1, plot_training_curves

# The figures `format_summary` shows, in column order; split prefixes and their row names.
SUMMARY_METRICS = ("accuracy", "f1_macro", "f1_weighted", "precision_macro", "recall_macro", "loss")
SUMMARY_SPLITS = {"eval": "validation", "test": "test"}


def write_predictions_csv(
    path: Path, texts: list[str], labels: np.ndarray, probabilities: np.ndarray, label_names: list[str]
) -> None:
    """One row per text: text, label, predicted label, confidence (the predicted class's probability)."""
    predicted = probabilities.argmax(-1)
    with atomic_path(path) as temporary, temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label", "predicted_label", "confidence"])
        for text, label, pred, probs in zip(texts, labels, predicted, probabilities):
            writer.writerow([text, label_names[int(label)], label_names[int(pred)], f"{probs[pred]:.4f}"])


def format_summary(metrics: dict, row_name: str = "results") -> str:
    """
    A short table of the main validation and test figures, from metrics keyed like the Trainer's (`eval_accuracy`,
    `test_f1_macro`, ...). Without such keys, unprefixed ones (`accuracy`, ...) form a single row named `row_name`.
    """
    rows = []
    for prefix, name in SUMMARY_SPLITS.items():
        values = {m: metrics[f"{prefix}_{m}"] for m in SUMMARY_METRICS if f"{prefix}_{m}" in metrics}
        if values:
            rows.append((name, values))
    if not rows:
        values = {m: metrics[m] for m in SUMMARY_METRICS if m in metrics}
        if values:
            rows.append((row_name, values))
    if not rows:
        return "no validation or test metrics to summarise"
    columns = [m for m in SUMMARY_METRICS if any(m in values for _, values in rows)]
    widths = [max(len(column), 6) + 2 for column in columns]
    lines = [f"{'':<12}" + "".join(f"{column:>{width}}" for column, width in zip(columns, widths))]
    for name, values in rows:
        cells = [f"{values[c]:>{w}.4f}" if c in values else f"{'-':>{w}}" for c, w in zip(columns, widths)]
        lines.append(f"{name:<12}" + "".join(cells))
    return "\n".join(lines)


def write_run_reports(
    output_dir: str | Path,
    label_names: list[str],
    texts: list[str],
    labels: np.ndarray,
    logits: np.ndarray,
    log_history: list[dict] | None,
    split: str = "test",
) -> dict:
    """
    Write into `output_dir`: `<split>_predictions.csv`, `classification_report.txt`, `confusion_matrix.png`,
    `per_class_f1.png`, and `training_curves.png` when `log_history` has losses.

    Returns:
        `modeling.metrics.classification_metrics` of the predictions (scalars, per-class figures, confusion matrix).
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    logits = logits[0] if isinstance(logits, tuple) else logits
    probabilities = softmax(np.asarray(logits, dtype=np.float64), axis=-1)  # (n, num_labels)
    predictions = probabilities.argmax(-1)
    labels = np.asarray(labels)
    write_predictions_csv(output_dir / f"{split}_predictions.csv", list(texts), labels, probabilities, label_names)
    report = classification_report(
        labels,
        predictions,
        labels=list(range(len(label_names))),
        target_names=label_names,
        digits=4,
        zero_division=0,
    )
    atomic_write_text(output_dir / "classification_report.txt", report)

    metrics = classification_metrics(predictions, labels, len(label_names))
    plot_confusion_matrix(
        metrics["confusion_matrix"],
        label_names,
        output_dir / "confusion_matrix.png",
        title=f"Confusion matrix, {split} split (accuracy {metrics['accuracy']:.3f})",
    )
    plot_per_class_f1(
        metrics["per_class"]["f1"],
        label_names,
        output_dir / "per_class_f1.png",
        support=metrics["per_class"]["support"],
        title=f"F1 per class, {split} split",
    )
    plot_training_curves(log_history, output_dir / "training_curves.png")
    return metrics
