"""A class-weighted loss for the Trainer, for data whose classes are far from balanced, and the loss of saved
predictions for each problem type."""

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from ..problem_types import MULTI_LABEL, REGRESSION, SINGLE_LABEL


def class_weighted_loss(
    labels: list[int], num_labels: int, label_smoothing: float = 0.0
) -> tuple[Callable, list[float]]:
    """
    A `compute_loss_func` for the Trainer: cross-entropy weighted by inverse class frequency (scikit-learn's
    "balanced" weights), with `label_smoothing` (the Trainer smooths only the losses it computes itself), plus any
    auxiliary loss the model returns. Also returns the weights, for the log.
    """
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(labels)
    weights = np.ones(num_labels)
    weights[present] = compute_class_weight("balanced", classes=present, y=np.asarray(labels))
    weight_tensor = torch.tensor(weights, dtype=torch.float32)

    def loss(outputs, labels: torch.Tensor, num_items_in_batch: torch.Tensor | None = None) -> torch.Tensor:
        logits = outputs["logits"]
        weight = weight_tensor.to(logits.device)
        if num_items_in_batch is None:
            value = nn.functional.cross_entropy(logits, labels, weight=weight, label_smoothing=label_smoothing)
        else:  # the Trainer counted the examples over all processes and scales the loss to match
            value = nn.functional.cross_entropy(
                logits, labels, weight=weight, label_smoothing=label_smoothing, reduction="sum"
            )
            value = value / num_items_in_batch
        auxiliary = outputs.get("auxiliary_loss")  # a mean over this batch
        if auxiliary is not None and num_items_in_batch is not None:
            # Scaled like the cross-entropy above (this batch's share of the accumulated, all-process batch), so
            # that gradient accumulation and several processes do not multiply its weight.
            auxiliary = auxiliary * labels.shape[0] / num_items_in_batch
        return value if auxiliary is None else value + auxiliary

    return loss, weights.tolist()


def plain_loss(logits: torch.Tensor, labels: torch.Tensor, problem_type: str = SINGLE_LABEL) -> torch.Tensor:
    """
    The loss the models compute themselves, for `(n, num_labels)` logits, without what training adds (label
    smoothing, class weights, auxiliary terms): cross-entropy on class ids, binary cross-entropy on multi-hot rows
    (multi-label), mean squared error on values (regression).
    """
    logits = logits.float()
    if problem_type == REGRESSION:
        return nn.functional.mse_loss(logits.reshape(-1), labels.float().reshape(-1))
    if problem_type == MULTI_LABEL:
        return nn.functional.binary_cross_entropy_with_logits(logits, labels.float())
    return nn.functional.cross_entropy(logits, labels.long())


def problem_loss(logits: np.ndarray, labels: np.ndarray, problem_type: str = SINGLE_LABEL) -> float:
    """`plain_loss` of numpy arrays, as a float (scripts/evaluate_model.py)."""
    logits, labels = torch.as_tensor(np.asarray(logits), dtype=torch.float32), torch.as_tensor(np.asarray(labels))
    return plain_loss(logits, labels, problem_type).item()
