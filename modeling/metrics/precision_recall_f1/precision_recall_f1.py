"""Precision, recall and F1 (macro, weighted and per class) as an `evaluate` module that loads offline."""

import datasets
import evaluate
from sklearn.metrics import precision_recall_fscore_support


class PrecisionRecallF1(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description="Precision, recall and F1, averaged over classes (macro and weighted) and per class.",
            citation="",
            inputs_description=(
                "predictions and references: lists of integer class ids. num_labels (optional): the number of "
                "classes, so that classes missing from a sample still count in the macro average."
            ),
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
            reference_urls=[
                "https://scikit-learn.org/stable/modules/generated/sklearn.metrics.precision_recall_fscore_support.html"
            ],
        )

    def _compute(self, predictions: list[int], references: list[int], num_labels: int | None = None) -> dict:
        labels = list(range(num_labels)) if num_labels else sorted(set(references) | set(predictions))
        results = {}
        for average in ("macro", "weighted"):
            precision, recall, f1, _ = precision_recall_fscore_support(
                references, predictions, labels=labels, average=average, zero_division=0
            )
            results.update({f"precision_{average}": float(precision), f"recall_{average}": float(recall)})
            results[f"f1_{average}"] = float(f1)
        precision, recall, f1, support = precision_recall_fscore_support(
            references, predictions, labels=labels, average=None, zero_division=0
        )
        results["per_class"] = {
            "precision": precision.tolist(),
            "recall": recall.tolist(),
            "f1": f1.tolist(),
            "support": support.tolist(),
        }
        return results
