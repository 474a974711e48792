"""modeling.metrics against scikit-learn and against counts taken by hand, on random predictions."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support
from transformers import EvalPrediction

from modeling.metrics import build_compute_metrics, classification_metrics


def random_predictions(num_labels: int, seed: int, present: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Random class ids; with `present`, only the first `present` classes occur at all."""
    rng = np.random.default_rng(seed)
    high = num_labels if present is None else present
    references = rng.integers(0, high, size=300)
    # Right 60% of the time, so the figures are neither trivial nor chance.
    predictions = np.where(rng.random(300) < 0.6, references, rng.integers(0, high, size=300))
    return predictions, references


@pytest.mark.parametrize(
    ("num_labels", "seed", "present"),
    [(2, 0, None), (3, 1, None), (5, 2, None), (7, 3, 5)],  # the last: two classes never occur
)
def test_classification_metrics_equal_scikit_learn(num_labels, seed, present):
    predictions, references = random_predictions(num_labels, seed, present)
    results = classification_metrics(predictions, references, num_labels)
    labels = list(range(num_labels))

    assert results["accuracy"] == pytest.approx(accuracy_score(references, predictions))
    for average in ("macro", "weighted"):
        precision, recall, f1, _ = precision_recall_fscore_support(
            references, predictions, labels=labels, average=average, zero_division=0
        )
        assert results[f"precision_{average}"] == pytest.approx(precision)
        assert results[f"recall_{average}"] == pytest.approx(recall)
        assert results[f"f1_{average}"] == pytest.approx(f1)
    precision, recall, f1, support = precision_recall_fscore_support(
        references, predictions, labels=labels, average=None, zero_division=0
    )
    np.testing.assert_allclose(results["per_class"]["precision"], precision)
    np.testing.assert_allclose(results["per_class"]["recall"], recall)
    np.testing.assert_allclose(results["per_class"]["f1"], f1)
    assert results["per_class"]["support"] == support.tolist()
    assert results["confusion_matrix"] == confusion_matrix(references, predictions, labels=labels).tolist()


def test_per_class_figures_match_counts_by_hand():
    """Rows of the confusion matrix are true classes; precision, recall and F1 follow from its counts."""
    num_labels = 4
    predictions, references = random_predictions(num_labels, seed=4)
    results = classification_metrics(predictions, references, num_labels)
    matrix = np.zeros((num_labels, num_labels), dtype=int)
    for true, predicted in zip(references, predictions):
        matrix[true, predicted] += 1
    assert results["confusion_matrix"] == matrix.tolist()
    for c in range(num_labels):
        precision = matrix[c, c] / matrix[:, c].sum()
        recall = matrix[c, c] / matrix[c, :].sum()
        assert results["per_class"]["precision"][c] == pytest.approx(precision)
        assert results["per_class"]["recall"][c] == pytest.approx(recall)
        assert results["per_class"]["f1"][c] == pytest.approx(2 * precision * recall / (precision + recall))
    assert results["f1_macro"] == pytest.approx(np.mean(results["per_class"]["f1"]))
    assert results["accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())


def test_compute_metrics_reads_logits_and_keeps_scalars():
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(50, 3)).astype(np.float32)
    labels = rng.integers(0, 3, size=50)
    compute_metrics = build_compute_metrics(3)
    plain = compute_metrics(EvalPrediction(predictions=logits, label_ids=labels))
    # Models that return more than logits give the Trainer a tuple; the logits come first.
    as_tuple = compute_metrics(EvalPrediction(predictions=(logits, rng.normal(size=(50, 4))), label_ids=labels))
    assert plain == as_tuple
    assert all(isinstance(value, float) for value in plain.values())
    assert plain["accuracy"] == pytest.approx(float((logits.argmax(-1) == labels).mean()))
    assert {"f1_macro", "f1_weighted", "precision_macro", "recall_macro"} <= set(plain)
