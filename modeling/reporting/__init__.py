"""Reporting: plots, the reports every run leaves, and the model card."""

from .model_card import dataset_card_arguments, split_coverage, write_model_card
from .plots import (
    plot_attention,
    plot_class_counts,
    plot_confusion_matrix,
    plot_length_histogram,
    plot_per_class_f1,
    plot_training_curves,
)
from .reports import format_summary, write_predictions_csv, write_run_reports

__all__ = [
    "dataset_card_arguments",
    "format_summary",
    "plot_attention",
    "plot_class_counts",
    "plot_confusion_matrix",
    "plot_length_histogram",
    "plot_per_class_f1",
    "plot_training_curves",
    "split_coverage",
    "write_model_card",
    "write_predictions_csv",
    "write_run_reports",
]
