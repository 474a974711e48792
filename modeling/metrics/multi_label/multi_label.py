"""Multi-label classification metrics (micro, macro and weighted precision, recall and F1, subset accuracy, per-label
figures) as an `evaluate` module that loads offline. Each text may carry any number of labels; a label counts as
predicted when its probability reaches the threshold.
"""

import datasets
import evaluate
import numpy as np
from sklearn.metrics import accuracy_score, precision_recall_fscore_support


class MultiLabel(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=(
                "Multi-label precision, recall and F1 (micro, macro and weighted over labels, and per label) and "
                "subset accuracy (the share of texts whose predicted label set is exactly the reference set)."
            ),
            citation="",
            inputs_description=(
                "predictions: per text, one probability (or 0/1 decision) per label; references: per text, one 0/1 "
                "per label (multi-hot). threshold (default 0.5): a label is predicted when its probability is at "
                "least this."
            ),
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("float64")),
                    "references": datasets.Sequence(datasets.Value("int64")),
                }
            ),
            reference_urls=[
                "https://scikit-learn.org/stable/modules/model_evaluation.html#multilabel-ranking-metrics",
                "https://scikit-learn.org/stable/modules/generated/sklearn.metrics.precision_recall_fscore_support.html",
            ],
        )

    def _compute(self, predictions: list[list[float]], references: list[list[int]], threshold: float = 0.5) -> dict:
        predicted = (np.asarray(predictions, dtype=np.float64) >= threshold).astype(np.int64)  # (n, num_labels)
        references = np.asarray(references, dtype=np.int64)  # (n, num_labels)
        results = {"subset_accuracy": float(accuracy_score(references, predicted))}
        for average in ("micro", "macro", "weighted"):
            precision, recall, f1, _ = precision_recall_fscore_support(
                references, predicted, average=average, zero_division=0
            )
            results.update({f"precision_{average}": float(precision), f"recall_{average}": float(recall)})
            results[f"f1_{average}"] = float(f1)
        precision, recall, f1, support = precision_recall_fscore_support(
            references, predicted, average=None, zero_division=0
        )
        results["per_class"] = {
            "precision": precision.tolist(),
            "recall": recall.tolist(),
            "f1": f1.tolist(),
            "support": support.tolist(),  # texts carrying each label
        }
        return results
