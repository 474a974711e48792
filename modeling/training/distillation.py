"""Knowledge distillation in the Trainer: the loss against a teacher's logits, the collator that batches them, and
the Trainer subclass that routes them to the loss. The model itself never sees the teacher, so a distilled model
folder is an ordinary model folder.

What this adds to the Trainer: a training loss that mixes the hard-label loss (rows with a gold label only) with a
soft loss against precomputed teacher logits, and a `teacher_logits` column kept through the Trainer's column
filtering. Evaluation and prediction (and so `metric_for_best_model`) use the ordinary loss on the plain splits.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .trainer import TextClassificationTrainer

DISTILLATION_LOSSES = ("mse", "kl")
TEACHER_LOGITS = "teacher_logits"  # the transfer set's column of teacher logits, one float per class
NO_LABEL = -1  # the label of a transfer-set text without a gold label (ClassLabel's "no label")


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor | None,
    kind: str = "mse",
    alpha: float = 0.9,
    temperature: float = 2.0,
    label_smoothing: float = 0.0,
    class_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """
    `alpha * soft + (1 - alpha) * hard` on a batch.

    Args:
        student_logits, teacher_logits: (batch, num_labels).
        labels: (batch,) gold label ids; negative where a text has none (an augmented copy, an unlabeled text).
        kind: the soft loss. "mse": squared distance between the logit vectors, summed over classes and averaged
            over the batch (Tang et al. 2019). "kl": KL(teacher || student) of the softmaxes at `temperature`,
            averaged over the batch and multiplied by temperature² so that its gradients keep their size whatever
            the temperature (Hinton et al. 2015).
        alpha: the weight of the soft loss, in [0, 1].
        label_smoothing, class_weights: of the hard loss only: cross-entropy averaged over the rows with a gold
            label (0 when the batch has none).
    """
    teacher_logits = teacher_logits.to(student_logits.dtype)
    if kind == "mse":
        soft = (student_logits - teacher_logits).pow(2).sum(-1).mean()
    elif kind == "kl":
        soft = nn.functional.kl_div(
            nn.functional.log_softmax(student_logits / temperature, dim=-1),
            nn.functional.log_softmax(teacher_logits / temperature, dim=-1),
            reduction="batchmean",
            log_target=True,
        ) * (temperature**2)
    else:
        raise ValueError(f"unknown distillation loss {kind!r}; choose one of {', '.join(DISTILLATION_LOSSES)}")
    if alpha == 1 or labels is None:
        return soft
    gold = labels >= 0
    if not gold.any():
        hard = student_logits.sum() * 0.0  # keeps the graph (and the device) when no row has a label
    else:
        hard = nn.functional.cross_entropy(
            student_logits[gold],
            labels[gold],
            weight=None if class_weights is None else class_weights.to(student_logits),
            label_smoothing=label_smoothing,
        )
    return alpha * soft + (1 - alpha) * hard


@dataclass
class DistillationCollator:
    """Batches the teacher logits (a float tensor, batch x num_labels) beside what `collator` makes of the rest."""

    collator: Callable[[list[dict]], dict]

    def __call__(self, features: Sequence[dict]) -> dict:
        if not features or TEACHER_LOGITS not in features[0]:
            return self.collator(list(features))
        logits = torch.tensor([feature[TEACHER_LOGITS] for feature in features], dtype=torch.float32)
        batch = self.collator([{k: v for k, v in feature.items() if k != TEACHER_LOGITS} for feature in features])
        batch[TEACHER_LOGITS] = logits
        return batch


class DistillationTrainer(TextClassificationTrainer):
    """
    `TextClassificationTrainer` that trains on a transfer set with a `teacher_logits` column, with
    `distillation_loss`. Batches without teacher logits (evaluation, prediction) get the ordinary loss.
    """

    def __init__(
        self,
        *args,
        distillation_loss: str = "mse",
        distillation_alpha: float = 0.9,
        distillation_temperature: float = 2.0,
        class_weights: Sequence[float] | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.distillation_kind = distillation_loss
        self.distillation_alpha = distillation_alpha
        self.distillation_temperature = distillation_temperature
        self.class_weights = None if class_weights is None else torch.tensor(class_weights, dtype=torch.float32)
        # The loss is a mean over this batch: the Trainer divides it by the gradient accumulation steps itself.
        self.loss_is_scaled_for_ga = False

    def _set_signature_columns_if_needed(self) -> None:
        super()._set_signature_columns_if_needed()
        if TEACHER_LOGITS not in self._signature_columns:
            self._signature_columns.append(TEACHER_LOGITS)  # kept for the loss; never passed to the model

    def compute_loss(
        self, model: nn.Module, inputs: dict, return_outputs: bool = False, num_items_in_batch: int | None = None
    ):
        if TEACHER_LOGITS not in inputs:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        inputs = dict(inputs)  # adversarial training runs the same inputs twice: leave the caller's dict whole
        teacher_logits = inputs.pop(TEACHER_LOGITS)
        labels = inputs.pop("labels", None)
        outputs = model(**inputs)
        loss = distillation_loss(
            outputs["logits"],
            teacher_logits,
            labels,
            kind=self.distillation_kind,
            alpha=self.distillation_alpha,
            temperature=self.distillation_temperature,
            label_smoothing=self.args.label_smoothing_factor,
            class_weights=self.class_weights,
        )
        auxiliary = outputs.get("auxiliary_loss")  # the Auto-LSTM's reconstruction loss, already weighted
        if auxiliary is not None:
            loss = loss + auxiliary
        return (loss, outputs) if return_outputs else loss
