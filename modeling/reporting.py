"""What every run leaves for people to read: predictions, a classification report, and (issue-tracked) plots."""

import csv
from pathlib import Path

import numpy as np
from sklearn.metrics import classification_report


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of `(n, num_labels)` logits."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def write_predictions_csv(
    path: Path, texts: list[str], labels: np.ndarray, probabilities: np.ndarray, label_names: list[str]
) -> None:
    """One row per text: text, label, predicted label, confidence (the predicted class's probability)."""
    predicted = probabilities.argmax(-1)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label", "predicted_label", "confidence"])
        for text, label, pred, probs in zip(texts, labels, predicted, probabilities):
            writer.writerow([text, label_names[int(label)], label_names[int(pred)], f"{probs[pred]:.4f}"])


def write_run_reports(
    output_dir: str | Path,
    label_names: list[str],
    texts: list[str],
    labels: np.ndarray,
    logits: np.ndarray,
    log_history: list[dict],
) -> None:
    """Write `test_predictions.csv` and `classification_report.txt` into `output_dir`."""
    output_dir = Path(output_dir)
    logits = logits[0] if isinstance(logits, tuple) else logits
    probabilities = softmax(np.asarray(logits, dtype=np.float64))
    write_predictions_csv(output_dir / "test_predictions.csv", list(texts), labels, probabilities, label_names)
    report = classification_report(
        labels,
        probabilities.argmax(-1),
        labels=list(range(len(label_names))),
        target_names=label_names,
        digits=4,
        zero_division=0,
    )
    (output_dir / "classification_report.txt").write_text(report)
