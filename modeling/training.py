"""What the `Trainer` lacks for these experiments: fine-tuning strategies, layer-wise learning rates, the optimizer
comparison, a class-weighted loss and adversarial training on the embeddings. Everything else (loop, schedule,
checkpoints, devices) is the Trainer's.
"""

import logging
import re
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedModel, Trainer, TrainingArguments
from transformers.trainer_pt_utils import LengthGroupedSampler
from transformers.trainer_utils import PredictionOutput

from .errors import UserInputError

logger = logging.getLogger(__name__)

FINETUNE_STRATEGIES = ("full", "freeze", "hybrid", "lora")
# --optimizer -> (TrainingArguments.optim, optim_args) where the Trainer already builds it; None where it does not.
# Without --optimizer, the Trainer's own --optim choice (fused AdamW by default) is used as it is.
OPTIMIZERS = {
    "adamw": ("adamw_torch_fused", None),
    "sgd": ("sgd", "momentum=0"),
    "sgd_momentum": ("sgd", "momentum={momentum}"),
    "rmsprop": ("rmsprop", None),
    "adam": None,  # plain Adam (L2 penalty, not decoupled decay) is not among the Trainer's optimizers
}
_LAYER_INDEX = re.compile(r"\.layers?\.(\d+)\.")


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


def _num_layers(model: nn.Module) -> int:
    indices = [int(m.group(1)) for name, _ in model.named_parameters() if (m := _LAYER_INDEX.search(name))]
    return max(indices) + 1 if indices else 0


