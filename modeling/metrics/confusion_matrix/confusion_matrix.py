"""The confusion matrix (rows: true class, columns: predicted class) as an `evaluate` module that loads offline."""

import datasets
import evaluate
from sklearn.metrics import confusion_matrix


class ConfusionMatrix(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description="Counts of (true class, predicted class) pairs.",
            citation="",
            inputs_description="predictions and references: lists of integer class ids; num_labels (optional).",
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
            reference_urls=["https://scikit-learn.org/stable/modules/generated/sklearn.metrics.confusion_matrix.html"],
        )

    def _compute(self, predictions: list[int], references: list[int], num_labels: int | None = None) -> dict:
        labels = list(range(num_labels)) if num_labels else sorted(set(references) | set(predictions))
        return {"confusion_matrix": confusion_matrix(references, predictions, labels=labels).tolist()}
