"""Training: the Trainer subclasses, fine-tuning strategies, optimizers and layer-wise groups, losses, distillation."""

from .distillation import DISTILLATION_LOSSES, DistillationCollator, DistillationTrainer, distillation_loss
from .losses import class_weighted_loss, problem_loss
from .optimization import OPTIMIZERS, layerwise_parameter_groups, resolve_optimizer
from .strategies import (
    FINETUNE_STRATEGIES,
    apply_finetune_strategy,
    count_parameters,
    merge_lora_into_trainer,
)
from .trainer import ShuffledLengthGroupedSampler, TextClassificationTrainer

__all__ = [
    "DISTILLATION_LOSSES",
    "DistillationCollator",
    "DistillationTrainer",
    "FINETUNE_STRATEGIES",
    "OPTIMIZERS",
    "ShuffledLengthGroupedSampler",
    "TextClassificationTrainer",
    "apply_finetune_strategy",
    "class_weighted_loss",
    "count_parameters",
    "distillation_loss",
    "layerwise_parameter_groups",
    "merge_lora_into_trainer",
    "problem_loss",
    "resolve_optimizer",
]