def apply_finetune_strategy(
    model: PreTrainedModel, strategy: str, unfreeze_top_k: int | None = None, lora_r: int = 8, lora_alpha: int = 16
) -> nn.Module:
    """
    Freeze what `strategy` says and return the model to train.

    - `full`: everything trains.
    - `freeze`: the pretrained encoder is frozen; only the task head trains.
    - `hybrid`: embeddings and the lower layers frozen; the top `unfreeze_top_k` layers (default half) and the head
      train.
    - `lora`: peft LoRA adapters on the attention projections; the head trains in full. Returns a `PeftModel`.
    """
    if strategy not in FINETUNE_STRATEGIES:
        raise UserInputError(
            f"unknown fine-tuning strategy {strategy!r}; choose one of: {', '.join(FINETUNE_STRATEGIES)}"
        )
    if strategy == "full":
        return model
    if strategy == "lora":
        from peft import LoraConfig, TaskType, get_peft_model

        # The task head (everything outside the pretrained encoder that has weights) trains in full.
        head = [
            name
            for name, module in model.named_children()
            if name != model.base_model_prefix and any(True for _ in module.parameters())
        ]
        config = LoraConfig(
            task_type=TaskType.SEQ_CLS, r=lora_r, lora_alpha=lora_alpha, lora_dropout=0.1, modules_to_save=head
        )
        return get_peft_model(model, config)

    num_layers = _num_layers(model.base_model)
    keep = 0 if strategy == "freeze" else (num_layers // 2 if unfreeze_top_k is None else unfreeze_top_k)
    if not 0 <= keep <= num_layers:
        raise UserInputError(f"--unfreeze_top_k must be between 0 and {num_layers} (the encoder's layers), got {keep}")
    for name, param in model.base_model.named_parameters():
        match = _LAYER_INDEX.search(f".{name}")
        trainable_layer = match is not None and int(match.group(1)) >= num_layers - keep
        # In hybrid mode what follows the layers (a pooler) trains with the top layers.
        after_layers = strategy == "hybrid" and match is None and "embeddings" not in name
        param.requires_grad_(trainable_layer or after_layers)
    return model


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
    num_layers = max(_num_layers(model), 1)
    groups: dict[tuple[str, bool], dict] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        match = _LAYER_INDEX.search(name)
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


class ShuffledLengthGroupedSampler(LengthGroupedSampler):
    """
    `LengthGroupedSampler` that shuffles its batches, and whose order depends only on the seed and the epoch.

    The stock sampler sorts each mega-batch (up to 50 batches) by length and yields its batches longest first, so
    training sweeps from long texts to short ones again and again: the optimizer sees dozens of batches of long texts
    in a row, then dozens of short ones. Where lengths vary widely (IMDB reviews run from 10 to 2,470 words) that
    costs accuracy (README, "Batch order"). Here the batches keep their similar lengths, so padding stays as low, but
    come in a random order, as in fairseq's and AllenNLP's bucketed batching; the longest still comes first, so
    running out of memory happens at once rather than late.

    The stock sampler also draws from the global random state, which a run resumed in the middle of an epoch holds in
    another state than the original run did; this one draws from its own generator, seeded by seed and epoch, so a
    resumed run sees the same batches and ends with the same model.
    """

    def __init__(self, batch_size: int, lengths: list[int], seed: int):
        super().__init__(batch_size, lengths=lengths)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:  # the Trainer calls it before each epoch
        self.epoch = epoch

    def __iter__(self):
        self.generator = torch.Generator().manual_seed(self.seed + self.epoch)
        indices = list(super().__iter__())  # grouped: each run of batch_size indices has similar lengths
        size, full = self.batch_size, len(indices) // self.batch_size
        if full < 2:
            return iter(indices)
        # The first batch holds the longest text and stays first; a shorter rest stays last, since the data loader
        # cuts the stream into batches in order and a short batch in the middle would shift every later batch.
        order = [0, *(torch.randperm(full - 1, generator=self.generator) + 1).tolist()]
        shuffled = [index for batch in order for index in indices[batch * size : (batch + 1) * size]]
        return iter(shuffled + indices[full * size :])


class TextClassificationTrainer(Trainer):
    """
    `Trainer` whose optimizer is built from `layerwise_parameter_groups` with the class `resolve_optimizer` picks
    (the groups and their learning rates are logged when it is created), and whose length-grouped batches come in a
    random order that depends only on the seed and epoch (see `ShuffledLengthGroupedSampler`). Evaluation batches are
    sorted by length, and `predict` returns its outputs in the dataset's order. With `adversarial_epsilon > 0` each
    step also trains on the batch under an adversarial change of the word embeddings.
    """

    def __init__(
        self,
        *args,
        optimizer_name: str | None = None,
        momentum: float = 0.9,
        layerwise_lr_decay: float = 1.0,
        adversarial_epsilon: float = 0.0,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        # Each example is one item here, so a plain per-batch mean is exact. Telling the Trainer the model takes loss
        # kwargs would make it multiply the loss by the number of processes, which is right only for losses summed
        # over `num_items_in_batch`; BERT's own loss and the label-smoothing loss are means, and would train with
        # gradients N times too large under N processes.
        self.model_accepts_loss_kwargs = False
        self.optimizer_name = optimizer_name
        self.momentum = momentum
        self.layerwise_lr_decay = layerwise_lr_decay
        self.adversarial_epsilon = adversarial_epsilon
        self._eval_order: list[int] | None = None  # the order of the last evaluation's texts, when not the dataset's
        if adversarial_epsilon > 0 and not self.model.get_input_embeddings().weight.requires_grad:
            logger.warning(
                "adversarial training is off: it perturbs the input embeddings along their gradient, and these are "
                "frozen"
            )
            self.adversarial_epsilon = 0.0

    def training_step(self, model: nn.Module, inputs: dict, num_items_in_batch: int | None = None) -> torch.Tensor:
        loss = super().training_step(model, inputs, num_items_in_batch)
        if self.adversarial_epsilon > 0:
            # Adversarial training on the word embeddings (Miyato et al. 2017, in its "fast gradient" form): move the
            # embedding matrix a distance epsilon along its loss gradient, add that step's gradients to the clean
            # ones, and move it back: the model learns to hold its prediction under the most harmful small change of
            # the words it read.
            weight = self.accelerator.unwrap_model(model).get_input_embeddings().weight
            if weight.grad is None:  # DeepSpeed and FSDP keep gradients in their own shards
                raise UserInputError(
                    "--adversarial_epsilon needs the embeddings' gradient, which DeepSpeed and FSDP keep in shards; "
                    "pass --adversarial_epsilon 0"
                )
            with torch.no_grad():
                step = weight.grad * (self.adversarial_epsilon / weight.grad.norm().clamp(min=1e-12))
                # No host sync to test the norm: a non-finite gradient (an fp16 overflow the scaler will skip) gives
                # a zero step rather than weights that stay corrupted after the step is taken back.
                step = torch.nan_to_num(step, nan=0.0, posinf=0.0, neginf=0.0)
                weight.add_(step)
            super().training_step(model, inputs, num_items_in_batch)
            with torch.no_grad():
                weight.sub_(step)
        return loss

    def compute_loss(
        self, model: nn.Module, inputs: dict, return_outputs: bool = False, num_items_in_batch: int | None = None
    ):
        # With label smoothing on (the recurrent types' default) the Trainer takes the labels away from the model and
        # smooths the loss from the logits alone, so a model's `auxiliary_loss` (the Auto-LSTM's reconstruction loss),
        # which the model adds to its own loss only when given labels, would never train: add it here.
        smoothed = self.label_smoother is not None and self.compute_loss_func is None and "labels" in inputs
        loss, outputs = super().compute_loss(model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch)
        auxiliary = outputs.get("auxiliary_loss") if isinstance(outputs, dict) else None
        if smoothed and auxiliary is not None:
            loss = loss + auxiliary
        return (loss, outputs) if return_outputs else loss

    def _get_train_sampler(self, train_dataset=None) -> torch.utils.data.Sampler | None:
        sampler = super()._get_train_sampler(train_dataset)
        if type(sampler) is LengthGroupedSampler:
            seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
            # Group by the global batch: each process then takes every N-th per-device batch, and N processes see
            # together what one process with an N times larger batch would.
            return ShuffledLengthGroupedSampler(sampler.batch_size * self.args.world_size, sampler.lengths, seed)
        return sampler

    def _get_eval_sampler(self, eval_dataset) -> torch.utils.data.Sampler | list[int] | None:
        sampler = super()._get_eval_sampler(eval_dataset)
        self._eval_order = None
        if isinstance(sampler, LengthGroupedSampler):
            # With length-grouped training the Trainer also groups evaluation batches by length, in a random order,
            # and `predict` then returns its outputs in that order rather than the dataset's. Sorting longest first
            # pads no more, runs out of memory (if it does) at once, and is an order `predict` can undo.
            lengths = sampler.lengths
            self._eval_order = sorted(range(len(lengths)), key=lengths.__getitem__, reverse=True)
            return self._eval_order
        return sampler

    def predict(
        self, test_dataset, ignore_keys: list[str] | None = None, metric_key_prefix: str = "test"
    ) -> PredictionOutput:
        """`Trainer.predict`, with predictions and labels in the order of `test_dataset`'s rows."""
        output = super().predict(test_dataset, ignore_keys, metric_key_prefix)
        if self._eval_order is None:
            return output
        position = np.argsort(self._eval_order)  # position[i]: where row i's output sits in the evaluation order
        return output._replace(
            predictions=_take_rows(output.predictions, position), label_ids=_take_rows(output.label_ids, position)
        )

    def create_optimizer(self, model: nn.Module | None = None) -> torch.optim.Optimizer:
        if self.optimizer is None:
            model = self.model if model is None else model
            groups = layerwise_parameter_groups(
                model,
                self.args.learning_rate,
                self.args.weight_decay,
                self.layerwise_lr_decay,
                {name for name, _ in model.named_parameters()} - set(self.get_decay_parameter_names(model)),
            )
            optimizer_cls, kwargs = resolve_optimizer(self.optimizer_name, self.args, self.momentum, model)
            kwargs = {key: value for key, value in kwargs.items() if key not in ("lr", "weight_decay")}
            self.optimizer = optimizer_cls(groups, **kwargs)
            logger.info(
                "optimizer %s with %d parameter groups:\n%s",
                optimizer_cls.__name__,
                len(groups),
                "\n".join(
                    f"  {g['name']:<24} lr={g['lr']:.3g} weight_decay={g['weight_decay']:g} "
                    f"params={sum(p.numel() for p in g['params']):,}"
                    for g in groups
                ),
            )
        return self.optimizer


def _take_rows(value, index: np.ndarray):
    """`value[index]` for an array, or for each array of a (nested) tuple or list of them; None stays None."""
    if value is None:
        return None
    if isinstance(value, (tuple, list)):
        return type(value)(_take_rows(item, index) for item in value)
    return value[index]


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
