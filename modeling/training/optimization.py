"""Optimizers for the optimizer comparison, and parameter groups with layer-wise learning rates."""

import torch
from torch import nn
from transformers import Trainer, TrainingArguments

from ..errors import UserInputError
from .strategies import LAYER_INDEX, num_encoder_layers

# --optimizer -> (TrainingArguments.optim, optim_args) where the Trainer already builds it; None where it does not.
# Without --optimizer, the Trainer's own --optim choice (fused AdamW by default) is used as it is.
OPTIMIZERS = {
    "adamw": ("adamw_torch_fused", None),
    "sgd": ("sgd", "momentum=0"),
    "sgd_momentum": ("sgd", "momentum={momentum}"),
    "rmsprop": ("rmsprop", None),
    "adam": None,  # plain Adam (L2 penalty, not decoupled decay) is not among the Trainer's optimizers
}


def layerwise_parameter_groups(
    model: nn.Module, learning_rate: float, weight_decay: float, decay: float, no_decay: set[str] | None = None
) -> list[dict]:
    """
    Optimizer parameter groups with layer-wise learning rates. The head and the top layer get `learning_rate`;
    each layer below gets `decay` times the one above; the embeddings get the lowest rate. A recurrent encoder
    counts as one layer, so its groups are embeddings (`lr * decay`), recurrent layers and head (`lr`). Parameters
    named in `no_decay` (biases, norms) get no weight decay. Each group carries a `name` for the log.
    """
    if not 0 < decay <= 1:
        raise UserInputError(f"--layerwise_lr_decay must be in (0, 1], got {decay}")
    num_layers = max(num_encoder_layers(model), 1)
    groups: dict[tuple[str, bool], dict] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        match = LAYER_INDEX.search(name)
        if "embeddings" in name:
            label, depth = "embeddings", num_layers
        elif match is not None:
            label, depth = f"layer {int(match.group(1))}", num_layers - 1 - int(match.group(1))
        else:
            label, depth = ("encoder" if name.startswith("encoder.") else "head"), 0
        decays = no_decay is None or name not in no_decay
        group = groups.setdefault(
            (label, decays),
            {
                "name": f"{label}{'' if decays else ' (no decay)'}",
                "params": [],
                "lr": learning_rate * decay**depth,
                "weight_decay": weight_decay if decays else 0.0,
            },
        )
        group["params"].append(param)
    return sorted(groups.values(), key=lambda group: -group["lr"])


def resolve_optimizer(
    name: str | None, args: TrainingArguments, momentum: float, model: nn.Module | None = None
) -> tuple[type, dict]:
    """
    The optimizer class and keyword arguments for `--optimizer name`, reusing the Trainer's where it has one; with
    `name=None`, those of the Trainer's `args.optim`.
    """
    if name is None:
        return Trainer.get_optimizer_cls_and_kwargs(args, model)
    if name not in OPTIMIZERS:
        raise UserInputError(f"unknown optimizer {name!r}; choose one of: {', '.join(OPTIMIZERS)}")
    if OPTIMIZERS[name] is None:  # adam
        return torch.optim.Adam, {
            "lr": args.learning_rate,
            "betas": (args.adam_beta1, args.adam_beta2),
            "eps": args.adam_epsilon,
        }
    optim, optim_args = OPTIMIZERS[name]
    args.optim = optim
    args.optim_args = optim_args.format(momentum=momentum) if optim_args else None
    return Trainer.get_optimizer_cls_and_kwargs(args)
