"""Regression metrics (mean squared and absolute error, Pearson and Spearman correlation) as an `evaluate` module
that loads offline.
"""

import warnings

import datasets
import evaluate
import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import mean_absolute_error, mean_squared_error


class Regression(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=(
                "Mean squared error, mean absolute error, and the Pearson and Spearman correlations between "
                "predicted and reference values (NaN where a correlation is undefined, e.g. constant predictions)."
            ),
            citation="",
            inputs_description="predictions and references: one number per text.",
            features=datasets.Features(
                {"predictions": datasets.Value("float64"), "references": datasets.Value("float64")}
            ),
            reference_urls=[
                "https://docs.scipy.org/doc/scipy/reference/generated/scipy.stats.pearsonr.html",
                "https://docs.scipy.org/doc/scipy/reference/generated/scipy.stats.spearmanr.html",
            ],
        )

    def _compute(self, predictions: list[float], references: list[float]) -> dict:
        predictions, references = np.asarray(predictions), np.asarray(references)
        results = {
            "mse": float(mean_squared_error(references, predictions)),
            "mae": float(mean_absolute_error(references, predictions)),
        }
        with warnings.catch_warnings():  # constant input: the correlation is NaN, which says so already
            warnings.simplefilter("ignore")
            defined = len(predictions) > 1
            results["pearson"] = float(pearsonr(predictions, references)[0]) if defined else float("nan")
            results["spearman"] = float(spearmanr(predictions, references)[0]) if defined else float("nan")
        return results
