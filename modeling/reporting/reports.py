"""What every run leaves for people to read: test predictions, a classification report, a summary table and plots."""

import csv
from pathlib import Path

import numpy as np
from sklearn.metrics import classification_report

from ..files import atomic_path, atomic_write_text
from ..metrics import classification_metrics, multi_label_metrics, regression_metrics
from ..problem_types import (
    DEFAULT_THRESHOLD,
    MULTI_LABEL,
    REGRESSION,
    SINGLE_LABEL,
    predictions_from_scores,
    scores_from_logits,
)
from .plots import plot_confusion_matrix, plot_per_class_f1, plot_training_curves

# The figures `format_summary` shows, in column order, where the metrics hold them (each problem type has its own:
# single-label accuracy and F1, multi-label subset accuracy and micro F1, regression errors and correlations).
SUMMARY_METRICS = (
    "accuracy", "subset_accuracy", "f1_micro", "f1_macro", "f1_weighted", "precision_macro", "recall_macro",
    "mse", "mae", "pearson", "spearman", "loss",
)  # fmt: skip
# Separates the labels of one text in the predictions CSV of a multi-label model.
LABEL_SEPARATOR = ";"
SUMMARY_SPLITS = {"eval": "validation", "test": "test"}


def write_predictions_csv(
    path: Path,
    texts: list[str],
    labels: np.ndarray,
    probabilities: np.ndarray,
    label_names: list[str],
    problem_type: str = SINGLE_LABEL,
    threshold: float = DEFAULT_THRESHOLD,
) -> None:
    """
    One row per text: text, label, prediction and confidence. Single-label: the predicted class and its
    probability; multi-label: the labels (reference, and predicted at `threshold`) joined by `;`, with each
    predicted label's probability in the same order; regression: the reference and predicted values, no confidence.
    `probabilities` is what `scores_from_logits` gives for the problem type.
    """
    with atomic_path(path) as temporary, temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if problem_type == REGRESSION:
            writer.writerow(["text", "label", "predicted_value"])
            for text, label, value in zip(texts, labels, probabilities):
                writer.writerow([text, f"{float(label):.6g}", f"{float(value):.6g}"])
            return
        writer.writerow(["text", "label", "predicted_label", "confidence"])
        if problem_type == MULTI_LABEL:
            for text, label, probs in zip(texts, labels, probabilities):
                given = [name for name, on in zip(label_names, label) if on >= 0.5]
                predicted = [i for i, p in enumerate(probs) if p >= threshold]
                writer.writerow(
                    [
                        text,
                        LABEL_SEPARATOR.join(given),
                        LABEL_SEPARATOR.join(label_names[i] for i in predicted),
                        LABEL_SEPARATOR.join(f"{probs[i]:.4f}" for i in predicted),
                    ]
                )
            return
        for text, label, probs in zip(texts, labels, probabilities):
            pred = int(probs.argmax())
            writer.writerow([text, label_names[int(label)], label_names[pred], f"{probs[pred]:.4f}"])


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
    problem_type: str = SINGLE_LABEL,
    threshold: float = DEFAULT_THRESHOLD,
) -> dict:
    """
    Write into `output_dir`: `<split>_predictions.csv`, and `training_curves.png` when `log_history` has losses;
    for classification also `classification_report.txt` and `per_class_f1.png`, and for single-label
    classification `confusion_matrix.png`. A regression model has no classes, so it gets neither report nor plots
    per class.

    Returns:
        The metrics of the problem type (`modeling.metrics`): scalars, and for classification the per-class
        figures (and, single-label, the confusion matrix).
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    logits = logits[0] if isinstance(logits, tuple) else logits
    scores = scores_from_logits(logits, problem_type)  # (n, num_labels) probabilities, or (n,) values
    predictions = predictions_from_scores(scores, problem_type, threshold)
    labels = np.asarray(labels)
    write_predictions_csv(
        output_dir / f"{split}_predictions.csv", list(texts), labels, scores, label_names, problem_type, threshold
    )
    plot_training_curves(log_history, output_dir / "training_curves.png")
    if problem_type == REGRESSION:
        return regression_metrics(scores, labels)

    references = labels.round().astype(int) if problem_type == MULTI_LABEL else labels
    report = classification_report(
        references,
        predictions,
        labels=list(range(len(label_names))),
        target_names=label_names,
        digits=4,
        zero_division=0,
    )
    atomic_write_text(output_dir / "classification_report.txt", report)
    if problem_type == MULTI_LABEL:
        metrics = multi_label_metrics(scores, references, threshold)
        accuracy = f"subset accuracy {metrics['subset_accuracy']:.3f}"
    else:
        metrics = classification_metrics(predictions, labels, len(label_names))
        accuracy = f"accuracy {metrics['accuracy']:.3f}"
        plot_confusion_matrix(
            metrics["confusion_matrix"],
            label_names,
            output_dir / "confusion_matrix.png",
            title=f"Confusion matrix, {split} split ({accuracy})",
        )
    plot_per_class_f1(
        metrics["per_class"]["f1"],
        label_names,
        output_dir / "per_class_f1.png",
        support=metrics["per_class"]["support"],
        title=f"F1 per class, {split} split"
        + (f" ({accuracy}, threshold {threshold:g})" if problem_type == MULTI_LABEL else ""),
    )
    return metrics
